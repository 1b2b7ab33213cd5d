"""`promtool check metrics` passes on every service's /metrics.

Each service is started on free loopback ports (the way scripts/run_trio.py starts it,
with throwaway data), /healthz is awaited, /metrics is fetched and handed to promtool. Only
the web UI can be reported as not run (skipped, with the reason): when node or its
node_modules are not installed on this machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from rookery_common.testing import NotHealthy, free_port
from rookery_common.testing import wait_healthy as wait_healthy_url
from rookery_ops import catalogue

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 90.0  # seconds; the backend creates its SQLite schema on first start


@dataclass(slots=True)
class Started:
    key: str
    http_port: int = 0
    ports: dict[str, int] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    not_run: str = ""  # why the service was not started (what this machine lacks)
    failure: str = ""  # why it did not come up

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http_port}{path}"


@dataclass(slots=True)
class Trio:
    services: dict[str, Started] = field(default_factory=dict)

    def stop(self) -> None:
        for started in reversed(list(self.services.values())):
            process = started.process
            if process and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def wait_healthy(started: Started) -> None:
    try:
        wait_healthy_url(started.url(catalogue.HEALTH_PATH), started.process, START_TIMEOUT)
    except NotHealthy as error:
        started.failure = str(error)


def start(
    trio: Trio, service: catalogue.Service, env: dict[str, str], tmp: Path, not_run: str = ""
) -> Started:
    folder = ROOT / "services" / service.key
    started = Started(service.key, not_run=not_run)
    trio.services[service.key] = started
    if started.not_run:
        return started
    ports = started.ports = {p.name: free_port() for p in service.ports}
    started.http_port = ports[service.http_port.name]
    # the services read .version themselves; a stray ROOKERY_VERSION would hide that
    environment = {k: v for k, v in os.environ.items() if k != "ROOKERY_VERSION"} | env
    environment.update({p.env: str(ports[p.name]) for p in service.ports})
    command = [part.format(python=sys.executable) for part in service.start_command]
    started.log = tmp / f"{service.key}.log"
    with started.log.open("wb") as log:
        started.process = subprocess.Popen(
            command, cwd=folder, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
    wait_healthy(started)
    return started


@pytest.fixture(scope="module")
def trio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trio]:
    tmp = tmp_path_factory.mktemp("trio")
    running = Trio()
    try:
        packet = start(running, catalogue.PACKET_SERVICE, {"BIND_ADDRESS": "127.0.0.1"}, tmp)
        backend_env = {
            "HTTP_HOST": "127.0.0.1",
            "DB_TYPE": "sqlite",
            "DATA_DIR": str(tmp / "flask-backend-data"),
            "RELEASE_MODE": "development",
            "BCRYPT_ROUNDS": "4",
        }
        if "grpc" in packet.ports:
            backend_env["PACKET_SERVICE_TARGETS"] = f"127.0.0.1:{packet.ports['grpc']}"
        backend = start(running, catalogue.FLASK_BACKEND, backend_env, tmp)
        node_modules = ROOT / "services" / "webui" / "node_modules"
        webui_reason = "" if node_modules.is_dir() else "webui: node_modules not installed"
        if not webui_reason and shutil.which("node") is None:
            webui_reason = "webui: node is not installed"
        webui_env = {"HOST": "127.0.0.1", "FLASK_API_URL": backend.url("")}
        start(running, catalogue.WEBUI, webui_env, tmp, not_run=webui_reason)
        yield running
    finally:
        running.stop()


def check_metrics(promtool: str, text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )


def test_promtool_rejects_bad_metrics(promtool: str) -> None:
    # proves the check can fail: a counter without _total and no HELP
    bad = "# TYPE requests counter\nrequests 1\n"
    assert check_metrics(promtool, bad).returncode != 0


@pytest.mark.parametrize("key", [s.key for s in catalogue.SERVICES])
def test_metrics_pass_promtool(trio: Trio, promtool: str, key: str) -> None:
    started = trio.services[key]
    if started.not_run:
        pytest.skip(f"not run: {started.not_run}")
    log = started.log.read_text(errors="replace")[-3000:] if started.log else ""
    assert not started.failure, f"{key} {started.failure}; its output:\n{log}"
    response = requests.get(started.url(catalogue.METRICS_PATH), timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    result = check_metrics(promtool, response.text)
    assert result.returncode == 0, f"{key} /metrics:\n{result.stdout}{result.stderr}"
    # every service reports its version in build_info
    version = (ROOT / ".version").read_text().strip()
    assert f'version="{version}"' in response.text and "build_info" in response.text


@pytest.mark.parametrize("key", [s.key for s in catalogue.SERVICES])
def test_healthz_reports_the_version(trio: Trio, key: str) -> None:
    started = trio.services[key]
    if started.not_run:
        pytest.skip(f"not run: {started.not_run}")
    assert not started.failure, f"{key} {started.failure}"
    body = requests.get(started.url(catalogue.HEALTH_PATH), timeout=10).json()
    assert body.get("version") == (ROOT / ".version").read_text().strip()


# One cheap RPC per gRPC service, sent as raw protobuf bytes so that this test does not
# depend on the generated code: GetRules with an empty request; ValidateToken with
# token "x" (field 1, a string) - an invalid token is an ordinary answer, not an error.
VERSION_PROBES = {
    "packet-service": ("/rookery.packet.v1.PacketService/GetRules", b""),
    "flask-backend": ("/rookery.auth.v1.AuthService/ValidateToken", b"\x0a\x01x"),
}
@pytest.mark.parametrize("key", sorted(VERSION_PROBES))
def test_grpc_metadata_reports_the_version(trio: Trio, key: str) -> None:
    import grpc

    started = trio.services[key]
    if started.not_run:
        pytest.skip(f"not run: {started.not_run}")
    assert not started.failure, f"{key} {started.failure}"
    method, request = VERSION_PROBES[key]
    with grpc.insecure_channel(f"127.0.0.1:{started.ports['grpc']}") as channel:
        rpc = channel.unary_unary(method)
        try:
            _, call = rpc.with_call(request, timeout=10)
        except grpc.RpcError as refused:  # AuthService refuses a caller without its own
            call = refused  # credential, after it sent its version
    metadata = dict(call.initial_metadata())
    assert metadata.get("rookery-version") == (ROOT / ".version").read_text().strip()
