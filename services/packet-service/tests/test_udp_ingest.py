"""UDP listener: one frame per datagram, received in batches with recvmmsg."""

from __future__ import annotations

import socket
import time

import dpkt
from packet_service import synthetic as syn
from packet_service.config import ServiceConfig
from packet_service.engine import PacketEngine
from packet_service.service import PacketServiceApp
from packet_service.udp_ingest import UdpIngest
from rookery_common.testing import free_port, wait_until


def test_every_datagram_is_classified_once():
    engine = PacketEngine()
    listener = UdpIngest(engine, "127.0.0.1", 0, batch=64)
    listener.start()
    frames = [*syn.mixed_frames(1500, seed=8), b"\x00\x01\x02"]
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for i, frame in enumerate(frames):
                tx.sendto(frame, ("127.0.0.1", listener.port))
                if i % 200 == 0:
                    time.sleep(0.005)  # stay below the receive buffer on a busy machine
        assert wait_until(lambda: engine.counters.packets == len(frames))
    finally:
        listener.stop()
    assert not listener.running
    assert listener.datagrams == len(frames)
    assert engine.counters.bytes == sum(map(len, frames))
    assert engine.counters.parse_errors[1] == 1  # the 3-byte datagram: truncated_ethernet
    assert engine.counters.batches < len(frames)  # batched, not one call per datagram
    ip_frames = [
        f
        for f in frames[:-1]
        if isinstance(dpkt.ethernet.Ethernet(f).data, dpkt.ip.IP | dpkt.ip6.IP6)
    ]
    table = engine.flow_table
    assert int(table.packets[: table.count].sum()) == len(ip_frames)


def test_service_starts_udp_ingest_from_config_and_reports_it_ready():
    config = ServiceConfig(bind_address="127.0.0.1", grpc_port=0, metrics_port=0, udp_ingest_port=0)
    app = PacketServiceApp(config)
    assert app.udp is None  # off by default
    config.udp_ingest_port = free_port(socket.SOCK_DGRAM)
    app2 = PacketServiceApp(config)
    app2.start()
    try:
        assert app2.udp is not None and app2.udp.running
        ready, body = app2.readiness()
        assert ready and body["checks"]["udp_ingest"] is True
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            tx.sendto(syn.mixed_frames(1)[0], ("127.0.0.1", app2.udp_port))
        assert wait_until(lambda: app2.engine.counters.packets == 1)
    finally:
        app2.stop()
        app.stop()  # never started: stop() still releases its ports and threads


def test_readiness_can_require_a_published_rule_set():
    config = ServiceConfig(
        bind_address="127.0.0.1", grpc_port=0, metrics_port=0, ready_requires_rules=True
    )
    app = PacketServiceApp(config)
    app.start()
    try:
        ready, body = app.readiness()
        assert not ready and body["checks"]["rules"] is False
        assert body["ruleset_source"] == "default"
        from packet_service.rules import RuleSet

        app.engine.rules.replace(RuleSet(version=4))
        ready, body = app.readiness()
        assert ready and body["ruleset_source"] == "published" and body["ruleset_version"] == 4
    finally:
        app.stop()
