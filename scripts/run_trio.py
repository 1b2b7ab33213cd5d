"""`make run`: start Rookery's services on loopback, in dependency order, and stop them
all on Ctrl-C. A service whose code is not in the tree yet is skipped with a note."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".data"


@dataclass(slots=True)
class Service:
    name: str
    workdir: Path
    marker: Path  # the service is present when this file exists
    command: list[str]
    health_url: str
    env: dict[str, str] = field(default_factory=dict)


def new_service_key() -> str:
    """packet-service's own credential towards AuthService, fresh for every run: flask-
    backend provisions it for its sibling-service account (replacing the last run's)."""
    return f"rk_{secrets.token_hex(4)}_{secrets.token_urlsafe(30)}"


def catalogue(python: str, service_key: str | None = None) -> list[Service]:
    service_key = service_key or new_service_key()
    backend = ROOT / "services" / "flask-backend"
    packet = ROOT / "services" / "packet-service"
    webui = ROOT / "services" / "webui"
    # Order matters: packet-service validates its callers through flask-backend's
    # AuthService, and flask-backend publishes the rule set to packet-service as soon as
    # it answers (its reconcile loop waits for it).
    return [
        Service(
            "flask-backend",
            backend,
            backend / "rookery_backend" / "__main__.py",
            [python, "-m", "rookery_backend", "serve", "-v"],
            "http://127.0.0.1:8080/healthz",
            {
                "HTTP_HOST": "127.0.0.1",
                "HTTP_PORT": "8080",
                "GRPC_PORT": "50051",
                "DB_TYPE": "sqlite",
                "DATA_DIR": str(DATA / "flask-backend"),
                "RELEASE_MODE": "development",
                "PACKET_SERVICE_TARGETS": "127.0.0.1:50052",
                "AUTH_SERVICE_API_KEY": service_key,
                # browsers reach the API through the web UI's proxy, which writes
                # X-Forwarded-For itself: one hop, so each browser has its own login bucket
                "TRUSTED_PROXIES": "1",
            },
        ),
        Service(
            "packet-service",
            packet,
            packet / "packet_service" / "__main__.py",
            [python, "-m", "packet_service", "-v", "serve"],
            "http://127.0.0.1:9090/healthz",
            {
                "BIND_ADDRESS": "127.0.0.1",
                "GRPC_PORT": "50052",
                "METRICS_PORT": "9090",
                "RELEASE_MODE": "development",
                # on even in development, so `make run` behaves like a deployment
                "AUTH_REQUIRED": "true",
                "AUTH_SERVICE_TARGET": "127.0.0.1:50051",
                "AUTH_SERVICE_API_KEY": service_key,
            },
        ),
        Service(
            "webui",
            webui,
            webui / "server" / "index.js",
            ["node", "server/index.js"],
            "http://127.0.0.1:3000/healthz",
            {"PORT": "3000", "FLASK_API_URL": "http://127.0.0.1:8080"},
        ),
    ]


def wait_healthy(service: Service, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(service.health_url, timeout=1) as reply:
                if reply.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.3)
    return False


def stop_all(procs: list[tuple[Service, subprocess.Popen[bytes]]]) -> None:
    for _, proc in reversed(procs):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for service, proc in reversed(procs):
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        print(f"[run] stopped {service.name}", flush=True)


def main() -> int:
    DATA.mkdir(exist_ok=True)
    (DATA / "flask-backend").mkdir(exist_ok=True)
    procs: list[tuple[Service, subprocess.Popen[bytes]]] = []
    try:
        for service in catalogue(os.environ.get("PY", sys.executable)):
            if not service.marker.exists():
                print(f"[run] {service.name}: not in this tree yet, skipped", flush=True)
                continue
            env = {**os.environ, **service.env}
            print(f"[run] starting {service.name} …", flush=True)
            proc = subprocess.Popen(service.command, cwd=service.workdir, env=env)
            procs.append((service, proc))
            if not wait_healthy(service, proc):
                print(f"[run] {service.name} did not become healthy; stopping", file=sys.stderr)
                return 1
            print(f"[run] {service.name} is up ({service.health_url})", flush=True)
        names = {s.name for s, _ in procs}
        print("\n  Rookery is running. Ctrl-C stops everything.")
        if "webui" in names:
            print("  Web UI:        http://127.0.0.1:3000/")
        if "flask-backend" in names:
            print("  REST API:      http://127.0.0.1:8080/api/v1/")
            print("  API docs:      http://127.0.0.1:8080/api/v1/docs")
            print("  Sign in as admin@localhost.local / admin123 (development only: change it)")
        if "packet-service" in names:
            print("  packet gRPC:   127.0.0.1:50052   metrics: http://127.0.0.1:9090/metrics")
        print(flush=True)
        while all(proc.poll() is None for _, proc in procs):
            time.sleep(0.5)
        for service, proc in procs:
            if proc.poll() is not None:
                print(f"[run] {service.name} exited with {proc.returncode}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\n[run] Ctrl-C: stopping", flush=True)
        return 0
    finally:
        stop_all(procs)


if __name__ == "__main__":
    sys.exit(main())
