"""Two flask-backend replicas as real processes (`python -m rookery_backend serve`, two HTTP
workers each, separate ports) on one real PostgreSQL, publishing to one real
packet-service: what a deployment of several replicas relies on.

- both start at once on an empty database (schema creation and seeding race safely);
- login throttling counts attempts made through either replica;
- exactly one process of the two replicas publishes rules (rule_publisher_active sums to
  1 over both replicas' /metrics, and the lease row names it); after `kill -9` of that
  process another takes the lease over and publishing goes on — here at once, as both
  replicas share one host and see the holder's process gone (lease.dead_here); across
  hosts within 4/3 of PUBLISHER_LEASE_TTL (test_lease.py, with an injected clock);
- a rule written through replica 1 is read through replica 2 and enforced by
  packet-service;
- a refresh token issued by replica 1 rotates on replica 2, and its reuse on replica 1 then
  revokes the session everywhere.

PostgreSQL only (ROOKERY_TEST_DBS must name it; `scripts/test-dbs.sh start`)."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import requests
import sqlalchemy as sa
from conftest import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    SERVICE_DIR,
    _empty_tables,
    _listed,
    _reachable,
    backend_env,
    base_env,
    selected_backends,
    settings_for,
)
from rookery_backend.db import create_schema, drop_schema, sqlalchemy_url
from rookery_backend.gen import packet_pb2, packet_pb2_grpc
from rookery_common.testing import free_port, stop_process, wait_healthy, wait_until

PACKET_DIR = SERVICE_DIR.parent / "packet-service"
LEASE_TTL = 3.0
TAKEOVER_BOUND = LEASE_TTL * 4 / 3
GUESSER = "203.0.113.7"  # the address the throttling check guesses from (X-Forwarded-For)


@dataclass(slots=True)
class Replica:
    name: str
    http_port: int
    grpc_port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def get(self, path: str, token: str | None = None, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.get(f"{self.base}{path}", headers=headers, timeout=10, **kwargs)

    def post(self, path: str, token: str | None = None, **kwargs) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return requests.post(f"{self.base}{path}", headers=headers, timeout=10, **kwargs)

    def publisher_active(self) -> float:
        text = self.get("/metrics").text
        match = re.search(r"^rule_publisher_active (\S+)$", text, re.M)
        return float(match.group(1)) if match else 0.0

    def login(self, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> dict:
        reply = self.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert reply.status_code == 200, reply.text
        return reply.json()["data"]


def udp_frame(dst: str, dport: int) -> bytes:
    payload = b"x" * 32
    udp = struct.pack("!HHHH", 40000, dport, 8 + len(payload), 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
        socket.inet_aton("10.0.0.1"), socket.inet_aton(dst),
    )  # fmt: skip
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + udp


def classify(port: int, token: str, frames: list[bytes]) -> list[int]:
    data, offsets = bytearray(), bytearray()
    for frame in frames:
        offsets += struct.pack("<II", len(data), len(frame))
        data += frame
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = packet_pb2_grpc.PacketServiceStub(channel).Classify(
            packet_pb2.PacketBatch(data=bytes(data), offsets=bytes(offsets)),
            timeout=5,
            metadata=[("authorization", f"Bearer {token}")],
        )
    return list(reply.verdicts)


@pytest.fixture
def postgresql(tmp_path: Path):
    if "postgresql" not in selected_backends():
        pytest.skip("PostgreSQL suite NOT run (set DBS=all or ROOKERY_TEST_DBS)")
    settings = settings_for("postgresql", tmp_path / "probe")
    problem = _reachable(settings)
    if problem:
        if "postgresql" in _listed("ROOKERY_REQUIRE_DBS"):
            pytest.fail(f"PostgreSQL not reachable: {problem}")
        pytest.skip(f"PostgreSQL not reachable: {problem}")
    drop_schema(settings)  # the replicas start on an empty database
    yield settings
    create_schema(settings)  # what the other suites of this session expect
    _empty_tables(settings)


@dataclass(slots=True)
class Deployment:
    replicas: list[Replica]
    packet_grpc_port: int
    engine: sa.Engine

    def lease(self) -> tuple[str, int]:
        with self.engine.begin() as connection:
            row = connection.execute(
                sa.text("SELECT holder, term FROM service_lease WHERE name = 'rule-publisher'")
            ).first()
        return (row.holder, row.term) if row else ("", 0)

    def active_publishers(self) -> list[float]:
        return [replica.publisher_active() for replica in self.replicas]


@pytest.fixture
def deployment(postgresql, tmp_path: Path) -> Iterator[Deployment]:
    service_key = f"rk_{secrets.token_hex(4)}_{secrets.token_urlsafe(30)}"
    packet_grpc, packet_http = free_port(), free_port()
    replicas = [
        Replica(f"replica{n}", free_port(), free_port(), tmp_path / f"replica{n}.log")
        for n in (1, 2)
    ]
    common = {
        **os.environ,
        **base_env(tmp_path / "data"),
        **backend_env("postgresql"),
        "WEB_CONCURRENCY": "2",
        "HTTP_HOST": "127.0.0.1",
        "LOGIN_RATE_LIMIT": "3/minute",
        "TRUSTED_PROXIES": "1",
        "REFRESH_REUSE_GRACE": "0",
        "PUBLISHER_LEASE_TTL": str(LEASE_TTL),
        "RULES_RECONCILE_INTERVAL": "0.5",
        "PACKET_BREAKER_RESET": "1",
        "PACKET_SERVICE_TARGETS": f"127.0.0.1:{packet_grpc}",
        "AUTH_SERVICE_API_KEY": service_key,
    }
    engine = sa.create_engine(sqlalchemy_url(postgresql), poolclass=sa.pool.NullPool)
    packet = None
    try:
        # Both at once: they race on creating the schema and seeding the admin.
        for replica in replicas:
            env = {
                **common,
                "HTTP_PORT": str(replica.http_port),
                "GRPC_PORT": str(replica.grpc_port),
                "DATA_DIR": str(tmp_path / replica.name),
            }
            with replica.log_path.open("ab") as log:
                replica.process = subprocess.Popen(
                    [sys.executable, "-m", "rookery_backend", "serve", "-v"],
                    cwd=SERVICE_DIR,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
        for replica in replicas:
            wait_healthy(
                f"{replica.base}/healthz", replica.process, 120, replica.name, replica.log_path
            )
        packet_log = tmp_path / "packet.log"
        with packet_log.open("ab") as log:
            packet = subprocess.Popen(
                [sys.executable, "-m", "packet_service", "serve", "-v"],
                cwd=PACKET_DIR,
                env={
                    **os.environ,
                    "GRPC_PORT": str(packet_grpc),
                    "METRICS_PORT": str(packet_http),
                    "RELEASE_MODE": "development",
                    "AUTH_REQUIRED": "true",
                    "AUTH_SERVICE_TARGET": f"127.0.0.1:{replicas[0].grpc_port}",
                    "AUTH_SERVICE_API_KEY": service_key,
                },
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_healthy(
            f"http://127.0.0.1:{packet_http}/healthz", packet, 60, "packet-service", packet_log
        )
        yield Deployment(replicas, packet_grpc, engine)
    finally:
        stop_process(packet)
        for replica in replicas:
            stop_process(replica.process)
        engine.dispose()


def test_two_replicas_behave_as_one_deployment(deployment: Deployment) -> None:
    one, two = deployment.replicas
    for replica in (one, two):
        log = replica.log_path.read_text()
        assert '"workers": 2' in log, log[-2000:]

    # -- login throttling counts across both replicas (3 per account and address) --------
    guess = {"email": "nobody@example.com", "password": "wrong"}
    forwarded = {"X-Forwarded-For": GUESSER}
    codes = [
        replica.post("/api/v1/auth/login", json=guess, headers=forwarded).status_code
        for replica in (one, two, one, two)
    ]
    assert codes == [401, 401, 401, 429], codes

    # -- exactly one publisher, named by the lease -----------------------------------------
    assert wait_until(lambda: sum(deployment.active_publishers()) == 1, 30, 0.2), (
        deployment.active_publishers()
    )
    holder, term = deployment.lease()
    assert holder and term >= 1

    # -- a rule written through replica 1, read through replica 2, enforced ----------------
    admin = one.login()
    token = admin["access_token"]
    dns, web = udp_frame("10.0.0.53", 53), udp_frame("10.0.0.80", 8080)
    assert wait_until(
        lambda: (
            classify(deployment.packet_grpc_port, token, [dns, web])
            == [packet_pb2.VERDICT_ALLOW] * 2
        ),
        20,
        0.2,
    )
    # The publisher has reached packet-service (it started after the replicas).
    assert wait_until(
        lambda: two.get("/api/v1/rules/status", token).json()["data"]["state"] == "in_sync",
        20,
        0.2,
    ), two.get("/api/v1/rules/status", token).json()
    created = one.post(
        "/api/v1/rules",
        token,
        json={"name": "drop dns", "action": "drop", "protocol": "udp", "dst_ports": ["53"]},
    )
    assert created.status_code == 201, created.text
    # The worker that took the write saw the holder (maybe in the other replica) publish.
    assert created.json()["meta"]["publish"] == "applied", created.json()
    listed = two.get("/api/v1/rules", token).json()
    assert [rule["name"] for rule in listed["data"]] == ["drop dns"]
    assert wait_until(
        lambda: (
            classify(deployment.packet_grpc_port, token, [dns, web])
            == [packet_pb2.VERDICT_DROP, packet_pb2.VERDICT_ALLOW]
        ),
        5,
        0.1,
    )
    status = two.get("/api/v1/rules/status", token).json()["data"]
    assert status["state"] == "in_sync", status
    assert status["targets"][0]["applied_version"] == listed["meta"]["version"]

    # -- a refresh token issued by replica 1 rotates on replica 2 --------------------------
    first = admin["refresh_token"]
    rotated = two.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()["data"]["refresh_token"]
    assert second and second != first
    reused = one.post("/api/v1/auth/refresh", json={"refresh_token": first})
    assert reused.status_code == 401  # spent on replica 2: reuse revokes the session ...
    gone = two.post("/api/v1/auth/refresh", json={"refresh_token": second})
    assert gone.status_code == 401  # ... on every replica

    # -- kill -9 the holder: another process takes the lease over and publishes -----------
    pid = int(holder.split(":")[-2])
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    taken = wait_until(
        lambda: (lambda h: h[0] not in ("", holder) and h[1] > term and h)(deployment.lease()),
        30,
        0.05,
    )
    took = time.monotonic() - killed_at
    assert taken, deployment.lease()
    # The bound is 4/3 of the TTL; allow for a loaded machine noticing late.
    assert took <= TAKEOVER_BOUND + 3.0, took
    assert wait_until(lambda: sum(deployment.active_publishers()) == 1, 20, 0.2), (
        deployment.active_publishers()
    )
    token = one.login()["access_token"]
    again = two.post(
        "/api/v1/rules",
        token,
        json={"name": "drop web", "action": "drop", "protocol": "udp", "dst_ports": ["8080"]},
    )
    assert again.status_code == 201, again.text
    assert wait_until(
        lambda: (
            classify(deployment.packet_grpc_port, token, [dns, web])
            == [packet_pb2.VERDICT_DROP, packet_pb2.VERDICT_DROP]
        ),
        5,
        0.1,
    )
    print(f"publisher lease taken over {took:.2f} s after kill -9 (TTL {LEASE_TTL} s)")
