"""Shared fixtures. Database-touching suites run once per backend listed in
ROOKERY_TEST_DBS (sqlite, postgresql, mysql; default sqlite). A backend left out is skipped
with a reason saying so; a backend in ROOKERY_REQUIRE_DBS that cannot connect fails.

ROOKERY_TEST_SHARD=<backend> keeps only that backend's share of the suite, so the three
backends can run in three pytest processes at once (scripts/test-all.sh does, with
DBS=all): a test that needs no database backend goes, with its module, to one of the
three, and a test that asks for the `postgresql` fixture belongs to the postgresql shard."""

from __future__ import annotations

import email
import os
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from rookery_backend import create_app
from rookery_backend.config import RateLimit, Settings, load_settings
from rookery_backend.db import create_schema, drop_schema, sqlalchemy_url
from rookery_backend.policy import BUILTIN_ROLES
from rookery_backend.tables import TABLES
from rookery_common.testing import free_port

SERVICE_DIR = Path(__file__).resolve().parents[1]

BACKENDS = ("sqlite", "postgresql", "mysql")
LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL", "mysql": "MySQL/MariaDB"}
ADMIN_EMAIL = "admin@localhost.local"
ADMIN_PASSWORD = "admin123"


def _listed(var: str) -> set[str]:
    return {b.strip() for b in os.environ.get(var, "").split(",") if b.strip()}


def selected_backends() -> set[str]:
    return _listed("ROOKERY_TEST_DBS") or {"sqlite"}


def base_env(data_dir: Path) -> dict[str, str]:
    return {
        "RELEASE_MODE": "test",
        "DATA_DIR": str(data_dir),
        "SECRET_KEY": "test-secret-key-that-is-long-enough-for-hs512-too-0123456789abcdef",
        "SECURITY_PASSWORD_SALT": "test-salt",
        "BCRYPT_ROUNDS": "4",
        "LOGIN_RATE_LIMIT": "1000/minute",
        "DB_MAX_RETRIES": "2",
        "DB_RETRY_DELAY": "0.05",
        "ADMIN_EMAIL": ADMIN_EMAIL,
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
    }


def backend_env(backend: str) -> dict[str, str]:
    env = {"DB_TYPE": backend}
    if backend == "postgresql":
        prefix = "TEST_PG_"
    elif backend == "mysql":
        prefix = "TEST_MYSQL_"
    else:
        return env
    for key in ("HOST", "PORT", "USER", "PASS", "NAME"):
        value = os.environ.get(prefix + key)
        if value is not None:
            env[f"DB_{key}"] = value
    return env


def settings_for(backend: str, data_dir: Path, **overrides: Any) -> Settings:
    env = {**base_env(data_dir), **backend_env(backend)}
    settings = load_settings(env)
    return settings.with_overrides(**overrides) if overrides else settings


_schema_ready: set[str] = set()


def _reachable(settings: Settings) -> str | None:
    engine = sa.create_engine(sqlalchemy_url(settings), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        return None
    except sa.exc.SQLAlchemyError as error:
        return str(error).splitlines()[0]
    finally:
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    name = request.param
    if name not in selected_backends():
        pytest.skip(f"{LABELS[name]} suite NOT run (set DBS=all or ROOKERY_TEST_DBS)")
    if name != "sqlite" and name not in _schema_ready:
        settings = settings_for(name, tmp_path_factory.mktemp(f"{name}-probe"))
        problem = _reachable(settings)
        if problem:
            message = f"{LABELS[name]} not reachable: {problem}"
            if name in _listed("ROOKERY_REQUIRE_DBS"):
                pytest.fail(message)
            pytest.skip(message)
        # Each test session starts from a clean schema.
        drop_schema(settings)
        create_schema(settings)
        _schema_ready.add(name)
    return name


def _empty_tables(settings: Settings) -> None:
    engine = sa.create_engine(sqlalchemy_url(settings), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            for spec in reversed(TABLES):
                connection.execute(sa.text(f"DELETE FROM {spec.name}"))
    finally:
        engine.dispose()


@pytest.fixture
def make_settings(backend: str, tmp_path: Path):
    def build(**overrides: Any) -> Settings:
        return settings_for(backend, tmp_path, **overrides)

    return build


@pytest.fixture
def app_factory(make_settings) -> Iterator[Any]:
    """create_app with setting overrides; PostgreSQL/MariaDB tables are emptied afterwards."""
    made: list[Settings] = []

    def build(**overrides: Any) -> Any:
        settings = make_settings(**overrides)
        made.append(settings)
        return create_app(settings)

    yield build
    for settings in made[-1:]:
        if settings.db_type != "sqlite":
            _empty_tables(settings)


@pytest.fixture
def app(app_factory) -> Any:
    return app_factory()


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@dataclass(slots=True)
class Api:
    """A thin test helper around Flask's test client that speaks the JSON envelope."""

    client: Any

    def call(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> Any:
        headers = dict(kwargs.pop("headers", {}) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def login(self, email: str, password: str, **extra: Any) -> str:
        reply = self.call(
            "POST", "/api/v1/auth/login", json={"email": email, "password": password, **extra}
        )
        assert reply.status_code == 200, reply.get_json()
        return reply.get_json()["data"]["access_token"]

    def admin_token(self) -> str:
        return self.login(ADMIN_EMAIL, ADMIN_PASSWORD)

    def create_user(self, admin: str, email: str, roles: list[str], password: str = "password1"):
        reply = self.call(
            "POST",
            "/api/v1/users",
            admin,
            json={"email": email, "password": password, "roles": roles},
        )
        assert reply.status_code == 201, reply.get_json()
        return reply.get_json()["data"]

    def user_token(self, admin: str, email: str, roles: list[str]) -> str:
        self.create_user(admin, email, roles)
        return self.login(email, "password1")


@pytest.fixture
def api(client: Any) -> Api:
    return Api(client)


@pytest.fixture
def principals(api: Api) -> dict[str, str | None]:
    """A credential for every kind of caller the policy table distinguishes."""
    admin = api.admin_token()
    maintainer = api.user_token(admin, "maintainer@example.com", ["maintainer"])
    viewer = api.user_token(admin, "viewer@example.com", ["viewer"])
    key = api.call(
        "POST",
        "/api/v1/apikeys",
        admin,
        json={"name": "matrix", "scopes": ["rules:read", "stats:read"]},
    )
    assert key.status_code == 201, key.get_json()
    # A key holding every scope: still a machine credential, refused on account routes.
    admin_key = api.call(
        "POST",
        "/api/v1/apikeys",
        admin,
        json={"name": "matrix-admin", "scopes": sorted(BUILTIN_ROLES["admin"][1])},
    )
    assert admin_key.status_code == 201, admin_key.get_json()
    return {
        "admin": admin,
        "maintainer": maintainer,
        "viewer": viewer,
        "apikey": key.get_json()["data"]["key"],
        "apikey-admin": admin_key.get_json()["data"]["key"],
        "anonymous": None,
    }


# -- a real SMTP server on loopback -----------------------------------------------------------
class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[email.message.Message]:
        # Mail leaves on a background thread; wait for it (bounded), never a fixed sleep.
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, inbox
    controller.stop()


@pytest.fixture
def mail_app(app_factory, smtp):
    controller, _ = smtp
    return app_factory(
        mail_server="127.0.0.1", mail_port=controller.port, public_url="http://ui.example"
    )


__all__ = ["ADMIN_EMAIL", "ADMIN_PASSWORD", "Api", "RateLimit", "settings_for"]


def shard_of(item: pytest.Item) -> str:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "backend" in callspec.params:
        return str(callspec.params["backend"])
    if "postgresql" in getattr(item, "fixturenames", ()):
        return "postgresql"
    # A test that needs no database goes with its module to one of the three, the same one
    # every run: the shards come out about even.
    return BACKENDS[zlib.crc32(item.path.name.encode()) % len(BACKENDS)]


def _elsewhere(item: pytest.Item) -> bool:
    """A `single_database` test (it checks a protocol or a parser, nothing a database backend
    changes) parametrized for a backend other than SQLite: left out, not run three times."""
    callspec = getattr(item, "callspec", None)
    backend = callspec.params.get("backend") if callspec is not None else None
    return (
        backend not in (None, "sqlite") and item.get_closest_marker("single_database") is not None
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    repeated = [item for item in items if _elsewhere(item)]
    if repeated:
        config.hook.pytest_deselected(items=repeated)
        items[:] = [item for item in items if not _elsewhere(item)]
    shard = os.environ.get("ROOKERY_TEST_SHARD", "").strip()
    if not shard:
        return
    if shard not in BACKENDS:
        raise pytest.UsageError(f"ROOKERY_TEST_SHARD must be one of {', '.join(BACKENDS)}")
    kept = [item for item in items if shard_of(item) == shard]
    config.hook.pytest_deselected(items=[item for item in items if shard_of(item) != shard])
    items[:] = kept


def pytest_terminal_summary(terminalreporter: Any) -> None:
    shard = os.environ.get("ROOKERY_TEST_SHARD", "").strip()
    selected = {shard} if shard in BACKENDS else selected_backends()
    ran = [LABELS[b] for b in BACKENDS if b in _schema_ready or (b == "sqlite" and b in selected)]
    unreachable = [LABELS[b] for b in BACKENDS if b in selected and LABELS[b] not in ran]
    missing = [LABELS[b] for b in BACKENDS if b not in selected]
    line = f"flask-backend database suites ran on: {', '.join(ran) or 'none'}"
    if shard in BACKENDS:
        terminalreporter.write_line(f"{line} (this process ran the {LABELS[shard]} shard only)")
        return
    if unreachable:
        line += f"; UNREACHABLE: {', '.join(unreachable)}"
    if missing:
        line += f"; NOT run on: {', '.join(missing)} (make test DBS=all)"
    terminalreporter.write_line(line)
