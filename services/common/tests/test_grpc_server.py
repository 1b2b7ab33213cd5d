"""rookery_common.grpc_server: health, reflection, the bound port, version metadata."""

from __future__ import annotations

import socket

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from rookery_common.grpc_server import bind_address, build_grpc_server, version_metadata
from rookery_common.testing import free_port

NAME = "rookery.test.Example"


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_health_and_reflection(host: str) -> None:
    if host == "::1" and not ipv6_loopback():
        pytest.skip("no IPv6 loopback here")
    built = build_grpc_server(lambda server: None, (NAME,), host, 0, workers=2)
    built.server.start()
    try:
        assert built.port > 0
        with grpc.insecure_channel(bind_address(host, built.port)) as channel:
            check = health_pb2_grpc.HealthStub(channel).Check
            for service in ("", NAME):
                answer = check(health_pb2.HealthCheckRequest(service=service), timeout=5)
                assert answer.status == health_pb2.HealthCheckResponse.SERVING
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            reply = next(iter(stub.ServerReflectionInfo(iter([request]), timeout=5)))
            names = {s.name for s in reply.list_services_response.service}
            assert {NAME, "grpc.health.v1.Health"} <= names
    finally:
        built.server.stop(0)


def test_a_taken_port_is_an_os_error() -> None:
    port = free_port()
    first = build_grpc_server(lambda server: None, (NAME,), "127.0.0.1", port, workers=1)
    try:
        with pytest.raises(OSError, match=f"127.0.0.1:{port}"):
            build_grpc_server(lambda server: None, (NAME,), "127.0.0.1", port, workers=1)
    finally:
        first.server.stop(0)


def test_version_metadata_and_bind_address() -> None:
    assert version_metadata("1.2.3") == (("rookery-version", "1.2.3"),)
    assert bind_address("::", 50051) == "[::]:50051"
    assert bind_address("0.0.0.0", 1) == "0.0.0.0:1"
