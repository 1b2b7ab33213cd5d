"""Who is calling: one plain function that turns a bearer credential (JWT access token or
API key) into a Principal. REST requests and the gRPC AuthService both call it; it knows
nothing of Flask or gRPC. Also the refresh-token store (rotation, reuse detection)."""

from __future__ import annotations

import copy
import hmac
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .datastore import PydalUserDatastore
from .models import User
from .security import (
    JwtCodec,
    TokenInvalid,
    api_key_prefix,
    looks_like_jwt,
    new_family,
    new_refresh_token,
)
from .utils import sha256_hex, utcnow

# last_used_at is written at most this often per key, so an API key in a hot loop does not
# turn every read into a write.
LAST_USED_GRANULARITY = timedelta(seconds=60)


@dataclass(slots=True)
class Principal:
    kind: str  # "user" (JWT) or "api_key"
    user: User
    scopes: frozenset[str]
    expires_at: int  # unix seconds; 0 = no expiry
    api_key_id: int | None = None
    token_family: str | None = None


@dataclass(slots=True)
class CredentialCheck:
    principal: Principal | None
    reason: str = ""  # empty when valid; else expired, revoked, malformed, unknown, inactive
    message: str = ""

    @property
    def valid(self) -> bool:
        return self.principal is not None


class PrincipalCache:
    """Remembers valid credentials for a short time (PRINCIPAL_CACHE_TTL seconds), so a
    client calling again with the same token skips the signature check and the account
    query. Any account, role or API-key write in this process clears it, so revocations
    made here apply at once; on other replicas they apply within the TTL. Expiry is
    checked on every hit. A TTL of 0 turns it off."""

    def __init__(self, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> Principal | None:
        if self.ttl <= 0:
            return None
        entry = self._entries.get(token)
        if entry is None:
            return None
        stored_at, principal = entry
        now = time.monotonic()
        if now - stored_at > self.ttl or (
            principal.expires_at and principal.expires_at <= time.time()
        ):
            self._entries.pop(token, None)
            return None
        # A private copy: views may change their principal's user before saving it.
        clone = copy.copy(principal)
        clone.user = copy.copy(principal.user)
        clone.user.roles = list(principal.user.roles)
        return clone

    def put(self, token: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[token] = (time.monotonic(), principal)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def validate_credential(
    token: str,
    codec: JwtCodec,
    datastore: PydalUserDatastore,
    cache: PrincipalCache | None = None,
) -> CredentialCheck:
    token = token.strip()
    if not token:
        return CredentialCheck(None, "malformed", "no credential given")
    if cache is not None:
        principal = cache.get(token)
        if principal is not None:
            return CredentialCheck(principal)
    if looks_like_jwt(token):
        check = _validate_jwt(token, codec, datastore)
    elif api_key_prefix(token):
        check = _validate_api_key(token, datastore)
    else:
        return CredentialCheck(None, "malformed", "the credential is neither a JWT nor an API key")
    if cache is not None and check.principal is not None:
        stored = copy.copy(check.principal)
        stored.user = copy.copy(check.principal.user)
        stored.user.roles = list(check.principal.user.roles)
        cache.put(token, stored)
    return check


def _validate_jwt(token: str, codec: JwtCodec, datastore: PydalUserDatastore) -> CredentialCheck:
    try:
        claims = codec.verify(token)
    except TokenInvalid as error:
        return CredentialCheck(None, error.reason, str(error))
    user = datastore.find_user(id=claims.user_id)
    if user is None:
        return CredentialCheck(None, "unknown", "the token's user no longer exists")
    if not user.active:
        return CredentialCheck(None, "inactive", "the account is deactivated")
    if not claims.uniquifier or not user.fs_uniquifier.startswith(claims.uniquifier):
        return CredentialCheck(None, "revoked", "the token was revoked (password changed)")
    if claims.family and _family_revoked(datastore.dal, claims.family):
        # Logout, or a reused refresh token, ends the session's access tokens too.
        return CredentialCheck(None, "revoked", "the session was logged out or revoked")
    # Scopes come from the roles the user holds now, capped by what the token was issued
    # with: removing a role takes effect at once, adding one needs a new token.
    scopes = frozenset(user.scopes) & claims.scopes
    return CredentialCheck(
        Principal("user", user, scopes, claims.expires_at, token_family=claims.family)
    )


def _family_revoked(dal: Any, family: str) -> bool:
    table = dal.refresh_token
    query = (table.family == family) & (table.revoked_at != None)  # noqa: E711
    return bool(dal(query).select(table.id, limitby=(0, 1)))


def _validate_api_key(token: str, datastore: PydalUserDatastore) -> CredentialCheck:
    dal = datastore.dal
    prefix = api_key_prefix(token)
    row = dal(dal.api_key.prefix == prefix).select(limitby=(0, 1)).first()
    if row is None or not hmac.compare_digest(row.key_hash, sha256_hex(token)):
        return CredentialCheck(None, "unknown", "unknown API key")
    now = utcnow()
    if row.revoked_at is not None:
        return CredentialCheck(None, "revoked", "the API key was revoked")
    if row.expires_at is not None and row.expires_at <= now:
        return CredentialCheck(None, "expired", "the API key has expired")
    user = datastore.find_user(id=row.user_id)
    if user is None or not user.active:
        return CredentialCheck(None, "inactive", "the API key's owner is deactivated")
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_GRANULARITY:
        dal(dal.api_key.id == row.id).update(last_used_at=now)
    # A key never holds more than its creator holds today.
    scopes = frozenset(row.scopes or []) & frozenset(user.scopes)
    expires = int(row.expires_at.timestamp()) if row.expires_at else 0
    return CredentialCheck(Principal("api_key", user, scopes, expires, api_key_id=row.id))


@dataclass(slots=True)
class RefreshOutcome:
    user_id: int | None
    family: str | None
    reused: bool = False


class RefreshTokenStore:
    """Rotating single-use refresh tokens, stored hashed, grouped in families. Presenting a
    spent token revokes its whole family (someone else holds the successor)."""

    def __init__(
        self, dal: Any, ttl_seconds: int, on_revoke: Callable[[], None] = lambda: None
    ) -> None:
        self.dal = dal
        self.ttl = timedelta(seconds=ttl_seconds)
        self.on_revoke = on_revoke  # cached principals of a revoked session must go

    def issue(self, user_id: int, family: str | None = None) -> tuple[str, str]:
        token = new_refresh_token()
        family = family or new_family()
        now = utcnow()
        self.dal.refresh_token.insert(
            user_id=user_id,
            family=family,
            token_hash=sha256_hex(token),
            created_at=now,
            expires_at=now + self.ttl,
        )
        return token, family

    def consume(self, token: str) -> RefreshOutcome:
        table = self.dal.refresh_token
        row = self.dal(table.token_hash == sha256_hex(token)).select(limitby=(0, 1)).first()
        if row is None:
            return RefreshOutcome(None, None)
        now = utcnow()
        if row.revoked_at is not None or (row.expires_at and row.expires_at <= now):
            return RefreshOutcome(None, row.family)
        # Conditional update: of two concurrent uses of one token exactly one wins.
        won = self.dal((table.id == row.id) & (table.used_at == None)).update(used_at=now)  # noqa: E711
        if not won:
            self.revoke_family(row.family)
            return RefreshOutcome(row.user_id, row.family, reused=True)
        return RefreshOutcome(row.user_id, row.family)

    def revoke_family(self, family: str) -> int:
        table = self.dal.refresh_token
        revoked = self.dal((table.family == family) & (table.revoked_at == None)).update(  # noqa: E711
            revoked_at=utcnow()
        )
        self.on_revoke()
        return revoked

    def revoke_user(self, user_id: int, keep_family: str | None = None) -> int:
        table = self.dal.refresh_token
        query = (table.user_id == user_id) & (table.revoked_at == None)  # noqa: E711
        if keep_family:
            query &= table.family != keep_family
        revoked = self.dal(query).update(revoked_at=utcnow())
        self.on_revoke()
        return revoked

    def family_of(self, token: str) -> str | None:
        table = self.dal.refresh_token
        row = self.dal(table.token_hash == sha256_hex(token)).select(limitby=(0, 1)).first()
        return row.family if row else None


def expiry_from_timestamp(moment: datetime | None) -> int:
    return int(moment.timestamp()) if moment else 0
