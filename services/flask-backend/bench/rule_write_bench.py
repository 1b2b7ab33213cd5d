"""Rule-write latency against the size of the rule set (not a test). Real flask-backend and
packet-service processes on loopback (scripts/trio_tests/trio.py, SQLite), one run:

for a set of SMALL rules (10) and then LARGE rules (5,000): p50/p90 of BENCH_WRITES (100)
sequential POST /rules (each new rule deleted again, unmeasured, so the size holds) and
PATCH /rules/<id>, with how many answered "applied" and "pending"; and GET /rules (one
default page). Writes must not slow down with the size of the set (the publisher coalesces
full-set publishes and a write does not wait on a slow one: rule_publisher.py).

Run: .venv/bin/python services/flask-backend/bench/rule_write_bench.py
Knobs: BENCH_WRITES (100), BENCH_SMALL (10), BENCH_LARGE (5000).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path[:0] = [str(ROOT / "scripts" / "trio_tests")]

import requests  # noqa: E402
from rookery_common.testing import wait_until  # noqa: E402
from trio import Trio  # noqa: E402

WRITES = int(os.environ.get("BENCH_WRITES", "100"))
SMALL = int(os.environ.get("BENCH_SMALL", "10"))
LARGE = int(os.environ.get("BENCH_LARGE", "5000"))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def rule_body(n: int) -> dict[str, object]:
    port = str(n % 65535 + 1)
    return {"name": f"bench {n}", "action": "drop", "protocol": "udp", "dst_ports": [port]}


class Client:
    def __init__(self, api: str, token: str) -> None:
        self.api = api
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.headers["Authorization"] = f"Bearer {token}"

    def timed(self, method: str, path: str, **kwargs: object) -> tuple[float, requests.Response]:
        started = time.perf_counter()
        reply = self.session.request(method, f"{self.api}{path}", timeout=60, **kwargs)  # type: ignore[arg-type]
        elapsed = (time.perf_counter() - started) * 1000
        if reply.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {reply.status_code} {reply.text[:300]}")
        return elapsed, reply

    def count(self) -> int:
        return int(self.timed("GET", "/rules?per_page=1")[1].json()["meta"]["total"])

    def in_sync(self) -> bool:
        return self.timed("GET", "/rules/status")[1].json()["data"]["state"] == "in_sync"


def fill(client: Client, trio: Trio, token: str, size: int) -> None:
    missing = size - client.count()
    if missing <= 0:
        return

    def create(n: int) -> None:
        own = Client(trio.api, token)
        for i in range(n, missing, 4):
            own.timed("POST", "/rules", json=rule_body(i))

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(create, range(4)))


def measure(client: Client, label: str) -> dict[str, float]:
    if not wait_until(client.in_sync, 120, 0.5):
        raise RuntimeError("the rule set never reached in_sync before measuring")
    size = client.count()
    outcomes: Counter[str] = Counter()
    post_ms: list[float] = []
    for n in range(WRITES):
        elapsed, reply = client.timed("POST", "/rules", json=rule_body(n))
        post_ms.append(elapsed)
        outcomes[f"POST {reply.json()['meta']['publish']}"] += 1
        client.timed("DELETE", f"/rules/{reply.json()['data']['id']}")
    target = client.timed("GET", "/rules?per_page=1")[1].json()["data"][0]["id"]
    patch_ms: list[float] = []
    for n in range(WRITES):
        change = {"action": "allow" if n % 2 else "drop"}
        elapsed, reply = client.timed("PATCH", f"/rules/{target}", json=change)
        patch_ms.append(elapsed)
        outcomes[f"PATCH {reply.json()['meta']['publish']}"] += 1
    list_ms = [client.timed("GET", "/rules")[0] for _ in range(20)]
    figures = {
        "post_p50": percentile(post_ms, 0.5),
        "post_p90": percentile(post_ms, 0.9),
        "patch_p50": percentile(patch_ms, 0.5),
        "patch_p90": percentile(patch_ms, 0.9),
        "list_p50": percentile(list_ms, 0.5),
    }
    print(
        f"{label:>6} ({size} rules): POST p50 {figures['post_p50']:6.1f} ms p90 "
        f"{figures['post_p90']:6.1f} | PATCH p50 {figures['patch_p50']:6.1f} ms p90 "
        f"{figures['patch_p90']:6.1f} | GET /rules (page) p50 {figures['list_p50']:6.1f} ms"
        f" | {dict(sorted(outcomes.items()))}",
        flush=True,
    )
    return figures


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="rookery-rule-bench-"))
    trio = Trio(workdir).build()
    procs = [trio.backend, trio.packet]
    try:
        for proc in procs:
            proc.start()
        token = trio.login()
        client = Client(trio.api, token)
        load = os.getloadavg()[0]
        print(f"rule write benchmark — {time.strftime('%Y-%m-%d %H:%M:%S')}, load {load:.2f}")
        fill(client, trio, token, SMALL)
        small = measure(client, "small")
        started = time.monotonic()
        fill(client, trio, token, LARGE)
        print(f"(filled to {LARGE} rules in {time.monotonic() - started:.0f} s)", flush=True)
        large = measure(client, "large")
        for name in ("post_p50", "patch_p50"):
            print(f"{name}: large/small = {large[name] / small[name]:.2f}")
        return 0
    finally:
        for proc in reversed(procs):
            proc.stop()


if __name__ == "__main__":
    sys.exit(main())
