"""`make run`: start Rookery's services on loopback in the catalogue's order, keep them
running, and stop them all on Ctrl-C. Services, ports, commands and their environment come
from the service catalogue (scripts/rookery_ops/catalogue.py).

Environment: the catalogue's `local_env` is the default and your environment overrides it,
except the variables that wire the services together (ports, the links to a sibling's port,
the run's shared service key: `catalogue.local_wiring`), which a run needs as they are.
Overrides that make sense:
  DB_TYPE=postgresql|mysql with DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASS
                     flask-backend on a real database instead of SQLite
  DATA_DIR           flask-backend's data directory (SQLite file, generated secrets)
  RELEASE_MODE, ADMIN_EMAIL, ADMIN_PASSWORD, RULES_RECONCILE_INTERVAL, … any setting of a
                     service's README; AUTH_REQUIRED=false for packet-service
e.g. `DB_TYPE=postgresql DB_HOST=127.0.0.1 DB_PASS=… make run`.

Supervision: a service that exits while the run goes on is logged and started again after
a back-off (1 s, doubling up to 30 s; back to 1 s once it had run for 60 s); the others keep
serving meanwhile. Ctrl-C (or SIGTERM) stops everything. A service that does not get
healthy at the first start stops the run, as before: that is a setup problem, not a crash.

Options (tests use them): --only NAME[,NAME], --port-offset N, --data-dir DIR,
--backoff SECONDS, --backoff-max SECONDS.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rookery_common.testing import NotHealthy, stop_process, wait_healthy

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "scripts") not in sys.path:  # imported by path (the trio tests do)
    sys.path.insert(0, str(ROOT / "scripts"))

from rookery_ops import catalogue  # noqa: E402

DATA = ROOT / ".data"
POLL_SECONDS = 0.2
STOP_GRACE = 12.0  # seconds the services get, together, to stop after SIGTERM
BACKOFF_INITIAL = 1.0
BACKOFF_MAX = 30.0


@dataclass(slots=True)
class Planned:
    name: str
    workdir: Path
    command: list[str]
    health_url: str
    env: dict[str, str]  # the catalogue's environment for the run
    wired: frozenset[str] = frozenset()  # of env: what the user's environment cannot replace

    def process_env(self, user_env: Mapping[str, str]) -> dict[str, str]:
        """What the process gets: the user's environment over the catalogue's defaults,
        the wiring from the catalogue whatever the user's environment says."""
        env = {**self.env, **user_env}
        env.update({name: self.env[name] for name in self.wired})
        return env

    def overrides(self, user_env: Mapping[str, str]) -> tuple[list[str], list[str]]:
        """(defaults the user's environment replaces, wiring it tried to replace)."""
        differ = sorted(n for n in self.env if n in user_env and user_env[n] != self.env[n])
        return [n for n in differ if n not in self.wired], [n for n in differ if n in self.wired]


def new_service_key() -> str:
    """packet-service's own credential towards AuthService, fresh for every run: flask-
    backend provisions it for its sibling-service account (replacing the last run's)."""
    return f"rk_{secrets.token_hex(4)}_{secrets.token_urlsafe(30)}"


def plan(
    python: str,
    service_key: str | None = None,
    data_dir: Path = DATA,
    *,
    only: set[str] | None = None,
    port_offset: int = 0,
) -> list[Planned]:
    """What `make run` starts, in order: every catalogue service (or `only` those) on
    loopback, every port moved by `port_offset`."""
    run_values = {"service_key": service_key or new_service_key(), "data_dir": str(data_dir)}
    planned = []
    for service in catalogue.SERVICES:
        if only is not None and service.key not in only:
            continue
        folder = ROOT / "services" / service.key
        command = [part.format(python=python) for part in service.start_command]
        planned.append(
            Planned(
                service.key,
                folder,
                [*command, *service.local_args],
                catalogue.local_health_url(service, port_offset),
                catalogue.local_env(service, run_values, port_offset),
                catalogue.local_wiring(service),
            )
        )
    return planned


@dataclass(slots=True)
class Backoff:
    initial: float = BACKOFF_INITIAL
    maximum: float = BACKOFF_MAX
    stable: float = 60.0  # a service that ran this long starts over at `initial`

    def delay(self, failures: int) -> float:
        return min(self.maximum, self.initial * 2 ** max(0, failures - 1))


@dataclass(slots=True)
class Running:
    planned: Planned
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    failures: int = 0  # exits in a row, each after less than Backoff.stable
    restart_at: float | None = None


@dataclass(slots=True)
class Supervisor:
    services: list[Planned]
    user_env: Mapping[str, str]
    backoff: Backoff = field(default_factory=Backoff)
    clock: Callable[[], float] = time.monotonic
    say: Callable[[str], Any] = lambda line: print(line, flush=True)
    runs: list[Running] = field(default_factory=list)

    def _start(self, run: Running) -> None:
        planned = run.planned
        run.proc = subprocess.Popen(planned.command, cwd=planned.workdir, env=run.env)
        run.started_at = self.clock()
        self.say(f"[run] started {planned.name} (pid {run.proc.pid})")

    def start_all(self) -> bool:
        """Starts every service in order, each healthy before the next; False when one
        does not get healthy."""
        for planned in self.services:
            yours, ignored = planned.overrides(self.user_env)
            if yours:
                self.say(f"[run] {planned.name}: from your environment: {', '.join(yours)}")
            if ignored:
                self.say(
                    f"[run] {planned.name}: ignored from your environment (they wire the "
                    f"services together): {', '.join(ignored)}"
                )
            run = Running(planned, planned.process_env(self.user_env))
            self.runs.append(run)
            self._start(run)
            try:
                wait_healthy(planned.health_url, run.proc, timeout=60.0, name=planned.name)
            except NotHealthy as error:
                self.say(f"[run] {error}; stopping")
                return False
            self.say(f"[run] {planned.name} is up ({planned.health_url})")
        return True

    def check(self) -> None:
        """One supervision step: notices exits, restarts what is due."""
        now = self.clock()
        for run in self.runs:
            name = run.planned.name
            if run.restart_at is None and run.proc is not None and run.proc.poll() is not None:
                ran = now - run.started_at
                run.failures = 1 if ran >= self.backoff.stable else run.failures + 1
                delay = self.backoff.delay(run.failures)
                self.say(
                    f"[run] {name} exited with code {run.proc.returncode} after {ran:.1f} s; "
                    f"restarting it in {delay:g} s (the others keep running)"
                )
                run.restart_at = now + delay
            elif run.restart_at is not None and now >= run.restart_at:
                run.restart_at = None
                self._start(run)

    def stop_all(self) -> None:
        """SIGTERM to every service at once, then one shared grace period (STOP_GRACE) for
        all of them, then SIGKILL: Ctrl-C ends within about STOP_GRACE seconds however many
        services there are (waiting for each in turn added their graces up)."""
        for run in reversed(self.runs):
            if run.proc is not None and run.proc.poll() is None:
                run.proc.terminate()
        deadline = self.clock() + STOP_GRACE
        for run in reversed(self.runs):
            if run.proc is None:
                continue
            try:
                run.proc.wait(timeout=max(0.0, deadline - self.clock()))
            except subprocess.TimeoutExpired:
                self.say(f"[run] {run.planned.name} did not stop within {STOP_GRACE:g} s: killed")
            stop_process(run.proc, signal.SIGKILL, timeout=5)
            self.say(f"[run] stopped {run.planned.name}")


def summary(names: set[str], port_offset: int = 0) -> list[str]:
    def url(key: str, port: str, path: str = "/") -> str:
        number = catalogue.by_key(key).port(port).number + port_offset
        return f"http://{catalogue.LOOPBACK}:{number}{path}"

    lines = ["", "  Rookery is running. Ctrl-C stops everything."]
    if "webui" in names:
        lines.append(f"  Web UI:        {url('webui', 'http')}")
    if "flask-backend" in names:
        lines.append(f"  REST API:      {url('flask-backend', 'http', '/api/v1/')}")
        lines.append(f"  API docs:      {url('flask-backend', 'http', '/api/v1/docs')}")
        lines.append("  Sign in as admin@localhost.local / admin123 (development only: change it)")
    if "packet-service" in names:
        grpc = catalogue.PACKET_SERVICE.port("grpc").number + port_offset
        metrics = url("packet-service", "metrics", catalogue.METRICS_PATH)
        lines.append(f"  packet gRPC:   {catalogue.LOOPBACK}:{grpc}   metrics: {metrics}")
    return lines


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Start Rookery's services on loopback.")
    parser.add_argument("--only", help="comma-separated catalogue keys (default: all)")
    parser.add_argument("--port-offset", type=int, default=0, help="added to every port")
    parser.add_argument("--data-dir", type=Path, default=DATA)
    parser.add_argument("--backoff", type=float, default=BACKOFF_INITIAL, help="first delay, s")
    parser.add_argument("--backoff-max", type=float, default=BACKOFF_MAX)
    args = parser.parse_args(argv)
    only = {part.strip() for part in args.only.split(",")} if args.only else None
    args.data_dir.mkdir(parents=True, exist_ok=True)
    (args.data_dir / "flask-backend").mkdir(exist_ok=True)
    services = plan(
        os.environ.get("PY", sys.executable), None, args.data_dir, only=only,
        port_offset=args.port_offset,
    )  # fmt: skip
    supervisor = Supervisor(services, dict(os.environ), Backoff(args.backoff, args.backoff_max))
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    # A shell starts a background job (`make run &`, a CI step's `cmd &`) with SIGINT
    # ignored, and Python then never raises KeyboardInterrupt: Ctrl-C or `kill -INT` would
    # leave every service running. SIGINT stops everything however this was started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        if not supervisor.start_all():
            return 1
        print("\n".join(summary({s.name for s in services}, args.port_offset)), flush=True)
        print(flush=True)
        while True:
            supervisor.check()
            time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        print("\n[run] stopping", flush=True)
        return 0
    finally:
        supervisor.stop_all()


if __name__ == "__main__":
    sys.exit(main())
