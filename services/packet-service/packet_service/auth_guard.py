"""Caller authentication for packet-service's gRPC API (AUTH_REQUIRED).

A caller presents `authorization: Bearer <JWT or API key>` metadata; the credential is
validated through flask-backend's AuthService and the answer is cached (bounded by the
credential's own expiry and AUTH_CACHE_TTL) so the hot path rarely leaves the process.
Missing or invalid credential → UNAUTHENTICATED; valid but without the method's scope →
PERMISSION_DENIED. Health and reflection stay open."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from packet_service.gen import auth_pb2, auth_pb2_grpc

log = logging.getLogger(__name__)

SERVICE = "/rookery.packet.v1.PacketService/"
# The one table of which scope each PacketService method needs.
METHOD_SCOPES: dict[str, str] = {
    "Classify": "packets:write",
    "StreamClassify": "packets:write",
    "Ingest": "packets:write",
    "SetRules": "rules:write",
    "GetRules": "rules:read",
    "GetStats": "stats:read",
    "TopFlows": "stats:read",
}
NEGATIVE_TTL = 5.0  # seconds a rejected credential stays rejected without asking again


@dataclass(slots=True)
class Verdict:
    valid: bool
    scopes: frozenset[str]
    reason: str
    cached_until: float


class CredentialCache:
    """LRU of validation answers keyed by a hash of the credential (never the secret)."""

    def __init__(
        self,
        validate: Callable[[str], auth_pb2.ValidateTokenResponse],
        ttl: float,
        size: int = 10_000,
    ) -> None:
        self._validate = validate
        self._ttl = ttl
        self._size = size
        self._entries: OrderedDict[bytes, Verdict] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def check(self, token: str) -> Verdict:
        key = hashlib.sha256(token.encode()).digest()
        now = time.time()
        with self._lock:
            verdict = self._entries.get(key)
            if verdict is not None and verdict.cached_until > now:
                self._entries.move_to_end(key)
                self.hits += 1
                return verdict
        self.misses += 1
        answer = self._validate(token)
        if answer.valid:
            until = now + self._ttl
            if answer.expires_at:
                until = min(until, float(answer.expires_at))
            verdict = Verdict(True, frozenset(answer.scopes), "", until)
        else:
            verdict = Verdict(False, frozenset(), answer.reason or "invalid", now + NEGATIVE_TTL)
        with self._lock:
            self._entries[key] = verdict
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return verdict


class AuthServiceClient:
    def __init__(self, target: str, deadline: float = 2.0) -> None:
        # Short reconnect backoff: a restarted flask-backend must be found again quickly.
        options = (
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", 1000),
        )
        self._channel = grpc.insecure_channel(target, options=options)
        self._stub = auth_pb2_grpc.AuthServiceStub(self._channel)
        self._deadline = deadline

    def validate(self, token: str) -> auth_pb2.ValidateTokenResponse:
        return self._stub.ValidateToken(
            auth_pb2.ValidateTokenRequest(token=token), timeout=self._deadline
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
            log.warning("AuthService unreachable: %s", error.code().name)
            return _deny(handler, grpc.StatusCode.UNAVAILABLE, "authentication service unavailable")
        if not verdict.valid:
            return _deny(
                handler, grpc.StatusCode.UNAUTHENTICATED, f"invalid credential: {verdict.reason}"
            )
        if scope is not None and scope not in verdict.scopes:
            return _deny(handler, grpc.StatusCode.PERMISSION_DENIED, f"scope {scope!r} required")
        return handler


def auth_interceptors(
    required: bool, target: str, cache_ttl: float
) -> list[grpc.ServerInterceptor]:
    """The interceptors AUTH_REQUIRED asks for (none when it is off)."""
    if not required:
        log.warning("AUTH_REQUIRED is off: any caller may classify packets and replace rules")
        return []
    client = AuthServiceClient(target)
    log.info("callers must authenticate", extra={"auth_service": target})
    return [AuthInterceptor(CredentialCache(client.validate, cache_ttl))]
