"""`packet-service ingest FILE.pcap|FILE.pcapng [--rules rules.json]`: classify a capture
in process, with a progress bar on a terminal and a summary table at the end."""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import TextIO

from packet_service.capture_files import CaptureFile, CaptureFormatError
from packet_service.classifier import VERDICT_NAMES, RuleSetHolder
from packet_service.engine import PacketEngine
from packet_service.flow_table import FlowTable
from packet_service.parser import PARSE_ERROR_REASONS
from packet_service.rules import RuleSetError, load_rule_set_file
from packet_service.slot_pool import SlotPool

EXIT_BAD_INPUT = 2
PROTOCOLS = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6"}


class Progress:
    def __init__(self, total: int, stream: TextIO, enabled: bool) -> None:
        self.total = max(total, 1)
        self.stream = stream
        self.enabled = enabled
        self._last = 0.0

    def update(self, done: int, packets: int, force: bool = False) -> None:
        now = time.monotonic()
        if not self.enabled or (not force and now - self._last < 0.1):
            return
        self._last = now
        fraction = min(done / self.total, 1.0)
        bar = "#" * int(fraction * 30)
        self.stream.write(f"\r[{bar:<30}] {fraction:6.1%}  {packets:,} packets")
        self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def run_ingest(args: argparse.Namespace) -> int:
    if args.batch < 1 or args.batch > 65536:
        print("packet-service ingest: --batch must be 1-65536", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        rules = RuleSetHolder(load_rule_set_file(args.rules) if args.rules else None)
    except RuleSetError as exc:
        print(f"packet-service ingest: invalid rules: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        capture = CaptureFile(args.capture)
    except CaptureFormatError as exc:
        print(f"packet-service ingest: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.idle_timeout is not None and not args.idle_timeout > 0:
        print("packet-service ingest: --idle-timeout must be a positive number", file=sys.stderr)
        return EXIT_BAD_INPUT
    # A file is read in one go, so by default a flow is never cut for idleness (tshark's
    # conversations are not either); only a full table evicts.
    idle_timeout = math.inf if args.idle_timeout is None else args.idle_timeout
    engine = PacketEngine(
        rules=rules,
        flow_table=FlowTable(idle_timeout=idle_timeout, initial_capacity=65536),
        history_seconds=0,
    )
    pool = SlotPool(slots=1, slot_bytes=16, max_packets=args.batch)
    show = not args.no_progress and sys.stderr.isatty()
    progress = Progress(capture.size, sys.stderr, show)
    began = time.perf_counter()
    with capture:
        try:
            for batch in capture.batches(pool, args.batch):
                engine.process(
                    batch.data, batch.offsets, batch.timestamps, batch.link_type, batch.wire_lengths
                )
                progress.update(capture.position, engine.counters.packets)
        except CaptureFormatError as exc:
            progress.finish()
            print(f"packet-service ingest: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
        truncated = capture.truncated
    progress.update(capture.size, engine.counters.packets, force=True)
    progress.finish()
    elapsed = time.perf_counter() - began
    summary = build_summary(engine, elapsed, args.top, truncated)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(render_summary(summary, args.capture))
    return 0


def build_summary(engine: PacketEngine, elapsed: float, top: int, truncated: bool) -> dict:
    counters = engine.counters
    rule_set = engine.rules.current
    return {
        "packets": counters.packets,
        "bytes": counters.bytes,
        "bytes_wire": counters.bytes_wire,
        "batches": counters.batches,
        "seconds": round(elapsed, 3),
        "packets_per_second": round(counters.packets / elapsed) if elapsed > 0 else 0,
        "verdicts": {name: int(counters.verdicts[code]) for code, name in VERDICT_NAMES.items()},
        "parse_errors": {
            reason: int(counters.parse_errors[code])
            for code, reason in enumerate(PARSE_ERROR_REASONS)
            if code and counters.parse_errors[code]
        },
        "ruleset_version": rule_set.version,
        "rule_hits": {
            rule_set.source.rules[c.index].id: int(h)
            for c, h in zip(rule_set.rules, rule_set.hits, strict=True)
        },
        "flows": engine.flow_table.count,
        "flows_evicted": engine.flow_table.evicted_total,
        "top_flows": [
            {
                "src": _endpoint(f.src, f.src_port),
                "dst": _endpoint(f.dst, f.dst_port),
                "protocol": PROTOCOLS.get(f.protocol, str(f.protocol)),
                "vlan": f.vlan,
                "packets": f.packets,
                "bytes": f.bytes,
                "first_seen": f.first_seen,
                "last_seen": f.last_seen,
            }
            for f in engine.flow_table.top(top, "packets")
        ],
        "truncated_capture": truncated,
    }


def _endpoint(address: str, port: int) -> str:
    if not port:
        return address
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def render_summary(s: dict, name: str) -> str:
    lines = [f"capture {name}"]
    rows = [
        ("packets", f"{s['packets']:,}"),
        ("bytes (captured)", f"{s['bytes']:,}"),
        ("bytes (on the wire)", f"{s['bytes_wire']:,}"),
        ("batches", f"{s['batches']:,}"),
        ("time", f"{s['seconds']:.3f} s ({s['packets_per_second']:,} packets/s)"),
        ("rule set version", str(s["ruleset_version"])),
        ("flows", f"{s['flows']:,}"),
        ("flows evicted", f"{s['flows_evicted']:,}"),
    ]
    rows += [(f"verdict {k}", f"{v:,}") for k, v in s["verdicts"].items()]
    rows += [(f"parse error {k}", f"{v:,}") for k, v in s["parse_errors"].items()]
    rows += [(f"rule {k} hits", f"{v:,}") for k, v in s["rule_hits"].items()]
    if s["truncated_capture"]:
        rows.append(("warning", "the capture ends inside a record; the rest was skipped"))
    width = max(len(k) for k, _ in rows)
    lines += [f"  {k:<{width}}  {v}" for k, v in rows]
    if s["top_flows"]:
        lines.append("top flows by packets")
        header = ("src", "dst", "proto", "vlan", "packets", "bytes")
        table = [header] + [
            (
                f["src"],
                f["dst"],
                f["protocol"],
                "-" if f["vlan"] is None else str(f["vlan"]),
                f"{f['packets']:,}",
                f"{f['bytes']:,}",
            )
            for f in s["top_flows"]
        ]
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        for row in table:
            cells = "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
            lines.append(("  " + cells).rstrip())
    return "\n".join(lines)
