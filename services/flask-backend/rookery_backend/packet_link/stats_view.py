"""Packet statistics as flask-backend serves them: fetched from the packet-service
targets asked for (the sensors a caller may see, or those of one rule set or one sensor)
with a deadline, summed, and remembered (per set of targets), so that an unreachable target yields
the last good snapshot marked stale instead of an error or a hang.

Rates are never computed between two API callers (whoever polled first would take the
whole delta): they come from packet-service's per-second history (GetSeries), which is
the same for every caller."""

from __future__ import annotations

import base64
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import grpc

from .packet_client import PacketTarget, UpstreamUnavailable, describe_failure, packet_pb2

ORDER_BY = {"packets": packet_pb2.FLOW_ORDER_PACKETS, "bytes": packet_pb2.FLOW_ORDER_BYTES}

# The metric names of packet-service's history (proto: "Metric names of the history").
METRICS = ("packets", "bytes", "bytes_wire", "allow", "drop", "malformed", "parse_errors")
RULE_HITS = "rule_hits"
SERIES_METRICS = (*METRICS, RULE_HITS)
RATE_METRICS = ("packets", "bytes", "bytes_wire", "allow", "drop", "malformed")

# packet-service answers at most this many flows per TopFlows page, and the backend reads
# at most this far into each target's ordering (offset + n of a /stats/flows/top page).
TOP_FLOWS_PAGE_MAX = 1000
TOP_FLOWS_DEPTH_MAX = 10_000


def encode_page_token(offset: int) -> str:
    """The /stats/flows/top page token: the position of the page in the merged ordering."""
    return base64.urlsafe_b64encode(f"flows:{offset}".encode()).decode().rstrip("=")


def decode_page_token(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        kind, _, offset = text.partition(":")
        if kind == "flows" and offset.isdigit() and 0 < int(offset) < TOP_FLOWS_DEPTH_MAX:
            return int(offset)
    except ValueError:
        pass
    raise ValueError("not a page token of this listing (use meta.next_page_token)")


class NoSnapshot(Exception):
    """No target answered and nothing recent was fetched: the caller answers 503. The
    message says why each target failed."""

    def __init__(self, reasons: dict[str, str]) -> None:
        self.reasons = reasons
        text = "; ".join(f"{target}: {why}" for target, why in reasons.items())
        super().__init__(text or "no packet-service target is configured")


@dataclass(slots=True)
class Snapshot:
    body: Any
    taken_at: float


@dataclass(slots=True)
class Answer:
    """What a view answers: its data, what it adds to the envelope's meta, and whether it
    is the last good answer (stale, with its age) because targets failed (`reasons`)."""

    data: Any
    meta: dict[str, Any] = field(default_factory=dict)
    stale: bool = False
    age_seconds: float = 0.0
    reasons: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True, frozen=True)
class SeriesQuery:
    """A time window of one or more metrics, in steps of `step_seconds`, ending at the
    last complete step."""

    metrics: tuple[str, ...]
    range_seconds: int
    step_seconds: int

    def grid(self, now: float) -> tuple[float, int]:
        """(start, points): steps aligned to multiples of the step, the one in progress
        left out so that the newest value is never a partial step."""
        step = self.step_seconds
        end = math.floor(now / step) * step
        points = max(1, math.ceil(self.range_seconds / step))
        return end - points * step, points


@dataclass(slots=True)
class TargetState:
    """How one source of a series answered: live, or its last good answer (stale)."""

    target: str
    stale: bool = False
    age_seconds: float = 0.0
    error: str | None = None


@dataclass(slots=True)
class SeriesResult:
    start: float
    step_seconds: int
    points: int
    range_seconds: int
    source: str
    lines: dict[tuple[str, str], list[float | None]]
    rule_names: dict[str, str] = field(default_factory=dict)
    history_start: float | None = None
    ruleset_version: int | None = None
    rule_hits_since: float | None = None
    targets: list[TargetState] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        series = []
        for (metric, rule_id), values in sorted(self.lines.items()):
            line: dict[str, Any] = {"metric": metric, "values": values}
            if metric == RULE_HITS:
                line |= {"rule_id": rule_id, "rule_name": self.rule_names.get(rule_id, "")}
            series.append(line)
        return {
            "source": self.source,
            "start": self.start,
            "step_seconds": self.step_seconds,
            "points": self.points,
            "range_seconds": self.range_seconds,
            "history_start": self.history_start,
            "ruleset_version": self.ruleset_version,
            "rule_hits_since": self.rule_hits_since,
            "series": series,
        }

    def meta(self) -> dict[str, Any]:
        stale = [t for t in self.targets if t.stale]
        return {
            "source": self.source,
            "stale": bool(stale),
            "age_seconds": max((t.age_seconds for t in stale), default=0.0),
            "targets": [
                {
                    "target": t.target,
                    "stale": t.stale,
                    "age_seconds": t.age_seconds,
                    "error": t.error,
                }
                for t in self.targets
            ],
        }


class SeriesSource(Protocol):
    def series(self, query: SeriesQuery, request_id: str | None = None) -> SeriesResult: ...


def add_into(acc: list[float | None], offset: int, values: Iterable[float]) -> None:
    """Adds `values` (NaN = not covered) into `acc` starting at step `offset`."""
    for index, value in enumerate(values, start=offset):
        if 0 <= index < len(acc) and not math.isnan(value):
            current = acc[index]
            acc[index] = value if current is None else current + value


def scope_key(targets: list[PacketTarget]) -> str:
    """Names a set of targets in the snapshot keys: each answer is remembered per set."""
    return ",".join(sorted(t.address for t in targets))


@dataclass(slots=True)
class StatsView:
    # A snapshot older than this is no longer served: the answer becomes 503.
    max_stale_seconds: float = 300.0
    # The rate of /stats/summary: the mean of this many complete seconds of history.
    rate_window_seconds: int = 10
    # Set when PROMETHEUS_URL is: /stats/series then answers from Prometheus.
    series_source: SeriesSource | None = None
    clock: Callable[[], float] = time.time
    _last: dict[str, Snapshot] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------------ fan-out
    def _ask(self, target: PacketTarget, method: str, request: Any, request_id: str | None) -> Any:
        """One call; any gRPC failure (UNAUTHENTICATED when the service account's key was
        revoked, UNAVAILABLE, DEADLINE_EXCEEDED…) becomes UpstreamUnavailable with a reason
        a person can read, so the views answer 503 or stale, never 500."""
        try:
            return target.call(method, request, request_id=request_id)
        except grpc.RpcError as error:
            raise UpstreamUnavailable(describe_failure(error)) from error
        except ValueError as error:  # its channel was closed: the sensor went meanwhile
            raise UpstreamUnavailable(f"{target.address}: {error}") from error

    def _gather(
        self, targets: list[PacketTarget], method: str, request: Any, request_id: str | None
    ) -> tuple[list[tuple[PacketTarget, Any]], dict[str, str]]:
        replies: list[tuple[PacketTarget, Any]] = []
        failures: dict[str, str] = {}
        for target in targets:
            try:
                replies.append((target, self._ask(target, method, request, request_id)))
            except UpstreamUnavailable as error:
                failures[target.address] = str(error)
        return replies, failures

    def _remember(self, key: str, body: Any) -> None:
        with self._lock:
            self._last[key] = Snapshot(body, self.clock())

    def _fresh(self, key: str, answer: Answer) -> Answer:
        self._remember(key, (answer.data, answer.meta))
        return answer

    def _recall(self, key: str) -> Snapshot | None:
        with self._lock:
            snapshot = self._last.get(key)
        if snapshot is None or self.clock() - snapshot.taken_at > self.max_stale_seconds:
            return None
        return snapshot

    def _stale(self, key: str, failures: dict[str, str]) -> Answer:
        snapshot = self._recall(key)
        if snapshot is None:
            raise NoSnapshot(failures)
        data, meta = snapshot.body
        age = round(self.clock() - snapshot.taken_at, 3)
        return Answer(data, meta, stale=True, age_seconds=age, reasons=failures)

    # ------------------------------------------------------------------ views
    def summary(self, targets: list[PacketTarget], request_id: str | None = None) -> Answer:
        key = f"summary@{scope_key(targets)}"
        gathered, failures = self._gather(
            targets, "GetStats", packet_pb2.GetStatsRequest(), request_id
        )
        if not gathered:
            return self._stale(key, failures)
        replies = [reply for _, reply in gathered]
        rates = self._rates([target for target, _ in gathered], request_id, failures)
        parse_errors: dict[str, int] = {}
        for reply in replies:
            for entry in reply.parse_errors:
                parse_errors[entry.reason] = parse_errors.get(entry.reason, 0) + entry.count
        body = {
            "packets_per_second": round(rates["packets"], 1),
            "rates": {name: round(value, 1) for name, value in rates.items()},
            "rate_window_seconds": self.rate_window_seconds,
            "packets_total": sum(r.packets_total for r in replies),
            "bytes_total": sum(r.bytes_total for r in replies),
            "bytes_wire_total": sum(r.bytes_wire_total for r in replies),
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
            "targets_total": len(targets),
        }
        return self._fresh(key, Answer(body, reasons=failures))

    def _rates(
        self, targets: list[PacketTarget], request_id: str | None, failures: dict[str, str]
    ) -> dict[str, float]:
        """Per-second rates: the mean over the last `rate_window_seconds` complete seconds
        of each target's history, summed over targets. The same for every caller. A target
        whose history does not answer is named in `failures`."""
        query = SeriesQuery(RATE_METRICS, self.rate_window_seconds, 1)
        start, points = query.grid(self.clock())
        request = packet_pb2.SeriesRequest(
            start=start, end=start + points, step_seconds=1, metrics=list(RATE_METRICS)
        )
        rates = dict.fromkeys(RATE_METRICS, 0.0)
        for target in targets:
            try:
                reply = self._ask(target, "GetSeries", request, request_id)
            except UpstreamUnavailable as error:
                # Its totals are in; its rate is unknown for now (history off, say).
                failures[target.address] = f"rates: {error}"
                continue
            for line in reply.series:
                if line.metric not in rates:
                    continue
                offset = round((reply.start - start) / reply.step_seconds)
                covered = [
                    v
                    for i, v in enumerate(line.values, start=offset)
                    if 0 <= i < points and not math.isnan(v)
                ]
                if covered:
                    rates[line.metric] += sum(covered) / len(covered)
        return rates

    def top_flows(
        self,
        targets: list[PacketTarget],
        n: int,
        order_by: str,
        offset: int = 0,
        request_id: str | None = None,
    ) -> Answer:
        """Flows [offset, offset + n) of the ordering merged over every target. Each target
        is read from its first page, following packet-service's page token, as deep as the
        page needs (offset + n, at most TOP_FLOWS_DEPTH_MAX)."""
        depth = min(offset + n, TOP_FLOWS_DEPTH_MAX)
        key = f"flows:{n}:{order_by}:{offset}@{scope_key(targets)}"
        flows: list[dict[str, Any]] = []
        active = 0
        more = False
        failures: dict[str, str] = {}
        answered = 0
        for target in targets:
            try:
                rows, flows_active, exhausted = self._read_flows(
                    target, depth, order_by, request_id
                )
            except UpstreamUnavailable as error:
                failures[target.address] = str(error)
                continue
            answered += 1
            flows.extend(rows)
            active += flows_active
            more = more or not exhausted
        if not answered:
            return self._stale(key, failures)
        flows.sort(key=lambda flow: flow[order_by], reverse=True)
        more = more or len(flows) > offset + n
        next_offset = offset + n if more and offset + n < TOP_FLOWS_DEPTH_MAX else None
        token = None if next_offset is None else encode_page_token(next_offset)
        meta = {"flows_active": active, "next_page_token": token}
        return self._fresh(key, Answer(flows[offset : offset + n], meta, reasons=failures))

    def _read_flows(
        self, target: PacketTarget, depth: int, order_by: str, request_id: str | None
    ) -> tuple[list[dict[str, Any]], int, bool]:
        rows: list[dict[str, Any]] = []
        token = ""
        active = 0
        while len(rows) < depth:
            request = packet_pb2.TopFlowsRequest(
                n=min(depth - len(rows), TOP_FLOWS_PAGE_MAX),
                order_by=ORDER_BY[order_by],
                page_token=token,
            )
            reply = self._ask(target, "TopFlows", request, request_id)
            active = reply.flows_active
            rows.extend(flow_row(f) for f in reply.flows)
            token = reply.next_page_token
            if not token or not reply.flows:
                return rows[:depth], active, True
        return rows[:depth], active, False

    def rule_hits(self, targets: list[PacketTarget], request_id: str | None = None) -> Answer:
        key = f"rules@{scope_key(targets)}"
        gathered, failures = self._gather(
            targets, "GetStats", packet_pb2.GetStatsRequest(), request_id
        )
        if not gathered:
            return self._stale(key, failures)
        replies = [reply for _, reply in gathered]
        hits: dict[str, dict[str, Any]] = {}
        for reply in replies:
            for entry in reply.rule_hits:
                row = hits.setdefault(
                    entry.rule_id, {"rule_id": entry.rule_id, "name": entry.rule_name, "hits": 0}
                )
                row["hits"] += entry.hits
        meta = {
            "ruleset_version": min(r.ruleset_version for r in replies),
            # The latest load among the targets: every count is at least this recent.
            "since": max((r.rule_hits_since for r in replies), default=0.0) or None,
        }
        return self._fresh(key, Answer(list(hits.values()), meta, reasons=failures))

    # ------------------------------------------------------------------ series
    def series(
        self,
        targets: list[PacketTarget],
        query: SeriesQuery,
        request_id: str | None = None,
        *,
        every_target: bool = True,
    ) -> SeriesResult:
        """`every_target`: the caller asks for the whole deployment, which Prometheus (when
        set) answers; a subset of sensors is read from those packet-services themselves
        (Prometheus knows scrape instances, not sensors)."""
        if self.series_source is not None and every_target:
            return self.series_source.series(query, request_id)
        start, points = query.grid(self.clock())
        request = packet_pb2.SeriesRequest(
            start=start,
            end=start + points * query.step_seconds,
            step_seconds=query.step_seconds,
            metrics=list(query.metrics),
        )
        key = f"series:{','.join(query.metrics)}:{query.step_seconds}"
        result = SeriesResult(
            start, query.step_seconds, points, query.range_seconds, "packet-service", {}
        )
        for metric in query.metrics:
            if metric != RULE_HITS:
                result.lines[(metric, "")] = [None] * points
        failures: dict[str, str] = {}
        answered = 0
        for target in targets:
            state = TargetState(target.address)
            result.targets.append(state)
            try:
                reply = self._ask(target, "GetSeries", request, request_id)
                self._remember(f"{key}@{target.address}", reply)
            except UpstreamUnavailable as error:
                failures[target.address] = state.error = str(error)
                state.stale = True
                snapshot = self._recall(f"{key}@{target.address}")
                if snapshot is None:
                    continue
                # Its last good answer still covers the older steps of the window.
                reply = snapshot.body
                state.age_seconds = round(self.clock() - snapshot.taken_at, 3)
            answered += 1
            self._add_reply(result, reply)
        if not answered:
            raise NoSnapshot(failures)
        return result

    @staticmethod
    def _add_reply(result: SeriesResult, reply: Any) -> None:
        offset = round((reply.start - result.start) / result.step_seconds)
        for line in reply.series:
            key = (line.metric, line.rule_id if line.metric == RULE_HITS else "")
            acc = result.lines.setdefault(key, [None] * result.points)
            add_into(acc, offset, line.values)
            if line.rule_id:
                result.rule_names[line.rule_id] = line.rule_name
        if reply.history_start:
            known = result.history_start
            result.history_start = min(known, reply.history_start) if known else reply.history_start
        if result.ruleset_version is None or reply.ruleset_version < result.ruleset_version:
            result.ruleset_version = reply.ruleset_version
        if reply.rule_hits_since:
            result.rule_hits_since = max(result.rule_hits_since or 0.0, reply.rule_hits_since)


def flow_row(f: Any) -> dict[str, Any]:
    return {
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
