"""Service configuration: environment variables only, each with a working default."""

from __future__ import annotations

import os
from dataclasses import dataclass


class ConfigError(ValueError):
    pass


def _int(env: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={value} is outside {low}-{high}")
    return value


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value <= 0:
        raise ConfigError(f"{name}={value} must be positive")
    return value


def _bool(env: dict[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (true/false)")


MAX_AUTH_CACHE_TTL = 2.0  # seconds: a revoked credential stops working within this


def _auth_cache_ttl(env: dict[str, str]) -> float:
    ttl = _float(env, "AUTH_CACHE_TTL", MAX_AUTH_CACHE_TTL)
    if ttl > MAX_AUTH_CACHE_TTL:
        raise ConfigError(
            f"AUTH_CACHE_TTL={ttl} is above {MAX_AUTH_CACHE_TTL}: a revoked credential must "
            f"stop working within {MAX_AUTH_CACHE_TTL} s"
        )
    return ttl


@dataclass(slots=True)
class ServiceConfig:
    bind_address: str = "0.0.0.0"
    grpc_port: int = 50052
    metrics_port: int = 9090
    grpc_workers: int = 8
    max_batch_packets: int = 16384
    max_message_bytes: int = 64 * 1024 * 1024
    flow_table_max: int = 1_000_000
    flow_idle_timeout: float = 300.0
    history_seconds: int = 3600  # per-second counter history (GetSeries); 0 = off
    udp_ingest_port: int = 0  # 0 = off
    udp_batch: int = 256
    capture_iface: str = ""
    capture_bpf: str = ""  # classic BPF as printed by `tcpdump -ddd`
    rules_file: str = ""
    ready_requires_rules: bool = False
    release_mode: str = "development"
    # Caller authentication through flask-backend's AuthService (default on outside
    # development): see auth_guard.py.
    auth_required: bool = False
    auth_service_target: str = "127.0.0.1:50051"
    auth_service_api_key: str = ""  # this service's own credential towards AuthService
    auth_cache_ttl: float = 2.0  # at most 2 s: the bound on how long a revocation takes

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ServiceConfig:
        env = dict(os.environ) if env is None else env
        release_mode = env.get("RELEASE_MODE", "development").strip() or "development"
        return cls(
            bind_address=env.get("BIND_ADDRESS", "0.0.0.0").strip() or "0.0.0.0",
            grpc_port=_int(env, "GRPC_PORT", 50052, 0, 65535),
            metrics_port=_int(env, "METRICS_PORT", 9090, 0, 65535),
            grpc_workers=_int(env, "GRPC_WORKERS", 8, 1, 256),
            max_batch_packets=_int(env, "MAX_BATCH_PACKETS", 16384, 1, 1 << 20),
            max_message_bytes=_int(env, "MAX_MESSAGE_BYTES", 64 << 20, 1 << 16, 1 << 30),
            flow_table_max=_int(env, "FLOW_TABLE_MAX", 1_000_000, 1, 1 << 28),
            flow_idle_timeout=_float(env, "FLOW_IDLE_TIMEOUT", 300.0),
            history_seconds=_int(env, "HISTORY_SECONDS", 3600, 0, 7 * 86400),
            udp_ingest_port=_int(env, "UDP_INGEST_PORT", 0, 0, 65535),
            udp_batch=_int(env, "UDP_BATCH", 256, 1, 4096),
            capture_iface=env.get("CAPTURE_IFACE", "").strip(),
            capture_bpf=env.get("CAPTURE_BPF", "").strip(),
            rules_file=env.get("RULES_FILE", "").strip(),
            ready_requires_rules=_bool(env, "READY_REQUIRES_RULES", False),
            release_mode=release_mode,
            auth_required=_bool(env, "AUTH_REQUIRED", release_mode != "development"),
            auth_service_target=env.get("AUTH_SERVICE_TARGET", "").strip() or "127.0.0.1:50051",
            auth_service_api_key=env.get("AUTH_SERVICE_API_KEY", "").strip(),
            auth_cache_ttl=_auth_cache_ttl(env),
        )
