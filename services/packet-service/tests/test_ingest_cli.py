"""The `ingest` command on real pcap and pcapng files, through the bin/ wrapper."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dpkt
import pytest
from packet_service import synthetic as syn
from packet_service.capture_files import CaptureFile
from packet_service.slot_pool import SlotPool

SERVICE_DIR = Path(__file__).resolve().parents[1]
WRAPPER = SERVICE_DIR / "bin" / "packet-service"


def run_cli(*args: str, wrapper: bool = False) -> subprocess.CompletedProcess[str]:
    command = [str(WRAPPER)] if wrapper else [sys.executable, "-m", "packet_service"]
    return subprocess.run(
        [*command, *args], cwd=SERVICE_DIR, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def captures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("captures")
    frames = syn.mixed_frames(3000, seed=13)
    syn.write_pcap(folder / "mix.pcap", frames)
    syn.write_pcapng(folder / "mix.pcapng", frames)
    rules = {
        "version": 5,
        "default_action": "allow",
        "rules": [{"id": "no-udp", "name": "no udp", "action": "drop", "protocol": "udp"}],
    }
    (folder / "rules.json").write_text(json.dumps(rules))
    (folder / "notes.txt").write_text("not a capture at all\n")
    return folder, frames


def test_reader_matches_dpkt_on_both_formats(captures):
    folder, frames = captures
    for name, reader in (("mix.pcap", dpkt.pcap.Reader), ("mix.pcapng", dpkt.pcapng.Reader)):
        with open(folder / name, "rb") as f:
            expected = [(ts, bytes(buf)) for ts, buf in reader(f)]
        got = []
        with CaptureFile(folder / name) as capture:
            for batch in capture.batches(SlotPool(1, 16, 256), 256):
                for (start, length), ts in zip(batch.offsets, batch.timestamps, strict=True):
                    got.append((float(ts), bytes(batch.data[start : start + length])))
        assert len(got) == len(frames)
        assert [g[1] for g in got] == [e[1] for e in expected] == frames
        assert all(abs(g[0] - float(e[0])) < 1e-5 for g, e in zip(got, expected, strict=True))


@pytest.mark.parametrize("name", ["mix.pcap", "mix.pcapng"])
def test_ingest_prints_summary_with_rules(captures, name):
    folder, frames = captures
    result = run_cli(
        "ingest", str(folder / name), "--rules", str(folder / "rules.json"), "--json", "--top", "3"
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["packets"] == len(frames)
    assert summary["bytes"] == sum(map(len, frames))
    assert sum(summary["verdicts"].values()) == len(frames)
    assert summary["verdicts"]["drop"] == summary["rule_hits"]["no-udp"] > 0
    assert summary["ruleset_version"] == 5 and len(summary["top_flows"]) == 3
    assert not summary["truncated_capture"]


def test_ingest_table_through_the_wrapper(captures):
    folder, frames = captures
    result = run_cli("ingest", str(folder / "mix.pcap"), wrapper=True)
    assert result.returncode == 0, result.stderr
    assert f"{len(frames):,}" in result.stdout
    assert "top flows by packets" in result.stdout and "verdict allow" in result.stdout
    assert "[" not in result.stderr  # no progress bar when stderr is not a terminal


def test_not_a_capture_is_a_clear_error(captures):
    folder, _ = captures
    result = run_cli("ingest", str(folder / "notes.txt"))
    assert result.returncode != 0
    assert "is not a pcap or pcapng capture" in result.stderr
    result = run_cli("ingest", str(folder / "missing.pcap"))
    assert result.returncode != 0 and "cannot open" in result.stderr


def test_bad_rules_file_is_a_clear_error(captures, tmp_path):
    folder, _ = captures
    bad = tmp_path / "rules.json"
    bad.write_text(json.dumps({"rules": [{"id": "x", "name": "x", "src": ["10.0.0.0/33"]}]}))
    result = run_cli("ingest", str(folder / "mix.pcap"), "--rules", str(bad))
    assert result.returncode != 0 and "rules[0].src[0]" in result.stderr


def test_truncated_capture_is_reported(captures, tmp_path):
    folder, frames = captures
    cut = tmp_path / "cut.pcap"
    cut.write_bytes((folder / "mix.pcap").read_bytes()[:-100])
    result = run_cli("ingest", str(cut), "--json")
    assert result.returncode == 0
    summary = json.loads(result.stdout)
    assert summary["truncated_capture"] and summary["packets"] == len(frames) - 1


def test_progress_bar_on_a_terminal(captures):
    import os
    import pty

    folder, _ = captures
    leader, follower = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "packet_service", "ingest", str(folder / "mix.pcapng")],
            cwd=SERVICE_DIR,
            stdout=subprocess.PIPE,
            stderr=follower,
            timeout=120,
        )
        os.close(follower)
        follower = -1
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        if follower != -1:
            os.close(follower)
        os.close(leader)
    assert result.returncode == 0
    assert b"100.0%" in drawn and b"#" * 30 in drawn and b"3,000 packets" in drawn
