"""Rookery flask-backend: accounts, roles, scopes, API keys and the audit log.

`create_app()` is the only place that wires things together; nothing is built at import.
"""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import timedelta
from typing import Any

from flask import Flask, g, request
from flask.sessions import SecureCookieSessionInterface
from flask_security import Security
from rookery_common.request_id import REQUEST_ID_HEADER, request_id

from .accounts import seed_roles_and_admin
from .config import Settings, load_settings
from .credentials import PrincipalCache, RefreshTokenStore
from .datastore import PydalUserDatastore
from .db import Database, create_schema, sqlalchemy_url, wait_for_database
from .errors import register_error_handlers
from .guard import install_guard
from .keys import FLASK_LABEL, TOTP_LABEL, derive_key
from .licensing import EXTENSION as LICENSE_EXTENSION
from .licensing import LicenseManager
from .mailer import Mailer
from .metrics import Metrics
from .models import ReplayGuardTotp
from .packet_link.link import PacketLink
from .ratelimit import (
    DatabaseThrottleStore,
    LoginRateLimiter,
    LoginThrottle,
    MemoryThrottleStore,
    ThrottleStore,
    throttle_engine,
)
from .runtime import Runtime
from .security import JwtCodec
from .tracing import setup_tracing

log = logging.getLogger("rookery.http")


def flask_security_config(settings: Settings) -> dict[str, Any]:
    # Tag "1" is how TOTP secrets were encrypted before keys were derived per purpose:
    # kept only so existing enrolments still decrypt; new ones use tag "2" (the highest).
    legacy_totp = hashlib.sha256(f"totp:{settings.secret_key}".encode()).hexdigest()
    totp_key = derive_key(settings.secret_key, TOTP_LABEL).hex()
    return {
        "SECRET_KEY": derive_key(settings.secret_key, FLASK_LABEL).hex(),
        "SECURITY_PASSWORD_SALT": settings.security_password_salt,
        "SECURITY_PASSWORD_HASH": "bcrypt",
        "SECURITY_PASSWORD_HASH_OPTIONS": {"bcrypt": {"rounds": settings.bcrypt_rounds}},
        "SECURITY_REGISTERABLE": settings.registerable,
        "SECURITY_RECOVERABLE": True,
        "SECURITY_CHANGEABLE": True,
        "SECURITY_TRACKABLE": True,
        "SECURITY_TWO_FACTOR": True,
        "SECURITY_TWO_FACTOR_ENABLED_METHODS": ["authenticator"],
        "SECURITY_TOTP_SECRETS": {"1": legacy_totp, "2": totp_key},
        "SECURITY_TOTP_ISSUER": "Rookery",
        "SECURITY_MULTI_FACTOR_RECOVERY_CODES": True,
        "SECURITY_RESET_PASSWORD_WITHIN": timedelta(seconds=settings.reset_token_ttl),
        # Rookery sends its own mail (mailer.py) and has JSON endpoints of its own.
        "SECURITY_SEND_PASSWORD_RESET_EMAIL": False,
        "SECURITY_SEND_PASSWORD_RESET_NOTICE_EMAIL": False,
        "SECURITY_SEND_PASSWORD_CHANGE_EMAIL": False,
        "SECURITY_REDIRECT_BEHAVIOR": "spa",
        "MAX_CONTENT_LENGTH": settings.max_body_bytes,
    }


def create_app(settings: Settings | None = None, *, initialise: bool = True) -> Flask:
    """Build the app. With initialise=True (the default) wait for the database, create the
    schema when DB_INIT_SCHEMA allows it, and seed the built-in roles and default admin."""
    settings = settings or load_settings()
    if initialise:
        wait_for_database(settings)
        if settings.db_init_schema:
            create_schema(settings)

    app = Flask(__name__)
    setup_tracing(app, settings.version)  # before any gRPC channel or server exists
    app.config.update(flask_security_config(settings))

    database = Database(settings)
    datastore = PydalUserDatastore(database)
    Security(app, datastore, register_blueprint=False, totp_cls=ReplayGuardTotp)
    _drop_session_identity_hook(app)
    # After Security(): FST installs its own JSON provider. Keep fields in model order.
    app.json.sort_keys = False  # type: ignore[attr-defined]
    principal_cache = PrincipalCache(settings.principal_cache_ttl)
    datastore.on_change.append(principal_cache.clear)
    metrics = Metrics(settings.version)
    throttle_store = _throttle_store(settings, database)
    metrics.watch_pool(database.pool_stats)
    app.extensions["rookery"] = Runtime(
        settings=settings,
        database=database,
        datastore=datastore,
        codec=JwtCodec(settings),
        refresh_tokens=RefreshTokenStore(
            database.dal,
            settings.refresh_token_ttl,
            on_revoke=principal_cache.clear,
            grace_seconds=settings.refresh_reuse_grace,
        ),
        rate_limiter=LoginRateLimiter(settings.login_rate_limit, store=throttle_store),
        login_throttle=LoginThrottle(settings.login_rate_limit, store=throttle_store),
        metrics=metrics,
        mailer=Mailer(settings),
        principal_cache=principal_cache,
        packet_link=PacketLink(settings, database),
    )

    if settings.trusted_proxies:
        # Behind MarchProxy: take the client address and scheme from the last N proxies'
        # X-Forwarded-For/-Proto (rate limits, audit IPs and the Secure cookie flag use them).
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]

    _install_request_lifecycle(app, database, metrics)
    # Licensed features (licensing/): production refuses a bad licence setting here.
    app.extensions[LICENSE_EXTENSION] = LicenseManager(settings, database)
    install_guard(app)
    register_error_handlers(app)
    _register_blueprints(app)

    if initialise:
        with app.app_context():
            try:
                seed_roles_and_admin(
                    datastore,
                    settings.admin_email,
                    settings.admin_password,
                    production=settings.production,
                )
                if settings.production:
                    # Start only with a licence in force (one line says why not); the
                    # workers then follow it as it changes (installed, expiring).
                    app.extensions[LICENSE_EXTENSION].check_at_start()
                database.end_request(ok=True)
            except Exception:
                database.end_request(ok=False)
                raise
    return app


def _throttle_store(settings: Settings, database: Database) -> ThrottleStore:
    """Login and recovery attempts: in the database (shared by every worker and replica)
    unless LOGIN_THROTTLE_STORE=memory."""
    if settings.login_throttle_store == "memory":
        return MemoryThrottleStore()
    sqlite = settings.db_type == "sqlite"
    engine = throttle_engine(sqlalchemy_url(settings), sqlite)

    def inline() -> Any | None:
        # SQLite: the request's connection when it already holds the write lock.
        connection = database.dal._adapter.connection
        return connection if getattr(connection, "in_transaction", False) else None

    return DatabaseThrottleStore(engine, inline if sqlite else None)


def _drop_session_identity_hook(app: Flask) -> None:
    """FST installs Flask-Principal, whose before-request hook loads a session/FST-token
    identity on every request (parsing headers, body and cookies). Rookery authenticates
    with its own bearer tokens in guard.py and never reads FST's current_user, so the hook
    only costs time (about a tenth of a small request)."""
    from flask_principal import Principal

    hooks = app.before_request_funcs.get(None, [])
    app.before_request_funcs[None] = [
        hook for hook in hooks if not isinstance(getattr(hook, "__self__", None), Principal)
    ]


def _register_blueprints(app: Flask) -> None:
    from .api.ops import bp as ops
    from .api.v1 import (
        apikeys,
        audit,
        auth,
        grants,
        license,
        roles,
        rules,
        rulesets,
        sensors,
        stats,
        teams,
        users,
    )

    blueprints = (
        ops,
        auth.bp,
        users.bp,
        roles.bp,
        apikeys.bp,
        audit.bp,
        rules.bp,
        stats.bp,
        license.bp,
        teams.bp,
        rulesets.bp,
        grants.bp,
        sensors.bp,
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)


class _LazyCookieSession(SecureCookieSessionInterface):
    """Flask's signed-cookie session, minus its cost on the requests that carry no session
    cookie and leave the session empty (every bearer-token request): Flask builds a signing
    serializer (a key derivation) to open it and reads six cookie settings to save it."""

    def open_session(self, app: Flask, request: Any) -> Any:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        if not session and not session.modified:
            if session.accessed:
                response.vary.add("Cookie")
            return
        super().save_session(app, session, response)


def _install_request_lifecycle(app: Flask, database: Database, metrics: Metrics) -> None:
    app.session_interface = _LazyCookieSession()
    # Read straight from the WSGI environ: Headers.get builds and catches an exception
    # for every absent header, and most callers send no request id.
    request_id_key = "HTTP_" + REQUEST_ID_HEADER.upper().replace("-", "_")

    @app.before_request
    def start_request() -> None:
        # A caller's id when it follows the one rule (rookery_common.request_id), else new.
        g.request_id = request_id(request.environ.get(request_id_key))
        g.started = time.perf_counter()
        g.rollback = False
        database.begin_request(read_only=request.method in ("GET", "HEAD"))

    @app.after_request
    def finish_request(response: Any) -> Any:
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        if isinstance(response.response, list) and not response.response:
            # hypercorn's WSGI bridge sends the status line with the first body chunk; a
            # body of no chunks at all (Flask's automatic OPTIONS answer) became a 500.
            response.set_data(b"")
        route = request.url_rule.rule if request.url_rule else "<unmatched>"
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        metrics.observe(request.method, route, response.status_code, elapsed)
        if log.isEnabledFor(logging.INFO):
            log.info(
                "request",
                extra={
                    "method": request.method,
                    "path": request.path,
                    "status": response.status_code,
                    "ms": round(elapsed * 1000, 2),
                },
            )
        return response

    @app.teardown_request
    def end_request(error: BaseException | None) -> None:
        database.end_request(ok=error is None and not g.get("rollback", False))
