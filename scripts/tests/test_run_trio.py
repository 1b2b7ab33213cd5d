"""`make run` (scripts/run_trio.py): the user's environment overrides the catalogue's
defaults but not the wiring between the services; a service that dies is started again
after a back-off while the others keep serving; Ctrl-C stops everything.

The supervision test runs the real script with real flask-backend and packet-service
processes, moved off the catalogue's ports (--port-offset) so it runs beside a `make run`."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import run_trio
from rookery_common.testing import healthy, wait_until
from rookery_ops import catalogue

ROOT = Path(__file__).resolve().parents[2]
KEY = "rk_abcdefgh_" + "x" * 40


def test_your_environment_overrides_the_defaults_not_the_wiring(tmp_path: Path) -> None:
    from rookery_backend.config import load_settings

    (backend,) = run_trio.plan("python", KEY, tmp_path, only={"flask-backend"})
    yours = {
        "DB_TYPE": "postgresql",
        "DB_HOST": "db.example.org",
        "DB_PASS": "from-your-shell",
        "DATA_DIR": str(tmp_path / "mine"),
        "GRPC_PORT": "1234",  # packet-service's GRPC_PORT too: it would break the run
        "AUTH_SERVICE_API_KEY": "rk_ffffffff_" + "y" * 40,
        "PATH": os.environ.get("PATH", ""),
    }
    env = backend.process_env(yours)
    settings = load_settings(env)
    assert (settings.db_type, settings.db_host) == ("postgresql", "db.example.org")
    assert settings.data_dir == (tmp_path / "mine").resolve()
    assert settings.grpc_port == catalogue.FLASK_BACKEND.port("grpc").number
    assert settings.auth_service_api_key == KEY
    assert env["PATH"] == yours["PATH"]
    replaced, ignored = backend.overrides(yours)
    assert replaced == ["DATA_DIR", "DB_TYPE"]  # DB_HOST… have no default to replace
    assert ignored == ["AUTH_SERVICE_API_KEY", "GRPC_PORT"]
    # and with nothing set, the catalogue's defaults: SQLite under the run's data directory
    assert backend.process_env({})["DB_TYPE"] == "sqlite"


def test_backoff_doubles_up_to_its_maximum() -> None:
    backoff = run_trio.Backoff(initial=0.5, maximum=3.0)
    assert [backoff.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_services_share_one_grace_period_to_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three services that ignore SIGTERM: Ctrl-C kills them after one grace period for all,
    not one per service in turn (three graces were more than a caller waiting on Ctrl-C
    allowed on a busy machine)."""
    monkeypatch.setattr(run_trio, "STOP_GRACE", 1.5)
    stubborn = [sys.executable, "-c", "import signal, time; "
                "signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); "
                "time.sleep(120)"]  # fmt: skip
    seen: list[str] = []
    supervisor = run_trio.Supervisor([], {}, say=seen.append)
    for _ in range(3):
        planned = run_trio.plan("python", KEY, tmp_path, only={"flask-backend"})[0]
        run = run_trio.Running(planned, {})
        run.proc = subprocess.Popen(stubborn, stdout=subprocess.PIPE)
        assert run.proc.stdout is not None and run.proc.stdout.readline() == b"up\n"
        supervisor.runs.append(run)
    started = time.monotonic()
    supervisor.stop_all()
    took = time.monotonic() - started
    assert all(run.proc is not None and run.proc.returncode == -signal.SIGKILL
               for run in supervisor.runs)  # fmt: skip
    assert took < 3 * 1.5, f"the services' graces were added up: {took:.1f} s"
    assert sum("did not stop within" in line for line in seen) == 3


def free_offset() -> int:
    """A port offset at which every port of the two services is free."""
    ports = [p.number for key in ("flask-backend", "packet-service")
             for p in catalogue.by_key(key).ports]  # fmt: skip
    for offset in range(10_000, 15_000, 37):
        try:
            for port in ports:
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port + offset))
        except OSError:
            continue
        return offset
    raise RuntimeError("no free port offset")


class Lines:
    """run_trio's output, read by a thread, searchable while it runs."""

    def __init__(self, stream) -> None:  # type: ignore[no-untyped-def]
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:  # type: ignore[no-untyped-def]
        for raw in stream:
            self._queue.put(raw.decode(errors="replace").rstrip())

    def wait_for(self, pattern: str, timeout: float = 90.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.seen:
                if found := re.search(pattern, line):
                    return found
            with contextlib.suppress(queue.Empty):
                self.seen.append(self._queue.get(timeout=0.2))
        raise AssertionError(f"no line matching {pattern!r}; output:\n" + "\n".join(self.seen))

    def drain(self) -> None:
        while not self._queue.empty():
            self.seen.append(self._queue.get())


def test_a_dead_service_comes_back_while_the_others_keep_serving(tmp_path: Path) -> None:
    offset = free_offset()
    mine = tmp_path / "your-data"
    env = {**os.environ, "DATA_DIR": str(mine), "BCRYPT_ROUNDS": "4"}
    command = [
        sys.executable, str(ROOT / "scripts" / "run_trio.py"),
        "--only", "flask-backend,packet-service", "--port-offset", str(offset),
        "--data-dir", str(tmp_path / "run"), "--backoff", "0.2", "--backoff-max", "1",
    ]  # fmt: skip
    # Started as a shell starts a background job, with SIGINT ignored: Ctrl-C must stop it
    # all the same.
    run = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    lines = Lines(run.stdout)
    backend_health = catalogue.local_health_url(catalogue.FLASK_BACKEND, offset)
    packet_health = catalogue.local_health_url(catalogue.PACKET_SERVICE, offset)
    try:
        lines.wait_for(r"Rookery is running")
        backend_pid = int(lines.wait_for(r"started flask-backend \(pid (\d+)\)").group(1))
        packet_pid = int(lines.wait_for(r"started packet-service \(pid (\d+)\)").group(1))
        lines.wait_for(r"flask-backend: from your environment: .*DATA_DIR")
        # the user's DATA_DIR won over the catalogue's default
        assert any(mine.iterdir()) and not any((tmp_path / "run" / "flask-backend").iterdir())

        os.kill(packet_pid, signal.SIGKILL)
        answers: list[bool] = []

        def back() -> int | None:
            answers.append(healthy(backend_health))
            lines.drain()
            restarted = [
                int(m.group(1)) for line in lines.seen
                if (m := re.search(r"started packet-service \(pid (\d+)\)", line))
            ]  # fmt: skip
            if restarted[-1] != packet_pid and healthy(packet_health):
                return restarted[-1]
            return None

        new_pid = wait_until(back, 60, 0.1)
        assert new_pid, "packet-service was not started again:\n" + "\n".join(lines.seen)
        lines.wait_for(r"packet-service exited with code -9 .*restarting it in 0\.2 s")
        assert answers and all(answers), "flask-backend stopped answering meanwhile"
        os.kill(backend_pid, 0)  # the same flask-backend process, never restarted
        assert not any(re.search(r"flask-backend exited", line) for line in lines.seen)

        run.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            code = run.wait(30)
        except subprocess.TimeoutExpired:
            lines.drain()
            ps = ["ps", "-ww", "-eo", "pid,ppid,stat,etime,args", "--forest"]
            listing = subprocess.run(ps, capture_output=True, text=True, check=False).stdout
            tree = "\n".join(line for line in listing.splitlines() if "python" in line)
            raise AssertionError(
                "make run did not stop within 30 s of Ctrl-C; processes:\n"
                + tree + "\noutput:\n" + "\n".join(lines.seen)
            ) from None
        assert code == 0
        for pid in (backend_pid, new_pid):
            assert wait_until(lambda pid=pid: not _alive(pid), 15), f"pid {pid} still runs"
    finally:
        if run.poll() is None:
            run.send_signal(signal.SIGINT)
            try:
                run.wait(30)
            except subprocess.TimeoutExpired:
                run.kill()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is gone for our purpose: it serves nothing
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


@pytest.mark.parametrize("key", [s.key for s in catalogue.SERVICES])
def test_every_service_is_planned_with_its_wiring(tmp_path: Path, key: str) -> None:
    (planned,) = run_trio.plan("python", KEY, tmp_path, only={key}, port_offset=7)
    service = catalogue.by_key(key)
    for port in service.ports:
        assert planned.env[port.env] == str(port.number + 7) and port.env in planned.wired
    assert planned.health_url.endswith(f":{service.http_port.number + 7}/healthz")
