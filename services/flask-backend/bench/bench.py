"""Drive wrk against flask-backend (its worker model: WEB_CONCURRENCY processes) and, as
the baseline, a bare Flask JSON route on hypercorn with as many workers; print req/s,
p50/p99, the ratios to the baseline and the worker count, on SQLite and — when the test
PostgreSQL of scripts/test-dbs.sh answers — on PostgreSQL (BENCH_DB=sqlite|postgresql|all,
default all)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from rookery_common.testing import NotHealthy, start_process, stop_process

HERE = Path(__file__).resolve().parent
SERVICE = HERE.parent
ADMIN = {"email": "bench-admin@example.com", "password": "bench-password-1"}
DURATION = os.environ.get("BENCH_DURATION", "10")
CONNECTIONS = os.environ.get("BENCH_CONNECTIONS", "32")
THREADS = os.environ.get("BENCH_THREADS", "2")
DB_TYPE = os.environ.get("BENCH_DB", "all")


@dataclass(slots=True)
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def to_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"cannot read wrk latency {text!r}")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(
    name: str,
    url: str,
    args: list[str],
    env: dict[str, str] | None = None,
    connections: str = CONNECTIONS,
    duration: int | str = DURATION,
) -> Result:
    command = [
        "wrk",
        f"-t{THREADS}",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "--timeout",
        "10s",
    ]
    output = subprocess.run(
        [*command, *args, url],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    ).stdout
    if "Latency Distribution" not in output:
        raise SystemExit(f"wrk gave no latency figures for {name}:\n{output}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    p50 = to_ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))
    errors = 0
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if match:
        errors += int(match.group(1))
    match = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if match:
        errors += sum(int(x) for x in match.groups())
    return Result(name, rps, p50, p99, errors)


def call(url: str, body: dict | None = None, token: str | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read())


def pg_env() -> dict[str, str] | None:
    """The test PostgreSQL (scripts/test-dbs.sh) when it answers, as DB_* for a benchmark
    database of its own (rookery_bench, made fresh each run); else None."""
    values = dict(os.environ)
    env_file = SERVICE.parent.parent / ".data" / "test-dbs.env"
    if env_file.is_file():
        for line in env_file.read_text().splitlines():
            key, _, value = line.partition("=")
            values.setdefault(key.strip(), value.strip())
    if "TEST_PG_PORT" not in values:
        return None
    try:
        import psycopg2

        connection = psycopg2.connect(
            host=values.get("TEST_PG_HOST", "127.0.0.1"),
            port=int(values["TEST_PG_PORT"]),
            user=values.get("TEST_PG_USER", "rookery"),
            password=values.get("TEST_PG_PASS", ""),
            dbname=values.get("TEST_PG_NAME", "rookery_test"),
            connect_timeout=3,
        )
    except Exception as error:  # not up: the PostgreSQL run is left out, and said so
        print(f"[bench] PostgreSQL not reachable ({error}); SQLite only", file=sys.stderr)
        return None
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("DROP DATABASE IF EXISTS rookery_bench")
        cursor.execute("CREATE DATABASE rookery_bench")
    connection.close()
    return {
        "DB_TYPE": "postgresql",
        "DB_HOST": values.get("TEST_PG_HOST", "127.0.0.1"),
        "DB_PORT": values["TEST_PG_PORT"],
        "DB_USER": values.get("TEST_PG_USER", "rookery"),
        "DB_PASS": values.get("TEST_PG_PASS", ""),
        "DB_NAME": "rookery_bench",
    }


def start_server(
    port: int, data_dir: Path, workers: int, db: dict[str, str], extra: dict[str, str]
) -> subprocess.Popen:
    env = {
        **os.environ,
        "HTTP_PORT": str(port),
        "HTTP_HOST": "127.0.0.1",
        "GRPC_PORT": str(port + 1),
        "DATA_DIR": str(data_dir),
        "WEB_CONCURRENCY": str(workers),
        "LOGIN_RATE_LIMIT": "100000/second",
        "ADMIN_EMAIL": ADMIN["email"],
        "ADMIN_PASSWORD": ADMIN["password"],
        "RELEASE_MODE": "development",
        **db,
        **extra,
    }
    env.pop("BCRYPT_ROUNDS", None)  # production cost (12) for the login figure
    try:
        return start_process(
            [sys.executable, "-m", "rookery_backend", "serve"],
            f"http://127.0.0.1:{port}/healthz",
            cwd=SERVICE,
            env=env,
            log_path=data_dir / "server.log",
            timeout=120,
            name="flask-backend",
            inherit_env=False,  # env is the whole environment (BCRYPT_ROUNDS taken out)
        )
    except NotHealthy as error:
        print(error, file=sys.stderr)
        raise SystemExit("server did not start") from None


def start_bare(port: int, workers: int, data_dir: Path) -> subprocess.Popen:
    try:
        return start_process(
            [
                sys.executable,
                "-m",
                "hypercorn",
                "-w",
                str(workers),
                "-b",
                f"127.0.0.1:{port}",
                "bare_app:app",
            ],
            f"http://127.0.0.1:{port}/",
            cwd=HERE,
            log_path=data_dir / "bare.log",
            timeout=60,
            name="bare hypercorn",
        )
    except NotHealthy as error:
        print(error, file=sys.stderr)
        raise SystemExit("the bare app did not start") from None


def stop_server(server: subprocess.Popen) -> None:
    stop_process(server, signal.SIGINT, timeout=20)


def bench_backend(port: int, workers: int, db: dict[str, str]) -> list[Result]:
    base = f"http://127.0.0.1:{port}"
    data_dir = Path(tempfile.mkdtemp(prefix="rookery-bench-"))
    try:
        server = start_server(port, data_dir, workers, db, {})
        try:
            token = call(f"{base}/api/v1/auth/login", ADMIN)["data"]["access_token"]
            for index in range(60):
                user = {
                    "email": f"user{index}@example.com",
                    "password": "password-123",
                    "roles": ["viewer"],
                }
                call(f"{base}/api/v1/users", user, token)
            key = call(
                f"{base}/api/v1/apikeys", {"name": "bench", "scopes": ["rules:read"]}, token
            )["data"]["key"]
            auth = ["-H", f"Authorization: Bearer {token}"]
            team_rules, member_token = team_rule_set(base, token)
            member = ["-H", f"Authorization: Bearer {member_token}"]
            # Warm-up, not counted, as for the bare app: every worker's first requests
            # open its pooled connections and fill its caches.
            for path, who in (
                ("/api/v1/auth/me", auth),
                ("/api/v1/users?per_page=50", auth),
                (team_rules, auth),
                (team_rules, member),
            ):
                run_wrk("warm-up", f"{base}{path}", who, duration=2)
            return [
                run_wrk("(b) GET /api/v1/auth/me (JWT)", f"{base}/api/v1/auth/me", auth),
                run_wrk(
                    "(b') GET /api/v1/auth/me (API key)",
                    f"{base}/api/v1/auth/me",
                    ["-H", f"Authorization: Bearer {key}"],
                ),
                run_wrk(
                    "(c) GET /api/v1/users?per_page=50", f"{base}/api/v1/users?per_page=50", auth
                ),
                run_wrk(
                    "(d) POST /api/v1/auth/login",
                    f"{base}/api/v1/auth/login",
                    ["-s", str(HERE / "login.lua")],
                    {"BENCH_LOGIN_BODY": json.dumps(ADMIN)},
                    # bcrypt cost 12 is ~0.25 s of CPU per login: a few connections saturate
                    # the machine; 32 would only queue past wrk's timeout.
                    connections="4",
                ),
                run_wrk("(e) a team's rule set, global admin", f"{base}{team_rules}", auth),
                run_wrk("(e') the same, team maintainer", f"{base}{team_rules}", member),
            ]
        finally:
            stop_server(server)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def team_rule_set(base: str, token: str) -> tuple[str, str]:
    """A team, a rule set it owns with 50 rules, and a member (team-maintainer) holding no
    global scope on rules: (the rule listing's path, the member's access token)."""
    team = call(f"{base}/api/v1/teams", {"name": "bench-team"}, token)["data"]["id"]
    ruleset = call(
        f"{base}/api/v1/rulesets",
        {"name": "bench-set", "team_id": team, "default_action": "allow"},
        token,
    )["data"]["id"]
    for index in range(50):
        rule = {"name": f"rule {index}", "action": "drop", "protocol": "tcp",
                "dst_ports": [str(1000 + index)]}  # fmt: skip
        call(f"{base}/api/v1/rulesets/{ruleset}/rules", rule, token)
    person = {"email": "member@example.com", "password": "password-123", "roles": []}
    user = call(f"{base}/api/v1/users", person, token)["data"]["id"]
    membership = {"user_id": user, "role": "team-maintainer"}
    call(f"{base}/api/v1/teams/{team}/members", membership, token)
    member = call(f"{base}/api/v1/auth/login", {"email": person["email"],
                                                "password": person["password"]})  # fmt: skip
    return f"/api/v1/rulesets/{ruleset}/rules?per_page=50", member["data"]["access_token"]


def report(label: str, workers: int, bare: Result, results: list[Result]) -> None:
    print()
    print(
        f"flask-backend REST benchmark, {label}: {workers} worker processes"
        f" ({os.cpu_count()} cores on the machine), wrk -t{THREADS} -c{CONNECTIONS}"
        f" -d{DURATION}s"
    )
    print(f"{'case':40} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for r in (bare, *results):
        print(f"{r.name:40} {r.rps:9.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {r.errors:7d}")
    jwt, key, users = results[0], results[1], results[2]
    print(f"(b)/(a)  = {jwt.rps / bare.rps:.2f}   (target >= 0.60)")
    print(f"(b')/(a) = {key.rps / bare.rps:.2f}   (target >= 0.55)")
    print(f"(c)/(a)  = {users.rps / bare.rps:.2f}   (target >= 0.30)")
    print(f"p99 (b)  = {jwt.p99_ms:.1f} ms (target <= 50)")
    print("(d) login: bcrypt cost 12 on purpose, 4 connections; reported, not compared.")
    admin, member = results[4], results[5]
    print(
        f"(e')/(e) = {member.rps / admin.rps:.2f}   (team resolution: target >= 0.85, "
        "i.e. at most 15 % of the route's throughput)"
    )


def main() -> int:
    sys.path.insert(0, str(SERVICE))
    from rookery_backend.server import usable_cores

    port = int(os.environ.get("BENCH_PORT", "18480"))
    workers = int(os.environ.get("BENCH_WORKERS") or usable_cores())
    data_dir = Path(tempfile.mkdtemp(prefix="rookery-bench-bare-"))
    bare_url = f"http://127.0.0.1:{port + 5}/"
    bare_name = f"(a) bare Flask JSON route, hypercorn -w {workers}"
    # The ceiling is measured next to each database's cases (the bare app keeps running),
    # after a warm-up, and the better of its runs before and after those cases counts:
    # one cold run at the start made every ratio depend on what the machine did then.
    runs: list[tuple[str, Result, list[Result]]] = []
    cases = []
    if DB_TYPE in ("sqlite", "all"):
        cases.append(("SQLite", {"DB_TYPE": "sqlite"}))
    if DB_TYPE in ("postgresql", "all"):
        pg = pg_env()
        if pg is not None:
            cases.append(("PostgreSQL", pg))
    try:
        bare_server = start_bare(port + 5, workers, data_dir)
        try:
            run_wrk(bare_name, bare_url, [], duration=2)  # warm-up, not counted
            for label, db in cases:
                before = run_wrk(bare_name, bare_url, [])
                results = bench_backend(port, workers, db)
                after = run_wrk(bare_name, bare_url, [])
                runs.append((label, max(before, after, key=lambda r: r.rps), results))
        finally:
            stop_server(bare_server)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    for label, bare, results in runs:
        report(label, workers, bare, results)
    print("\nNoisy machine: figures taken while other work runs vary by tens of per cent.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
