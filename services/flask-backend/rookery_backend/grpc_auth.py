"""rookery.auth.v1.AuthService: flask-backend's gRPC face for sibling services.

A thin servicer over credentials.validate_credential, the same function the REST guard
uses, so a token means the same thing on both transports. Served on GRPC_PORT next to
the standard health service and server reflection.

Only sibling services may ask. Every call carries the caller's OWN credential as
`authorization: Bearer <API key or JWT>` metadata, separate from the token it asks about
(which travels in the request message); that credential needs the auth:introspect scope.
No or an invalid credential → UNAUTHENTICATED, without the scope → PERMISSION_DENIED. Each
caller has a request budget (AUTH_RPC_RATE_LIMIT, a token bucket per credential; failed
authentications spend a budget per peer address) and past it gets RESOURCE_EXHAUSTED.
With AUTH_SERVICE_API_KEY set, flask-backend provisions that key at start-up for its
built-in sibling-service account, so packet-service can be given the same value."""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from flask import Flask
from rookery_common.grpc_server import build_grpc_server as build_common_grpc_server
from rookery_common.grpc_server import version_metadata
from rookery_common.request_id import REQUEST_ID_METADATA, request_id

from .access import is_restricted
from .accounts import SIBLING_ACCOUNT as SERVICE_ACCOUNT
from .config import ConfigError, RateLimit
from .credentials import CredentialCheck, Principal, validate_credential
from .gen import auth_pb2, auth_pb2_grpc
from .policy import SCOPES
from .runtime import Runtime
from .security import api_key_prefix
from .utils import sha256_hex, utcnow

log = logging.getLogger("rookery.grpc")
SERVICE_NAME = auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name
KINDS = {"user": auth_pb2.PRINCIPAL_KIND_USER, "api_key": auth_pb2.PRINCIPAL_KIND_API_KEY}
CALLER_SCOPE = "auth:introspect"  # what a caller's own credential must carry
SERVICE_ROLE = "sibling-service"
SERVICE_KEY_NAME = "AUTH_SERVICE_API_KEY"


class CallerThrottle:
    """A token bucket per caller: `limit.count` requests of burst, refilled at
    count/period per second. Bounded: the least recently seen callers are forgotten."""

    def __init__(
        self,
        limit: RateLimit,
        clock: Callable[[], float] = time.monotonic,
        max_callers: int = 10_000,
    ) -> None:
        self.capacity = float(limit.count)
        self.rate = limit.count / limit.period_seconds
        self._clock = clock
        self._max_callers = max_callers
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at
        self._lock = threading.Lock()

    def _level(self, caller: str, now: float) -> float:
        tokens, at = self._buckets.get(caller, (self.capacity, now))
        # rounded so that a bucket refilled to exactly one request is not 0.999…
        return round(min(self.capacity, tokens + (now - at) * self.rate), 9)

    def exhausted(self, caller: str) -> float:
        """Seconds until `caller` may spend again (0 = it may now). Spends nothing."""
        with self._lock:
            level = self._level(caller, self._clock())
        return 0.0 if level >= 1.0 else (1.0 - level) / self.rate

    def spend(self, caller: str) -> float:
        """Spends one request. Returns 0 when allowed, else the seconds to wait."""
        with self._lock:
            now = self._clock()
            level = self._level(caller, now)
            if level < 1.0:
                return (1.0 - level) / self.rate
            self._buckets[caller] = (level - 1.0, now)
            self._buckets.move_to_end(caller)
            while len(self._buckets) > self._max_callers:
                self._buckets.popitem(last=False)
            return 0.0


@dataclass(slots=True)
class Caller:
    principal: Principal
    bucket: str  # the throttle key: one per credential


def global_scopes(principal: Principal) -> frozenset[str]:
    """What a credential may do anywhere: an API key restricted to one team or rule set
    holds no global scope (access.py), whatever scopes it lists; sibling services ask about
    global scopes only."""
    return frozenset() if is_restricted(principal) else principal.scopes


def _principal(principal: Principal) -> auth_pb2.Principal:
    return auth_pb2.Principal(
        kind=KINDS.get(principal.kind, auth_pb2.PRINCIPAL_KIND_UNSPECIFIED),
        user_id=str(principal.user.id),
        email=principal.user.email,
        api_key_id=str(principal.api_key_id or ""),
    )


def _bearer(context: grpc.ServicerContext) -> str:
    for key, value in context.invocation_metadata():
        if (
            key == "authorization"
            and isinstance(value, str)
            and value.lower().startswith("bearer ")
        ):
            return value[7:].strip()
    return ""


def _peer_host(context: grpc.ServicerContext) -> str:
    # "ipv4:127.0.0.1:5555", "ipv6:[::1]:5555": the address without the port
    peer = context.peer() or ""
    return peer.rsplit(":", 1)[0] if peer.count(":") >= 2 else peer


def _request_id(context: grpc.ServicerContext) -> str:
    """The caller's x-request-id when it follows the one rule, else a new one."""
    given = next((v for k, v in context.invocation_metadata() if k == REQUEST_ID_METADATA), None)
    return request_id(given)


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, app: Flask, clock: Callable[[], float] = time.monotonic) -> None:
        self._app = app
        self._svc: Runtime = app.extensions["rookery"]
        self._throttle = CallerThrottle(self._svc.settings.auth_rpc_rate_limit, clock)
        # Credentials that authenticated before (hashes; bounded): an address spent on
        # failed guesses still lets them through, so a guesser cannot lock a sibling out.
        self._known: OrderedDict[str, None] = OrderedDict()
        self._known_lock = threading.Lock()

    def _known_caller(self, credential: str, remember: bool = False) -> bool:
        digest = sha256_hex(credential)
        with self._known_lock:
            if remember:
                self._known[digest] = None
                self._known.move_to_end(digest)
                while len(self._known) > 10_000:
                    self._known.popitem(last=False)
                return True
            return digest in self._known

    def _start(self, context: grpc.ServicerContext) -> Caller:
        """Every RPC begins here: version metadata, then the caller's own credential and
        its budget. Aborts the call unless the caller may go on."""
        context.send_initial_metadata(
            (
                *version_metadata(self._svc.settings.version),
                (REQUEST_ID_METADATA, _request_id(context)),
            )
        )
        credential = _bearer(context)
        if not credential:
            context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "missing 'authorization: Bearer <your service credential>' metadata",
            )
        peer = f"peer:{_peer_host(context)}"
        # Failed authentications are throttled per address, before the credential is
        # looked up: guessing costs the guesser, not the database.
        wait = self._throttle.exhausted(peer)
        if wait and not self._known_caller(credential):
            self._exhausted(context, wait, "too many failed authentications from this address")
        check = self._validate(credential)
        if check.principal is None:
            self._throttle.spend(peer)
            context.abort(
                grpc.StatusCode.UNAUTHENTICATED, f"invalid service credential: {check.reason}"
            )
        principal = check.principal
        self._known_caller(credential, remember=True)
        if CALLER_SCOPE not in global_scopes(principal):
            context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"scope {CALLER_SCOPE!r} required: only sibling services may call AuthService",
            )
        if principal.kind == "api_key":
            bucket = f"api_key:{principal.api_key_id}"
        else:
            bucket = f"user:{principal.user.id}"
        wait = self._throttle.spend(bucket)
        if wait:
            self._exhausted(context, wait, "request budget of this caller exhausted")
        return Caller(principal, bucket)

    def _exhausted(self, context: grpc.ServicerContext, wait: float, why: str) -> None:
        limit = self._svc.settings.auth_rpc_rate_limit
        retry_ms = max(1, int(wait * 1000 + 0.999))
        context.set_trailing_metadata((("retry-after-ms", str(retry_ms)),))
        context.abort(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            f"{why} ({limit.count} per {limit.period_seconds} s, AUTH_RPC_RATE_LIMIT); "
            f"retry in {retry_ms} ms",
        )

    def _validate(self, token: str, fresh: bool = False) -> CredentialCheck:
        """`fresh` skips this process's principal cache: the asked-about token is always
        checked against the database, because the caller caches the answer itself (up to
        2 s) and a revocation made on another replica must not wait for this cache too."""
        svc = self._svc
        cache = None if fresh else svc.principal_cache
        ok = False
        svc.database.begin_request()
        try:
            with self._app.app_context():
                check = validate_credential(token, svc.codec, svc.datastore, cache)
            ok = True
            return check
        finally:
            svc.database.end_request(ok=ok)

    def _require_token(self, token: str, context: grpc.ServicerContext) -> None:
        if not token.strip():
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "token: must not be empty")

    def ValidateToken(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._start(context)
        self._require_token(request.token, context)
        check = self._validate(request.token, fresh=True)
        if check.principal is None:
            return auth_pb2.ValidateTokenResponse(valid=False, reason=check.reason)
        return auth_pb2.ValidateTokenResponse(
            valid=True,
            principal=_principal(check.principal),
            scopes=sorted(global_scopes(check.principal)),
            expires_at=check.principal.expires_at,
        )

    def CheckScope(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._start(context)
        self._require_token(request.token, context)
        if request.scope not in SCOPES:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"scope: unknown scope {request.scope!r}"
            )
        check = self._validate(request.token, fresh=True)
        if check.principal is None:
            return auth_pb2.CheckScopeResponse(valid=False, allowed=False, reason=check.reason)
        allowed = request.scope in global_scopes(check.principal)
        reason = ""
        if not allowed:
            reason = (
                "the API key is restricted to one team or rule set"
                if is_restricted(check.principal)
                else f"missing scope {request.scope}"
            )
        return auth_pb2.CheckScopeResponse(
            valid=True,
            allowed=allowed,
            principal=_principal(check.principal),
            expires_at=check.principal.expires_at,
            reason=reason,
        )

    def GetUser(self, request: Any, context: grpc.ServicerContext) -> Any:
        caller = self._start(context)
        if "users:read" not in global_scopes(caller.principal):
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "scope 'users:read' required")
        if not request.id.isdigit():
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "id: must be a user id (digits)")
        svc = self._svc
        ok = False
        svc.database.begin_request()
        try:
            with self._app.app_context():
                user = svc.datastore.find_user(id=int(request.id))
            ok = True
        finally:
            svc.database.end_request(ok=ok)
        if user is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"id: no user {request.id}")
        created = int(user.created_at.timestamp()) if user.created_at else 0
        return auth_pb2.User(
            id=str(user.id),
            email=user.email,
            active=bool(user.active),
            roles=sorted(role.name for role in user.roles),
            scopes=sorted(user.scopes),
            created_at=created,
        )


def provision_service_key(app: Flask) -> None:
    """Gives the built-in sibling-service account the API key AUTH_SERVICE_API_KEY names
    (the credential packet-service presents). Idempotent; a different key replaces the
    account's previous one. A key revoked through the API stays revoked: the operator
    configures a new one."""
    svc: Runtime = app.extensions["rookery"]
    key = svc.settings.auth_service_api_key
    if not key:
        return
    prefix = api_key_prefix(key)
    datastore = svc.datastore
    dal = svc.database.dal
    table = dal.api_key
    ok = False
    svc.database.begin_request()
    try:
        with app.app_context():
            user = datastore.find_user(email=SERVICE_ACCOUNT)
            if user is None:
                datastore.create_user(
                    email=SERVICE_ACCOUNT, password=None, roles=[SERVICE_ROLE], active=True
                )
                user = datastore.find_user(email=SERVICE_ACCOUNT)
            row = dal(table.prefix == prefix).select(limitby=(0, 1)).first()
            if row is None:
                live = table.revoked_at == None  # noqa: E711 - PyDAL builds SQL from ==
                mine = (table.user_id == user.id) & (table.name == SERVICE_KEY_NAME)
                dal(mine & live).update(revoked_at=utcnow())
                try:
                    table.insert(
                        user_id=user.id,
                        name=SERVICE_KEY_NAME,
                        prefix=prefix,
                        key_hash=sha256_hex(key),
                        scopes=[CALLER_SCOPE],
                        created_at=utcnow(),
                    )
                except Exception:  # the prefix is unique: another replica inserted it first
                    log.info("AuthService caller key provisioned by another replica")
                    return
                log.info("AuthService caller key provisioned", extra={"account": SERVICE_ACCOUNT})
            elif row.user_id != user.id or not hmac.compare_digest(row.key_hash, sha256_hex(key)):
                raise ConfigError(
                    "AUTH_SERVICE_API_KEY: its prefix belongs to another API key; generate a "
                    "new key"
                )
            elif row.revoked_at is not None:
                log.error(
                    "AUTH_SERVICE_API_KEY was revoked and stays revoked: configure a new key "
                    "on flask-backend and packet-service"
                )
        ok = True
    finally:
        svc.database.end_request(ok=ok)
    datastore.changed()


def build_grpc_server(app: Flask, host: str, port: int, workers: int = 8) -> grpc.Server:
    provision_service_key(app)
    return build_common_grpc_server(
        lambda server: auth_pb2_grpc.add_AuthServiceServicer_to_server(AuthServicer(app), server),
        (SERVICE_NAME,),
        host,
        port,
        workers=workers,
        thread_name_prefix="grpc-auth",
    ).server
