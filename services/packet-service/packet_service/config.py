"""Service configuration: environment variables only, each with a working default.

One field per variable (`rookery_common.settings`): the name upper-cased is the variable.
An empty variable means its default."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict
from rookery_common.settings import ConfigError, EnvSettings, Flag, Port

from packet_service import service_version

__all__ = ["MAX_AUTH_CACHE_TTL", "ConfigError", "ServiceConfig"]

MAX_AUTH_CACHE_TTL = 2.0  # seconds: a revoked credential stops working within this


class ServiceConfig(EnvSettings):
    model_config = SettingsConfigDict(env_ignore_empty=True, str_strip_whitespace=True)

    bind_address: str = "0.0.0.0"
    grpc_port: Port = 50052
    metrics_port: Port = 9090
    grpc_workers: int = Field(8, ge=1, le=256)
    max_batch_packets: int = Field(16384, ge=1, le=1 << 20)
    max_message_bytes: int = Field(64 << 20, ge=1 << 16, le=1 << 30)
    flow_table_max: int = Field(1_000_000, ge=1, le=1 << 28)
    flow_idle_timeout: float = Field(300.0, gt=0)
    history_seconds: int = Field(3600, ge=0, le=7 * 86400)  # per-second history; 0 = off
    udp_ingest_port: Port = 0  # 0 = off
    udp_batch: int = Field(256, ge=1, le=4096)
    capture_iface: str = ""
    capture_bpf: str = ""  # classic BPF as printed by `tcpdump -ddd`
    rules_file: str = ""
    ready_requires_rules: Flag = False
    release_mode: str = "development"
    version: str = Field(default_factory=service_version, validation_alias="ROOKERY_VERSION")
    # Caller authentication through flask-backend's AuthService (default on outside
    # development): see auth_guard.py.
    auth_required: Flag = False
    auth_service_target: str = "127.0.0.1:50051"
    auth_service_api_key: str = ""  # this service's own credential towards AuthService
    # at most 2 s: the bound on how long a revocation takes
    auth_cache_ttl: float = Field(MAX_AUTH_CACHE_TTL, gt=0)
    # While AuthService cannot be reached (flask-backend restarting), a credential it
    # confirmed within this many seconds keeps working; 0 = refuse at once. Revocation
    # needs flask-backend, so nothing can be revoked while this applies.
    auth_stale_if_unreachable: float = Field(300.0, ge=0, le=86400)

    @field_validator("auth_cache_ttl")
    @classmethod
    def _revocation_bound(cls, ttl: float) -> float:
        if ttl > MAX_AUTH_CACHE_TTL:
            raise ValueError(
                f"AUTH_CACHE_TTL={ttl} is above {MAX_AUTH_CACHE_TTL}: a revoked credential "
                f"must stop working within {MAX_AUTH_CACHE_TTL} s"
            )
        return ttl

    @model_validator(mode="after")
    def _auth_default(self) -> ServiceConfig:
        if "auth_required" not in self.model_fields_set:
            self._derive(auth_required=self.release_mode != "development")
        return self

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ServiceConfig:
        return cls.load(env)
