"""Packet statistics as flask-backend serves them: fetched from every packet-service
target with a deadline, summed, and remembered, so that an unreachable target yields
the last good snapshot marked stale instead of an error or a hang."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .packet_client import PacketTarget, UpstreamUnavailable, packet_pb2

ORDER_BY = {"packets": packet_pb2.FLOW_ORDER_PACKETS, "bytes": packet_pb2.FLOW_ORDER_BYTES}


class NoSnapshot(Exception):
    """No target answered and nothing was ever fetched: the caller answers 503."""


@dataclass(slots=True)
class Snapshot:
    body: Any
    taken_at: float


@dataclass(slots=True)
class _Rate:
    packets: int = 0
    at: float = 0.0
    per_second: float = 0.0


@dataclass(slots=True)
class StatsView:
    targets: list[PacketTarget]
    # A snapshot older than this is no longer served: the answer becomes 503.
    max_stale_seconds: float = 300.0
    _last: dict[str, Snapshot] = field(default_factory=dict)
    _rate: _Rate = field(default_factory=_Rate)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _gather(self, method: str, request: Any, request_id: str | None) -> list[Any]:
        replies = []
        for target in self.targets:
            try:
                replies.append(target.call(method, request, request_id=request_id))
            except UpstreamUnavailable:
                continue
        if not replies:
            raise UpstreamUnavailable("no packet-service target answered")
        return replies

    def _remember(self, key: str, body: Any) -> dict[str, Any]:
        now = time.time()
        with self._lock:
            self._last[key] = Snapshot(body, now)
        return {"data": body, "stale": False, "age_seconds": 0.0}

    def _stale(self, key: str) -> dict[str, Any]:
        with self._lock:
            snapshot = self._last.get(key)
        if snapshot is None:
            raise NoSnapshot(key)
        age = time.time() - snapshot.taken_at
        if age > self.max_stale_seconds:
            raise NoSnapshot(key)
        return {"data": snapshot.body, "stale": True, "age_seconds": round(age, 3)}

    def summary(self, request_id: str | None = None) -> dict[str, Any]:
        try:
            replies = self._gather("GetStats", packet_pb2.GetStatsRequest(), request_id)
        except UpstreamUnavailable:
            return self._stale("summary")
        packets = sum(r.packets_total for r in replies)
        parse_errors: dict[str, int] = {}
        for reply in replies:
            for entry in reply.parse_errors:
                parse_errors[entry.reason] = parse_errors.get(entry.reason, 0) + entry.count
        now = time.monotonic()
        with self._lock:
            rate = self._rate
            if rate.at and now > rate.at and packets >= rate.packets:
                rate.per_second = (packets - rate.packets) / (now - rate.at)
            rate.packets, rate.at = packets, now
            per_second = rate.per_second
        body = {
            "packets_per_second": round(per_second, 1),
            "packets_total": packets,
            "bytes_total": sum(r.bytes_total for r in replies),
            "verdicts": {
                "allow": sum(r.verdicts.allow for r in replies),
                "drop": sum(r.verdicts.drop for r in replies),
                "malformed": sum(r.verdicts.malformed for r in replies),
            },
            "parse_errors": parse_errors,
            "flows_active": sum(r.flows_active for r in replies),
            "flows_evicted_total": sum(r.flows_evicted_total for r in replies),
            "ruleset_version": min(r.ruleset_version for r in replies),
            "targets_answered": len(replies),
            "targets_total": len(self.targets),
        }
        return self._remember("summary", body)

    def top_flows(self, n: int, order_by: str, request_id: str | None = None) -> dict[str, Any]:
        key = f"flows:{n}:{order_by}"
        request = packet_pb2.TopFlowsRequest(n=n, order_by=ORDER_BY[order_by])
        try:
            replies = self._gather("TopFlows", request, request_id)
        except UpstreamUnavailable:
            return self._stale(key)
        flows = [
            {
                "vlan": f.vlan if f.HasField("vlan") else None,
                "src": f.src,
                "dst": f.dst,
                "src_port": f.src_port,
                "dst_port": f.dst_port,
                "protocol": f.protocol,
                "packets": f.packets,
                "bytes": f.bytes,
                "first_seen": f.first_seen,
                "last_seen": f.last_seen,
                "tcp_flags": f.tcp_flags,
            }
            for reply in replies
            for f in reply.flows
        ]
        flows.sort(key=lambda flow: flow[order_by], reverse=True)
        return self._remember(key, flows[:n])

    def rule_hits(self, request_id: str | None = None) -> dict[str, Any]:
        try:
            replies = self._gather("GetStats", packet_pb2.GetStatsRequest(), request_id)
        except UpstreamUnavailable:
            return self._stale("rules")
        hits: dict[str, dict[str, Any]] = {}
        for reply in replies:
            for entry in reply.rule_hits:
                row = hits.setdefault(
                    entry.rule_id, {"rule_id": entry.rule_id, "name": entry.rule_name, "hits": 0}
                )
                row["hits"] += entry.hits
        return self._remember("rules", list(hits.values()))
