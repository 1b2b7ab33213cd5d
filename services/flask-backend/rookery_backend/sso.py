"""OpenID Connect single sign-on: the provider client, the login's pending state, ID token
verification and what the verified claims mean for the account (docs/SSO.md).

The client is authlib's Flask client (discovery, authorization URL with PKCE S256, state
and nonce, the code exchange). Between /sso/login and /sso/callback nothing stays in
process memory: the state, nonce, PKCE verifier and the page to return to travel in a
signed, short-lived, HttpOnly SameSite=Lax cookie (signed with a key derived from
SECRET_KEY, which every worker and replica shares), so the callback may land anywhere.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from authlib.oidc.core import CodeIDToken
from flask import Flask
from itsdangerous import BadSignature, URLSafeTimedSerializer
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError
from joserfc.errors import JoseError as JoseRfcError
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

from .config import Settings
from .keys import derive_key
from .licensing import feature_enabled

log = logging.getLogger("rookery.sso")

FEATURE = "sso_oidc"
CALLBACK_PATH = "/api/v1/auth/sso/callback"
LOGIN_PATH = "/api/v1/auth/sso/login"
PENDING_COOKIE = "rookery_sso"
PENDING_COOKIE_PATH = "/api/v1/auth/sso"
PENDING_TTL = 600  # seconds a started sign-on may take at the provider
ID_TOKEN_LEEWAY = 60  # seconds of clock difference tolerated on exp/iat/nbf
SSO_STATE_LABEL = b"rookery/sso-state/v1"
# What a provider's callback parameter may look like: printable ASCII, bounded.
_PARAM = re.compile(r"[\x21-\x7e]{1,2048}")
_NEXT = re.compile(r"/(?![/\\])[\x21-\x7e]{0,511}")

ERROR_CODES = (
    "state_mismatch",
    "provider_unavailable",
    "invalid_id_token",
    "access_denied",
    "no_role",
    "email_unverified",
    "seat_limit_reached",
    "sso_disabled",
)


class SsoError(Exception):
    """A sign-on that ends at /login?sso_error=<code>; `reason` goes to the log and audit."""

    def __init__(self, code: str, reason: str, email: str | None = None) -> None:
        assert code in ERROR_CODES, code
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.email = email


@dataclass(slots=True, frozen=True)
class Pending:
    state: str
    nonce: str
    code_verifier: str
    next: str


@dataclass(slots=True, frozen=True)
class Identity:
    """What a verified sign-on says about the person."""

    subject: str
    email: str
    email_verified: bool
    role_values: tuple[str, ...]
    name: str


def safe_next(raw: str | None) -> str:
    """A path on this site to return to after sign-on; anything else becomes /."""
    if raw and _NEXT.fullmatch(raw):
        return raw
    return "/"


def callback_param(raw: str | None) -> str | None:
    """A callback query value, or None when absent or not a sane token (NUL, huge...)."""
    if raw is None or not _PARAM.fullmatch(raw):
        return None
    return raw


def role_map(text: str) -> dict[str, str]:
    """OIDC_ROLE_MAP "value:role,value2:role2" (a value may hold colons) as a dict."""
    pairs: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        value, _, role = pair.rpartition(":")
        pairs[value.strip()] = role.strip()
    return pairs


def break_glass_emails(settings: Settings) -> set[str]:
    return {e.strip().lower() for e in settings.sso_break_glass_emails.split(",") if e.strip()}


def feature_on() -> bool:
    """Whether the licence allows single sign-on (development mode: always)."""
    return feature_enabled(FEATURE)


def sso_enabled(settings: Settings) -> bool:
    return bool(settings.oidc_issuer) and feature_on()


def sso_required(settings: Settings) -> bool:
    """Password login is limited to the break-glass admins. Only while SSO is usable: a
    licence without single sign-on must not lock everybody out."""
    return settings.sso_required and sso_enabled(settings)


class OidcClient:
    """One per app: authlib's client for the provider, the pending-state signer and the
    clock ID tokens are checked against (tests move it)."""

    def __init__(self, app: Flask, settings: Settings) -> None:
        self.settings = settings
        self.issuer = settings.oidc_issuer.rstrip("/")
        self.oauth = OAuth(app)
        self.client: Any = self.oauth.register(
            "rookery_oidc",
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret or None,
            server_metadata_url=f"{self.issuer}/.well-known/openid-configuration",
            client_kwargs={
                "scope": settings.oidc_scopes,
                "code_challenge_method": "S256",
                "default_timeout": settings.oidc_http_timeout,
            },
        )
        self.signer = URLSafeTimedSerializer(
            derive_key(settings.secret_key, SSO_STATE_LABEL), salt="rookery-sso-pending"
        )
        self.clock: Callable[[], float] = time.time
        self._lock = threading.Lock()

    @property
    def redirect_uri(self) -> str:
        return self.settings.public_url.rstrip("/") + CALLBACK_PATH

    def metadata(self) -> dict[str, Any]:
        try:
            with self._lock:
                metadata = self.client.load_server_metadata()
        except (requests.RequestException, ValueError) as error:
            raise SsoError("provider_unavailable", f"discovery failed: {error}") from error
        if str(metadata.get("issuer", "")).rstrip("/") != self.issuer:
            # A document claiming another issuer: not this provider. Forget it, try again later.
            self.client.server_metadata = {}
            raise SsoError(
                "provider_unavailable",
                f"discovery names issuer {metadata.get('issuer')!r}, not {self.issuer!r}",
            )
        return metadata

    # -- /sso/login ----------------------------------------------------------------------
    def start(self, next_path: str) -> tuple[str, str]:
        """The provider's authorization URL and the signed pending-state cookie value."""
        self.metadata()
        try:
            made = self.client.create_authorization_url(self.redirect_uri)
        except (requests.RequestException, RuntimeError) as error:
            raise SsoError("provider_unavailable", f"no authorization URL: {error}") from error
        pending = {
            "s": made["state"],
            "n": made["nonce"],
            "v": made["code_verifier"],
            "r": safe_next(next_path),
        }
        return made["url"], self.signer.dumps(pending)

    def pending(self, cookie: str | None) -> Pending:
        if not cookie or len(cookie) > 4096:
            raise SsoError("state_mismatch", "no sign-on in progress in this browser")
        try:
            data, signed_at = self.signer.loads(cookie, return_timestamp=True)
            age = self.clock() - signed_at.timestamp()
            if not -ID_TOKEN_LEEWAY <= age <= PENDING_TTL:
                raise SsoError("state_mismatch", f"the sign-on started {int(age)} s ago: expired")
            return Pending(str(data["s"]), str(data["n"]), str(data["v"]), safe_next(data["r"]))
        except (BadSignature, KeyError, TypeError) as error:
            raise SsoError(
                "state_mismatch", f"sign-on state unreadable or expired: {error}"
            ) from error

    # -- /sso/callback -------------------------------------------------------------------
    def finish(self, pending: Pending, args: dict[str, str | None]) -> Identity:
        """Check the provider's answer against the pending state, redeem the code and
        verify the ID token. Raises SsoError."""
        state = callback_param(args.get("state"))
        if state is None or state != pending.state:
            raise SsoError("state_mismatch", "the state does not match this browser's sign-on")
        metadata = self.metadata()
        issuer_param = args.get("iss")
        if issuer_param is not None and issuer_param.rstrip("/") != self.issuer:
            raise SsoError("invalid_id_token", f"the answer names issuer {issuer_param[:200]!r}")
        error = args.get("error")
        if error is not None:
            error = callback_param(error) or "invalid"
            if error in ("temporarily_unavailable", "server_error"):
                raise SsoError("provider_unavailable", f"the provider answered {error}")
            raise SsoError("access_denied", f"the provider answered {error}")
        code = callback_param(args.get("code"))
        if code is None:
            raise SsoError("invalid_id_token", "the answer holds no usable authorization code")
        try:
            token = self.client.fetch_access_token(
                self.redirect_uri, code=code, code_verifier=pending.code_verifier
            )
        except requests.RequestException as failure:
            raise SsoError("provider_unavailable", f"token endpoint: {failure}") from failure
        except OAuthError as failure:
            if failure.error == "invalid_grant":
                # Expired, already used, or issued to another client / another login.
                raise SsoError(
                    "state_mismatch", f"the provider refused the code: {failure}"
                ) from failure
            raise SsoError("provider_unavailable", f"token endpoint: {failure}") from failure
        except ValueError as failure:  # not JSON
            raise SsoError("provider_unavailable", f"token endpoint: {failure}") from failure
        raw = token.get("id_token") if isinstance(token, dict) else None
        if not isinstance(raw, str):
            raise SsoError("invalid_id_token", "the token answer holds no ID token")
        claims = self.verify_id_token(raw, pending.nonce, metadata, token.get("access_token"))
        if "email" not in claims and metadata.get("userinfo_endpoint"):
            claims = self._with_userinfo(claims, token)
        return identity_of(claims, self.settings.oidc_role_claim)

    def verify_id_token(
        self,
        raw: str,
        nonce: str,
        metadata: dict[str, Any] | None = None,
        access_token: str | None = None,
    ) -> dict[str, Any]:
        """Signature (the provider's published keys), issuer, audience, expiry, nonce."""
        metadata = metadata or self.metadata()
        algorithms = [
            a
            for a in metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
            if a != "none" and not a.startswith("HS")
        ]
        registry = JWSRegistry(algorithms=algorithms or ["RS256"], strict_check_header=False)
        try:
            try:
                keys = KeySet.import_key_set(self.client.fetch_jwk_set())
                decoded = jwt.decode(raw, key=keys, registry=registry)
            except InvalidKeyIdError:
                # The provider rotated its keys: read them again once.
                keys = KeySet.import_key_set(self.client.fetch_jwk_set(force=True))
                decoded = jwt.decode(raw, key=keys, registry=registry)
        except requests.RequestException as error:
            raise SsoError("provider_unavailable", f"signing keys: {error}") from error
        except (JoseRfcError, ValueError, TypeError) as error:
            raise SsoError(
                "invalid_id_token", f"bad ID token signature or form: {error}"
            ) from error
        params: dict[str, Any] = {"nonce": nonce, "client_id": self.settings.oidc_client_id}
        if access_token:
            params["access_token"] = access_token
        options = {
            "iss": {"essential": True, "values": [metadata.get("issuer")]},
            "aud": {"essential": True, "values": [self.settings.oidc_client_id]},
            "sub": {"essential": True},
        }
        claims = CodeIDToken(decoded.claims, decoded.header, options, params)
        try:
            claims.validate(now=int(self.clock()), leeway=ID_TOKEN_LEEWAY)
        except JoseRfcError as error:
            raise SsoError("invalid_id_token", f"ID token refused: {error}") from error
        return dict(claims)

    def _with_userinfo(self, claims: dict[str, Any], token: dict[str, Any]) -> dict[str, Any]:
        try:
            info = dict(self.client.userinfo(token=token))
        except (requests.RequestException, OAuthError, ValueError) as error:
            raise SsoError("provider_unavailable", f"userinfo: {error}") from error
        if str(info.get("sub")) != str(claims.get("sub")):
            raise SsoError("invalid_id_token", "userinfo names another subject")
        return {**info, **claims}


def identity_of(claims: dict[str, Any], role_claim: str) -> Identity:
    email = claims.get("email")
    verified = claims.get("email_verified")
    values = claims.get(role_claim) if role_claim else None
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list):
        values = []
    name = claims.get("name")
    return Identity(
        subject=str(claims["sub"]),
        email=email.strip().lower() if isinstance(email, str) else "",
        # Some providers send the string "true".
        email_verified=verified is True or verified == "true",
        role_values=tuple(str(v) for v in values if isinstance(v, str | int))[:256],
        name=name[:200] if isinstance(name, str) else "",
    )


def mapped_roles(identity: Identity, settings: Settings) -> list[str]:
    """The Rookery roles the claim values map to, else the default role, else none."""
    mapping = role_map(settings.oidc_role_map)
    roles = list(dict.fromkeys(mapping[v] for v in identity.role_values if v in mapping))
    if not roles and settings.oidc_default_role:
        roles = [settings.oidc_default_role]
    return roles


_clients_lock = threading.Lock()


def client_of(app: Flask) -> OidcClient:
    """The app's OIDC client, made at first use (settings are fixed for the app's life)."""
    client = app.extensions.get("rookery_sso")
    if client is None:
        with _clients_lock:
            client = app.extensions.get("rookery_sso")
            if client is None:
                client = OidcClient(app, app.extensions["rookery"].settings)
                app.extensions["rookery_sso"] = client
    return client
