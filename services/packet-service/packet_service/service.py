"""Wires one running packet-service: engine, gRPC server, HTTP side port and the optional
UDP and live-capture ingest paths. Nothing starts at import time."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Sequence

import grpc

from packet_service.auth_guard import auth_interceptors
from packet_service.classifier import RuleSetHolder
from packet_service.config import ServiceConfig
from packet_service.engine import PacketEngine
from packet_service.flow_table import FlowTable
from packet_service.grpc_server import build_server
from packet_service.metrics import make_registry
from packet_service.rules import load_rule_set_file
from packet_service.side_port import SidePortServer

log = logging.getLogger("packet_service")


class ListenError(OSError):
    """A listener could not bind its port; the message is one line naming it."""

    def __init__(self, what: str, host: str, port: int, cause: OSError) -> None:
        reason = (cause.strerror or str(cause)).lower()
        super().__init__(f"cannot listen on the {what} port {port} ({host}): {reason}")


def ensure_port_free(what: str, host: str, port: int, kind: int = socket.SOCK_STREAM) -> None:
    """Bind the port once ourselves (TCP with SO_REUSEADDR, as the listeners do) before
    anything starts: gRPC's own failure is a generic message plus a C-core log line on
    stderr, and a service that cannot listen should say so before anything else."""
    if not port:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as probe:
        if kind == socket.SOCK_STREAM:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ListenError(what, host, port, exc) from None


class PacketServiceApp:
    def __init__(
        self, config: ServiceConfig, interceptors: Sequence[grpc.ServerInterceptor] = ()
    ) -> None:
        self.config = config
        self.version = config.version
        host = config.bind_address
        ensure_port_free("gRPC", host, config.grpc_port)
        ensure_port_free("HTTP", host, config.metrics_port)
        ensure_port_free("UDP ingest", host, config.udp_ingest_port, socket.SOCK_DGRAM)
        initial = load_rule_set_file(config.rules_file) if config.rules_file else None
        self.rules_source = "file" if initial else "default"
        self.engine = PacketEngine(
            rules=RuleSetHolder(initial),
            flow_table=FlowTable(config.flow_table_max, config.flow_idle_timeout),
            history_seconds=config.history_seconds,
        )
        guards = auth_interceptors(config)
        # the caller's first (outermost): tracing sees refused calls too
        built = build_server(config, self.engine, (*interceptors, *guards))
        self.grpc_server, self.grpc_port, self.health = built.server, built.port, built.health
        self.servicer = built.servicer
        try:
            self.http = SidePortServer(
                config.bind_address,
                config.metrics_port,
                make_registry(self.engine, self.version),
                self.health_body,
                self.readiness,
            )
        except OSError as exc:
            self.servicer.close()
            raise ListenError("HTTP", config.bind_address, config.metrics_port, exc) from None
        self.metrics_port = self.http.port
        self.udp = None
        self.capture = None
        self.udp_port = 0
        self._stopped = threading.Event()
        self._grpc_running = False

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        self.grpc_server.start()
        self._grpc_running = True
        self.http.start()
        if self.config.udp_ingest_port:
            from packet_service.udp_ingest import UdpIngest

            try:
                self.udp = UdpIngest(
                    self.engine,
                    self.config.bind_address,
                    self.config.udp_ingest_port,
                    self.config.udp_batch,
                )
            except OSError as exc:
                what, host = "UDP ingest", self.config.bind_address
                raise ListenError(what, host, self.config.udp_ingest_port, exc) from None
            self.udp_port = self.udp.port
            self.udp.start()
        if self.config.capture_iface:
            from packet_service.capture import LiveCapture, parse_bpf_program

            program = (
                parse_bpf_program(self.config.capture_bpf) if self.config.capture_bpf else None
            )
            self.capture = LiveCapture(self.engine, self.config.capture_iface, program)
            self.capture.start()
        log.info(
            "packet-service started",
            extra={
                "version": self.version,
                "grpc_port": self.grpc_port,
                "metrics_port": self.metrics_port,
                "udp_ingest_port": self.udp_port,
                "capture_iface": self.config.capture_iface,
            },
        )

    def stop(self, grace: float = 1.0) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        self.health.enter_graceful_shutdown()
        if self.capture:
            self.capture.stop()
        if self.udp:
            self.udp.stop()
        self.grpc_server.stop(grace).wait()
        self.servicer.close()
        self._grpc_running = False
        self.http.stop()
        log.info("packet-service stopped")

    def wait(self) -> None:
        self._stopped.wait()

    # ---------------------------------------------------------------- probes

    def health_body(self) -> dict:
        return {"status": "ok", "service": "packet-service", "version": self.version}

    def readiness(self) -> tuple[bool, dict]:
        rule_set = self.engine.rules.current
        # "published" (SetRules), else "file" (RULES_FILE) or "default" (allow everything)
        source = "published" if self.engine.rules.published else self.rules_source
        checks = {
            "grpc": self._grpc_running,
            "rules": source != "default" or not self.config.ready_requires_rules,
        }
        if self.udp is not None:
            checks["udp_ingest"] = self.udp.running
        if self.capture is not None:
            checks["live_capture"] = self.capture.running
        ready = all(checks.values())
        return ready, {
            "status": "ready" if ready else "not_ready",
            "checks": checks,
            "ruleset_version": rule_set.version,
            "ruleset_source": source,
        }
