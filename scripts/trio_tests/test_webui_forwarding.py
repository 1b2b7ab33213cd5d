"""Login throttling behind the web UI: each browser address has its own bucket.

The web UI's Express proxy writes X-Forwarded-For itself (never the client's) and
flask-backend trusts exactly that one hop (TRUSTED_PROXIES=1, as `make run`, compose and
k8s set it). Two clients on different loopback addresses go through the real proxy to the
real backend; the one that exhausts its budget does not lock the other out, and cannot
escape its own by writing X-Forwarded-For."""

from __future__ import annotations

import http.client
import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from trio import ROOT, Proc, Trio, free_port

WEBUI_DIR = ROOT / "services" / "webui"


def make_run_env(service: str) -> dict[str, str]:
    """The environment `make run` (scripts/run_trio.py) gives a service."""
    spec = importlib.util.spec_from_file_location("run_trio", ROOT / "scripts" / "run_trio.py")
    assert spec and spec.loader
    run_trio = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("run_trio", run_trio)  # dataclasses look their module up
    spec.loader.exec_module(run_trio)
    (found,) = [s for s in run_trio.plan("python") if s.name == service]
    return found.env


@pytest.fixture
def behind_webui(tmp_path: Path) -> Iterator[tuple[Trio, int]]:
    # the forwarding settings exactly as `make run` has them; ports and limits are ours
    backend_env = {"TRUSTED_PROXIES": make_run_env("flask-backend").get("TRUSTED_PROXIES", "0")}
    trio = Trio(tmp_path).build(backend_env={**backend_env, "LOGIN_RATE_LIMIT": "2/minute"})
    port = free_port()
    webui_env = {
        **make_run_env("webui"),
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "FLASK_API_URL": trio.api.rsplit("/api", 1)[0],
    }
    webui = Proc(
        "webui",
        ["node", "server/index.js"],
        WEBUI_DIR,
        webui_env,
        f"http://127.0.0.1:{port}/healthz",
        tmp_path / "webui.log",
    )
    trio.backend.start()
    webui.start()
    try:
        yield trio, port
    finally:
        webui.stop()
        trio.backend.stop()


def login_from(source: str, port: int, email: str, headers: dict[str, str] | None = None) -> int:
    """POST /api/v1/auth/login through the web UI from the loopback address `source`."""
    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=10, source_address=(source, 0)
    )
    try:
        body = json.dumps({"email": email, "password": "wrong-password-1"})
        connection.request(
            "POST",
            "/api/v1/auth/login",
            body=body,
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        return connection.getresponse().status
    finally:
        connection.close()


def test_two_browsers_behind_the_web_ui_have_their_own_login_buckets(
    behind_webui: tuple[Trio, int],
) -> None:
    _, port = behind_webui
    # the first browser guesses across accounts until its address is throttled
    statuses = [login_from("127.0.0.2", port, f"guess{n}@example.com") for n in range(20)]
    assert 429 in statuses, statuses
    assert set(statuses[: statuses.index(429)]) == {401}
    # writing its own X-Forwarded-For does not give it a fresh bucket
    spoofed = {"X-Forwarded-For": "198.51.100.23"}
    assert login_from("127.0.0.2", port, "another@example.com", spoofed) == 429
    # a second browser is judged on its own attempts: a wrong password, not throttled
    assert login_from("127.0.0.3", port, "someone@example.com") == 401
