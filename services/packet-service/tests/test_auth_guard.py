"""Caller authentication on a real packet-service gRPC server, against a real (in-process)
AuthService on loopback that answers like flask-backend's: packet-service presents its own
credential, refuses methods missing from its scope table, keeps valid answers at most 2 s."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field

import grpc
import pytest
from packet_service.auth_guard import METHOD_SCOPES, CredentialCache, auth_interceptors
from packet_service.config import ConfigError, ServiceConfig
from packet_service.gen import auth_pb2, auth_pb2_grpc, packet_pb2, packet_pb2_grpc
from packet_service.service import PacketServiceApp

SERVICE_KEY = "rk_0123abcd_packet-service-own-credential-0123456789"
EVERY_SCOPE = sorted(set(METHOD_SCOPES.values()))


@dataclass(slots=True)
class FakeAuthService(auth_pb2_grpc.AuthServiceServicer):
    """Knows a few tokens; like flask-backend, refuses callers without SERVICE_KEY."""

    scopes: dict[str, list[str]] = field(default_factory=dict)
    seen: list[tuple[str, str]] = field(default_factory=list)  # (caller metadata, token)
    answer_code: grpc.StatusCode | None = None  # e.g. RESOURCE_EXHAUSTED for every call
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ValidateToken(self, request, context):  # type: ignore[no-untyped-def]
        caller = dict(context.invocation_metadata()).get("authorization", "")
        with self.lock:
            self.seen.append((caller, request.token))
        if self.answer_code is not None:
            context.abort(self.answer_code, "canned answer")
        if caller != f"Bearer {SERVICE_KEY}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "invalid service credential")
        if request.token not in self.scopes:
            return auth_pb2.ValidateTokenResponse(valid=False, reason="unknown")
        return auth_pb2.ValidateTokenResponse(valid=True, scopes=self.scopes[request.token])


@pytest.fixture
def auth_service() -> Iterator[tuple[FakeAuthService, int]]:
    fake = FakeAuthService(scopes={"all-scopes": EVERY_SCOPE, "reader": ["stats:read"]})
    server = grpc.server(futures.ThreadPoolExecutor(4))
    auth_pb2_grpc.add_AuthServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield fake, port
    server.stop(0).wait()


def packet_app(auth_port: int, api_key: str = SERVICE_KEY) -> PacketServiceApp:
    return PacketServiceApp(
        ServiceConfig(
            bind_address="127.0.0.1",
            grpc_port=0,
            metrics_port=0,
            auth_required=True,
            auth_service_target=f"127.0.0.1:{auth_port}",
            auth_service_api_key=api_key,
        )
    )


@pytest.fixture
def packets(
    auth_service: tuple[FakeAuthService, int],
) -> Iterator[packet_pb2_grpc.PacketServiceStub]:
    app = packet_app(auth_service[1])
    app.start()
    with grpc.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
        yield packet_pb2_grpc.PacketServiceStub(channel)
    app.stop()


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def test_packet_service_asks_authservice_with_its_own_credential(
    auth_service: tuple[FakeAuthService, int], packets: packet_pb2_grpc.PacketServiceStub
) -> None:
    fake, _ = auth_service
    reply = packets.GetStats(packet_pb2.GetStatsRequest(), timeout=5, metadata=bearer("reader"))
    assert reply is not None
    # its own key in metadata, the caller's token in the message: never mixed up
    assert fake.seen == [(f"Bearer {SERVICE_KEY}", "reader")]


def test_a_method_missing_from_the_scope_table_is_refused_to_every_credential(
    packets: packet_pb2_grpc.PacketServiceStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(METHOD_SCOPES, "TopFlows")
    with pytest.raises(grpc.RpcError) as caught:
        packets.TopFlows(packet_pb2.TopFlowsRequest(), timeout=5, metadata=bearer("all-scopes"))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "TopFlows" in (caught.value.details() or "")
    # the same credential still reaches a method that is in the table
    packets.GetStats(packet_pb2.GetStatsRequest(), timeout=5, metadata=bearer("all-scopes"))


def test_every_packet_service_method_has_a_scope() -> None:
    methods = packet_pb2.DESCRIPTOR.services_by_name["PacketService"].methods_by_name
    assert set(methods) == set(METHOD_SCOPES), "a method without a scope is refused to all"


def test_authservice_throttling_reaches_the_caller_as_resource_exhausted(
    auth_service: tuple[FakeAuthService, int], packets: packet_pb2_grpc.PacketServiceStub
) -> None:
    auth_service[0].answer_code = grpc.StatusCode.RESOURCE_EXHAUSTED
    with pytest.raises(grpc.RpcError) as caught:
        packets.GetStats(packet_pb2.GetStatsRequest(), timeout=5, metadata=bearer("reader"))
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_a_refused_service_credential_is_unavailable_not_the_callers_fault(
    auth_service: tuple[FakeAuthService, int],
) -> None:
    app = packet_app(auth_service[1], api_key="rk_99999999_not-the-key-authservice-knows-000000")
    app.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
            stub = packet_pb2_grpc.PacketServiceStub(channel)
            with pytest.raises(grpc.RpcError) as caught:
                stub.GetStats(packet_pb2.GetStatsRequest(), timeout=5, metadata=bearer("reader"))
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        app.stop()


def test_auth_required_without_an_own_credential_refuses_to_start() -> None:
    with pytest.raises(ConfigError, match="AUTH_SERVICE_API_KEY"):
        auth_interceptors(ServiceConfig(auth_required=True, auth_service_api_key=""))


@dataclass(slots=True)
class Clock:
    now: float = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def counting_validator(
    answers: dict[str, auth_pb2.ValidateTokenResponse],
) -> tuple[list[str], Callable[[str], auth_pb2.ValidateTokenResponse]]:
    asked: list[str] = []

    def validate(token: str) -> auth_pb2.ValidateTokenResponse:
        asked.append(token)
        return answers[token]

    return asked, validate


def test_a_valid_answer_is_kept_at_most_two_seconds_whatever_the_ttl_asked() -> None:
    answers = {"key": auth_pb2.ValidateTokenResponse(valid=True, scopes=["stats:read"])}
    asked, validate = counting_validator(answers)
    clock = Clock()
    cache = CredentialCache(validate, ttl=30.0, clock=clock)
    assert cache.check("key").valid and asked == ["key"]
    clock.now += 1.9
    assert cache.check("key").valid and asked == ["key"]  # still cached
    # revoked meanwhile: the next answer after 2 s says so
    answers["key"] = auth_pb2.ValidateTokenResponse(valid=False, reason="revoked")
    clock.now += 0.2
    verdict = cache.check("key")
    assert not verdict.valid and verdict.reason == "revoked" and asked == ["key", "key"]


def test_a_valid_answer_never_outlives_the_credential() -> None:
    clock = Clock()
    answers = {
        "short": auth_pb2.ValidateTokenResponse(
            valid=True, scopes=["stats:read"], expires_at=int(clock.now) + 1
        )
    }
    asked, validate = counting_validator(answers)
    cache = CredentialCache(validate, ttl=2.0, clock=clock)
    cache.check("short")
    clock.now += 1.01
    cache.check("short")
    assert asked == ["short", "short"]


@pytest.mark.parametrize("value", ["30", "2.5"])
def test_an_auth_cache_ttl_above_two_seconds_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="AUTH_CACHE_TTL"):
        ServiceConfig.from_env({"AUTH_CACHE_TTL": value})
    assert ServiceConfig.from_env({}).auth_cache_ttl == 2.0
    assert ServiceConfig.from_env({"AUTH_CACHE_TTL": "0.5"}).auth_cache_ttl == 0.5


class Unreachable(grpc.RpcError):
    """What the AuthService stub raises while flask-backend is down or hung."""

    def __init__(self, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE) -> None:
        super().__init__()
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return "connection refused"


def test_a_confirmed_caller_keeps_working_while_authservice_is_unreachable() -> None:
    clock = Clock()
    state = {"down": False}
    answers = {
        "key": auth_pb2.ValidateTokenResponse(valid=True, scopes=["stats:read"]),
        "soon": auth_pb2.ValidateTokenResponse(
            valid=True, scopes=["stats:read"], expires_at=int(clock.now) + 60
        ),
        "never-seen": auth_pb2.ValidateTokenResponse(valid=True, scopes=["stats:read"]),
    }

    def validate(token: str) -> auth_pb2.ValidateTokenResponse:
        if state["down"]:
            raise Unreachable(grpc.StatusCode.DEADLINE_EXCEEDED)
        return answers[token]

    cache = CredentialCache(validate, ttl=2.0, clock=clock, stale_if_unreachable=300.0)
    assert cache.check("key").valid and cache.check("soon").valid
    state["down"] = True  # flask-backend restarts
    clock.now += 30
    assert cache.check("key").valid and cache.stale_hits == 1
    # never past the credential's own expiry, never for a credential never confirmed,
    # and not beyond the grace
    clock.now += 31
    with pytest.raises(grpc.RpcError):
        cache.check("soon")
    with pytest.raises(grpc.RpcError):
        cache.check("never-seen")
    clock.now += 300
    with pytest.raises(grpc.RpcError):
        cache.check("key")


def test_an_unreachable_authservice_does_not_resurrect_a_refused_credential() -> None:
    clock = Clock()
    state = {"down": False}

    def validate(token: str) -> auth_pb2.ValidateTokenResponse:
        if state["down"]:
            raise Unreachable()
        return auth_pb2.ValidateTokenResponse(valid=False, reason="revoked")

    cache = CredentialCache(validate, ttl=2.0, clock=clock, stale_if_unreachable=300.0)
    assert not cache.check("key").valid
    state["down"] = True
    clock.now += 10  # past the negative cache
    with pytest.raises(grpc.RpcError):
        cache.check("key")


def test_without_the_grace_an_unreachable_authservice_refuses_at_once() -> None:
    clock = Clock()
    state = {"down": False}

    def validate(token: str) -> auth_pb2.ValidateTokenResponse:
        if state["down"]:
            raise Unreachable()
        return auth_pb2.ValidateTokenResponse(valid=True, scopes=["stats:read"])

    cache = CredentialCache(validate, ttl=2.0, clock=clock)
    assert cache.check("key").valid
    state["down"] = True
    clock.now += 3
    with pytest.raises(grpc.RpcError):
        cache.check("key")
