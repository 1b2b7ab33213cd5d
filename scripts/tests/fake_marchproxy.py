"""A local stand-in for MarchProxy's api-server, faithful to its observed contract.

Implements what shared/marchproxy-api.md records, quirks included: JSON-only login,
403 without a token and 401 with a bad or expired one, `{"detail": ...}` errors and
422 validation lists, plain-text 500s, PATCH without enum validation (a bad stored value
makes every later GET answer 500), names unique across soft-deleted rows, soft DELETE,
PUT → 405, 307 on a trailing slash, list pagination with limit <= 1000.

Tests steer it through attributes: `expire_tokens_after` (authenticated requests a token
survives), `fail_next` (a canned failure for the next matching request) and read
`requests` (every request seen, as (method, path, json body)).
"""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PROTOCOLS = ("tcp", "udp", "http", "https")
AUTH_TYPES = ("none", "base64", "jwt")
SERVICE_DEFAULTS = {
    "protocol": "tcp",
    "collection": None,
    "auth_type": "none",
    "tls_enabled": False,
    "tls_verify": True,
    "health_check_enabled": False,
    "health_check_path": None,
    "health_check_interval": 30,
}
UPDATABLE = (*SERVICE_DEFAULTS, "name", "ip_fqdn", "port", "is_active")


@dataclass(slots=True)
class Failure:
    method: str
    path_prefix: str
    status: int
    body: str  # sent as text/plain, like an unhandled exception in the real server
    match_name: str | None = None  # only when the JSON body's name is this
    # Answer instead like FastAPI's validation error: JSON, `body` as the message and the
    # request's JSON echoed back as `input` (the real server does, secrets included).
    echo_input: bool = False


@dataclass(slots=True)
class FakeState:
    users: dict[str, str] = field(default_factory=lambda: {"admin": "s3cret-pass"})
    clusters: list[dict[str, Any]] = field(default_factory=list)
    services: list[dict[str, Any]] = field(default_factory=list)
    tokens: dict[str, int] = field(default_factory=dict)  # token -> requests left
    expire_tokens_after: int = 10_000
    fail_next: list[Failure] = field(default_factory=list)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    logins: int = 0
    requires_2fa: bool = False  # login then answers without tokens until a TOTP is sent
    next_id: int = 1
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_cluster(self, name: str) -> int:
        cluster_id = len(self.clusters) + 1
        self.clusters.append({"id": cluster_id, "name": name, "description": "", "is_active": True})
        return cluster_id

    def service(self, name: str) -> dict[str, Any] | None:
        return next((s for s in self.services if s["name"] == name), None)

    def writes(self) -> list[tuple[str, str, Any]]:
        return [
            r
            for r in self.requests
            if r[0] in ("POST", "PATCH", "PUT", "DELETE") and not r[1].endswith("/auth/login")
        ]


class Reply(Exception):
    def __init__(
        self,
        status: int,
        body: Any = None,
        text: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status, self.body, self.text, self.headers = status, body, text, headers or {}


def detail(status: int, message: Any) -> Reply:
    return Reply(status, {"detail": message})


def invalid(field_name: str, message: str) -> Reply:
    return detail(422, [{"loc": ["body", field_name], "msg": message, "type": "value_error"}])


class Handler(BaseHTTPRequestHandler):
    state: FakeState  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # -- plumbing ----------------------------------------------------------------------
    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        state = self.state
        with state.lock:
            state.requests.append((method, url.path, body))
            try:
                self._canned_failure(method, url.path, body)
                reply = self._route(method, url.path, parse_qs(url.query), body)
            except Reply as exc:
                reply = exc
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        if reply.text is not None:
            payload, kind = reply.text.encode(), "text/plain; charset=utf-8"
        elif reply.body is None:
            payload, kind = b"", "application/json"
        else:
            payload, kind = json.dumps(reply.body).encode(), "application/json"
        self.send_response(reply.status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _canned_failure(self, method: str, path: str, body: Any) -> None:
        for failure in list(self.state.fail_next):
            name = body.get("name") if isinstance(body, dict) else None
            if (
                failure.method == method
                and path.startswith(failure.path_prefix)
                and (failure.match_name is None or failure.match_name == name)
            ):
                self.state.fail_next.remove(failure)
                if failure.echo_input:
                    error = {"type": "value_error", "loc": ["body"], "msg": failure.body}
                    raise detail(failure.status, [{**error, "input": body}])
                raise Reply(failure.status, text=failure.body)

    def _authenticate(self) -> None:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise detail(403, "Not authenticated")
        token = header.removeprefix("Bearer ")
        left = self.state.tokens.get(token, 0)
        if left <= 0:
            raise detail(401, "Could not validate credentials")
        self.state.tokens[token] = left - 1

    # -- routes ------------------------------------------------------------------------
    def _route(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> Reply:
        if path != "/" and path.endswith("/"):
            raise Reply(307, None, headers={"Location": path.rstrip("/")})
        if path == "/api/v1/auth/login" and method == "POST":
            return self._login(body)
        parts = path.strip("/").split("/")
        if parts[:2] != ["api", "v1"] or len(parts) < 3 or parts[2] not in ("services", "clusters"):
            raise detail(404, "Not Found")
        resource, rest = parts[2], parts[3:]
        if method == "PUT":
            raise detail(405, "Method Not Allowed")
        self._authenticate()
        if resource == "clusters":
            if method == "GET" and not rest:
                return Reply(
                    200, {"total": len(self.state.clusters), "clusters": self.state.clusters}
                )
            raise detail(405, "Method Not Allowed")
        if not rest:
            if method == "GET":
                return self._list_services(query)
            if method == "POST":
                return self._create_service(body)
            raise detail(405, "Method Not Allowed")
        service = self._find_by_id(rest[0])
        if method == "GET":
            self._raise_if_corrupt([service])
            return Reply(200, service)
        if method == "PATCH":
            return self._update_service(service, body)
        if method == "DELETE":
            if query.get("permanent") == ["true"]:
                self.state.services.remove(service)
            else:
                service["is_active"] = False
            return Reply(204)
        raise detail(405, "Method Not Allowed")

    def _login(self, body: Any) -> Reply:
        if self.headers.get("Content-Type", "").split(";")[
            0
        ] != "application/json" or not isinstance(body, dict):
            # FastAPI echoes what it could not parse as `input`
            raise detail(
                422,
                [
                    {
                        "type": "missing",
                        "loc": ["body", "username"],
                        "msg": "Field required",
                        "input": body,
                    }
                ],
            )
        username, password = body.get("username"), body.get("password")
        if self.state.users.get(username) != password:
            raise detail(401, "Incorrect username or password")
        if self.state.requires_2fa and not body.get("totp_code"):
            return Reply(
                200,
                {"user_id": 1, "username": username, "requires_2fa": True, "access_token": None},
            )
        token = secrets.token_hex(16)
        self.state.tokens[token] = self.state.expire_tokens_after
        self.state.logins += 1
        return Reply(
            200,
            {
                "user_id": 1,
                "username": username,
                "email": f"{username}@example.test",
                "is_admin": True,
                "requires_2fa": False,
                "access_token": token,
                "refresh_token": secrets.token_hex(16),
                "token_type": "bearer",
                "expires_in": 3600,
            },
        )

    def _raise_if_corrupt(self, rows: list[dict[str, Any]]) -> None:
        # The real server's response model rejects values its PATCH let in: a 500.
        for row in rows:
            if row["protocol"] not in PROTOCOLS or row["auth_type"] not in AUTH_TYPES:
                raise Reply(500, text="Internal Server Error")

    def _list_services(self, query: dict[str, list[str]]) -> Reply:
        def one(name: str, default: str) -> str:
            return query.get(name, [default])[0]

        try:
            skip, limit = int(one("skip", "0")), int(one("limit", "100"))
        except ValueError:
            raise invalid("limit", "Input should be a valid integer") from None
        if limit > 1000:
            raise detail(422, [{"loc": ["query", "limit"], "msg": "Input should be <= 1000"}])
        rows = list(reversed(self.state.services))  # newest first, as observed
        if one("active_only", "true") == "true":
            rows = [r for r in rows if r["is_active"]]
        if "cluster_id" in query:
            rows = [r for r in rows if str(r["cluster_id"]) == one("cluster_id", "")]
        self._raise_if_corrupt(rows)
        return Reply(200, {"total": len(rows), "services": rows[skip : skip + limit]})

    def _find_by_id(self, raw_id: str) -> dict[str, Any]:
        for row in self.state.services:
            if str(row["id"]) == raw_id:
                return row
        raise detail(404, "Service not found")

    def _create_service(self, body: Any) -> Reply:
        if not isinstance(body, dict):
            raise invalid("name", "Field required")
        for required in ("name", "ip_fqdn", "port", "cluster_id"):
            if required not in body:
                raise invalid(required, "Field required")
        record = {**SERVICE_DEFAULTS, **{k: v for k, v in body.items() if k in UPDATABLE}}
        if record["protocol"] not in PROTOCOLS:
            raise invalid("protocol", "Value error, protocol must be one of: tcp, udp, http, https")
        if record["auth_type"] not in AUTH_TYPES:
            raise invalid("auth_type", "Value error, auth_type must be one of: none, base64, jwt")
        if not isinstance(record["port"], int) or not 1 <= record["port"] <= 65535:
            raise invalid("port", "Input should be between 1 and 65535")
        if record["health_check_interval"] < 5:
            raise invalid("health_check_interval", "Input should be greater than or equal to 5")
        if self.state.service(record["name"]) is not None:
            raise detail(400, f"Service with name '{record['name']}' already exists")
        if not any(c["id"] == body["cluster_id"] for c in self.state.clusters):
            raise detail(404, "Cluster not found")
        now = datetime.now(UTC).isoformat()
        record.update(
            id=self.state.next_id,
            cluster_id=body["cluster_id"],
            is_active=True,
            created_by=1,
            created_at=now,
            updated_at=now,
            jwt_expiry=body.get("jwt_expiry", 3600),
            jwt_algorithm=body.get("jwt_algorithm", "HS256"),
            token_base64=secrets.token_urlsafe(24) if record["auth_type"] == "base64" else None,
            jwt_secret=secrets.token_urlsafe(32) if record["auth_type"] == "jwt" else None,
        )
        self.state.next_id += 1
        self.state.services.append(record)
        return Reply(201, record)

    def _update_service(self, service: dict[str, Any], body: Any) -> Reply:
        if not isinstance(body, dict):
            raise invalid("body", "Input should be a valid dictionary")
        changes = {k: v for k, v in body.items() if k in UPDATABLE}  # cluster_id ignored
        new_name = changes.get("name")
        if new_name and new_name != service["name"] and self.state.service(new_name):
            raise Reply(500, text="Internal Server Error")  # IntegrityError, unhandled
        if changes.get("health_check_interval", 5) < 5:
            raise invalid("health_check_interval", "Input should be greater than or equal to 5")
        # No enum validation here: that is the real server's quirk.
        service.update(changes, updated_at=datetime.now(UTC).isoformat())
        return Reply(200, service)


class FakeMarchProxy:
    """Runs the fake on 127.0.0.1 in a thread; use as a context manager."""

    def __init__(self) -> None:
        self.state = FakeState()
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeMarchProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
