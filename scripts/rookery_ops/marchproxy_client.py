"""A small client for the MarchProxy api-server, shaped by its observed behaviour.

Quirks it absorbs (shared/marchproxy-api.md): a missing token answers 403, an expired one
401 (access tokens die after 30 minutes whatever `expires_in` says, so a 401 triggers one
re-login and one retry); error bodies may be plain text; a trailing slash answers 307, so
paths never end in one and redirects are never followed.

Every gateway answer that reaches an error message passes through `redact` first: a 422
echoes the request back (FastAPI's `input`), login included, so without it the password
would be printed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, quote_plus

import requests

API_PREFIX = "/api/v1"
TIMEOUT_SECONDS = 15
REDACTED = "[redacted]"
# A JSON member whose name contains one of these holds a secret, whatever its value.
SECRET_NAMES = (
    "pass",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "authorization",
    "credential",
    "totp",
    "cookie",
)


def _secret_name(name: object) -> bool:
    return isinstance(name, str) and any(part in name.lower() for part in SECRET_NAMES)


def _scrub(value: Any, known: list[str]) -> Any:
    if isinstance(value, dict):
        loc = value.get("loc")
        # a validation error about a secret field echoes that field's value as `input`
        about_secret = isinstance(loc, list) and bool(loc) and _secret_name(loc[-1])
        return {
            key: REDACTED
            if _secret_name(key) or (about_secret and key in ("input", "ctx"))
            else _scrub(item, known)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_scrub(item, known) for item in value]
    if isinstance(value, str):
        for secret in known:
            value = value.replace(secret, REDACTED)
    return value


def redact(body: str, secrets: Iterable[str]) -> str:
    """The gateway's answer with every secret removed: JSON members named like one
    (password, token, api key, …) and any value equal to a secret in use (the password,
    the access token), in plain, JSON-escaped and URL-encoded form."""
    known = sorted({secret for secret in secrets if secret}, key=len, reverse=True)
    text = body
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict | list):
        text = json.dumps(_scrub(parsed, known), ensure_ascii=False)
    for secret in known:
        forms = {
            secret,
            json.dumps(secret)[1:-1],
            json.dumps(secret, ensure_ascii=False)[1:-1],
            quote(secret, safe=""),
            quote_plus(secret, safe=""),
        }
        for form in sorted(forms, key=len, reverse=True):
            text = text.replace(form, REDACTED)
    return text


class ApiError(Exception):
    """A request MarchProxy answered with an unexpected status, or could not be sent."""

    def __init__(self, method: str, path: str, status: int | None, body: str) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.body = body
        shown = f"HTTP {status}" if status is not None else "no answer"
        super().__init__(f"{method} {path} -> {shown}: {body.strip() or '(empty body)'}")


class AuthError(ApiError):
    """Login refused, or a token that is no longer (or never was) accepted."""


@dataclass(slots=True)
class Credentials:
    username: str = ""
    password: str = ""
    token: str = ""  # a ready access token (MARCHPROXY_TOKEN); no re-login possible then

    @property
    def can_login(self) -> bool:
        return bool(self.username and self.password)


class MarchProxyClient:
    def __init__(self, base_url: str, credentials: Credentials) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.token = credentials.token
        self.logins = 0
        self._http = requests.Session()

    # -- transport -------------------------------------------------------------------
    def _send(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            return self._http.request(
                method,
                self.base_url + path,
                headers=headers,
                timeout=TIMEOUT_SECONDS,
                allow_redirects=False,  # a 307 means we built a wrong path; say so
                **kwargs,
            )
        except requests.RequestException as exc:
            raise self._error(ApiError, method, path, None, str(exc)) from exc

    def _secrets(self) -> list[str]:
        return [self.credentials.password, self.credentials.token, self.token]

    def _error(
        self, kind: type[ApiError], method: str, path: str, status: int | None, body: str
    ) -> ApiError:
        """An error to raise, with the gateway's body made safe to print."""
        return kind(method, path, status, redact(body, self._secrets()))

    def request(self, method: str, path: str, expect: tuple[int, ...], **kwargs: Any) -> Any:
        """Send an authenticated request; returns the parsed JSON body (or None)."""
        if not self.token:
            self.login()
        response = self._send(method, path, **kwargs)
        if response.status_code == 401 and self.credentials.can_login:
            # Tokens expire mid-import (30 minutes); one fresh login, one retry.
            self.login()
            response = self._send(method, path, **kwargs)
        if response.status_code in expect:
            return _json_or_none(response)
        error = AuthError if response.status_code in (401, 403) else ApiError
        raise self._error(error, method, path, response.status_code, response.text)

    def login(self) -> None:
        if not self.credentials.can_login:
            raise AuthError(
                "POST",
                f"{API_PREFIX}/auth/login",
                None,
                "no usable credentials: set MARCHPROXY_USER and MARCHPROXY_PASSWORD "
                "(or MARCHPROXY_TOKEN)",
            )
        path = f"{API_PREFIX}/auth/login"
        self.token = ""
        response = self._send(
            "POST",
            path,
            json={"username": self.credentials.username, "password": self.credentials.password},
        )
        if response.status_code != 200:
            error = AuthError if response.status_code in (401, 403, 422) else ApiError
            raise self._error(error, "POST", path, response.status_code, response.text)
        body = _json_or_none(response) or {}
        token = body.get("access_token") if isinstance(body, dict) else None
        if not token:
            reason = "two-factor authentication is required" if body.get("requires_2fa") else ""
            shown = redact(response.text, self._secrets())  # not JSON once prefixed
            body_text = reason or f"no access_token in {shown}"
            raise self._error(AuthError, "POST", path, 200, body_text)
        self.token = token
        self.logins += 1

    # -- resources -------------------------------------------------------------------
    def clusters(self) -> list[dict[str, Any]]:
        body = self.request("GET", f"{API_PREFIX}/clusters", expect=(200,))
        return _listed(body, "clusters", "GET", f"{API_PREFIX}/clusters")

    def all_services(self, page_size: int = 1000) -> list[dict[str, Any]]:
        """Every service row, soft-deleted ones included (names are unique across all)."""
        path = f"{API_PREFIX}/services"
        rows: list[dict[str, Any]] = []
        while True:
            params = {"active_only": "false", "skip": len(rows), "limit": page_size}
            body = self.request("GET", path, expect=(200,), params=params)
            page = _listed(body, "services", "GET", path)
            rows.extend(page)
            total = body.get("total", len(rows)) if isinstance(body, dict) else len(rows)
            if not page or len(rows) >= total:
                return rows

    def create_service(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.request("POST", f"{API_PREFIX}/services", expect=(200, 201), json=body)

    def update_service(self, service_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        path = f"{API_PREFIX}/services/{service_id}"
        return self.request("PATCH", path, expect=(200,), json=changes)


def _json_or_none(response: requests.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except (ValueError, json.JSONDecodeError):
        return None


def _listed(body: Any, key: str, method: str, path: str) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get(key), list):
        raise ApiError(method, path, 200, f"expected a JSON object with a {key!r} list")
    return body[key]
