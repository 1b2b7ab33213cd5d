"""flask-backend's AuthService, from a plain grpcio client, and packet-service's use of it."""

from __future__ import annotations

import time

import grpc
import pytest
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from packet_service.gen import auth_pb2, auth_pb2_grpc, packet_pb2, packet_pb2_grpc
from trio import Trio


@pytest.fixture
def backend(trio: Trio) -> Trio:
    trio.backend.start()
    return trio


def stub(trio: Trio) -> auth_pb2_grpc.AuthServiceStub:
    return auth_pb2_grpc.AuthServiceStub(grpc.insecure_channel(f"127.0.0.1:{trio.auth_grpc_port}"))


def make_user(trio: Trio, admin: str, email: str, roles: list[str]) -> str:
    auth = {"Authorization": f"Bearer {admin}"}
    reply = requests.post(
        f"{trio.api}/users",
        json={"email": email, "password": "viewer-pass-123", "roles": roles},
        headers=auth,
        timeout=10,
    )
    assert reply.status_code == 201, reply.text
    return trio.login(email, "viewer-pass-123")


def api_key(trio: Trio, token: str, scopes: list[str]) -> dict:
    reply = requests.post(
        f"{trio.api}/apikeys",
        json={"name": "sibling", "scopes": scopes},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert reply.status_code == 201, reply.text
    return reply.json()["data"]


def test_valid_jwt_names_the_principal_and_scopes(backend: Trio) -> None:
    token = backend.login()
    answer = stub(backend).ValidateToken(auth_pb2.ValidateTokenRequest(token=token), timeout=5)
    assert answer.valid and answer.principal.kind == auth_pb2.PRINCIPAL_KIND_USER
    assert answer.principal.email == "admin@localhost.local"
    assert {"users:admin", "rules:write", "packets:write"} <= set(answer.scopes)
    assert answer.expires_at > time.time()
    user = stub(backend).GetUser(
        auth_pb2.GetUserRequest(id=answer.principal.user_id),
        timeout=5,
        metadata=[("authorization", f"Bearer {token}")],
    )
    assert user.email == "admin@localhost.local" and "admin" in user.roles


def test_expired_tampered_and_empty_tokens(trio: Trio) -> None:
    trio.backend.env["ACCESS_TOKEN_TTL"] = "5"  # the shortest the backend accepts
    trio.backend.start()
    backend = trio
    token = backend.login()
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    answer = stub(backend).ValidateToken(auth_pb2.ValidateTokenRequest(token=tampered), timeout=5)
    assert not answer.valid and answer.reason
    time.sleep(6)
    answer = stub(backend).ValidateToken(auth_pb2.ValidateTokenRequest(token=token), timeout=5)
    assert not answer.valid and answer.reason == "expired"
    with pytest.raises(grpc.RpcError) as caught:
        stub(backend).ValidateToken(auth_pb2.ValidateTokenRequest(token=""), timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "token" in caught.value.details()


def test_wrong_scope_and_unknown_scope(backend: Trio) -> None:
    admin = backend.login()
    viewer = make_user(backend, admin, "viewer1@example.com", ["viewer"])
    answer = stub(backend).CheckScope(
        auth_pb2.CheckScopeRequest(token=viewer, scope="rules:write"), timeout=5
    )
    assert answer.valid and not answer.allowed
    answer = stub(backend).CheckScope(
        auth_pb2.CheckScopeRequest(token=viewer, scope="rules:read"), timeout=5
    )
    assert answer.valid and answer.allowed
    with pytest.raises(grpc.RpcError) as caught:
        stub(backend).CheckScope(
            auth_pb2.CheckScopeRequest(token=viewer, scope="no:such"), timeout=5
        )
    assert (
        caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        and "scope" in caught.value.details()
    )
    with pytest.raises(grpc.RpcError) as caught:  # GetUser needs users:read
        stub(backend).GetUser(
            auth_pb2.GetUserRequest(id="1"),
            timeout=5,
            metadata=[("authorization", f"Bearer {viewer}")],
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_api_key_valid_then_revoked(backend: Trio) -> None:
    admin = backend.login()
    key = api_key(backend, admin, ["packets:write"])
    answer = stub(backend).ValidateToken(auth_pb2.ValidateTokenRequest(token=key["key"]), timeout=5)
    assert answer.valid and answer.principal.kind == auth_pb2.PRINCIPAL_KIND_API_KEY
    assert list(answer.scopes) == ["packets:write"]
    reply = requests.delete(
        f"{backend.api}/apikeys/{key['id']}",
        headers={"Authorization": f"Bearer {admin}"},
        timeout=5,
    )
    assert reply.status_code in (200, 204)
    answer = stub(backend).ValidateToken(auth_pb2.ValidateTokenRequest(token=key["key"]), timeout=5)
    assert not answer.valid and answer.reason == "revoked"


def test_health_reflection_and_version_metadata(backend: Trio) -> None:
    channel = grpc.insecure_channel(f"127.0.0.1:{backend.auth_grpc_port}")
    reply = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service="rookery.auth.v1.AuthService"), timeout=5
    )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    answers = reflection.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5
    )
    names = {
        service.name for answer in answers for service in answer.list_services_response.service
    }
    assert {"rookery.auth.v1.AuthService", "grpc.health.v1.Health"} <= names
    call = stub(backend).ValidateToken.with_call(
        auth_pb2.ValidateTokenRequest(token="rk_nope"), timeout=5
    )[1]
    assert ("rookery-version", backend.version()) in call.initial_metadata()


def test_packet_service_enforces_scopes_through_authservice(trio: Trio) -> None:
    trio.backend.start()
    trio.packet.start()
    admin = trio.login()
    viewer = make_user(trio, admin, "viewer2@example.com", ["viewer"])
    channel = grpc.insecure_channel(f"127.0.0.1:{trio.packet_grpc_port}")
    packets = packet_pb2_grpc.PacketServiceStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        packets.Classify(
            packet_pb2.PacketBatch(), timeout=5, metadata=[("authorization", f"Bearer {viewer}")]
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    key = api_key(trio, admin, ["packets:write"])
    reply = packets.Classify(
        packet_pb2.PacketBatch(), timeout=5, metadata=[("authorization", f"Bearer {key['key']}")]
    )
    assert len(reply.verdicts) == 0
    with pytest.raises(grpc.RpcError) as caught:  # the key lacks rules:write
        packets.SetRules(
            packet_pb2.RuleSet(version=99, default_action="drop"),
            timeout=5,
            metadata=[("authorization", f"Bearer {key['key']}")],
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
