"""The process model of `python -m rookery_backend serve`: worker count from the usable
cores, a killed worker started again while the others serve, /metrics adding every
worker up, the 413 answer from a worker, and SIGTERM stopping every process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from conftest import SERVICE_DIR, base_env
from rookery_backend.server import _cgroup_quota, usable_cores
from rookery_common.testing import NotHealthy, free_port, start_process, stop_process, wait_until


def test_cgroup_quota_v2_and_v1(tmp_path: Path) -> None:
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("150000 100000\n")
    assert _cgroup_quota(v2) == 1.5
    (v2 / "cpu.max").write_text("max 100000\n")
    assert _cgroup_quota(v2) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert _cgroup_quota(v1) == 3.0
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert _cgroup_quota(v1) is None
    assert _cgroup_quota(tmp_path / "none") is None
    assert 1 <= usable_cores() <= (os.cpu_count() or 1)


def _children(log_path: Path) -> dict[str, int]:
    for line in log_path.read_text().splitlines():
        if line.startswith("{") and "listening on" in line:
            return json.loads(line)["pids"]
    raise AssertionError("no start-up line")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2]
    except OSError:
        return "Z"


def _serve(tmp_path: Path, **settings: str) -> tuple[str, subprocess.Popen, Path, dict[str, str]]:
    """`python -m rookery_backend serve -v` on SQLite with `settings` on top: (base URL,
    supervisor, its log, its environment), once /healthz answers."""
    port = free_port()
    env = {
        **os.environ,
        **base_env(tmp_path),
        "DB_TYPE": "sqlite",
        "HTTP_PORT": str(port),
        "GRPC_PORT": str(free_port()),
        **settings,
    }
    log_path = tmp_path / "server.log"
    try:
        process = start_process(
            [sys.executable, "-m", "rookery_backend", "serve", "-v"],
            f"http://127.0.0.1:{port}/healthz",
            cwd=SERVICE_DIR,
            env=env,
            log_path=log_path,
            timeout=120,
        )
    except NotHealthy as error:
        pytest.fail(str(error))
    return f"http://127.0.0.1:{port}", process, log_path, env


@pytest.fixture
def served(tmp_path: Path):
    metrics_root = tmp_path / "metrics"
    metrics_root.mkdir()
    # what a supervisor killed with -9 left behind (its pid is past any pid_max)
    orphan = metrics_root / "rookery-metrics-4194999-x1y2z3"
    orphan.mkdir()
    (orphan / "counter_4195000.db").write_bytes(b"\0" * 64)
    base, process, log_path, env = _serve(
        tmp_path,
        WEB_CONCURRENCY="2",
        MAX_BODY_BYTES="2048",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_root),  # the per-run directory goes inside
    )
    yield base, process, log_path, metrics_root, env
    stop_process(process)


def test_workers_restart_add_up_and_stop(served) -> None:
    base, process, log_path, metrics_root, env = served
    pids = _children(log_path)
    assert sorted(pids) == ["grpc-0", "http-0", "http-1", "publisher-0"]
    run_dirs = list(metrics_root.iterdir())
    # the orphan is gone; this run's directory carries the supervisor's pid
    assert [p.name.split("-")[2] for p in run_dirs] == [str(process.pid)]

    # Many requests over fresh connections: the kernel spreads them over both workers, and
    # /metrics (answered by either) counts all of them.
    for _ in range(40):
        assert requests.get(f"{base}/healthz", timeout=10).status_code == 200
    counted = requests.get(f"{base}/metrics", timeout=10).text
    line = next(
        x
        for x in counted.splitlines()
        if x.startswith('http_requests_total{method="GET",route="/healthz",status="200"}')
    )
    assert float(line.split()[-1]) >= 40
    served_by = {p.name.split("_")[-1] for p in run_dirs[0].glob("counter_*.db")}
    assert {str(pids["http-0"]), str(pids["http-1"])} <= {s.removesuffix(".db") for s in served_by}

    # A body over MAX_BODY_BYTES: the worker answers the API's 413 without reading it.
    big = requests.post(f"{base}/api/v1/auth/login", data=b"x" * 4096, timeout=10)
    assert big.status_code == 413 and big.json()["error"]["code"] == "payload_too_large"

    # A response without a body (HEAD: Werkzeug hands the server an empty body) keeps its
    # status and headers; hypercorn's own bridge never started such a response: a 500.
    head = requests.head(f"{base}/healthz", timeout=10)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Content-Type"] == "application/json"
    assert requests.head(f"{base}/api/v1/auth/me", timeout=10).status_code == 401

    # kill -9 one worker: the other keeps serving, the supervisor starts a new one. A fresh
    # connection the kernel hands the killed worker's socket waits there for the restart
    # (its start-up: seconds, over ten on a loaded machine) and is answered then.
    os.kill(pids["http-0"], signal.SIGKILL)
    for _ in range(10):
        assert requests.get(f"{base}/healthz", timeout=60).status_code == 200
    assert wait_until(lambda: "http-0 exited (-9); starting it again" in log_path.read_text(), 10)
    assert process.poll() is None

    # A second flask-backend on the same ports is refused, not let in to take a share of
    # the connections (the workers' sockets set SO_REUSEPORT, which would allow it).
    second = subprocess.run(
        [sys.executable, "-m", "rookery_backend", "serve"],
        cwd=SERVICE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 2, second.stderr
    assert f"port {env['HTTP_PORT']} on 127.0.0.1 is not free" in second.stderr + second.stdout

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert wait_until(lambda: not any(_alive(pid) for pid in pids.values()), 10)
    assert not run_dirs[0].exists()  # the per-run metrics directory is removed


def _child_pids(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.update(int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def test_a_crash_looping_worker_gives_its_connections_to_the_others(served) -> None:
    """A worker killed soon after each start waits longer and longer before the next
    (back-off). Meanwhile its listening socket is closed, so every new connection reaches
    a live worker instead of hanging in a backlog nobody accepts; it gets a fresh socket
    when it starts again."""
    base, process, log_path, _metrics_root, _env = served
    pids = _children(log_path)
    others = {pid for name, pid in pids.items() if name != "http-0"}
    victim = pids["http-0"]
    for kill in range(3):  # back-off 0.5 s, 1 s, then 2 s
        before = _child_pids(process.pid)
        os.kill(victim, signal.SIGKILL)
        if kill == 2:
            break
        newcomers: list[int] = []

        def restarted(before: set[int] = before, newcomers: list[int] = newcomers) -> bool:
            fresh = _child_pids(process.pid) - before - others
            newcomers[:] = [p for p in fresh if "spawn_main" in _cmdline(p)]
            return bool(newcomers)

        assert wait_until(restarted, 15)
        victim = newcomers[0]
    # Inside the 2 s back-off: fresh connections, each with a short timeout, all answered.
    assert wait_until(lambda: log_path.read_text().count("http-0 exited (-9)") == 3, 5)
    for _ in range(30):
        with requests.Session() as session:
            assert session.get(f"{base}/healthz", timeout=1.0).status_code == 200

    # and the worker comes back, serving on its new socket
    def back() -> bool:
        return any("spawn_main" in _cmdline(p) for p in _child_pids(process.pid) - others)

    assert wait_until(back, 15)
    # A connection the kernel gives the new socket waits there until the worker has
    # started (seconds on a busy machine): answered, however late.
    for _ in range(30):
        assert requests.get(f"{base}/healthz", timeout=60).status_code == 200


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


def test_recycle_after_draws_a_share_per_worker() -> None:
    import random

    from rookery_backend.server import recycle_after

    assert recycle_after(0) is None
    shares = {recycle_after(1000, random.Random(seed)) for seed in range(200)}
    assert min(shares) >= 1000 and max(shares) <= 1100
    assert len(shares) > 20  # spread, so workers started together do not turn over together
    assert recycle_after(5, random.Random(1)) == 5  # under 10 requests: no jitter to draw


def test_a_worker_past_its_share_of_requests_is_replaced_without_a_failed_request(
    tmp_path: Path,
) -> None:
    """HTTP_WORKER_MAX_REQUESTS: a worker that served its share asks the supervisor for a
    successor on its socket, drains once that one accepts (each response closes its
    connection) and stops. Meanwhile requests keep coming on fresh connections and on a
    kept-alive one: every one is answered."""
    base, process, log_path, _env = _serve(
        tmp_path, WEB_CONCURRENCY="1", HTTP_WORKER_MAX_REQUESTS="10"
    )
    try:
        first = _children(log_path)["http-0"]
        failures: list[str] = []
        closed_by_drain: list[requests.Response] = []
        sent = 0
        kept = requests.Session()

        def replaced() -> bool:
            nonlocal sent
            for session in (kept, requests):
                try:
                    reply = session.get(f"{base}/healthz", timeout=30)
                    if reply.status_code != 200:
                        failures.append(f"{reply.status_code} {reply.text[:200]}")
                    if session is kept and reply.headers.get("connection") == "close":
                        closed_by_drain.append(reply)
                except requests.RequestException as error:
                    failures.append(repr(error))
                sent += 1
            return log_path.read_text().count("http-0 replaced after its share") >= 2

        assert wait_until(replaced, 90, step=0.01), log_path.read_text()[-3000:]
        assert not failures, failures[:5]
        assert sent >= 20
        # the kept-alive connection was closed by a draining worker's response, not cut
        assert closed_by_drain
        # the first worker stopped once it had drained (DRAIN_SECONDS)
        assert wait_until(lambda: not _alive(first), 30)
        text = log_path.read_text()
        assert "asking for a successor" in text
        # one HTTP worker again (plus AuthService and the publisher), all alive
        assert wait_until(
            lambda: len([p for p in _child_pids(process.pid) if "spawn_main" in _cmdline(p)]) == 3,
            30,
        )
        assert "exited" not in text  # a planned turnover, not a crash
        # /metrics still counts the requests the replaced workers answered
        counted = requests.get(f"{base}/metrics", timeout=10).text
        line = next(
            x
            for x in counted.splitlines()
            if x.startswith('http_requests_total{method="GET",route="/healthz",status="200"}')
        )
        assert float(line.split()[-1]) >= sent
    finally:
        stop_process(process)
