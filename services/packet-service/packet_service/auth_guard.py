"""Caller authentication for packet-service's gRPC API (AUTH_REQUIRED).

A caller presents `authorization: Bearer <JWT or API key>` metadata; the credential is
validated through flask-backend's AuthService, which packet-service calls with its OWN
credential (AUTH_SERVICE_API_KEY, scope auth:introspect). The answer is cached so the hot
path rarely leaves the process: a valid one for at most AUTH_CACHE_TTL (≤ 2 s, so a
revoked credential stops working within 2 s) and never past the credential's own expiry.
Missing or invalid credential → UNAUTHENTICATED; valid but without the method's scope →
PERMISSION_DENIED; a PacketService method missing from METHOD_SCOPES → PERMISSION_DENIED
for every caller (fail closed). Health and reflection stay open."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from packet_service.config import MAX_AUTH_CACHE_TTL, ConfigError, ServiceConfig
from packet_service.gen import auth_pb2, auth_pb2_grpc

log = logging.getLogger(__name__)

SERVICE = "/rookery.packet.v1.PacketService/"
# The one table of which scope each PacketService method needs. A method missing here is
# refused to everyone: a new RPC is closed until someone decides its scope.
METHOD_SCOPES: dict[str, str] = {
    "Classify": "packets:write",
    "StreamClassify": "packets:write",
    "Ingest": "packets:write",
    "SetRules": "rules:write",
    "GetRules": "rules:read",
    "GetStats": "stats:read",
    "TopFlows": "stats:read",
    "GetSeries": "stats:read",
}
NEGATIVE_TTL = 5.0  # seconds a rejected credential stays rejected without asking again


@dataclass(slots=True)
class Verdict:
    valid: bool
    scopes: frozenset[str]
    reason: str
    cached_until: float
    confirmed_at: float = 0.0  # when AuthService last said so
    expires_at: float = 0.0  # the credential's own expiry (0 = none)


# AuthService answers that mean "not reachable now", as opposed to a verdict or a refusal
# of this service's own credential.
UNREACHABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class CredentialCache:
    """LRU of validation answers keyed by a hash of the credential (never the secret)."""

    def __init__(
        self,
        validate: Callable[[str], auth_pb2.ValidateTokenResponse],
        ttl: float,
        size: int = 10_000,
        clock: Callable[[], float] = time.time,  # unix seconds: compared with expires_at
        stale_if_unreachable: float = 0.0,
    ) -> None:
        self._validate = validate
        self._ttl = min(ttl, MAX_AUTH_CACHE_TTL)
        self._stale = stale_if_unreachable
        self._clock = clock
        self._size = size
        self._entries: OrderedDict[bytes, Verdict] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.stale_hits = 0  # answers served from an unreachable AuthService's last word

    def check(self, token: str) -> Verdict:
        key = hashlib.sha256(token.encode()).digest()
        now = self._clock()  # taken before asking: the answer may be older than it looks
        with self._lock:
            verdict = self._entries.get(key)
            if verdict is not None and verdict.cached_until > now:
                self._entries.move_to_end(key)
                self.hits += 1
                return verdict
        self.misses += 1
        try:
            answer = self._validate(token)
        except grpc.RpcError as error:
            kept = self._stale_verdict(verdict, now, error)
            if kept is None:
                raise
            return kept
        if answer.valid:
            until = now + self._ttl
            expires = float(answer.expires_at or 0)
            if expires:
                until = min(until, expires)
            verdict = Verdict(True, frozenset(answer.scopes), "", until, now, expires)
        else:
            verdict = Verdict(False, frozenset(), answer.reason or "invalid", now + NEGATIVE_TTL)
        with self._lock:
            self._entries[key] = verdict
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return verdict

    def _stale_verdict(
        self, verdict: Verdict | None, now: float, error: grpc.RpcError
    ) -> Verdict | None:
        """The last positive answer, while AuthService is unreachable and that answer is
        at most `stale_if_unreachable` seconds old (and the credential has not expired).
        Nobody can revoke anything while flask-backend is away, so this keeps the packet
        path up through a backend restart without weakening the revocation bound."""
        if (
            verdict is None
            or not verdict.valid
            or error.code() not in UNREACHABLE
            or now - verdict.confirmed_at > self._stale
            or (verdict.expires_at and verdict.expires_at <= now)
        ):
            return None
        self.stale_hits += 1
        return verdict


class AuthServiceClient:
    """flask-backend's AuthService, called with this service's own credential."""

    def __init__(self, target: str, api_key: str, deadline: float = 2.0) -> None:
        # Short reconnect backoff: a restarted flask-backend must be found again quickly.
        options = (
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000),
        )
        self._channel = grpc.insecure_channel(target, options=options)
        self._stub = auth_pb2_grpc.AuthServiceStub(self._channel)
        self._metadata = (("authorization", f"Bearer {api_key}"),)
        self._deadline = deadline

    def validate(self, token: str) -> auth_pb2.ValidateTokenResponse:
        return self._stub.ValidateToken(
            auth_pb2.ValidateTokenRequest(token=token),
            timeout=self._deadline,
            metadata=self._metadata,
        )

    def close(self) -> None:
        self._channel.close()


def _deny(
    handler: grpc.RpcMethodHandler, code: grpc.StatusCode, message: str
) -> grpc.RpcMethodHandler:
    def abort(_request: object, context: grpc.ServicerContext) -> None:
        context.abort(code, message)

    if handler.request_streaming and handler.response_streaming:
        return grpc.stream_stream_rpc_method_handler(abort)
    if handler.request_streaming:
        return grpc.stream_unary_rpc_method_handler(abort)
    if handler.response_streaming:
        return grpc.unary_stream_rpc_method_handler(abort)
    return grpc.unary_unary_rpc_method_handler(abort)


class AuthInterceptor(grpc.ServerInterceptor):
    def __init__(self, cache: CredentialCache) -> None:
        self._cache = cache

    def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        method = handler_call_details.method
        handler = continuation(handler_call_details)
        if handler is None or not method.startswith(SERVICE):
            return handler  # health, reflection, unknown methods
        scope = METHOD_SCOPES.get(method[len(SERVICE) :])
        if scope is None:
            return _deny(
                handler,
                grpc.StatusCode.PERMISSION_DENIED,
                f"{method[len(SERVICE) :]} has no scope in packet-service's table: refused",
            )
        token = ""
        for key, value in handler_call_details.invocation_metadata or ():
            if (
                key == "authorization"
                and isinstance(value, str)
                and value.lower().startswith("bearer ")
            ):
                token = value[7:].strip()
        if not token:
            return _deny(
                handler,
                grpc.StatusCode.UNAUTHENTICATED,
                "missing 'authorization: Bearer <token>' metadata",
            )
        try:
            verdict = self._cache.check(token)
        except grpc.RpcError as error:
            return _auth_service_failed(handler, error)
        if not verdict.valid:
            return _deny(
                handler, grpc.StatusCode.UNAUTHENTICATED, f"invalid credential: {verdict.reason}"
            )
        if scope not in verdict.scopes:
            return _deny(handler, grpc.StatusCode.PERMISSION_DENIED, f"scope {scope!r} required")
        return handler


def _auth_service_failed(
    handler: grpc.RpcMethodHandler, error: grpc.RpcError
) -> grpc.RpcMethodHandler:
    code = error.code()
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        # AuthService throttles this service; the caller may retry a little later.
        log.warning("AuthService throttles this service: %s", error.details())
        return _deny(
            handler, code, "authentication service busy: too many credentials to check, retry"
        )
    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        # Our own credential (AUTH_SERVICE_API_KEY) is wrong: nothing the caller can fix.
        log.error("AuthService refused this service's credential: %s", error.details())
    else:
        log.warning("AuthService unreachable: %s", code.name)
    return _deny(handler, grpc.StatusCode.UNAVAILABLE, "authentication service unavailable")


def auth_interceptors(config: ServiceConfig) -> list[grpc.ServerInterceptor]:
    """The interceptors AUTH_REQUIRED asks for (none when it is off)."""
    if not config.auth_required:
        log.warning("AUTH_REQUIRED is off: any caller may classify packets and replace rules")
        return []
    if not config.auth_service_api_key:
        raise ConfigError(
            "AUTH_REQUIRED is on but AUTH_SERVICE_API_KEY is empty: packet-service needs its "
            "own API key (scope auth:introspect) to ask flask-backend's AuthService"
        )
    target = config.auth_service_target
    client = AuthServiceClient(target, config.auth_service_api_key)
    log.info("callers must authenticate", extra={"auth_service": target})
    cache = CredentialCache(
        client.validate,
        config.auth_cache_ttl,
        stale_if_unreachable=config.auth_stale_if_unreachable,
    )
    return [AuthInterceptor(cache)]
