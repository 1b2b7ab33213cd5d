"""Token formats: JWT access tokens (pyjwt), opaque refresh tokens and API keys.

Passwords are hashed by Flask-Security-Too (bcrypt); this module only deals with the
credentials Rookery issues itself. Secrets are random; only their SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from .config import Settings
from .keys import JWT_LABEL, derive_key

API_KEY_PREFIX = "rk_"
REFRESH_PREFIX = "rt_"


class TokenInvalid(Exception):
    """A JWT was rejected; `reason` is one of expired, malformed, unknown."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(slots=True, frozen=True)
class AccessClaims:
    user_id: int
    scopes: frozenset[str]
    roles: tuple[str, ...]
    expires_at: int
    jti: str
    family: str | None
    uniquifier: str


class JwtCodec:
    """Issues and verifies access tokens. Only the configured algorithm is accepted, so
    `alg: none` and HS/RS confusion are rejected by pyjwt before any claim is read."""

    def __init__(self, settings: Settings) -> None:
        self.algorithm = settings.jwt_algorithm
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.ttl = settings.access_token_ttl
        if self.algorithm == "RS256":
            self.signing_key: Any = Path(settings.jwt_private_key_file).read_bytes()
            self.verify_key: Any = Path(settings.jwt_public_key_file).read_bytes()
        else:
            self.signing_key = self.verify_key = derive_key(settings.secret_key, JWT_LABEL)

    def issue(
        self,
        user_id: int,
        scopes: set[str],
        roles: list[str],
        uniquifier: str,
        family: str | None,
    ) -> tuple[str, int]:
        now = int(time.time())
        claims = {
            "sub": str(user_id),
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + self.ttl,
            "jti": uuid.uuid4().hex,
            "scope": " ".join(sorted(scopes)),
            "roles": sorted(roles),
            # A digest of the account's uniquifier: a password change or reset rotates the
            # uniquifier and with it every access token issued before. Not the uniquifier
            # itself: it is readable in the token and Flask-Security uses it elsewhere.
            "ver": uniquifier_version(uniquifier),
        }
        if family:
            claims["fam"] = family
        return jwt.encode(claims, self.signing_key, algorithm=self.algorithm), now + self.ttl

    def verify(self, token: str) -> AccessClaims:
        try:
            claims = jwt.decode(
                token,
                self.verify_key,
                algorithms=[self.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["sub", "iss", "aud", "iat", "exp", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenInvalid("expired", "the access token has expired") from None
        except jwt.InvalidAudienceError:
            raise TokenInvalid("unknown", "the access token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise TokenInvalid("unknown", "the access token has another issuer") from None
        except jwt.PyJWTError as error:
            raise TokenInvalid("malformed", f"the access token is invalid: {error}") from None
        try:
            user_id = int(claims["sub"])
            scope_text = claims.get("scope", "")
            roles = claims.get("roles", [])
            if not isinstance(scope_text, str) or not isinstance(roles, list):
                raise ValueError
        except (TypeError, ValueError):
            raise TokenInvalid("malformed", "the access token has malformed claims") from None
        return AccessClaims(
            user_id=user_id,
            scopes=frozenset(scope_text.split()),
            roles=tuple(str(r) for r in roles),
            expires_at=int(claims["exp"]),
            jti=str(claims["jti"]),
            family=claims.get("fam"),
            uniquifier=str(claims.get("ver", "")),
        )


def uniquifier_version(uniquifier: str) -> str:
    return hashlib.sha256(f"ver:{uniquifier}".encode()).hexdigest()[:24]


def version_matches(claimed: str, uniquifier: str) -> bool:
    """The token's `ver` against the account's uniquifier: exact, in constant time."""
    return bool(claimed) and hmac.compare_digest(claimed, uniquifier_version(uniquifier))


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and not token.startswith(API_KEY_PREFIX)


def new_refresh_token() -> str:
    return REFRESH_PREFIX + secrets.token_urlsafe(32)


def new_family() -> str:
    return uuid.uuid4().hex


def new_api_key() -> tuple[str, str]:
    """(full key, lookup prefix). The prefix is stored in clear to find the row; the
    whole key is stored only as a hash."""
    prefix = secrets.token_hex(4)
    return f"{API_KEY_PREFIX}{prefix}_{secrets.token_urlsafe(30)}", prefix


def api_key_prefix(key: str) -> str | None:
    if not key.startswith(API_KEY_PREFIX):
        return None
    body = key[len(API_KEY_PREFIX) :]
    prefix, sep, secret_part = body.partition("_")
    if not sep or len(prefix) != 8 or not secret_part:
        return None
    return prefix
