"""Drive wrk against one flask-backend server and print req/s, p50/p99 and the ratios."""

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
DB_TYPE = os.environ.get("BENCH_DB", "sqlite")


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
) -> Result:
    command = [
        "wrk",
        f"-t{THREADS}",
        f"-c{connections}",
        f"-d{DURATION}s",
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


def start_server(port: int, data_dir: Path, extra: dict[str, str]) -> subprocess.Popen:
    env = {
        **os.environ,
        "HTTP_PORT": str(port),
        "HTTP_HOST": "127.0.0.1",
        "DATA_DIR": str(data_dir),
        "DB_TYPE": DB_TYPE,
        "LOGIN_RATE_LIMIT": "100000/second",
        "ADMIN_EMAIL": ADMIN["email"],
        "ADMIN_PASSWORD": ADMIN["password"],
        "RELEASE_MODE": "development",
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
            name="flask-backend",
            inherit_env=False,  # env is the whole environment (BCRYPT_ROUNDS taken out)
        )
    except NotHealthy as error:
        print(error, file=sys.stderr)
        raise SystemExit("server did not start") from None


def stop_server(server: subprocess.Popen) -> None:
    stop_process(server, signal.SIGINT, timeout=20)


def main() -> int:
    port = int(os.environ.get("BENCH_PORT", "18480"))
    base = f"http://127.0.0.1:{port}"
    data_dir = Path(tempfile.mkdtemp(prefix="rookery-bench-"))
    try:
        server = start_server(port, data_dir, {})
        try:
            token = call(f"{base}/api/v1/auth/login", ADMIN)["data"]["access_token"]
            for index in range(60):
                user = {
                    "email": f"user{index}@example.com",
                    "password": "password-123",
                    "roles": ["viewer"],
                }
                call(f"{base}/api/v1/users", user, token)
            auth = ["-H", f"Authorization: Bearer {token}"]
            results = [
                run_wrk("(a) bare route /healthz", f"{base}/healthz", []),
                run_wrk("(b) GET /api/v1/auth/me (JWT)", f"{base}/api/v1/auth/me", auth),
                run_wrk(
                    "(c) GET /api/v1/users?per_page=50", f"{base}/api/v1/users?per_page=50", auth
                ),
                run_wrk(
                    "(d) POST /api/v1/auth/login",
                    f"{base}/api/v1/auth/login",
                    ["-s", str(HERE / "login.lua")],
                    {"BENCH_LOGIN_BODY": json.dumps(ADMIN)},
                    # bcrypt cost 12 is ~0.25 s of CPU per login: a few connections saturate
                    # the machine; 32 would only queue past wrk's 2 s timeout.
                    connections="4",
                ),
            ]
        finally:
            stop_server(server)
        # (b') as (b) with the principal cache off: every request verifies the JWT
        # signature and reads the account and its roles from the database.
        server = start_server(port, data_dir, {"PRINCIPAL_CACHE_TTL": "0"})
        try:
            token = call(f"{base}/api/v1/auth/login", ADMIN)["data"]["access_token"]
            auth = ["-H", f"Authorization: Bearer {token}"]
            results.append(
                run_wrk("(b') same, PRINCIPAL_CACHE_TTL=0", f"{base}/api/v1/auth/me", auth)
            )
        finally:
            stop_server(server)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)

    print()
    print(
        f"flask-backend REST benchmark: hypercorn, 1 process, {DB_TYPE}, "
        f"wrk -t{THREADS} -c{CONNECTIONS} -d{DURATION}s"
    )
    print(f"{'case':38} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for r in results:
        print(f"{r.name:38} {r.rps:9.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {r.errors:7d}")
    bare = results[0].rps
    print(f"(b)/(a)  = {results[1].rps / bare:.2f}   (target >= 0.60)")
    print(f"(c)/(a)  = {results[2].rps / bare:.2f}")
    print(f"(b')/(a) = {results[4].rps / bare:.2f}   (principal cache off; second server run)")
    print("(d) login: bcrypt cost 12 on purpose, 4 connections; reported, not compared.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
