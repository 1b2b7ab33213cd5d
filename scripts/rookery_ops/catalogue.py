"""The service catalogue: the single place where Rookery's service facts live.

config/marchproxy/*.json is generated from it, and tests check docker-compose.dev.yml,
the Kubernetes manifests and the Dockerfiles against it. Change a port here, run
`make marchproxy-config`, and the drift tests name every other file that must follow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping as MappingOf
from dataclasses import dataclass, field

# MarchProxy groups services by collection; all three belong to one product.
COLLECTION = "rookery"
# Default cluster the importer publishes into (MARCHPROXY_CLUSTER overrides it).
DEFAULT_CLUSTER = "rookery"
LOOPBACK = "127.0.0.1"  # where `make run` starts every service
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
METRICS_PATH = "/metrics"


@dataclass(frozen=True, slots=True)
class Port:
    """One listening port of a service."""

    name: str  # "http", "grpc" or "metrics": also the port name in compose and Kubernetes
    number: int  # the same inside a container and on a developer's loopback
    env: str  # the environment variable the service reads it from
    serves: str  # what answers there: "http" (REST, /healthz, /metrics) or "grpc"


@dataclass(frozen=True, slots=True)
class Gateway:
    """How the service is published to MarchProxy (one MarchProxy service per entry)."""

    port_name: str  # which Port of the service MarchProxy forwards to
    protocol: str  # MarchProxy protocol: tcp | udp | http | https (gRPC travels as tcp)
    auth_type: str  # MarchProxy gateway auth: none | base64 | jwt
    health_check: bool  # MarchProxy probes HEALTH_PATH on the published port
    health_check_interval: int = 30  # seconds, MarchProxy requires >= 5
    tls_enabled: bool = False
    tls_verify: bool = True
    why: str = ""  # one line for docs and the generated file


@dataclass(frozen=True, slots=True)
class Service:
    key: str  # folder under services/, compose service, Kubernetes object and DNS name
    gateway_name: str  # the MarchProxy service name
    summary: str
    ports: tuple[Port, ...]
    gateway: Gateway
    start_command: tuple[str, ...]  # how the service starts from its folder ("{python}")
    # Stateless services scale horizontally (HPA in Kubernetes); packet-service does not.
    stateless: bool = True
    public: bool = False  # published on the host in docker-compose.dev.yml
    extra_env: dict[str, str] = field(default_factory=dict)  # compose/k8s env (besides ports)
    # `make run` (scripts/run_trio.py) on loopback: the environment besides the ports, where
    # "{service:port}" stands for that port's number and "{name}" for a value of the run
    # (service_key, data_dir); and what it adds to start_command.
    local_env: dict[str, str] = field(default_factory=dict)
    local_args: tuple[str, ...] = ()

    def port(self, name: str) -> Port:
        for port in self.ports:
            if port.name == name:
                return port
        raise KeyError(f"{self.key} has no port named {name!r}")

    @property
    def http_port(self) -> Port:
        """The port that answers /healthz, /readyz and /metrics."""
        return next(p for p in self.ports if p.serves == "http")

    @property
    def published_port(self) -> Port:
        return self.port(self.gateway.port_name)


FLASK_BACKEND = Service(
    key="flask-backend",
    gateway_name="rookery-flask-backend",
    summary="users, roles, scopes, API keys, audit log and packet-filter rules (REST + gRPC)",
    ports=(
        Port("http", 8080, "HTTP_PORT", "http"),
        Port("grpc", 50051, "GRPC_PORT", "grpc"),
    ),
    gateway=Gateway(
        port_name="http",
        protocol="http",
        # The backend checks its own JWTs and API keys; a gateway JWT with a
        # MarchProxy-generated secret would reject every token the backend issues.
        auth_type="none",
        health_check=True,
        why="REST /api/v1 for the web UI and integrators; the backend enforces its own auth",
    ),
    start_command=("{python}", "-m", "rookery_backend", "serve"),
    public=True,
    extra_env={
        "HTTP_HOST": "0.0.0.0",
        "DB_TYPE": "postgresql",
        "DB_HOST": "postgres",
        "DB_PORT": "5432",
        "DB_NAME": "rookery",
        "DB_USER": "rookery",
        "PACKET_SERVICE_TARGETS": "packet-service:50052",
    },
    local_env={
        "HTTP_HOST": LOOPBACK,
        "DB_TYPE": "sqlite",
        "DATA_DIR": "{data_dir}/flask-backend",
        "RELEASE_MODE": "development",
        "PACKET_SERVICE_TARGETS": LOOPBACK + ":{packet-service:grpc}",
        "AUTH_SERVICE_API_KEY": "{service_key}",
        # browsers reach the API through the web UI's proxy, which writes X-Forwarded-For
        # itself: one hop, so each browser has its own login bucket
        "TRUSTED_PROXIES": "1",
    },
    local_args=("-v",),
)

PACKET_SERVICE = Service(
    key="packet-service",
    gateway_name="rookery-packet-service",
    summary="numpy packet classification over gRPC, UDP, pcap and live capture",
    ports=(
        Port("grpc", 50052, "GRPC_PORT", "grpc"),
        Port("metrics", 9090, "METRICS_PORT", "http"),
    ),
    gateway=Gateway(
        port_name="grpc",
        protocol="tcp",  # MarchProxy has no "grpc" protocol; HTTP/2 gRPC passes as tcp
        auth_type="none",  # callers present flask-backend credentials in gRPC metadata
        # MarchProxy probes the published port over plain HTTP; a gRPC port cannot answer
        # that, so the HTTP side port's /healthz is watched by Kubernetes/Prometheus instead.
        health_check=False,
        why="gRPC PacketService for sensors; health is on the HTTP side port, not the gateway",
    ),
    start_command=("{python}", "-m", "packet_service", "serve"),
    stateless=False,
    # Callers' bearer tokens are checked with flask-backend's AuthService.
    extra_env={"BIND_ADDRESS": "0.0.0.0", "AUTH_SERVICE_TARGET": "flask-backend:50051"},
    local_env={
        "BIND_ADDRESS": LOOPBACK,
        "RELEASE_MODE": "development",
        "AUTH_REQUIRED": "true",  # on even in development, so `make run` is like a deployment
        "AUTH_SERVICE_TARGET": LOOPBACK + ":{flask-backend:grpc}",
        "AUTH_SERVICE_API_KEY": "{service_key}",
    },
    local_args=("-v",),
)

WEBUI = Service(
    key="webui",
    gateway_name="rookery-webui",
    summary="React SPA and the Express server that proxies /api to flask-backend",
    ports=(Port("http", 3000, "PORT", "http"),),
    gateway=Gateway(
        port_name="http",
        protocol="http",
        auth_type="none",  # a browser must reach the login page without a gateway token
        health_check=True,
        why="the browser entry point",
    ),
    start_command=("node", "server/index.js"),
    public=True,
    extra_env={"HOST": "0.0.0.0", "FLASK_API_URL": "http://flask-backend:8080"},
    local_env={"FLASK_API_URL": f"http://{LOOPBACK}:{{flask-backend:http}}"},
)

# Also the start order of `make run`: packet-service validates its callers through
# flask-backend's AuthService, and flask-backend publishes the rule set to packet-service
# as soon as it answers (its reconcile loop waits for it).
SERVICES: tuple[Service, ...] = (FLASK_BACKEND, PACKET_SERVICE, WEBUI)


@dataclass(frozen=True, slots=True)
class Mapping:
    """An allowed service-to-service route, written to mappings.json for operators."""

    name: str
    description: str
    source: tuple[str, ...]  # service keys
    dest: tuple[str, ...]
    port_name: str  # the destination port (all destinations share it)
    protocols: tuple[str, ...]
    auth_required: bool


MAPPINGS: tuple[Mapping, ...] = (
    Mapping(
        name="rookery-webui-to-backend",
        description="the web UI's Express server proxies /api to the REST API",
        source=("webui",),
        dest=("flask-backend",),
        port_name="http",
        protocols=("http",),
        auth_required=True,
    ),
    Mapping(
        name="rookery-backend-to-packet-service",
        description="flask-backend pushes rule sets and reads statistics over gRPC",
        source=("flask-backend",),
        dest=("packet-service",),
        port_name="grpc",
        protocols=("tcp",),
        auth_required=True,
    ),
    Mapping(
        name="rookery-packet-service-to-auth",
        description="packet-service validates callers' tokens with AuthService over gRPC",
        source=("packet-service",),
        dest=("flask-backend",),
        port_name="grpc",
        protocols=("tcp",),
        auth_required=False,
    ),
)


def by_key(key: str) -> Service:
    for service in SERVICES:
        if service.key == key:
            return service
    raise KeyError(f"no service {key!r} in the catalogue")


_PLACEHOLDER = re.compile(r"\{([a-z_-]+)(?::([a-z]+))?\}")


# Values of the run that tie the services together (the shared service key): like the
# ports, the environment of the person running `make run` cannot replace them.
RUN_WIRING = ("service_key",)


def local_env(
    service: Service, run_values: MappingOf[str, str], port_offset: int = 0
) -> dict[str, str]:
    """The environment `make run` gives `service` on loopback: its ports, then its
    `local_env` with "{service:port}" and "{name}" (from `run_values`) filled in.
    `port_offset` moves every port (a test runs the services beside a running copy)."""

    def fill(match: re.Match[str]) -> str:
        name, port = match.group(1), match.group(2)
        if port:
            return str(by_key(name).port(port).number + port_offset)
        return run_values[name]

    env = {port.env: str(port.number + port_offset) for port in service.ports}
    env.update({name: _PLACEHOLDER.sub(fill, value) for name, value in service.local_env.items()})
    return env


def local_wiring(service: Service) -> frozenset[str]:
    """The variables of `local_env` that wire the services together: the ports, the links
    to a sibling's port and the run's shared values. The rest are defaults that the
    environment of whoever runs `make run` overrides (DB_TYPE=postgresql with DB_*, …)."""
    wired = {port.env for port in service.ports}
    for name, value in service.local_env.items():
        for found in _PLACEHOLDER.finditer(value):
            if found.group(2) or found.group(1) in RUN_WIRING:
                wired.add(name)
    return frozenset(wired)


def local_health_url(service: Service, port_offset: int = 0) -> str:
    return f"http://{LOOPBACK}:{service.http_port.number + port_offset}{HEALTH_PATH}"
