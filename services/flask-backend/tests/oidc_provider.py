"""Test helpers for single sign-on: the real test OpenID Provider
(scripts/oidc-test-provider, Node) on a free loopback port, a real HTTP server around a
flask-backend app, and a browser-like walk through the provider's login form."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from joserfc.jwk import ECKey
from rookery_common.testing import free_port, stop_process
from werkzeug.serving import make_server

REPO_DIR = Path(__file__).resolve().parents[3]
PROVIDER_DIR = REPO_DIR / "scripts" / "oidc-test-provider"
CLIENT_ID = "rookery"
CLIENT_SECRET = "rookery-test-client-secret"
OTHER_CLIENT_ID = "other-app"
OTHER_CLIENT_SECRET = "other-app-secret"


@dataclass(slots=True)
class Provider:
    issuer: str
    process: subprocess.Popen[str]
    log_path: Path
    port: int

    def stop(self) -> None:
        stop_process(self.process, timeout=5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


@contextmanager
def oidc_provider(
    tmp_path: Path,
    users: list[dict[str, Any]],
    redirect_uris: Sequence[str],
    id_token_ttl: int | None = None,
    issuer: str | None = None,
) -> Iterator[Provider]:
    """Starts provider.mjs (installed by `make install`) and waits for its ready line.
    `issuer`: the address it is reached at when that is not its own port (a relay)."""
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        raise RuntimeError(
            "the test OpenID Provider is not installed: run `make install`"
            " (or scripts/oidc-test-provider/install.sh)"
        )
    port = free_port()
    issuer = issuer or f"http://127.0.0.1:{port}"
    users_file = tmp_path / f"oidc-users-{port}.json"
    users_file.write_text(json.dumps(users))
    command = [
        "node",
        str(PROVIDER_DIR / "provider.mjs"),
        "--port", str(port),
        "--issuer", issuer,
        "--client-id", CLIENT_ID,
        "--client-secret", CLIENT_SECRET,
        "--users", str(users_file),
        "--extra-client", f"{OTHER_CLIENT_ID}:{OTHER_CLIENT_SECRET}",
    ]  # fmt: skip
    for uri in redirect_uris:
        command += ["--redirect-uri", uri]
    if id_token_ttl is not None:
        command += ["--id-token-ttl", str(id_token_ttl)]
    # The signing key is made here: Node 20's synchronous key generation can deadlock.
    key = ECKey.generate_key("P-256", private=True).as_dict(private=True)
    key_file = tmp_path / f"oidc-signing-key-{port}.json"
    key_file.write_text(json.dumps(key))
    command += ["--signing-key", str(key_file)]
    log_path = tmp_path / f"oidc-provider-{port}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
    provider = Provider(issuer, process, log_path, port)
    ready: list[str] = []
    reader = threading.Thread(
        target=lambda: ready.append(process.stdout.readline() if process.stdout else ""),
        daemon=True,
    )
    reader.start()
    reader.join(timeout=30)
    if not ready or not ready[0].startswith(f"oidc-test-provider ready {issuer}"):
        provider.stop()
        raise RuntimeError(f"the OpenID Provider did not start: {ready} {provider.log()}")
    try:
        yield provider
    finally:
        provider.stop()


@dataclass(slots=True)
class LiveApp:
    """A flask-backend app behind a real threaded HTTP server on loopback."""

    app: Any
    base: str
    server: Any = None
    thread: threading.Thread | None = None

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def serve(app: Any, port: int) -> LiveApp:
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return LiveApp(app, f"http://127.0.0.1:{port}", server, thread)


@dataclass(slots=True)
class Walk:
    """Where a sign-on walk ended: the last response and every hop's (status, URL)."""

    final: requests.Response
    hops: list[tuple[int, str]] = field(default_factory=list)

    @property
    def landed(self) -> str:
        return self.final.url

    def sso_error(self) -> str | None:
        values = parse_qs(urlsplit(self.landed).query).get("sso_error")
        return values[0] if values else None


def walk(http: requests.Session, url: str, method: str = "GET", **kwargs: Any) -> Walk:
    """Follow redirects like a browser, recording each hop."""
    response = http.request(method, url, allow_redirects=True, timeout=20, **kwargs)
    hops = [(r.status_code, r.url) for r in response.history] + [
        (response.status_code, response.url)
    ]
    return Walk(response, hops)


def login_form_action(page: requests.Response) -> str:
    match = re.search(r'<form method="post" action="([^"]+/login)"', page.text)
    assert match, f"no login form at {page.url}: {page.text[:500]}"
    return urljoin(page.url, match.group(1))


def abort_form_action(page: requests.Response) -> str:
    match = re.search(r'<form method="post" action="([^"]+/abort)"', page.text)
    assert match, f"no cancel form at {page.url}"
    return urljoin(page.url, match.group(1))


def sign_on(
    http: requests.Session, base: str, login: str, password: str, next_path: str | None = None
) -> Walk:
    """The whole browser journey: /sso/login, the provider's form, back to the callback
    and on to where the backend sends the browser."""
    params = {"next": next_path} if next_path is not None else None
    page = http.get(f"{base}/api/v1/auth/sso/login", params=params, timeout=20)
    assert page.status_code == 200, (page.status_code, page.url, page.text[:300])
    return walk(http, login_form_action(page), "POST", data={"login": login, "password": password})


def until_callback(http: requests.Session, base: str, login: str, password: str) -> str:
    """Walk to the provider's answer but stop before the backend's callback: its URL."""
    page = http.get(f"{base}/api/v1/auth/sso/login", timeout=20)
    response = http.post(
        login_form_action(page),
        data={"login": login, "password": password},
        allow_redirects=False,
        timeout=20,
    )
    while response.is_redirect:
        target = urljoin(response.url, response.headers["Location"])
        if "/api/v1/auth/sso/callback" in target:
            return target
        response = http.get(target, allow_redirects=False, timeout=20)
    raise AssertionError(f"the provider never sent the browser back: {response.text[:300]}")


class Relay:
    """A plain HTTP relay in front of the provider (its issuer address): every request goes
    through unchanged until `token_answer` is set; then the token endpoint answers that
    instead (a token endpoint, or a man in the middle, handing over someone else's
    tokens)."""

    def __init__(self, port: int, upstream_port: int) -> None:
        self.token_answer: dict[str, Any] | None = None
        relay = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if self.command == "POST" and self.path == "/token" and relay.token_answer:
                    payload = json.dumps(relay.token_answer).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=20)
                try:
                    upstream.request(self.command, self.path, body, dict(self.headers))
                    answer = upstream.getresponse()
                    data = answer.read()
                finally:
                    upstream.close()
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _relay

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
