"""`make run`: start Rookery's services on loopback, in the catalogue's order, and stop them
all on Ctrl-C. Ports, commands and environment come from the service catalogue
(scripts/rookery_ops/catalogue.py)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rookery_common.testing import NotHealthy, stop_process, wait_healthy

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "scripts") not in sys.path:  # imported by path (the trio tests do)
    sys.path.insert(0, str(ROOT / "scripts"))

from rookery_ops import catalogue  # noqa: E402

DATA = ROOT / ".data"


@dataclass(slots=True)
class Planned:
    name: str
    workdir: Path
    command: list[str]
    health_url: str
    env: dict[str, str]


def new_service_key() -> str:
    """packet-service's own credential towards AuthService, fresh for every run: flask-
    backend provisions it for its sibling-service account (replacing the last run's)."""
    return f"rk_{secrets.token_hex(4)}_{secrets.token_urlsafe(30)}"


def plan(python: str, service_key: str | None = None, data_dir: Path = DATA) -> list[Planned]:
    """What `make run` starts, in order: every catalogue service on loopback."""
    run_values = {"service_key": service_key or new_service_key(), "data_dir": str(data_dir)}
    planned = []
    for service in catalogue.SERVICES:
        folder = ROOT / "services" / service.key
        command = [part.format(python=python) for part in service.start_command]
        planned.append(
            Planned(
                service.key,
                folder,
                [*command, *service.local_args],
                catalogue.local_health_url(service),
                catalogue.local_env(service, run_values),
            )
        )
    return planned


def stop_all(procs: list[tuple[Planned, subprocess.Popen[bytes]]]) -> None:
    for _, proc in reversed(procs):
        if proc.poll() is None:
            proc.terminate()
    for service, proc in reversed(procs):
        stop_process(proc, timeout=10)
        print(f"[run] stopped {service.name}", flush=True)


def summary(names: set[str]) -> list[str]:
    def url(key: str, port: str, path: str = "/") -> str:
        return f"http://{catalogue.LOOPBACK}:{catalogue.by_key(key).port(port).number}{path}"

    lines = ["", "  Rookery is running. Ctrl-C stops everything."]
    if "webui" in names:
        lines.append(f"  Web UI:        {url('webui', 'http')}")
    if "flask-backend" in names:
        lines.append(f"  REST API:      {url('flask-backend', 'http', '/api/v1/')}")
        lines.append(f"  API docs:      {url('flask-backend', 'http', '/api/v1/docs')}")
        lines.append("  Sign in as admin@localhost.local / admin123 (development only: change it)")
    if "packet-service" in names:
        grpc = catalogue.PACKET_SERVICE.port("grpc").number
        metrics = url("packet-service", "metrics", catalogue.METRICS_PATH)
        lines.append(f"  packet gRPC:   {catalogue.LOOPBACK}:{grpc}   metrics: {metrics}")
    return lines


def main() -> int:
    DATA.mkdir(exist_ok=True)
    (DATA / "flask-backend").mkdir(exist_ok=True)
    procs: list[tuple[Planned, subprocess.Popen[bytes]]] = []
    try:
        for service in plan(os.environ.get("PY", sys.executable)):
            print(f"[run] starting {service.name} …", flush=True)
            proc = subprocess.Popen(
                service.command, cwd=service.workdir, env={**os.environ, **service.env}
            )
            procs.append((service, proc))
            try:
                wait_healthy(service.health_url, proc, timeout=60.0, name=service.name)
            except NotHealthy as error:
                print(f"[run] {error}; stopping", file=sys.stderr)
                return 1
            print(f"[run] {service.name} is up ({service.health_url})", flush=True)
        print("\n".join(summary({s.name for s, _ in procs})), flush=True)
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
