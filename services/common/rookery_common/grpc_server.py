"""gRPC server bootstrap, once for every service: a thread-pool server with the service's
own handlers, the standard health service (SERVING for "" and each service name), server
reflection (so grpcurl works), bound on an IPv4 or IPv6 address; and the version metadata
every RPC sends first."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

__all__ = [
    "VERSION_METADATA_KEY",
    "GrpcServer",
    "bind_address",
    "build_grpc_server",
    "version_metadata",
]

VERSION_METADATA_KEY = "rookery-version"


def version_metadata(version: str) -> tuple[tuple[str, str], ...]:
    """Initial metadata naming the product version (send it before the first reply)."""
    return ((VERSION_METADATA_KEY, version),)


def bind_address(host: str, port: int) -> str:
    """`host:port`, with an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(slots=True)
class GrpcServer:
    server: grpc.Server  # bound, not yet started
    port: int  # the bound port (the free one chosen when asked for 0)
    health: health.HealthServicer


def build_grpc_server(
    register: Callable[[grpc.Server], None],
    service_names: Sequence[str],
    host: str,
    port: int,
    workers: int = 8,
    thread_name_prefix: str = "grpc",
    interceptors: Sequence[grpc.ServerInterceptor] = (),
    options: Sequence[tuple[str, int | str]] = (),
) -> GrpcServer:
    """`register(server)` adds the service's own handlers; `service_names` are their full
    names (health and reflection list them). Raises OSError when the address cannot be
    bound. SO_REUSEPORT is off: a second server on a taken port fails instead of
    silently sharing it."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix=thread_name_prefix),
        interceptors=tuple(interceptors),
        options=[*options, ("grpc.so_reuseport", 0)],
    )
    register(server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", *service_names):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    address = bind_address(host, port)
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError:  # newer gRPC raises where older ones returned 0
        bound = 0
    if bound == 0:
        raise OSError(f"cannot bind gRPC to {address}")
    return GrpcServer(server, bound, health_servicer)
