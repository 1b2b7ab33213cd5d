"""Malformed capture files end the `ingest` command with one line naming the byte offset
(never a traceback or a hang), also under fuzzing; `serve` names a port that is taken."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from packet_service import synthetic as syn
from packet_service.__main__ import main

SERVICE_DIR = Path(__file__).resolve().parents[1]
ONE_ERROR_LINE = re.compile(
    r"^packet-service ingest: \S+: (malformed (pcap|pcapng) at byte \d+: .+"
    r"|is not a pcap or pcapng capture .+)$"
)


@pytest.fixture(scope="module")
def clean_files(tmp_path_factory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("clean")
    frames = syn.mixed_frames(60, seed=17)
    syn.write_pcap(folder / "a.pcap", frames)
    syn.write_pcapng(folder / "a.pcapng", frames)
    return {name: (folder / name).read_bytes() for name in ("a.pcap", "a.pcapng")}


def run_in_process(path: Path, capsys) -> tuple[int, str, str]:
    """main() on one file, with a watchdog: a hang fails the test instead of stalling it."""

    def hung(*_):
        raise TimeoutError(f"ingest of {path} did not finish within 10 s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(10)
    try:
        code = main(["ingest", str(path), "--json", "--no-progress"])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    out, err = capsys.readouterr()
    return code, out, err


def assert_clean_outcome(code: int, out: str, err: str) -> None:
    if code == 0:
        summary = json.loads(out)
        assert summary["packets"] >= 0
        return
    assert code == 2, (code, err)
    assert out == ""
    assert len(err.splitlines()) == 1 and ONE_ERROR_LINE.match(err.strip()), err


def pcapng_with(block: bytes) -> bytes:
    header = syn._pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    interface = syn._pcapng_block(1, struct.pack("<HHI", 1, 0, 65535))
    return header + interface + block


@pytest.mark.parametrize(
    ("name", "content", "offset"),
    [
        ("epb12.pcapng", pcapng_with(struct.pack("<III", 6, 12, 12)), 48),
        ("spb12.pcapng", pcapng_with(struct.pack("<III", 3, 12, 12)), 48),
        ("odd.pcapng", pcapng_with(struct.pack("<III", 6, 30, 30)), 48),
        (
            "trailer.pcapng",
            pcapng_with(struct.pack("<II", 6, 32) + bytes(20) + struct.pack("<I", 36)),
            48,
        ),
        (
            "incl.pcapng",
            pcapng_with(struct.pack("<IIIIIII", 6, 32, 0, 0, 0, 400, 400) + struct.pack("<I", 32)),
            48,
        ),
        (
            "interface.pcapng",
            pcapng_with(syn._pcapng_block(6, struct.pack("<IIIII", 9, 0, 0, 0, 0))),
            48,
        ),
        (
            "huge.pcap",
            struct.pack("<IHHiIII", syn.PCAP_MAGIC, 2, 4, 0, 0, 65535, 1)
            + struct.pack("<IIII", 0, 0, 300_000, 300_000)
            + bytes(64),
            24,
        ),
        ("header.pcap", struct.pack("<IHH", syn.PCAP_MAGIC, 2, 4), 0),
    ],
)
def test_malformed_blocks_are_one_line_naming_the_offset(tmp_path, name, content, offset):
    path = tmp_path / name
    path.write_bytes(content)
    done = subprocess.run(
        [sys.executable, "-m", "packet_service", "ingest", str(path)],
        cwd=SERVICE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert f"at byte {offset}: " in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("name", ["a.pcap", "a.pcapng"])
def test_fuzzed_captures_end_cleanly(clean_files, tmp_path, capsys, name):
    """Seeded: truncations at every kind of boundary and random bit flips (1-8 per file,
    biased to the headers where lengths live) of both formats."""
    rng = random.Random(f"{name}-fuzz")
    original = clean_files[name]
    outcomes = {0: 0, 2: 0}
    for case in range(160):
        data = bytearray(original)
        if case % 4 == 0:
            data = data[: rng.randrange(0, len(data))]
        else:
            for _ in range(rng.randrange(1, 9)):
                at = rng.randrange(0, 200) if rng.random() < 0.5 else rng.randrange(len(data))
                data[at] ^= 1 << rng.randrange(8)
        path = tmp_path / f"case{case}-{name}"
        path.write_bytes(bytes(data))
        code, out, err = run_in_process(path, capsys)
        assert_clean_outcome(code, out, err)
        outcomes[code] += 1
        path.unlink()
    # the fuzzer reached both outcomes: it exercised the error paths, not only clean files
    assert outcomes[0] and outcomes[2], outcomes


def _serve(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {
        "BIND_ADDRESS": "127.0.0.1",
        "GRPC_PORT": "0",
        "METRICS_PORT": "0",
        "RELEASE_MODE": "development",
        "AUTH_REQUIRED": "false",
    }
    return subprocess.run(
        [sys.executable, "-m", "packet_service", "serve"],
        cwd=SERVICE_DIR,
        env={**os.environ, **base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("variable", "kind", "what"),
    [
        ("GRPC_PORT", socket.SOCK_STREAM, "gRPC"),
        ("METRICS_PORT", socket.SOCK_STREAM, "HTTP"),
        ("UDP_INGEST_PORT", socket.SOCK_DGRAM, "UDP ingest"),
    ],
)
def test_serve_on_a_taken_port_says_which(variable, kind, what):
    with socket.socket(socket.AF_INET, kind) as holder:
        holder.bind(("127.0.0.1", 0))
        if kind == socket.SOCK_STREAM:
            holder.listen()
        port = holder.getsockname()[1]
        done = _serve({variable: str(port)})
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert f"the {what} port {port} " in lines[0] and "in use" in lines[0], lines[0]


def test_a_port_taken_after_the_check_is_still_named(monkeypatch):
    from packet_service import service
    from packet_service.config import ServiceConfig

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp_holder:
        udp_holder.bind(("127.0.0.1", 0))
        udp_port = udp_holder.getsockname()[1]
        monkeypatch.setattr(service, "ensure_port_free", lambda *args: None)
        config = ServiceConfig(
            bind_address="127.0.0.1", grpc_port=0, metrics_port=0, udp_ingest_port=udp_port
        )
        app = service.PacketServiceApp(config)
        try:
            with pytest.raises(service.ListenError, match=f"the UDP ingest port {udp_port} "):
                app.start()
        finally:
            app.stop(grace=0)
        with socket.socket() as tcp_holder:
            tcp_holder.bind(("127.0.0.1", 0))
            tcp_holder.listen()
            http_port = tcp_holder.getsockname()[1]
            config = ServiceConfig(bind_address="127.0.0.1", grpc_port=0, metrics_port=http_port)
            with pytest.raises(service.ListenError, match=f"the HTTP port {http_port} "):
                service.PacketServiceApp(config)
