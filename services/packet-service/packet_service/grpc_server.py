"""The gRPC transport: a thin servicer that maps messages to the engine and back, plus
health and reflection. Interceptors are not chosen here: service.py hands `build_server`
the caller authentication of auth_guard.py (and tracing's, when it is on)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health
from rookery_common.background import BackgroundLoop
from rookery_common.grpc_server import build_grpc_server, version_metadata
from rookery_common.request_id import REQUEST_ID_METADATA, accepted

from packet_service import service_version
from packet_service.batches import BatchError, DecodedBatch, decode_batch
from packet_service.coalesce import IngestAccumulator
from packet_service.config import ServiceConfig
from packet_service.engine import PacketEngine
from packet_service.flow_table import position_from_token, position_token
from packet_service.gen import packet_pb2, packet_pb2_grpc
from packet_service.history import (
    RULE_HITS,
    SeriesError,
    SeriesPlan,
    SeriesValues,
    plan_series,
)
from packet_service.parser import PARSE_ERROR_REASONS
from packet_service.rules import CompiledRuleSet, Rule, RuleSet, RuleSetError
from packet_service.slot_pool import SlotPool
from packet_service.wire import WireBatch, decode_packet_batch

log = logging.getLogger("packet_service.grpc")
SERVICE_NAME = packet_pb2.DESCRIPTOR.services_by_name["PacketService"].full_name
TOP_FLOWS_MAX = 10_000
INGEST_SLOT_BYTES = 4 << 20
INGEST_SLOT_PACKETS = 8192
INGEST_MAX_DELAY = 0.5  # seconds a frame may wait in an Ingest slot
_ORDER_NAMES = {
    packet_pb2.FLOW_ORDER_UNSPECIFIED: "packets",
    packet_pb2.FLOW_ORDER_PACKETS: "packets",
    packet_pb2.FLOW_ORDER_BYTES: "bytes",
}


def rule_set_from_message(message: packet_pb2.RuleSet) -> RuleSet:
    return RuleSet(
        version=message.version,
        default_action=message.default_action,
        rules=[
            Rule(
                id=r.id,
                name=r.name,
                action=r.action,
                protocol=r.protocol or "any",
                src=list(r.src),
                dst=list(r.dst),
                src_ports=list(r.src_ports),
                dst_ports=list(r.dst_ports),
                vlan=r.vlan if r.HasField("vlan") else None,
                enabled=r.enabled,
                description=r.description,
            )
            for r in message.rules
        ],
    )


def rule_set_to_message(rule_set: RuleSet) -> packet_pb2.RuleSet:
    message = packet_pb2.RuleSet(version=rule_set.version, default_action=rule_set.default_action)
    for r in rule_set.rules:
        rule = message.rules.add(
            id=r.id,
            name=r.name,
            action=r.action,
            protocol=r.protocol,
            src=r.src,
            dst=r.dst,
            src_ports=r.src_ports,
            dst_ports=r.dst_ports,
            enabled=r.enabled,
            description=r.description,
        )
        if r.vlan is not None:
            rule.vlan = r.vlan
    return message


def status_message(compiled: CompiledRuleSet) -> packet_pb2.RuleSetStatus:
    return packet_pb2.RuleSetStatus(
        version=compiled.version,
        default_action=compiled.source.default_action,
        rule_count=len(compiled.source.rules),
        enabled_rule_count=len(compiled.rules),
        loaded_at=compiled.loaded_at,
    )


def series_message(
    plan: SeriesPlan, values: SeriesValues, rule_set: CompiledRuleSet
) -> packet_pb2.SeriesResponse:
    reply = packet_pb2.SeriesResponse(
        start=plan.start,
        step_seconds=plan.step,
        points=plan.points,
        history_start=values.history_start,
        ruleset_version=rule_set.version,
        rule_hits_since=rule_set.loaded_at,
    )
    for metric in plan.metrics:
        if metric != RULE_HITS:
            reply.series.add(metric=metric, values=values.counters[metric].tolist())
            continue
        for compiled, hits in zip(rule_set.rules, values.rule_hits, strict=True):
            source = rule_set.source.rules[compiled.index]
            reply.series.add(
                metric=metric, rule_id=source.id, rule_name=source.name, values=hits.tolist()
            )
    return reply


class PacketServicer(packet_pb2_grpc.PacketServiceServicer):
    def __init__(self, engine: PacketEngine, max_batch_packets: int, workers: int = 8) -> None:
        self.engine = engine
        self.max_batch_packets = max_batch_packets
        # One slot per concurrent Ingest stream (at most one per worker thread).
        self.ingest_pool = SlotPool(
            slots=workers, slot_bytes=INGEST_SLOT_BYTES, max_packets=INGEST_SLOT_PACKETS
        )
        self.version_metadata = version_metadata(service_version())
        self.open_ingests: set[IngestAccumulator] = set()
        self._flusher = BackgroundLoop(
            "ingest-flusher", INGEST_MAX_DELAY / 2, self._flush_idle_ingests, log=log
        )
        self._flusher.start()

    def _flush_idle_ingests(self) -> None:
        """Frames of a slow Ingest stream are processed within ~INGEST_MAX_DELAY."""
        for accumulator in list(self.open_ingests):
            accumulator.flush_if_waiting(INGEST_MAX_DELAY / 2)

    def close(self) -> None:
        self._flusher.stop()

    # ---------------------------------------------------------------- helpers

    def _begin(self, context: grpc.ServicerContext) -> None:
        context.send_initial_metadata(self.version_metadata)

    def _decode(self, batch: WireBatch, context: grpc.ServicerContext) -> DecodedBatch:
        if batch.error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, batch.error)
        try:
            return decode_batch(
                batch.data, batch.offsets, batch.timestamps, batch.link_type, self.max_batch_packets
            )
        except BatchError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise  # abort() raises; this line only tells type checkers so

    def _process(self, batch: WireBatch, context: grpc.ServicerContext):
        decoded = self._decode(batch, context)
        return self.engine.process(
            decoded.data, decoded.offsets, decoded.timestamps, decoded.link_type
        )

    def _verdicts(self, batch: WireBatch, context) -> packet_pb2.Verdicts:
        result = self._process(batch, context)
        return packet_pb2.Verdicts(
            verdicts=result.verdicts.tobytes(),
            counts=packet_pb2.VerdictCounts(
                allow=result.allow, drop=result.drop, malformed=result.malformed
            ),
            batch_id=batch.batch_id,
            ruleset_version=result.ruleset_version,
        )

    # ---------------------------------------------------------------- RPCs

    def Classify(self, request, context):
        self._begin(context)
        return self._verdicts(request, context)

    def StreamClassify(self, request_iterator, context) -> Iterator[packet_pb2.Verdicts]:
        self._begin(context)
        for batch in request_iterator:
            yield self._verdicts(batch, context)

    def Ingest(self, request_iterator, context):
        self._begin(context)
        # Evictions are the table's, so concurrent streams share theirs.
        evicted_before = self.engine.flow_table.evicted_total
        accumulator = IngestAccumulator(self.engine, self.ingest_pool)
        self.open_ingests.add(accumulator)
        try:
            for batch in request_iterator:
                decoded = self._decode(batch, context)
                accumulator.add(
                    decoded.data, decoded.offsets, decoded.timestamps, decoded.link_type
                )
        finally:
            self.open_ingests.discard(accumulator)
            totals = accumulator.close()
        return packet_pb2.IngestSummary(
            batches=totals.batches,
            packets=totals.packets,
            bytes=totals.bytes,
            bytes_wire=totals.bytes_wire,
            counts=packet_pb2.VerdictCounts(
                allow=totals.allow, drop=totals.drop, malformed=totals.malformed
            ),
            parse_errors=totals.parse_errors,
            ruleset_version=self.engine.rules.current.version,
            flows_evicted=self.engine.flow_table.evicted_total - evicted_before,
        )

    def SetRules(self, request, context):
        self._begin(context)
        try:
            compiled = self.engine.rules.replace(rule_set_from_message(request))
        except RuleSetError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        given = next((v for k, v in context.invocation_metadata() if k == REQUEST_ID_METADATA), "")
        request_id = accepted(given) or ""  # the publisher's, for correlation; none is fine
        log.info(
            "rule set loaded",
            extra={
                "ruleset_version": compiled.version,
                "rules": len(compiled.source.rules),
                "request_id": request_id,
            },
        )
        return status_message(compiled)

    def GetRules(self, request, context):
        self._begin(context)
        source = self.engine.rules.current.source
        if request.version_only:
            return packet_pb2.RuleSet(version=source.version, default_action=source.default_action)
        return rule_set_to_message(source)

    def GetStats(self, request, context):
        self._begin(context)
        engine = self.engine
        with engine.lock:
            counters = engine.counters
            rule_set = engine.rules.current
            stats = packet_pb2.Stats(
                packets_total=counters.packets,
                bytes_total=counters.bytes,
                bytes_wire_total=counters.bytes_wire,
                batches_total=counters.batches,
                verdicts=packet_pb2.VerdictCounts(
                    allow=int(counters.verdicts[1]),
                    drop=int(counters.verdicts[2]),
                    malformed=int(counters.verdicts[3]),
                ),
                flows_active=engine.flow_table.count,
                flows_evicted_total=engine.flow_table.evicted_total,
                flow_table_max=engine.flow_table.max_flows,
                ruleset_version=rule_set.version,
                uptime_seconds=engine.clock() - engine.started_at,
                rule_hits_since=rule_set.loaded_at,
            )
            for code, reason in enumerate(PARSE_ERROR_REASONS[1:], start=1):
                stats.parse_errors.add(reason=reason, count=int(counters.parse_errors[code]))
            for compiled, hits in zip(rule_set.rules, rule_set.hits, strict=True):
                source = rule_set.source.rules[compiled.index]
                stats.rule_hits.add(rule_id=source.id, rule_name=source.name, hits=int(hits))
        return stats

    def TopFlows(self, request, context):
        self._begin(context)
        if request.n > TOP_FLOWS_MAX:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"n: {request.n} is above {TOP_FLOWS_MAX}"
            )
        if request.order_by not in _ORDER_NAMES:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"order_by: unknown value {request.order_by}"
            )
        order_by = _ORDER_NAMES[request.order_by]
        after = None
        if request.page_token:
            try:
                after = position_from_token(request.page_token, order_by)
            except ValueError as exc:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"page_token: {exc}")
        with self.engine.lock:
            flows, last = self.engine.flow_table.page(request.n or 10, order_by, after)
            active = self.engine.flow_table.count
        reply = packet_pb2.TopFlowsResponse(
            order_by=request.order_by or packet_pb2.FLOW_ORDER_PACKETS,
            flows_active=active,
            next_page_token=position_token(last, order_by) if last else "",
        )
        for f in flows:
            flow = reply.flows.add(
                src=f.src,
                dst=f.dst,
                src_port=f.src_port,
                dst_port=f.dst_port,
                protocol=f.protocol,
                packets=f.packets,
                bytes=f.bytes,
                first_seen=f.first_seen,
                last_seen=f.last_seen,
                tcp_flags=f.tcp_flags,
            )
            if f.vlan is not None:
                flow.vlan = f.vlan
        return reply

    def GetSeries(self, request, context):
        self._begin(context)
        engine = self.engine
        if engine.history is None:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "history is off (HISTORY_SECONDS=0)")
        try:
            plan = plan_series(
                request.start,
                request.end,
                request.step_seconds,
                list(request.metrics),
                engine.clock(),
            )
        except SeriesError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        return series_message(plan, *engine.series(plan))


def packet_service_handler(servicer: PacketServicer) -> grpc.GenericRpcHandler:
    """The generated registration, except that PacketBatch requests are decoded by
    `decode_packet_batch` (zero-copy views of the received buffer) instead of protobuf."""
    pb = packet_pb2
    unary, stream_stream, stream_unary = (
        grpc.unary_unary_rpc_method_handler,
        grpc.stream_stream_rpc_method_handler,
        grpc.stream_unary_rpc_method_handler,
    )
    handlers = {
        "Classify": unary(servicer.Classify, decode_packet_batch, pb.Verdicts.SerializeToString),
        "StreamClassify": stream_stream(
            servicer.StreamClassify, decode_packet_batch, pb.Verdicts.SerializeToString
        ),
        "Ingest": stream_unary(
            servicer.Ingest, decode_packet_batch, pb.IngestSummary.SerializeToString
        ),
        "SetRules": unary(
            servicer.SetRules, pb.RuleSet.FromString, pb.RuleSetStatus.SerializeToString
        ),
        "GetRules": unary(
            servicer.GetRules, pb.GetRulesRequest.FromString, pb.RuleSet.SerializeToString
        ),
        "GetStats": unary(
            servicer.GetStats, pb.GetStatsRequest.FromString, pb.Stats.SerializeToString
        ),
        "TopFlows": unary(
            servicer.TopFlows, pb.TopFlowsRequest.FromString, pb.TopFlowsResponse.SerializeToString
        ),
        "GetSeries": unary(
            servicer.GetSeries, pb.SeriesRequest.FromString, pb.SeriesResponse.SerializeToString
        ),
    }
    missing = set(pb.DESCRIPTOR.services_by_name["PacketService"].methods_by_name) - set(handlers)
    assert not missing, f"PacketService methods without a handler: {missing}"
    return grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)


@dataclass(slots=True)
class BuiltServer:
    server: grpc.Server
    port: int
    health: health.HealthServicer
    servicer: PacketServicer  # close() it after the server stopped


def build_server(
    config: ServiceConfig,
    engine: PacketEngine,
    interceptors: Sequence[grpc.ServerInterceptor] = (),
) -> BuiltServer:
    """A bound, not yet started server: PacketService + health + reflection. Every RPC
    passes through `interceptors`, first to last."""
    limit = config.max_message_bytes
    servicer = PacketServicer(engine, config.max_batch_packets, config.grpc_workers)
    try:
        built = build_grpc_server(
            lambda server: server.add_generic_rpc_handlers((packet_service_handler(servicer),)),
            (SERVICE_NAME,),
            config.bind_address,
            config.grpc_port,
            workers=config.grpc_workers,
            interceptors=interceptors,
            options=[
                ("grpc.max_receive_message_length", limit),
                ("grpc.max_send_message_length", limit),
            ],
        )
    except OSError:
        servicer.close()
        raise
    return BuiltServer(built.server, built.port, built.health, servicer)
