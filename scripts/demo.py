"""`make demo`: load the example rule set into a running flask-backend and replay a sample
capture through packet-service, so a newcomer sees the numbers move.

Expects the services of `make run` (override with ROOKERY_API, PACKET_SERVICE_TARGET,
ADMIN_EMAIL, ADMIN_PASSWORD, DEMO_PACKETS)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "services" / "packet-service"))

import grpc  # noqa: E402
from packet_service.gen import packet_pb2, packet_pb2_grpc  # noqa: E402
from packet_service.synthetic import mixed_frames, to_batch, write_pcap  # noqa: E402

API = os.environ.get("ROOKERY_API", "http://127.0.0.1:8080/api/v1")
PACKET_TARGET = os.environ.get("PACKET_SERVICE_TARGET", "127.0.0.1:50052")
RULES_FILE = ROOT / "config" / "demo" / "rules.json"
BATCH = 1024


def fail(message: str) -> int:
    print(f"demo: {message}", file=sys.stderr)
    return 1


def login(session: requests.Session) -> None:
    email = os.environ.get("ADMIN_EMAIL", "admin@localhost.local")
    password = os.environ.get("ADMIN_PASSWORD", "admin123")
    reply = session.post(
        f"{API}/auth/login", json={"email": email, "password": password}, timeout=10
    )
    if reply.status_code != 200:
        raise SystemExit(fail(f"login as {email} failed: {reply.status_code} {reply.text[:200]}"))
    session.headers["Authorization"] = f"Bearer {reply.json()['data']['access_token']}"


def load_rules(session: requests.Session) -> None:
    wanted = json.loads(RULES_FILE.read_text())
    existing = {rule["name"] for rule in session.get(f"{API}/rules", timeout=10).json()["data"]}
    for rule in wanted["rules"]:
        if rule["name"] in existing:
            print(f"  rule already there: {rule['name']}")
            continue
        reply = session.post(f"{API}/rules", json=rule, timeout=10)
        if reply.status_code != 201:
            raise SystemExit(
                fail(f"rule {rule['name']!r} refused: {reply.status_code} {reply.text[:300]}")
            )
        print(f"  created rule: {rule['name']} (rule set v{reply.json()['meta']['version']})")


def replay(token: str, count: int) -> None:
    frames = mixed_frames(count, seed=7)
    capture = ROOT / ".data" / "demo" / "sample.pcap"
    capture.parent.mkdir(parents=True, exist_ok=True)
    write_pcap(capture, frames)
    print(f"  sample capture: {capture} ({count} frames)")

    def batches():  # type: ignore[no-untyped-def]
        for start in range(0, count, BATCH):
            blob, offsets = to_batch(frames[start : start + BATCH])
            yield packet_pb2.PacketBatch(data=blob.tobytes(), offsets=offsets.tobytes())
            done = min(count, start + BATCH)
            print(f"\r  replaying … {done}/{count}", end="", flush=True)

    with grpc.insecure_channel(PACKET_TARGET) as channel:
        summary = packet_pb2_grpc.PacketServiceStub(channel).Ingest(
            batches(), timeout=120, metadata=[("authorization", f"Bearer {token}")]
        )
    print(
        f"\n  packet-service: {summary.packets} packets, allow {summary.counts.allow}, "
        f"drop {summary.counts.drop}, malformed {summary.counts.malformed}, "
        f"rule set v{summary.ruleset_version}"
    )


def show_stats(session: requests.Session) -> None:
    summary = session.get(f"{API}/stats/summary", timeout=10).json()
    print("  stats/summary:", json.dumps(summary.get("data"), indent=None)[:400])
    for row in session.get(f"{API}/stats/rules", timeout=10).json().get("data", []):
        print(f"    rule {row['name']!r}: {row['hits']} hits")


def main() -> int:
    session = requests.Session()
    try:
        login(session)
    except requests.ConnectionError:
        return fail(f"flask-backend is not answering at {API}; start the services with 'make run'")
    print("1/3 loading the example rule set")
    load_rules(session)
    status = {}
    for _ in range(50):  # wait for packet-service to enforce it
        status = session.get(f"{API}/rules/status", timeout=10).json()["data"]
        if status["state"] == "in_sync":
            break
        time.sleep(0.1)
    print(f"    rule set v{status.get('desired_version')}: {status.get('state')}")
    print("2/3 replaying a sample capture")
    try:
        replay(
            session.headers["Authorization"].split()[1],
            int(os.environ.get("DEMO_PACKETS", "100000")),
        )
    except grpc.RpcError as error:
        return fail(f"packet-service at {PACKET_TARGET}: {error.code().name} {error.details()}")
    print("3/3 statistics through flask-backend")
    show_stats(session)
    print("Open the dashboard at http://127.0.0.1:3000/ to watch them.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
