"""Real-process harness for the trio tests: flask-backend and packet-service started as
their own processes on free loopback ports, exactly as `make run` starts them."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import requests
from rookery_common.testing import NotHealthy, free_port, start_process, stop_process

ROOT = Path(__file__).resolve().parents[2]
BACKEND_DIR = ROOT / "services" / "flask-backend"
PACKET_DIR = ROOT / "services" / "packet-service"
PY = os.environ.get("PY", sys.executable)
ADMIN = ("admin@localhost.local", "admin123")


def new_service_key() -> str:
    """A fresh API key in flask-backend's format, for AUTH_SERVICE_API_KEY."""
    return f"rk_{secrets.token_hex(4)}_{secrets.token_urlsafe(30)}"


@dataclass(slots=True)
class Proc:
    name: str
    command: list[str]
    cwd: Path
    env: dict[str, str]
    health_url: str
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        try:
            self.popen = start_process(
                self.command, self.health_url, self.cwd, self.env, self.log_path, timeout, self.name
            )
        except NotHealthy as error:
            raise RuntimeError(str(error)) from None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop_process(self.popen, sig)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass(slots=True)
class Trio:
    workdir: Path
    http_port: int = field(default_factory=free_port)
    auth_grpc_port: int = field(default_factory=free_port)
    packet_grpc_port: int = field(default_factory=free_port)
    packet_http_port: int = field(default_factory=free_port)
    # packet-service's own credential towards AuthService; flask-backend provisions it
    service_key: str = field(default_factory=new_service_key)
    backend: Proc | None = None
    packet: Proc | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/api/v1"

    def build(
        self, backend_env: dict[str, str] | None = None, packet_env: dict[str, str] | None = None
    ) -> Trio:
        self.backend = Proc(
            "flask-backend",
            [PY, "-m", "rookery_backend", "serve", "-v"],
            BACKEND_DIR,
            {
                "HTTP_PORT": str(self.http_port),
                "GRPC_PORT": str(self.auth_grpc_port),
                "DB_TYPE": "sqlite",
                "DATA_DIR": str(self.workdir / "backend-data"),
                "RELEASE_MODE": "development",
                "BCRYPT_ROUNDS": "4",
                "LOGIN_RATE_LIMIT": "1000/minute",
                "SECRET_KEY": "trio-test-secret-key-0123456789abcdef",
                "PACKET_SERVICE_TARGETS": f"127.0.0.1:{self.packet_grpc_port}",
                "RULES_RECONCILE_INTERVAL": "0.5",
                "PACKET_BREAKER_RESET": "1",
                "STATS_MAX_STALE": "3",
                "AUTH_SERVICE_API_KEY": self.service_key,
                **(backend_env or {}),
            },
            f"http://127.0.0.1:{self.http_port}/healthz",
            self.workdir / "backend.log",
        )
        self.packet = Proc(
            "packet-service",
            [PY, "-m", "packet_service", "serve", "-v"],
            PACKET_DIR,
            {
                "GRPC_PORT": str(self.packet_grpc_port),
                "METRICS_PORT": str(self.packet_http_port),
                "RELEASE_MODE": "development",
                "AUTH_REQUIRED": "true",
                "AUTH_SERVICE_TARGET": f"127.0.0.1:{self.auth_grpc_port}",
                "AUTH_SERVICE_API_KEY": self.service_key,
                **(packet_env or {}),
            },
            f"http://127.0.0.1:{self.packet_http_port}/healthz",
            self.workdir / "packet.log",
        )
        return self

    def version(self) -> str:
        return (ROOT / ".version").read_text().strip()

    def login(self, email: str = ADMIN[0], password: str = ADMIN[1]) -> str:
        reply = requests.post(
            f"{self.api}/auth/login", json={"email": email, "password": password}, timeout=10
        )
        reply.raise_for_status()
        return reply.json()["data"]["access_token"]


def udp_frame(src: str, dst: str, sport: int, dport: int, payload: bytes = b"x" * 32) -> bytes:
    """An Ethernet II + IPv4 + UDP frame (checksums zero: the classifier does not verify)."""
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
        socket.inet_aton(src), socket.inet_aton(dst),
    )  # fmt: skip
    ether = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    return ether + ip + udp


def batch_of(frames: list[bytes]) -> tuple[bytes, bytes]:
    data = bytearray()
    offsets = bytearray()
    for frame in frames:
        offsets += struct.pack("<II", len(data), len(frame))
        data += frame
    return bytes(data), bytes(offsets)
