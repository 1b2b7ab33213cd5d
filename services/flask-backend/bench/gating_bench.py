"""What licence gating costs a gated route (not a test). In process, Flask's test client,
production mode with an enterprise licence (throwaway key pair), SQLite:

  GET /api/v1/audit/export (the gated route: Gated("audit_export", "audit:read")) against
  the very same route with its policy entry ungated ("audit:read"), in interleaved rounds
  (gated, ungated, ungated, gated, ...) so drift on a shared machine hits both alike;
  the median request time of each, their ratio, and the cost of one feature_enabled()
  call measured alone.

Run: .venv/bin/python services/flask-backend/bench/gating_bench.py
Knobs: BENCH_GATING_ROUNDS (10), BENCH_GATING_REQUESTS (200 per round and variant).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "services" / "flask-backend"))

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from rookery_backend import create_app  # noqa: E402
from rookery_backend.config import load_settings  # noqa: E402
from rookery_backend.licensing import feature_enabled  # noqa: E402
from rookery_backend.licensing.document import encode  # noqa: E402
from rookery_backend.policy import ROUTE_POLICY, Gated  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_GATING_ROUNDS", "10"))
REQUESTS = int(os.environ.get("BENCH_GATING_REQUESTS", "200"))
ROUTE = ("GET", "/api/v1/audit/export")
PASSWORD = "Bench-Password-Long-1"


def build_app(data_dir: str):
    key = Ed25519PrivateKey.generate()
    now = int(time.time())
    licence = encode(
        {
            "lid": "bench",
            "product": "rookery",
            "customer": "Bench",
            "tier": "enterprise",
            "features": [],
            "seats": 0,
            "iat": now,
            "nbf": now - 60,
            "exp": now + 365 * 86400,
        },
        key,
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    settings = load_settings(
        {
            "RELEASE_MODE": "production",
            "DATA_DIR": data_dir,
            "SECRET_KEY": os.urandom(32).hex(),
            "SECURITY_PASSWORD_SALT": "bench-salt",
            "BCRYPT_ROUNDS": "4",
            "ADMIN_PASSWORD": PASSWORD,
            "LOGIN_RATE_LIMIT": "1000/minute",
            "LICENSE_KEY": licence,
            "LICENSE_PUBLIC_KEY": public.decode(),
            "LOG_LEVEL": "WARNING",
        }
    )
    return create_app(settings)


def timed(client, headers: dict[str, str], count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        reply = client.get(ROUTE[1], headers=headers)
        times.append(time.perf_counter() - started)
        if reply.status_code != 200:
            raise SystemExit(f"{ROUTE[1]} answered {reply.status_code}: {reply.get_data()[:200]}")
    return times


def main() -> int:
    with tempfile.TemporaryDirectory() as data_dir:
        app = build_app(data_dir)
        client = app.test_client()
        login = client.post(
            "/api/v1/auth/login", json={"email": "admin@localhost.local", "password": PASSWORD}
        )
        headers = {"Authorization": f"Bearer {login.get_json()['data']['access_token']}"}
        gated = ROUTE_POLICY[ROUTE]
        assert isinstance(gated, Gated)
        variants = {"gated": gated, "ungated": gated.requirement}
        results: dict[str, list[float]] = {name: [] for name in variants}
        timed(client, headers, REQUESTS)  # warm up (caches, the licence read)
        for round_ in range(ROUNDS):
            order = ("gated", "ungated") if round_ % 2 == 0 else ("ungated", "gated")
            for name in order:
                ROUTE_POLICY[ROUTE] = variants[name]
                results[name].extend(timed(client, headers, REQUESTS))
        ROUTE_POLICY[ROUTE] = gated
        medians = {name: statistics.median(values) for name, values in results.items()}
        per_round = {
            name: [
                statistics.median(values[i : i + REQUESTS]) for i in range(0, len(values), REQUESTS)
            ]
            for name, values in results.items()
        }
        with app.app_context():
            feature_enabled("audit_export")
            calls = 20000
            started = time.perf_counter()
            for _ in range(calls):
                feature_enabled("audit_export")
            check = (time.perf_counter() - started) / calls
    print(
        f"gating on {ROUTE[0]} {ROUTE[1]} (in process, SQLite, {ROUNDS} interleaved rounds"
        f" of {REQUESTS} requests each)"
    )
    for name in variants:
        spread = per_round[name]
        print(
            f"  {name:8s} median {medians[name] * 1e3:7.3f} ms"
            f"  (round medians {min(spread) * 1e3:.3f} to {max(spread) * 1e3:.3f} ms)"
        )
    ratio = medians["gated"] / medians["ungated"]
    print(f"  gated / ungated: {ratio:.3f}")
    print(f"  one feature_enabled() call: {check * 1e6:.2f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
