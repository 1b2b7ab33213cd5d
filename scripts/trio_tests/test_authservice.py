"""flask-backend's AuthService, from a plain grpcio client, and packet-service's use of it.

Every AuthService call presents the caller's own service credential in metadata (the
trio's AUTH_SERVICE_API_KEY, which flask-backend provisions for its sibling-service
account); the token asked about travels in the message."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime

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


def bearer(credential: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {credential}")]


def validate(trio: Trio, token: str) -> auth_pb2.ValidateTokenResponse:
    """ValidateToken as packet-service asks it: with its own service credential."""
    return stub(trio).ValidateToken(
        auth_pb2.ValidateTokenRequest(token=token), timeout=5, metadata=bearer(trio.service_key)
    )


def check_scope(trio: Trio, token: str, scope: str) -> auth_pb2.CheckScopeResponse:
    return stub(trio).CheckScope(
        auth_pb2.CheckScopeRequest(token=token, scope=scope),
        timeout=5,
        metadata=bearer(trio.service_key),
    )


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
    answer = validate(backend, token)
    assert answer.valid and answer.principal.kind == auth_pb2.PRINCIPAL_KIND_USER
    assert answer.principal.email == "admin@localhost.local"
    assert {"users:admin", "rules:write", "packets:write"} <= set(answer.scopes)
    assert answer.expires_at > time.time()
    # GetUser: the admin's own token carries auth:introspect and users:read
    user = stub(backend).GetUser(
        auth_pb2.GetUserRequest(id=answer.principal.user_id), timeout=5, metadata=bearer(token)
    )
    assert user.email == "admin@localhost.local" and "admin" in user.roles


def test_expired_tampered_and_empty_tokens(trio: Trio) -> None:
    trio.backend.env["ACCESS_TOKEN_TTL"] = "5"  # the shortest the backend accepts
    trio.backend.start()
    backend = trio
    token = backend.login()
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    answer = validate(backend, tampered)
    assert not answer.valid and answer.reason
    time.sleep(6)  # the backend's own clock, in another process
    answer = validate(backend, token)
    assert not answer.valid and answer.reason == "expired"
    with pytest.raises(grpc.RpcError) as caught:
        validate(backend, "")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "token" in caught.value.details()


def test_wrong_scope_and_unknown_scope(backend: Trio) -> None:
    admin = backend.login()
    viewer = make_user(backend, admin, "viewer1@example.com", ["viewer"])
    answer = check_scope(backend, viewer, "rules:write")
    assert answer.valid and not answer.allowed
    answer = check_scope(backend, viewer, "rules:read")
    assert answer.valid and answer.allowed
    with pytest.raises(grpc.RpcError) as caught:
        check_scope(backend, viewer, "no:such")
    assert (
        caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        and "scope" in caught.value.details()
    )
    with pytest.raises(grpc.RpcError) as caught:  # the service credential lacks users:read
        stub(backend).GetUser(
            auth_pb2.GetUserRequest(id="1"), timeout=5, metadata=bearer(backend.service_key)
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "users:read" in caught.value.details()


def test_api_key_valid_then_revoked(backend: Trio) -> None:
    admin = backend.login()
    key = api_key(backend, admin, ["packets:write"])
    answer = validate(backend, key["key"])
    assert answer.valid and answer.principal.kind == auth_pb2.PRINCIPAL_KIND_API_KEY
    assert list(answer.scopes) == ["packets:write"]
    reply = requests.delete(
        f"{backend.api}/apikeys/{key['id']}",
        headers={"Authorization": f"Bearer {admin}"},
        timeout=5,
    )
    assert reply.status_code in (200, 204)
    answer = validate(backend, key["key"])
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
        auth_pb2.ValidateTokenRequest(token="rk_nope"),
        timeout=5,
        metadata=bearer(backend.service_key),
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


def revoke(trio: Trio, admin: str, key_id: object) -> None:
    reply = requests.delete(
        f"{trio.api}/apikeys/{key_id}", headers={"Authorization": f"Bearer {admin}"}, timeout=5
    )
    assert reply.status_code in (200, 204), reply.text


def rpc_code(call, *args, **kwargs) -> grpc.StatusCode:  # type: ignore[no-untyped-def]
    try:
        call(*args, **kwargs)
    except grpc.RpcError as error:
        return error.code()
    return grpc.StatusCode.OK


def test_authservice_answers_only_sibling_services(backend: Trio) -> None:
    admin = backend.login()
    viewer = make_user(backend, admin, "viewer3@example.com", ["viewer"])
    plain_key = api_key(backend, admin, ["packets:write"])["key"]
    auth = stub(backend)
    calls = [
        (auth.ValidateToken, auth_pb2.ValidateTokenRequest(token=admin)),
        (auth.CheckScope, auth_pb2.CheckScopeRequest(token=admin, scope="rules:read")),
        (auth.GetUser, auth_pb2.GetUserRequest(id="1")),
    ]
    for call, request in calls:
        # no credential of its own, or one that is not valid: UNAUTHENTICATED
        assert rpc_code(call, request, timeout=5) == grpc.StatusCode.UNAUTHENTICATED
        for bogus in ("rk_00000000_" + "x" * 40, "not-a-credential", admin[:-3] + "abc"):
            code = rpc_code(call, request, timeout=5, metadata=bearer(bogus))
            assert code == grpc.StatusCode.UNAUTHENTICATED, (call, bogus)
        # valid credentials without auth:introspect: PERMISSION_DENIED
        for other in (viewer, plain_key):
            code = rpc_code(call, request, timeout=5, metadata=bearer(other))
            assert code == grpc.StatusCode.PERMISSION_DENIED
    # the token asked about is never taken for the caller's own credential
    assert (
        rpc_code(
            auth.ValidateToken, auth_pb2.ValidateTokenRequest(token=backend.service_key), timeout=5
        )
        == grpc.StatusCode.UNAUTHENTICATED
    )
    assert validate(backend, admin).valid


def test_each_caller_has_its_own_request_budget(trio: Trio) -> None:
    trio.backend.env["AUTH_RPC_RATE_LIMIT"] = "5/minute"
    trio.backend.start()
    admin = trio.login()
    for _ in range(5):
        assert validate(trio, admin).valid
    with pytest.raises(grpc.RpcError) as caught:
        validate(trio, admin)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "AUTH_RPC_RATE_LIMIT" in caught.value.details()
    retry_after = dict(caught.value.trailing_metadata() or ())["retry-after-ms"]
    assert 1 <= int(retry_after) <= 12_000  # one request back every 12 s
    # another caller (the admin's own token, which carries auth:introspect) is unaffected
    answer = stub(trio).ValidateToken(
        auth_pb2.ValidateTokenRequest(token=admin), timeout=5, metadata=bearer(admin)
    )
    assert answer.valid
    # guessing credentials spends a budget of the guessing address, not of real callers
    request = auth_pb2.ValidateTokenRequest(token=admin)
    codes = [
        rpc_code(stub(trio).ValidateToken, request, timeout=5, metadata=bearer(f"rk_guess{n:03}_x"))
        for n in range(7)
    ]
    assert codes[:5] == [grpc.StatusCode.UNAUTHENTICATED] * 5
    assert codes[5:] == [grpc.StatusCode.RESOURCE_EXHAUSTED] * 2
    answer = stub(trio).ValidateToken(request, timeout=5, metadata=bearer(admin))
    assert answer.valid  # a known caller from the same address still gets through


def test_a_revoked_api_key_is_refused_by_packet_service_within_two_seconds(trio: Trio) -> None:
    trio.backend.start()
    trio.packet.start()
    admin = trio.login()
    key = api_key(trio, admin, ["packets:write"])
    packets = packet_pb2_grpc.PacketServiceStub(
        grpc.insecure_channel(f"127.0.0.1:{trio.packet_grpc_port}")
    )
    classify = packets.Classify
    batch = packet_pb2.PacketBatch()
    # twice: the second answer comes from packet-service's cache of the first
    for _ in range(2):
        assert rpc_code(classify, batch, timeout=5, metadata=bearer(key["key"])) == (
            grpc.StatusCode.OK
        )
    revoke(trio, admin, key["id"])
    revoked_at = time.monotonic()
    deadline = revoked_at + 10  # generous: the bound is asserted below, not here
    code = grpc.StatusCode.OK
    while code == grpc.StatusCode.OK and time.monotonic() < deadline:
        code = rpc_code(classify, batch, timeout=5, metadata=bearer(key["key"]))
        if code == grpc.StatusCode.OK:
            time.sleep(0.05)  # polling interval, not a clock stand-in
    refused_after = time.monotonic() - revoked_at
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert refused_after <= 2.5, f"still accepted {refused_after:.2f} s after revocation"


def test_a_revocation_made_by_another_replica_is_seen_at_once(backend: Trio) -> None:
    """Another replica revokes in the shared database; this one has the key in its
    principal cache (it just validated it) and must not answer from there: packet-service
    adds its own 2 s of caching on top of whatever AuthService says."""
    admin = backend.login()
    key = api_key(backend, admin, ["packets:write"])
    assert validate(backend, key["key"]).valid
    database = sqlite3.connect(backend.workdir / "backend-data" / "rookery.sqlite")
    with database:  # what the other replica's DELETE /apikeys/<id> writes
        database.execute(
            "UPDATE api_key SET revoked_at = ? WHERE id = ?",
            (datetime.now(UTC).replace(tzinfo=None).isoformat(" "), key["id"]),
        )
    database.close()
    answer = validate(backend, key["key"])
    assert not answer.valid and answer.reason == "revoked"
