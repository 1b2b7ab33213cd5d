"""The real thing: `python -m rookery_backend serve` under hypercorn on a loopback port,
hit from many threads at once."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    SERVICE_DIR,
    _empty_tables,
    backend_env,
    base_env,
    settings_for,
)
from rookery_common.testing import NotHealthy, free_port, start_process, stop_process


def h2c_get(base: str, path: str) -> tuple[int, bytes]:
    """One HTTP/2 request over cleartext with prior knowledge (h2c), using the h2 library."""
    import h2.config
    import h2.connection
    import h2.events

    host, port = base.removeprefix("http://").split(":")
    status, body = 0, b""
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        connection.initiate_connection()
        connection.send_headers(
            1,
            [
                (":method", "GET"),
                (":path", path),
                (":scheme", "http"),
                (":authority", f"{host}:{port}"),
            ],
            end_stream=True,
        )
        sock.sendall(connection.data_to_send())
        done = False
        while not done:
            data = sock.recv(65535)
            if not data:
                break
            for event in connection.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    status = int(dict(event.headers)[b":status"])
                elif isinstance(event, h2.events.DataReceived):
                    body += event.data
                    connection.acknowledge_received_data(len(event.data), event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    done = True
            sock.sendall(connection.data_to_send())
    return status, body


@pytest.fixture
def server(backend: str, tmp_path: Path):
    port = free_port()
    env = {
        **os.environ,
        **base_env(tmp_path),
        **backend_env(backend),
        "HTTP_PORT": str(port),
        "HTTP_HOST": "127.0.0.1",
        "GRPC_PORT": str(free_port()),  # the AuthService must not clash with a running trio
    }
    stderr_path = tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    try:
        process = start_process(
            [sys.executable, "-m", "rookery_backend", "serve", "-v"],
            f"{base}/healthz",
            cwd=SERVICE_DIR,
            env=env,
            log_path=stderr_path,
        )
    except NotHealthy as error:
        pytest.fail(str(error))
    yield base, process, stderr_path
    stop_process(process)
    if backend != "sqlite":
        _empty_tables(settings_for(backend, tmp_path))


def test_real_server_under_concurrent_load(server) -> None:
    base, process, log_path = server
    health = requests.get(f"{base}/healthz", timeout=5).json()
    assert health["status"] == "ok" and health["service"] == "flask-backend"
    assert health["version"]
    assert requests.get(f"{base}/readyz", timeout=5).status_code == 200

    login = requests.post(
        f"{base}/api/v1/auth/login",
        timeout=10,
        json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
    )
    assert login.status_code == 200
    token = login.json()["data"]["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    for index in range(5):
        created = requests.post(
            f"{base}/api/v1/users",
            headers=headers,
            timeout=10,
            json={
                "email": f"load{index}@example.com",
                "password": "password1",
                "roles": ["viewer"],
            },
        )
        assert created.status_code == 201

    paths = ["/api/v1/auth/me", "/api/v1/users?per_page=50", "/healthz", "/api/v1/roles"]

    def worker(number: int) -> list[int]:
        statuses = []
        with requests.Session() as session:
            for i in range(20):
                path = paths[(number + i) % len(paths)]
                reply = session.get(f"{base}{path}", headers=headers, timeout=30)
                statuses.append(reply.status_code)
        return statuses

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = [s for batch in pool.map(worker, range(16)) for s in batch]
    assert len(results) == 320 and set(results) == {200}

    # Writes from many threads at once: logins write tracking fields, a refresh token and an
    # audit line each.
    def log_in(number: int) -> int:
        body = {"email": f"load{number % 5}@example.com", "password": "password1"}
        return requests.post(f"{base}/api/v1/auth/login", json=body, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(log_in, range(24))) == {200}

    metrics = requests.get(f"{base}/metrics", timeout=5).text
    assert 'http_requests_total{method="GET",route="/api/v1/auth/me",status="200"}' in metrics
    assert "http_request_duration_seconds_bucket" in metrics
    assert 'auth_events_total{event="login_succeeded"} 25.0' in metrics
    assert 'db_pool_connections{state="idle"}' in metrics and "db_pool_size" in metrics
    assert f'build_info{{service="flask-backend",version="{health["version"]}"}} 1.0' in metrics

    options = requests.options(f"{base}/api/v1/users", timeout=5)  # an empty body
    assert options.status_code == 200 and "GET" in options.headers["Allow"]

    echoed = requests.get(f"{base}/healthz", headers={"X-Request-ID": "trace-42"}, timeout=5)
    assert echoed.headers["X-Request-ID"] == "trace-42"
    docs = requests.get(f"{base}/api/v1/docs", timeout=5)
    assert docs.status_code == 200 and "/api/v1/openapi.json" in docs.text

    status, body = h2c_get(base, "/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    assert any(line.get("request_id") == "trace-42" for line in lines)
    startup = [line for line in lines if "listening on" in line.get("msg", "")]
    assert startup and startup[0]["docs"].endswith("/api/v1/docs")
