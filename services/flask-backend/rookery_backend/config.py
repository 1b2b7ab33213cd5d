"""Settings: read from the environment once, validated once, then passed around.

One field per variable (`rookery_common.settings`): the name upper-cased is the variable
unless `validation_alias` says otherwise. Every variable has a working default for
development; production (RELEASE_MODE=production) refuses to start without its own
SECRET_KEY and SECURITY_PASSWORD_SALT, and refuses placeholder secrets (keys.py).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict
from rookery_common.settings import ConfigError, EnvSettings, Flag, Port, matching, one_of
from rookery_common.version import read_version as read_common_version

from .keys import production_secret_problem

__all__ = ["ConfigError", "RateLimit", "Settings", "load_settings", "read_version"]

PACKAGE_DIR = Path(__file__).resolve().parent
SERVICE_DIR = PACKAGE_DIR.parent
REPO_DIR = SERVICE_DIR.parent.parent

RELEASE_MODES = ("development", "production", "test")
RELEASE_ALIASES = {"true": "production", "false": "development"}
DB_TYPES = ("sqlite", "postgresql", "mysql")
DB_ALIASES = {"postgres": "postgresql", "pg": "postgresql", "mariadb": "mysql"}
DEFAULT_DB_PORTS = {"postgresql": 5432, "mysql": 3306}
RATE_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
SERVICE_KEY_FORM = matching(
    "AUTH_SERVICE_API_KEY",
    r"rk_[0-9A-Za-z]{8}_[0-9A-Za-z_-]{32,}",
    "an API key like rk_<8 characters>_<32 or more random characters> (docs/SECURITY.md"
    " shows how to make one)",
    show_value=False,
)
PROMETHEUS_FORM = matching(
    "PROMETHEUS_URL", r"https?://[^\s/?#]+(/[^\s?#]*)?", "like http://prometheus:9090"
)


def read_version() -> str:
    return read_common_version(PACKAGE_DIR)


def default_data_dir() -> Path:
    # Inside the repository the data lives in the git-ignored <repo>/.data; a deployed
    # service (no repository around it) keeps it next to where it runs.
    if (REPO_DIR / ".git").exists() or (REPO_DIR / "Makefile").is_file():
        return REPO_DIR / ".data" / "flask-backend"
    return Path("data").resolve()


@dataclass(slots=True, frozen=True)
class RateLimit:
    count: int
    period_seconds: int

    @classmethod
    def parse(cls, text: str, name: str = "LOGIN_RATE_LIMIT") -> RateLimit:
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d*)\s*(second|minute|hour|day)s?\s*", text)
        if not match:
            raise ConfigError(f"{name}: expected like '10/minute', got {text!r}")
        count = int(match.group(1))
        multiplier = int(match.group(2) or 1)
        if count < 1:
            raise ConfigError(f"{name}: the count must be at least 1")
        return cls(count, multiplier * RATE_PERIODS[match.group(3)])


def _rate(name: str) -> BeforeValidator:
    return BeforeValidator(lambda raw: RateLimit.parse(raw, name) if isinstance(raw, str) else raw)


def _data_dir(raw: object) -> Path:
    return Path(raw or default_data_dir()).resolve()  # type: ignore[arg-type]


class Settings(EnvSettings):
    model_config = SettingsConfigDict(frozen=True)

    release_mode: Annotated[
        str, BeforeValidator(one_of("RELEASE_MODE", RELEASE_MODES, RELEASE_ALIASES))
    ] = "development"
    version: str = Field(default_factory=read_version, validation_alias="ROOKERY_VERSION")
    http_host: str = "127.0.0.1"
    http_port: Port = 8080
    grpc_port: Port = 50051
    # HTTP worker processes (server.py); 0 = the usable cores (CPU affinity, cgroup limit)
    web_concurrency: int = Field(0, ge=0, le=256)
    http_threads: int = Field(4, ge=1, le=256)  # WSGI threads in each worker process
    # An HTTP worker is replaced by a fresh one after about this many requests (0: never);
    # the replacement serves before the old one stops (server.py)
    http_worker_max_requests: int = Field(0, ge=0, le=10**9)
    trusted_proxies: int = Field(0, ge=0, le=10)
    http1_enabled: Flag = True
    http2_enabled: Flag = True
    http3_enabled: Flag = False
    tls_cert_file: str = ""
    tls_key_file: str = ""
    data_dir: Annotated[Path, BeforeValidator(_data_dir)] = Field(default_factory=default_data_dir)
    db_type: Annotated[str, BeforeValidator(one_of("DB_TYPE", DB_TYPES, DB_ALIASES))] = "sqlite"
    db_host: str = "127.0.0.1"
    db_port: Port = 0  # 0 = the database type's standard port
    db_name: str = "rookery"
    db_user: str = "rookery"
    db_pass: str = ""
    db_pool_size: int = Field(10, ge=0, le=1000)
    db_max_retries: int = Field(10, ge=0, le=1000)
    db_retry_delay: float = 0.5
    db_init_schema: Flag = True
    secret_key: str = ""  # empty: generated into DATA_DIR (development only)
    security_password_salt: str = ""
    jwt_algorithm: str = ""  # empty: RS256 with JWT_PRIVATE_KEY_FILE, else HS256
    jwt_private_key_file: str = ""
    jwt_public_key_file: str = ""
    jwt_issuer: str = "rookery"
    jwt_audience: str = "rookery-api"
    access_token_ttl: int = Field(900, ge=5)
    refresh_token_ttl: int = Field(14 * 86400, ge=60)
    # Seconds a spent refresh token still yields its successor (two tabs refreshing at once)
    refresh_reuse_grace: float = Field(5.0, ge=0.0, le=60.0)
    reset_token_ttl: int = Field(3600, ge=60)
    principal_cache_ttl: float = 2.0  # below 0 counts as 0 (off)
    bcrypt_rounds: int = Field(12, ge=4, le=31)
    admin_email: str = "admin@localhost.local"
    admin_password: str = "admin123"
    login_rate_limit: Annotated[RateLimit, _rate("LOGIN_RATE_LIMIT")] = RateLimit(10, 60)
    # where login/recovery attempts are counted: database (shared by every worker and
    # replica) or memory (this process only)
    login_throttle_store: Annotated[
        str, BeforeValidator(one_of("LOGIN_THROTTLE_STORE", ("database", "memory")))
    ] = "database"
    # gRPC AuthService callers (grpc_auth.py): the key the built-in sibling-service account
    # holds (empty = none provisioned) and the per-caller request budget
    auth_service_api_key: Annotated[str, SERVICE_KEY_FORM] = ""
    auth_rpc_rate_limit: Annotated[RateLimit, _rate("AUTH_RPC_RATE_LIMIT")] = RateLimit(100, 1)
    mail_server: str = ""
    mail_port: int = Field(25, ge=1, le=65535)
    mail_username: str = ""
    mail_password: str = ""
    mail_use_tls: Flag = False
    mail_use_ssl: Flag = False
    mail_sender: str = Field("rookery@localhost.local", validation_alias="MAIL_DEFAULT_SENDER")
    public_url: str = "http://127.0.0.1:3000"
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    registerable: Flag = Field(False, validation_alias="SECURITY_REGISTERABLE")
    # packet-service link: comma-separated host:port list; empty = none
    grpc_enabled: Flag = True
    packet_service_targets: str = ""
    packet_deadline: float = Field(1.0, ge=0.05, le=60.0)
    packet_breaker_reset: float = Field(3.0, ge=0.1, le=3600.0)
    rules_reconcile_interval: float = Field(2.0, ge=0.1, le=3600.0)
    # seconds the publisher lease lasts unrenewed (lease.py): a killed holder is replaced
    # within this plus a third of it
    publisher_lease_ttl: float = Field(6.0, ge=0.5, le=300.0)
    stats_max_stale: float = Field(300.0, ge=0.0, le=86400.0)
    stats_rate_window: int = Field(10, ge=2, le=3600)
    # statistics as time series from Prometheus; empty = from packet-service's history
    prometheus_url: Annotated[str, PROMETHEUS_FORM] = ""
    prometheus_job: str = "packet-service"
    prometheus_scrape_interval: float = Field(15.0, ge=0.1, le=3600.0)
    prometheus_timeout: float = Field(5.0, ge=0.1, le=300.0)
    # OpenID Connect single sign-on (docs/SSO.md); an empty OIDC_ISSUER turns it off
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_scopes: str = "openid email profile"
    oidc_provider_name: str = "SSO"  # the login button's label
    oidc_role_claim: str = "groups"
    oidc_role_map: str = ""  # like "rookery-admins:admin,netops:maintainer"
    oidc_default_role: str = "viewer"  # empty: a user matching no mapping is refused
    oidc_jit: Flag = True  # create an account at the first sign-on
    oidc_http_timeout: float = Field(5.0, ge=0.1, le=60.0)  # each call to the provider
    sso_required: Flag = False  # password login only for SSO_BREAK_GLASS_EMAILS
    sso_break_glass_emails: str = ""
    # licences (licensing/, docs/LICENSING.md): read in production only; a licence installed
    # through PUT /api/v1/license (kept in the database) wins over these two
    license_key: str = ""  # the licence text
    license_file: str = ""  # a file holding the licence text
    # the Ed25519 public key that verifies licences (PEM text or a PEM file's path);
    # empty = the key built into the product
    license_public_key: str = ""
    # days gated features stay on after a licence expires (warnings meanwhile)
    license_grace_days: int = Field(14, ge=0, le=365)

    @property
    def production(self) -> bool:
        return self.release_mode == "production"

    @field_validator("principal_cache_ttl")
    @classmethod
    def _never_negative(cls, value: float) -> float:
        return max(0.0, value)

    @field_validator("jwt_algorithm", mode="before")
    @classmethod
    def _algorithm_name(cls, raw: object) -> str:
        value = str(raw).strip().upper()
        if value not in ("", "HS256", "RS256"):
            raise ValueError(f"JWT_ALGORITHM: expected HS256 or RS256, got {value!r}")
        return value

    @model_validator(mode="after")
    def _derived_and_production_rules(self) -> Settings:
        algorithm = self.jwt_algorithm or ("RS256" if self.jwt_private_key_file else "HS256")
        if algorithm == "RS256" and not (self.jwt_private_key_file and self.jwt_public_key_file):
            raise ValueError(
                "JWT_ALGORITHM=RS256 needs JWT_PRIVATE_KEY_FILE and JWT_PUBLIC_KEY_FILE"
            )
        derived: dict[str, object] = {"jwt_algorithm": algorithm}
        if not self.db_port:
            derived["db_port"] = DEFAULT_DB_PORTS.get(self.db_type, 0)
        for var, attr in (
            ("SECRET_KEY", "secret_key"),
            ("SECURITY_PASSWORD_SALT", "security_password_salt"),
        ):
            if getattr(self, attr):
                continue
            if self.production:
                raise ValueError(f"{var} must be set when RELEASE_MODE=production")
            derived[attr] = _persisted_secret(self.data_dir, f".{attr}")
        self._derive(**derived)
        if self.production:
            problem = production_secret_problem(self.secret_key)
            if problem:
                raise ValueError(problem)
        return self


    @model_validator(mode="after")
    def _sso_rules(self) -> Settings:
        if self.oidc_issuer:
            if not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", self.oidc_issuer):
                raise ValueError("OIDC_ISSUER: expected an http(s) URL like https://idp.example")
            if not self.oidc_client_id:
                raise ValueError("OIDC_CLIENT_ID must be set when OIDC_ISSUER is")
            if "openid" not in self.oidc_scopes.split():
                raise ValueError("OIDC_SCOPES must include openid")
        elif self.sso_required:
            raise ValueError("SSO_REQUIRED=true needs OIDC_ISSUER (nobody could sign in)")
        for pair in filter(None, (p.strip() for p in self.oidc_role_map.split(","))):
            value, _, role = pair.rpartition(":")
            if not value.strip() or not role.strip():
                raise ValueError(
                    f"OIDC_ROLE_MAP: expected value:role pairs separated by commas, got {pair!r}"
                )
        return self


def _persisted_secret(data_dir: Path, name: str) -> str:
    # Development convenience: a random secret kept in DATA_DIR so tokens survive restarts.
    path = data_dir / name
    if path.is_file():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    path.write_text(value)
    path.chmod(0o600)
    return value


def load_settings(env: dict[str, str] | None = None) -> Settings:
    """Build Settings from environment variables (validated; raises ConfigError)."""
    return Settings.load(env)
