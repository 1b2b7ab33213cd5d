"""Who is calling: one plain function that turns a bearer credential (JWT access token or
API key) into a Principal. REST requests and the gRPC AuthService both call it; it knows
nothing of Flask or gRPC. Also the refresh-token store (rotation, reuse detection)."""

from __future__ import annotations

import base64
import copy
import dataclasses
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .datastore import PydalUserDatastore
from .keys import SUCCESSOR_LABEL, derive_key
from .models import User
from .security import (
    JwtCodec,
    TokenInvalid,
    api_key_prefix,
    looks_like_jwt,
    new_family,
    new_refresh_token,
    version_matches,
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
    # An API key's own scopes (None for a user's token), and its optional restriction to
    # one team or one rule set (access.py).
    key_scopes: frozenset[str] | None = None
    key_team_id: int | None = None
    key_ruleset_id: int | None = None


@dataclass(slots=True)
class CredentialCheck:
    principal: Principal | None
    reason: str = ""  # empty when valid; else expired, revoked, malformed, unknown, inactive
    message: str = ""

    @property
    def valid(self) -> bool:
        return self.principal is not None


# Past this fraction of PRINCIPAL_CACHE_TTL, one caller refreshes an entry (PrincipalCache).
REFRESH_AHEAD = 0.8


class PrincipalCache:
    """Remembers valid credentials for a short time (PRINCIPAL_CACHE_TTL seconds), so a
    client calling again with the same token skips the signature check and the account
    query. Any account, role or API-key write in this process clears it, so revocations
    made here apply at once. The cache is per worker process: in every other worker and
    replica a revocation, deactivation or role change applies within the TTL — the bound
    (PRINCIPAL_CACHE_TTL, 2 s by default). Expiry is
    checked on every hit. Past REFRESH_AHEAD of the TTL, the next caller gets a miss and
    checks the credential again while later callers still get the entry (never past the
    TTL). A TTL of 0 turns it off. `clock` measures the TTL; `wall_clock`
    (unix seconds) is compared with the credential's own expiry."""

    def __init__(
        self,
        ttl_seconds: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self.clock = clock
        self.wall_clock = wall_clock
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._refreshing: dict[str, float] = {}  # token -> when one caller went to refresh it
        self._swept_at = clock()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str) -> Principal | None:
        if self.ttl <= 0:
            return None
        entry = self._entries.get(token)
        if entry is None:
            return None
        stored_at, principal = entry
        now = self.clock()
        age = now - stored_at
        if age > self.ttl or (principal.expires_at and principal.expires_at <= self.wall_clock()):
            self._entries.pop(token, None)
            self._refreshing.pop(token, None)
            return None
        if age > self.ttl * REFRESH_AHEAD and token not in self._refreshing:
            # Refresh ahead: one caller checks the credential again (a miss for it) while
            # the others keep the entry until its TTL, so a client's requests do not all
            # miss at once when it ends, and a slow database stalls one request, not all.
            with self._lock:
                if token not in self._refreshing:
                    self._refreshing[token] = now
                    return None
        # A private copy: views may change their principal's user before saving it.
        # (By hand: copy.copy goes through __reduce_ex__, five times slower, every request.)
        source = principal.user
        user = type(source).__new__(type(source))
        user.__dict__.update(source.__dict__)
        user.roles = list(source.roles)
        return dataclasses.replace(principal, user=user)

    def put(self, token: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            now = self.clock()
            if now - self._swept_at >= self.ttl:
                self._sweep(now)
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
                self._refreshing.clear()
            self._entries[token] = (now, principal)
            self._refreshing.pop(token, None)

    def _sweep(self, now: float) -> None:
        """Drops the entries past their TTL. An entry otherwise leaves only when its own
        token comes back, and most never do (a client signs in again and uses a new one): a
        worker would hold every token of the last max_entries sign-ins, tens of MB that
        grow for hours. Called with the lock held, at most once per TTL, so the cache holds
        about one TTL's worth of credentials."""
        self._swept_at = now
        expired = [token for token, (stored_at, _) in self._entries.items()
                   if now - stored_at > self.ttl]  # fmt: skip
        for token in expired:
            del self._entries[token]
            self._refreshing.pop(token, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._refreshing.clear()


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
    if not version_matches(claims.uniquifier, user.fs_uniquifier):
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
    return CredentialCheck(
        Principal(
            "api_key",
            user,
            scopes,
            expires,
            api_key_id=row.id,
            key_scopes=frozenset(row.scopes or []),
            key_team_id=row.team_id,
            key_ruleset_id=row.ruleset_id,
        )
    )


@dataclass(slots=True)
class RefreshOutcome:
    user_id: int | None
    family: str | None
    reused: bool = False
    token: str | None = None  # the new refresh token when the exchange succeeded
    shared: bool = False  # True: a concurrent use within the grace window, same successor


@dataclass(slots=True)
class SessionInfo:
    """One sign-in's refresh family as the sessions list shows it."""

    id: str
    created_at: datetime
    last_used_at: datetime
    ip: str | None
    user_agent: str | None
    expires_at: datetime


def _seal(token: str, successor: str) -> str:
    key = derive_key(token, SUCCESSOR_LABEL)
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(key).encrypt(nonce, successor.encode(), None)
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def _unseal(token: str, sealed: str) -> str | None:
    try:
        raw = base64.urlsafe_b64decode(sealed.encode())
        key = derive_key(token, SUCCESSOR_LABEL)
        return AESGCM(key).decrypt(raw[:12], raw[12:], None).decode()
    except (ValueError, InvalidTag):
        return None


class RefreshTokenStore:
    """Rotating single-use refresh tokens, stored hashed, grouped in families (one family =
    one sign-in = one session). Presenting a spent token within `grace_seconds` of its first
    use (two tabs refreshing at once) returns the same successor; later, it revokes the whole
    family (someone else holds the successor)."""

    def __init__(
        self,
        dal: Any,
        ttl_seconds: int,
        on_revoke: Callable[[], None] = lambda: None,
        grace_seconds: float = 5.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.dal = dal
        self.ttl = timedelta(seconds=ttl_seconds)
        self.on_revoke = on_revoke  # cached principals of a revoked session must go
        self.grace = timedelta(seconds=grace_seconds)
        self.clock = clock

    def issue(
        self,
        user_id: int,
        family: str | None = None,
        ip: str | None = None,
        user_agent: str | None = None,
    ) -> tuple[str, str]:
        token = new_refresh_token()
        family = family or new_family()
        self._insert(user_id, family, token, ip, user_agent)
        return token, family

    def _insert(
        self, user_id: int, family: str, token: str, ip: str | None, user_agent: str | None
    ) -> None:
        now = self.clock()
        self.dal.refresh_token.insert(
            user_id=user_id,
            family=family,
            token_hash=sha256_hex(token),
            created_at=now,
            expires_at=now + self.ttl,
            ip=(ip or "")[:64] or None,
            user_agent=(user_agent or "")[:255] or None,
        )

    def rotate(
        self, token: str, ip: str | None = None, user_agent: str | None = None
    ) -> RefreshOutcome:
        """Spend `token` for a new one of the same family."""
        table = self.dal.refresh_token
        row = self.dal(table.token_hash == sha256_hex(token)).select(limitby=(0, 1)).first()
        if row is None:
            return RefreshOutcome(None, None)
        now = self.clock()
        if row.revoked_at is not None or (row.expires_at and row.expires_at <= now):
            return RefreshOutcome(None, row.family)
        successor = new_refresh_token()
        # Conditional update: of two concurrent uses of one token exactly one wins, and
        # the winner leaves the successor (sealed) for a loser within the grace window.
        won = self.dal((table.id == row.id) & (table.used_at == None)).update(  # noqa: E711
            used_at=now, successor=_seal(token, successor)
        )
        if won:
            self._insert(row.user_id, row.family, successor, ip, user_agent)
            return RefreshOutcome(row.user_id, row.family, token=successor)
        # A current read (FOR UPDATE where the database has it): under MySQL's repeatable
        # read a plain select would still show this transaction's first snapshot.
        spent = (
            self.dal(table.id == row.id)
            .select(limitby=(0, 1), for_update=self.dal._dbname != "sqlite")
            .first()
        )
        if (
            spent is not None
            and spent.revoked_at is None
            and spent.used_at is not None
            and self.grace > timedelta(0)  # 0 = no grace, even within the same second
            and now - spent.used_at <= self.grace
            and spent.successor
        ):
            shared = _unseal(token, spent.successor)
            if shared is not None:
                return RefreshOutcome(row.user_id, row.family, token=shared, shared=True)
        self.revoke_family(row.family)
        return RefreshOutcome(row.user_id, row.family, reused=True)

    def revoke_family(self, family: str) -> int:
        table = self.dal.refresh_token
        revoked = self.dal((table.family == family) & (table.revoked_at == None)).update(  # noqa: E711
            revoked_at=self.clock()
        )
        self.on_revoke()
        return revoked

    def revoke_user(self, user_id: int, keep_family: str | None = None) -> int:
        table = self.dal.refresh_token
        query = (table.user_id == user_id) & (table.revoked_at == None)  # noqa: E711
        if keep_family:
            query &= table.family != keep_family
        revoked = self.dal(query).update(revoked_at=self.clock())
        self.on_revoke()
        return revoked

    def family_of(self, token: str) -> str | None:
        table = self.dal.refresh_token
        row = self.dal(table.token_hash == sha256_hex(token)).select(limitby=(0, 1)).first()
        return row.family if row else None

    def sessions(self, user_id: int) -> list[SessionInfo]:
        """The user's live sessions (families holding an unspent, unexpired token), the
        most recently used first."""
        table = self.dal.refresh_token
        now = self.clock()
        heads = self.dal(
            (table.user_id == user_id)
            & (table.revoked_at == None)  # noqa: E711
            & (table.used_at == None)  # noqa: E711
            & (table.expires_at > now)
        ).select(orderby=~table.created_at)
        if not heads:
            return []
        families = [row.family for row in heads]
        started = table.created_at.min()
        firsts = {
            r.refresh_token.family: r[started]
            for r in self.dal(table.family.belongs(families)).select(
                table.family, started, groupby=table.family
            )
        }
        seen: set[str] = set()
        result: list[SessionInfo] = []
        for row in heads:
            if row.family in seen:
                continue
            seen.add(row.family)
            result.append(
                SessionInfo(
                    id=row.family,
                    created_at=firsts.get(row.family) or row.created_at,
                    last_used_at=row.created_at,
                    ip=row.ip,
                    user_agent=row.user_agent,
                    expires_at=row.expires_at,
                )
            )
        return result

    def revoke_session(self, user_id: int, family: str) -> bool:
        """End one of the user's sessions; False when the user has no such session."""
        table = self.dal.refresh_token
        query = (
            (table.user_id == user_id) & (table.family == family) & (table.revoked_at == None)  # noqa: E711
        )
        revoked = self.dal(query).update(revoked_at=self.clock())
        self.on_revoke()
        return bool(revoked)


def expiry_from_timestamp(moment: datetime | None) -> int:
    return int(moment.timestamp()) if moment else 0
