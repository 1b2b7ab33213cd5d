"""Settings validation, the one schema definition, the PyDAL datastore and start-up
behaviour when the database is away."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import SERVICE_DIR, base_env, settings_for
from rookery_backend import create_app
from rookery_backend.config import ConfigError, RateLimit, load_settings
from rookery_backend.db import DatabaseUnavailable, sqlalchemy_url, wait_for_database
from rookery_backend.policy import BUILTIN_ROLES
from rookery_backend.tables import TABLES, column_names
from rookery_common.testing import free_port


def test_defaults_and_overrides(tmp_path: Path) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path)})
    assert settings.http_port == 8080 and settings.http_host == "127.0.0.1"
    assert settings.bcrypt_rounds == 12 and settings.access_token_ttl == 900
    assert settings.refresh_token_ttl == 14 * 86400
    assert settings.login_rate_limit == RateLimit(10, 60)
    assert settings.db_type == "sqlite" and settings.jwt_algorithm == "HS256"
    assert len(settings.secret_key) >= 32  # generated and kept in DATA_DIR for development
    assert load_settings({"DATA_DIR": str(tmp_path)}).secret_key == settings.secret_key
    custom = load_settings(
        {
            "DATA_DIR": str(tmp_path),
            "DB_TYPE": "mariadb",
            "LOGIN_RATE_LIMIT": "5/hour",
            "HTTP2_ENABLED": "false",
        }
    )
    assert custom.db_type == "mysql" and custom.db_port == 3306
    assert custom.login_rate_limit == RateLimit(5, 3600) and not custom.http2_enabled


@pytest.mark.parametrize(
    "env,needle",
    [
        ({"DB_TYPE": "oracle"}, "DB_TYPE"),
        ({"HTTP_PORT": "eighty"}, "HTTP_PORT"),
        ({"BCRYPT_ROUNDS": "2"}, "BCRYPT_ROUNDS"),
        ({"LOGIN_RATE_LIMIT": "lots"}, "LOGIN_RATE_LIMIT"),
        ({"HTTP3_ENABLED": "maybe"}, "HTTP3_ENABLED"),
        ({"JWT_ALGORITHM": "RS256"}, "JWT_PRIVATE_KEY_FILE"),
        ({"JWT_ALGORITHM": "none"}, "JWT_ALGORITHM"),
        ({"RELEASE_MODE": "production"}, "SECRET_KEY"),
        (
            {"RELEASE_MODE": "production", "SECRET_KEY": "short", "SECURITY_PASSWORD_SALT": "s"},
            "32 characters",
        ),
    ],
)
def test_bad_settings_are_named(tmp_path: Path, env: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_settings({"DATA_DIR": str(tmp_path), **env})


def test_rs256_key_pair(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from rookery_backend.security import JwtCodec, TokenInvalid

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = tmp_path / "jwt.key"
    public = tmp_path / "jwt.pub"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    settings = load_settings(
        {
            **base_env(tmp_path),
            "JWT_PRIVATE_KEY_FILE": str(private),
            "JWT_PUBLIC_KEY_FILE": str(public),
        }
    )
    assert settings.jwt_algorithm == "RS256"
    codec = JwtCodec(settings)
    token, _ = codec.issue(7, {"users:read"}, ["viewer"], "abcdef0123456789", None)
    assert codec.verify(token).user_id == 7
    # HS256 signed with the public key (the classic confusion attack) is refused.
    import jwt

    claims = jwt.decode(token, options={"verify_signature": False})
    with pytest.raises(TokenInvalid):
        codec.verify(jwt.encode(claims, "x" * 64, algorithm="HS256"))


def test_one_definition_drives_both_libraries(app) -> None:
    settings = app.extensions["rookery"].settings
    engine = sa.create_engine(sqlalchemy_url(settings), poolclass=sa.pool.NullPool)
    inspector = sa.inspect(engine)
    dal = app.extensions["rookery"].dal
    for spec in TABLES:
        expected = {"id", *column_names(spec)}
        live = {c["name"] for c in inspector.get_columns(spec.name)}
        assert live == expected, spec.name
        assert set(dal[spec.name].fields) == expected, spec.name
    engine.dispose()


def test_datastore_round_trip(app) -> None:
    datastore = app.extensions["rookery"].datastore
    with app.app_context():
        user = datastore.create_user(
            email="Mixed@Case.Example", password=None, roles=["viewer"], tf_phone_number="+4412345"
        )
        datastore.commit()
        found = datastore.find_user(email="mixed@CASE.example")
        assert found is not None and found.id == user.id
        assert found.role_names == ["viewer"] and found.tf_phone_number == "+4412345"
        assert datastore.find_user(fs_uniquifier=user.fs_uniquifier).id == user.id
        assert datastore.find_user(id="not-a-number") is None
        assert datastore.find_user(email="nobody@example.com") is None
        # put writes None too, and the role links.
        found.tf_phone_number = None
        datastore.add_role_to_user(found, "maintainer")
        datastore.remove_role_from_user(found, "viewer")
        datastore.commit()
        again = datastore.find_user(id=user.id)
        assert again.tf_phone_number is None and again.role_names == ["maintainer"]
        datastore.set_uniquifier(again)
        datastore.commit()
        assert datastore.find_user(id=user.id).fs_uniquifier == again.fs_uniquifier
        role = datastore.find_or_create_role("ops", permissions="rules:read, stats:read")
        assert datastore.find_role("ops").get_permissions() == {"rules:read", "stats:read"}
        datastore.delete_user(again)
        datastore.delete(role)
        datastore.commit()
        assert datastore.find_user(id=user.id) is None and datastore.find_role("ops") is None
        dal = app.extensions["rookery"].dal
        assert dal(dal.auth_user_role.user_id == user.id).count() == 0
        dal.commit()


def test_seeding_is_idempotent(app_factory) -> None:
    first = app_factory()
    second = app_factory()
    for flask_app in (first, second):
        dal = flask_app.extensions["rookery"].dal
        assert dal(dal.auth_user).count() == 1
        assert dal(dal.auth_role).count() == len(BUILTIN_ROLES)
        dal.commit()


def test_wait_for_database_gives_up(tmp_path: Path) -> None:
    settings = load_settings(
        {
            **base_env(tmp_path),
            "DB_TYPE": "postgresql",
            "DB_PORT": str(free_port()),
            "DB_MAX_RETRIES": "2",
            "DB_RETRY_DELAY": "0.01",
        }
    )
    with pytest.raises(DatabaseUnavailable, match="after 3 attempts"):
        wait_for_database(settings)


def test_server_exits_with_one_clear_line(tmp_path: Path) -> None:
    env = {
        **base_env(tmp_path),
        "DB_TYPE": "mysql",
        "DB_PORT": str(free_port()),
        "DB_MAX_RETRIES": "1",
        "DB_RETRY_DELAY": "0.01",
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "-m", "rookery_backend", "serve"],
        env=env,
        cwd=SERVICE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3
    last = result.stderr.strip().splitlines()[-1]
    assert "giving up" in last and "did not answer after 2 attempts" in last


def test_create_app_without_initialise_does_not_touch_schema(tmp_path: Path) -> None:
    settings = load_settings(base_env(tmp_path))
    flask_app = create_app(settings, initialise=False)
    assert "rookery" in flask_app.extensions


def test_production_refuses_the_default_admin_password(tmp_path: Path) -> None:
    env = {
        **base_env(tmp_path),
        "RELEASE_MODE": "production",
        "ADMIN_PASSWORD": "admin123",
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "-m", "rookery_backend", "serve"],
        env=env,
        cwd=SERVICE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "ADMIN_PASSWORD is the development default" in result.stderr.strip().splitlines()[-1]


def test_readyz_and_requests_when_the_database_goes_away(backend: str, tmp_path: Path) -> None:
    """A real outage: the service's PostgreSQL database is dropped under it."""
    if backend != "postgresql":
        pytest.skip("needs PostgreSQL (DROP DATABASE ... WITH (FORCE) cuts live sessions)")
    settings = settings_for("postgresql", tmp_path)
    admin_url = sqlalchemy_url(settings)
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        connection.execute(sa.text("DROP DATABASE IF EXISTS rookery_outage WITH (FORCE)"))
        connection.execute(sa.text("CREATE DATABASE rookery_outage"))
    try:
        outage = settings.with_overrides(db_name="rookery_outage")
        client = create_app(outage).test_client()
        assert client.get("/readyz").status_code == 200
        with engine.connect() as connection:
            connection.execute(sa.text("DROP DATABASE rookery_outage WITH (FORCE)"))
        assert client.get("/healthz").status_code == 200
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.get_json()["error"]["code"] == "database_unavailable"
        login = client.post("/api/v1/auth/login", json={"email": "a@b.c", "password": "x"})
        assert login.status_code == 503 and login.headers["Retry-After"] == "5"
    finally:
        with engine.connect() as connection:
            connection.execute(sa.text("DROP DATABASE IF EXISTS rookery_outage WITH (FORCE)"))
        engine.dispose()


def test_trusted_proxy_address_is_used(app_factory) -> None:
    from conftest import Api
    from rookery_backend.config import RateLimit

    api = Api(app_factory(trusted_proxies=1, login_rate_limit=RateLimit(2, 60)).test_client())
    body = {"email": "nobody@example.com", "password": "x"}

    def attempt(client_ip: str) -> int:
        headers = {"X-Forwarded-For": client_ip}
        return api.call("POST", "/api/v1/auth/login", json=body, headers=headers).status_code

    # The limit is per forwarded client address (not one bucket for everything behind the
    # proxy); the audit line carries the forwarded client address, not the proxy's.
    assert [attempt("203.0.113.7"), attempt("203.0.113.7")] == [401, 401]
    assert attempt("203.0.113.7") == 429
    assert attempt("203.0.113.8") == 401
    admin = api.admin_token()
    events = api.call("GET", "/api/v1/audit?event=login_failed", admin).get_json()["data"]
    assert {e["ip"] for e in events} == {"203.0.113.7", "203.0.113.8"}


def test_http3_needs_tls_and_says_so(tmp_path: Path, caplog) -> None:
    from rookery_backend.server import hypercorn_config

    settings = load_settings({**base_env(tmp_path), "HTTP3_ENABLED": "true"})
    with caplog.at_level("WARNING", logger="rookery.startup"):
        config = hypercorn_config(settings)
    assert not config.quic_bind
    assert any("HTTP/3 needs TLS_CERT_FILE" in r.getMessage() for r in caplog.records)
    plain = hypercorn_config(load_settings({**base_env(tmp_path), "HTTP2_ENABLED": "false"}))
    assert plain.alpn_protocols == ["http/1.1"]
    with pytest.raises(ConfigError):
        hypercorn_config(
            load_settings(
                {**base_env(tmp_path), "HTTP1_ENABLED": "false", "HTTP2_ENABLED": "false"}
            )
        )
