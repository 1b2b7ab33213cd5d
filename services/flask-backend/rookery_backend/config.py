"""Settings: read from the environment once, validated once, then passed around.

Every variable has a working default for development; production (RELEASE_MODE=production)
refuses to start without its own SECRET_KEY and SECURITY_PASSWORD_SALT.
"""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from .keys import production_secret_problem

PACKAGE_DIR = Path(__file__).resolve().parent
SERVICE_DIR = PACKAGE_DIR.parent
REPO_DIR = SERVICE_DIR.parent.parent

DB_TYPES = ("sqlite", "postgresql", "mysql")
DEFAULT_DB_PORTS = {"postgresql": 5432, "mysql": 3306}
RATE_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


class ConfigError(ValueError):
    """A setting has a value the service cannot run with; the message names it."""


def read_version() -> str:
    env = os.environ.get("ROOKERY_VERSION")
    if env:
        return env.strip()
    for candidate in (REPO_DIR / ".version", SERVICE_DIR / ".version"):
        if candidate.is_file():
            return candidate.read_text().strip()
    return "0.0.0"


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


@dataclass(slots=True, frozen=True)
class Settings:
    release_mode: str = "development"
    version: str = "0.0.0"
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    grpc_port: int = 50051
    http_threads: int = 4
    trusted_proxies: int = 0
    http1_enabled: bool = True
    http2_enabled: bool = True
    http3_enabled: bool = False
    tls_cert_file: str = ""
    tls_key_file: str = ""
    data_dir: Path = field(default_factory=default_data_dir)
    db_type: str = "sqlite"
    db_host: str = "127.0.0.1"
    db_port: int = 0
    db_name: str = "rookery"
    db_user: str = "rookery"
    db_pass: str = ""
    db_pool_size: int = 10
    db_max_retries: int = 10
    db_retry_delay: float = 0.5
    db_init_schema: bool = True
    secret_key: str = ""
    security_password_salt: str = ""
    jwt_algorithm: str = "HS256"
    jwt_private_key_file: str = ""
    jwt_public_key_file: str = ""
    jwt_issuer: str = "rookery"
    jwt_audience: str = "rookery-api"
    access_token_ttl: int = 900
    refresh_token_ttl: int = 14 * 86400
    # Seconds a spent refresh token still yields its successor (two tabs refreshing at once)
    refresh_reuse_grace: float = 5.0
    reset_token_ttl: int = 3600
    principal_cache_ttl: float = 2.0
    bcrypt_rounds: int = 12
    admin_email: str = "admin@localhost.local"
    admin_password: str = "admin123"
    login_rate_limit: RateLimit = field(default_factory=lambda: RateLimit(10, 60))
    # gRPC AuthService callers (grpc_auth.py): the key the built-in sibling-service account
    # holds (empty = none provisioned) and the per-caller request budget
    auth_service_api_key: str = ""
    auth_rpc_rate_limit: RateLimit = field(default_factory=lambda: RateLimit(100, 1))
    mail_server: str = ""
    mail_port: int = 25
    mail_username: str = ""
    mail_password: str = ""
    mail_use_tls: bool = False
    mail_use_ssl: bool = False
    mail_sender: str = "rookery@localhost.local"
    public_url: str = "http://127.0.0.1:3000"
    max_body_bytes: int = 64 * 1024
    registerable: bool = False
    # packet-service link (issue 4): comma-separated host:port list; empty = none
    grpc_enabled: bool = True
    packet_service_targets: str = ""
    packet_deadline: float = 1.0
    packet_breaker_reset: float = 3.0
    rules_reconcile_interval: float = 2.0
    stats_max_stale: float = 300.0
    stats_rate_window: int = 10
    # statistics as time series from Prometheus; empty = from packet-service's history
    prometheus_url: str = ""
    prometheus_job: str = "packet-service"
    prometheus_scrape_interval: float = 15.0
    prometheus_timeout: float = 5.0

    @property
    def production(self) -> bool:
        return self.release_mode == "production"

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def _bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name}: expected true/false, got {raw!r}")


def _int(name: str, raw: str, minimum: int = 0, maximum: int | None = None) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected an integer, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        raise ConfigError(f"{name}: {value} is out of range")
    return value


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
    env = dict(os.environ if env is None else env)
    get = env.get
    base = Settings()
    values: dict[str, object] = {"version": read_version()}

    mode = get("RELEASE_MODE", "development").strip().lower()
    if mode not in ("development", "production", "test"):
        raise ConfigError(f"RELEASE_MODE: expected development|production|test, got {mode!r}")
    values["release_mode"] = mode

    str_vars = {
        "HTTP_HOST": "http_host",
        "TLS_CERT_FILE": "tls_cert_file",
        "TLS_KEY_FILE": "tls_key_file",
        "DB_HOST": "db_host",
        "DB_NAME": "db_name",
        "DB_USER": "db_user",
        "DB_PASS": "db_pass",
        "JWT_PRIVATE_KEY_FILE": "jwt_private_key_file",
        "JWT_PUBLIC_KEY_FILE": "jwt_public_key_file",
        "JWT_ISSUER": "jwt_issuer",
        "JWT_AUDIENCE": "jwt_audience",
        "ADMIN_EMAIL": "admin_email",
        "ADMIN_PASSWORD": "admin_password",
        "MAIL_SERVER": "mail_server",
        "MAIL_USERNAME": "mail_username",
        "MAIL_PASSWORD": "mail_password",
        "MAIL_DEFAULT_SENDER": "mail_sender",
        "PUBLIC_URL": "public_url",
        "SECRET_KEY": "secret_key",
        "SECURITY_PASSWORD_SALT": "security_password_salt",
        "PACKET_SERVICE_TARGETS": "packet_service_targets",
        "PROMETHEUS_URL": "prometheus_url",
        "PROMETHEUS_JOB": "prometheus_job",
        "AUTH_SERVICE_API_KEY": "auth_service_api_key",
    }
    for var, attr in str_vars.items():
        if var in env:
            values[attr] = env[var]

    int_vars = {
        "HTTP_PORT": ("http_port", 0, 65535),
        "GRPC_PORT": ("grpc_port", 0, 65535),
        "HTTP_THREADS": ("http_threads", 1, 256),
        "TRUSTED_PROXIES": ("trusted_proxies", 0, 10),
        "DB_PORT": ("db_port", 0, 65535),
        "DB_POOL_SIZE": ("db_pool_size", 0, 1000),
        "DB_MAX_RETRIES": ("db_max_retries", 0, 1000),
        "ACCESS_TOKEN_TTL": ("access_token_ttl", 5, None),
        "REFRESH_TOKEN_TTL": ("refresh_token_ttl", 60, None),
        "RESET_TOKEN_TTL": ("reset_token_ttl", 60, None),
        "BCRYPT_ROUNDS": ("bcrypt_rounds", 4, 31),
        "MAIL_PORT": ("mail_port", 1, 65535),
        "MAX_BODY_BYTES": ("max_body_bytes", 1024, None),
        "STATS_RATE_WINDOW": ("stats_rate_window", 2, 3600),
    }
    for var, (attr, low, high) in int_vars.items():
        if var in env:
            values[attr] = _int(var, env[var], low, high)

    bool_vars = {
        "HTTP1_ENABLED": "http1_enabled",
        "HTTP2_ENABLED": "http2_enabled",
        "HTTP3_ENABLED": "http3_enabled",
        "DB_INIT_SCHEMA": "db_init_schema",
        "MAIL_USE_TLS": "mail_use_tls",
        "MAIL_USE_SSL": "mail_use_ssl",
        "SECURITY_REGISTERABLE": "registerable",
        "GRPC_ENABLED": "grpc_enabled",
    }
    for var, attr in bool_vars.items():
        if var in env:
            values[attr] = _bool(var, env[var])

    if "PRINCIPAL_CACHE_TTL" in env:
        try:
            values["principal_cache_ttl"] = max(0.0, float(env["PRINCIPAL_CACHE_TTL"]))
        except ValueError:
            raise ConfigError(
                f"PRINCIPAL_CACHE_TTL: expected seconds, got {env['PRINCIPAL_CACHE_TTL']!r}"
            ) from None

    seconds_vars = {
        "PACKET_DEADLINE": ("packet_deadline", 0.05, 60.0),
        "PACKET_BREAKER_RESET": ("packet_breaker_reset", 0.1, 3600.0),
        "RULES_RECONCILE_INTERVAL": ("rules_reconcile_interval", 0.1, 3600.0),
        "STATS_MAX_STALE": ("stats_max_stale", 0.0, 86400.0),
        "PROMETHEUS_SCRAPE_INTERVAL": ("prometheus_scrape_interval", 0.1, 3600.0),
        "PROMETHEUS_TIMEOUT": ("prometheus_timeout", 0.1, 300.0),
        "REFRESH_REUSE_GRACE": ("refresh_reuse_grace", 0.0, 60.0),
    }
    for var, (attr, low, high) in seconds_vars.items():
        if var in env:
            try:
                seconds = float(env[var])
            except ValueError:
                raise ConfigError(f"{var}: expected seconds, got {env[var]!r}") from None
            if not low <= seconds <= high:
                raise ConfigError(f"{var}: expected {low}..{high} seconds, got {seconds}")
            values[attr] = seconds

    if "DB_RETRY_DELAY" in env:
        try:
            values["db_retry_delay"] = float(env["DB_RETRY_DELAY"])
        except ValueError:
            raise ConfigError(
                f"DB_RETRY_DELAY: expected seconds, got {env['DB_RETRY_DELAY']!r}"
            ) from None

    db_type = get("DB_TYPE", "sqlite").strip().lower()
    aliases = {"postgres": "postgresql", "pg": "postgresql", "mariadb": "mysql"}
    db_type = aliases.get(db_type, db_type)
    if db_type not in DB_TYPES:
        raise ConfigError(f"DB_TYPE: expected one of {', '.join(DB_TYPES)}, got {db_type!r}")
    values["db_type"] = db_type
    if not values.get("db_port"):
        values["db_port"] = DEFAULT_DB_PORTS.get(db_type, 0)

    algorithm = get("JWT_ALGORITHM", "").strip().upper()
    if not algorithm:
        algorithm = "RS256" if get("JWT_PRIVATE_KEY_FILE") else "HS256"
    if algorithm not in ("HS256", "RS256"):
        raise ConfigError(f"JWT_ALGORITHM: expected HS256 or RS256, got {algorithm!r}")
    values["jwt_algorithm"] = algorithm
    if algorithm == "RS256" and not (get("JWT_PRIVATE_KEY_FILE") and get("JWT_PUBLIC_KEY_FILE")):
        raise ConfigError("JWT_ALGORITHM=RS256 needs JWT_PRIVATE_KEY_FILE and JWT_PUBLIC_KEY_FILE")

    if "LOGIN_RATE_LIMIT" in env:
        values["login_rate_limit"] = RateLimit.parse(env["LOGIN_RATE_LIMIT"])
    if "AUTH_RPC_RATE_LIMIT" in env:
        values["auth_rpc_rate_limit"] = RateLimit.parse(
            env["AUTH_RPC_RATE_LIMIT"], "AUTH_RPC_RATE_LIMIT"
        )
    service_key = str(values.get("auth_service_api_key", "")).strip()
    if service_key and not re.fullmatch(r"rk_[0-9A-Za-z]{8}_[0-9A-Za-z_-]{32,}", service_key):
        raise ConfigError(
            "AUTH_SERVICE_API_KEY: expected an API key like rk_<8 characters>_<32 or more "
            "random characters> (docs/SECURITY.md shows how to make one)"
        )
    values["auth_service_api_key"] = service_key
    prometheus = str(values.get("prometheus_url", "")).strip()
    if prometheus and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", prometheus):
        raise ConfigError(
            f"PROMETHEUS_URL: expected like http://prometheus:9090, got {prometheus!r}"
        )
    values["prometheus_url"] = prometheus

    data_dir = Path(get("DATA_DIR") or base.data_dir).resolve()
    values["data_dir"] = data_dir

    for var, attr in (("SECRET_KEY", "secret_key"), ("SECURITY_PASSWORD_SALT", "salt")):
        if values.get(attr if attr != "salt" else "security_password_salt"):
            continue
        if mode == "production":
            raise ConfigError(f"{var} must be set when RELEASE_MODE=production")
        target = "secret_key" if attr == "secret_key" else "security_password_salt"
        values[target] = _persisted_secret(data_dir, f".{target}")

    if mode == "production":
        problem = production_secret_problem(str(values["secret_key"]))
        if problem:
            raise ConfigError(problem)

    known = {f.name for f in fields(Settings)}
    return Settings(**{k: v for k, v in values.items() if k in known})  # type: ignore[arg-type]
