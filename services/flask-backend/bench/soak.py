"""Soak (not a test): a steady mixed load against real flask-backend and packet-service
processes for a while, sampling the backend's resident memory; prints the RSS slope.

The load, at about SOAK_RATE requests/s in total (default 40) from SOAK_CLIENTS threads (4):
  reads        GET /rules (a page), /rules/status, /auth/me, /users     ~60 %
  rule writes  POST a rule (the set held near SOAK_RULES, 200), PATCH, DELETE   ~30 %
  logins       POST /auth/login (bcrypt cost 4)                          ~10 %
A 401 (the access token expired) signs in again, as the web UI does.

RSS (VmRSS of the backend's processes, summed; each printed too) is sampled every
SOAK_SAMPLE seconds (10); the slope is a least-squares line over the samples after
SOAK_WARMUP seconds (120), in MB per minute.
The processes are those of the trio tests (scripts/trio_tests/trio.py), on SQLite, or on
the database SOAK_DB names (postgresql | mysql), reached as the test suites reach it
(TEST_PG_* / TEST_MYSQL_* variables, e.g. from .data/test-dbs.env). Each process's own slope
is printed too: the one that grows is the one to look at.

Run: .venv/bin/python services/flask-backend/bench/soak.py [--minutes 30]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(ROOT / "scripts" / "trio_tests")]

import requests  # noqa: E402
from trio import ADMIN, Trio  # noqa: E402

RATE = float(os.environ.get("SOAK_RATE", "40"))
CLIENTS = int(os.environ.get("SOAK_CLIENTS", "4"))
RULES = int(os.environ.get("SOAK_RULES", "200"))
SAMPLE = float(os.environ.get("SOAK_SAMPLE", "10"))
WARMUP = float(os.environ.get("SOAK_WARMUP", "120"))
DATABASE = os.environ.get("SOAK_DB", "sqlite")


def database_env(backend: str) -> dict[str, str]:
    """The backend's DB_* variables for `backend`, from the test suites' TEST_* ones."""
    if backend == "sqlite":
        return {}
    prefix = {"postgresql": "TEST_PG_", "mysql": "TEST_MYSQL_"}[backend]
    env = {"DB_TYPE": backend}
    for key in ("HOST", "PORT", "USER", "PASS", "NAME"):
        if prefix + key in os.environ:
            env[f"DB_{key}"] = os.environ[prefix + key]
    return env


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (flask-backend's supervisor spawns its HTTP workers, the
    AuthService process and the publisher process)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            children = (task / "children").read_text().split() if task.exists() else []
            queue.extend(int(child) for child in children)
    return found


def rss_by_process(pid: int) -> dict[int, float]:
    """Resident memory (MB) of `pid` and each of its descendants."""
    sizes = {}
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except FileNotFoundError:
            continue  # ended meanwhile
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                sizes[member] = int(line.split()[1]) / 1024
    return sizes


def rss_mb(pid: int) -> float:
    return sum(rss_by_process(pid).values())


def slope_per_minute(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) in MB per minute."""
    n = len(samples)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in samples) / n
    mean_m = sum(m for _, m in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    cov = sum((t - mean_t) * (m - mean_m) for t, m in samples)
    return 60 * cov / var if var else 0.0


class TokenExpired(Exception):
    def __init__(self, token: str) -> None:
        super().__init__("access token expired")
        self.token = token


@dataclass(slots=True)
class Load:
    api: str
    token: str
    stop: threading.Event = field(default_factory=threading.Event)
    counts: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    rule_ids: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _count(self, kind: str, ok: bool) -> None:
        with self.lock:
            table = self.counts if ok else self.errors
            table[kind] = table.get(kind, 0) + 1

    def relogin(self, session: requests.Session, stale: str) -> None:
        """Access tokens expire (minutes): a 401 means sign in again, as the web UI does."""
        with self.lock:
            if self.token != stale:
                return  # another client already did
            credentials = {"email": ADMIN[0], "password": ADMIN[1]}
            reply = session.post(f"{self.api}/auth/login", json=credentials, timeout=30)
            reply.raise_for_status()
            self.token = reply.json()["data"]["access_token"]
            self.counts["relogin"] = self.counts.get("relogin", 0) + 1

    def one(self, session: requests.Session, rng: random.Random) -> None:
        token = self.token
        auth = {"Authorization": f"Bearer {token}"}
        pick = rng.random()
        if pick < 0.6:
            path = rng.choice(["/rules?per_page=50", "/rules/status", "/auth/me", "/users"])
            kind, ok = "read", (200,)
            reply = session.get(f"{self.api}{path}", headers=auth, timeout=30)
        elif pick < 0.9:
            kind = "write"
            with self.lock:
                held = list(self.rule_ids)
            if len(held) < RULES or not held:
                body = {"name": f"soak {rng.randrange(10**6)}", "action": "drop", "protocol": "udp",
                        "dst_ports": [str(rng.randrange(1, 65535))]}  # fmt: skip
                ok = (201,)
                reply = session.post(f"{self.api}/rules", json=body, headers=auth, timeout=30)
                if reply.status_code == 201:
                    with self.lock:
                        self.rule_ids.append(reply.json()["data"]["id"])
            elif rng.random() < 0.7:
                change = {"action": rng.choice(["allow", "drop", "count"])}
                ok = (200, 404)  # 404: another client deleted it meanwhile
                reply = session.patch(
                    f"{self.api}/rules/{rng.choice(held)}", json=change, headers=auth, timeout=30
                )
            else:
                rule_id = rng.choice(held)
                with self.lock:
                    if rule_id in self.rule_ids:
                        self.rule_ids.remove(rule_id)
                ok = (200, 404)
                reply = session.delete(f"{self.api}/rules/{rule_id}", headers=auth, timeout=30)
        else:
            credentials = {"email": ADMIN[0], "password": ADMIN[1]}
            kind, ok = "login", (200,)
            reply = session.post(f"{self.api}/auth/login", json=credentials, timeout=30)
        if reply.status_code == 401 and kind != "login":
            raise TokenExpired(token)
        self._count(kind, reply.status_code in ok)

    def client(self, seed: int) -> None:
        rng = random.Random(seed)
        session = requests.Session()
        session.trust_env = False
        pause = CLIENTS / RATE
        next_at = time.monotonic()
        while not self.stop.is_set():
            try:
                self.one(session, rng)
            except TokenExpired as expired:
                self.relogin(session, expired.token)
            except requests.RequestException:
                self._count("transport", False)
            next_at += pause
            self.stop.wait(max(0.0, next_at - time.monotonic()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", 10)))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="rookery-soak-"))
    trio = Trio(workdir).build(
        backend_env={
            "LOGIN_RATE_LIMIT": "1000000/minute",
            "AUTH_RPC_RATE_LIMIT": "1000000/second",
            **database_env(DATABASE),
        }
    )
    procs = [trio.backend, trio.packet]
    try:
        for proc in procs:
            proc.start()
        assert trio.backend.popen is not None
        pid = trio.backend.popen.pid
        load = Load(trio.api, trio.login())
        threads = [threading.Thread(target=load.client, args=(i,), daemon=True)
                   for i in range(CLIENTS)]  # fmt: skip
        print(
            f"soak: {args.minutes:g} min on {DATABASE}, ~{RATE:g} req/s from {CLIENTS} clients, "
            f"backend pid {pid}, logs in {workdir}",
            flush=True,
        )
        started = time.monotonic()
        for thread in threads:
            thread.start()
        samples: list[tuple[float, float]] = []
        each_process: dict[int, list[tuple[float, float]]] = {}
        end = started + args.minutes * 60
        while time.monotonic() < end:
            elapsed = time.monotonic() - started
            samples.append((elapsed, rss_mb(pid)))
            with load.lock:
                done = sum(load.counts.values())
                failed = sum(load.errors.values())
            sizes = rss_by_process(pid)
            for member, size in sizes.items():
                each_process.setdefault(member, []).append((elapsed, size))
            each = " ".join(f"{size:.0f}" for size in sizes.values())
            print(
                f"  t={elapsed:7.0f}s  rss={samples[-1][1]:7.1f} MB ({each})  requests={done}"
                f"  errors={failed}  rules={len(load.rule_ids)}",
                flush=True,
            )
            time.sleep(min(SAMPLE, max(0.0, end - time.monotonic())))
        samples.append((time.monotonic() - started, rss_mb(pid)))
        load.stop.set()
        for thread in threads:
            thread.join(timeout=30)
        steady = [(t, m) for t, m in samples if t >= WARMUP] or samples
        print(f"\nrequests: {load.counts}  errors: {load.errors}")
        print(
            f"RSS {samples[0][1]:.1f} → {samples[-1][1]:.1f} MB; slope after {WARMUP:g} s "
            f"warm-up: {slope_per_minute(steady):+.3f} MB/min "
            f"(whole run {slope_per_minute(samples):+.3f} MB/min)"
        )
        for member, series in each_process.items():
            settled = [(t, m) for t, m in series if t >= WARMUP] or series
            print(
                f"  pid {member}: {series[0][1]:.1f} → {series[-1][1]:.1f} MB, "
                f"{slope_per_minute(settled):+.3f} MB/min after the warm-up"
            )
        return 0
    finally:
        for proc in reversed(procs):
            proc.stop()


if __name__ == "__main__":
    sys.exit(main())
