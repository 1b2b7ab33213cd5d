"""Operations endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document and
Swagger UI."""

from __future__ import annotations

import importlib.util
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, send_from_directory
from pydantic import BaseModel, Field

from ..errors import error_response
from ..licensing import license_manager
from ..runtime import runtime
from . import endpoint
from .openapi import build_openapi
from .v1.bodies import HealthOut, ReadyOut

log = logging.getLogger("rookery.http")
bp = Blueprint("ops", __name__)


class LicenseBriefOut(BaseModel):
    """Where the licence stands (no customer details: this endpoint is public)."""

    status: str = Field(description="development, unlicensed, not_yet_valid, valid, grace, expired")
    expires_at: datetime | None = None
    grace_ends_at: datetime | None = None
    warnings: list[str] = Field(default_factory=list)


class ReadinessOut(ReadyOut):
    # The licence never makes the service unready: accounts, rules and packets go on.
    license: LicenseBriefOut | None = None


def _license_brief() -> dict[str, Any] | None:
    try:
        status = license_manager().status()
        claims = status.license.claims if status.license else None
        grace_ends = status.grace_ends_at
        return LicenseBriefOut(
            status=status.status,
            expires_at=datetime.fromtimestamp(claims.exp, UTC) if claims else None,
            grace_ends_at=datetime.fromtimestamp(grace_ends, UTC) if grace_ends else None,
            warnings=list(status.warnings),
        ).model_dump(mode="json")
    except Exception:  # a database blip after the ping: readiness stays the ping's answer
        log.warning("licence state unavailable for /readyz", exc_info=True)
        return None


# Swagger UI is served from the files of the swagger-ui-py wheel (Swagger UI 5, which
# reads OpenAPI 3.1), so the docs work offline and under a CSP without inline script.
SWAGGER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Rookery API</title>
<link rel="stylesheet" href="/api/v1/docs/swagger-ui.css"></head>
<body><div id="swagger"></div>
<script src="/api/v1/docs/swagger-ui-bundle.js"></script>
<script src="/api/v1/docs/init.js"></script>
<noscript>The machine-readable document is at /api/v1/openapi.json</noscript>
</body></html>
"""
SWAGGER_INIT = 'SwaggerUIBundle({url: "/api/v1/openapi.json", dom_id: "#swagger"});\n'
# What the page may load: its own script files (no inline code, no eval) and stylesheet,
# the document it fetches, and the data: images the stylesheet embeds. Swagger UI 5 styles
# its elements through the DOM (allowed), so no inline style is needed either: checked in
# headless Chromium (operations expanded, "Try it out" run) with no violation reported.
SWAGGER_CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
SWAGGER_ASSETS = {"swagger-ui.css": "text/css", "swagger-ui-bundle.js": "text/javascript"}


def _swagger_static_dir() -> Path:
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the swagger-ui-py package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


@endpoint(
    bp,
    "/healthz",
    "GET",
    "Liveness: the process answers (and its version)",
    response=HealthOut,
    envelope=False,
)
def healthz() -> Any:
    version = runtime().settings.version
    return jsonify({"status": "ok", "service": "flask-backend", "version": version})


@endpoint(
    bp,
    "/readyz",
    "GET",
    "Readiness: the database answers (503 otherwise)",
    response=ReadinessOut,
    envelope=False,
)
def readyz() -> Any:
    svc = runtime()
    if svc.database.ping():
        return jsonify(
            {"status": "ready", "database": svc.settings.db_type, "license": _license_brief()}
        )
    return error_response(
        503,
        "database_unavailable",
        "the database does not answer",
        {"database": svc.settings.db_type},
    )


PROMETHEUS_TEXT = "text/plain; version=0.0.4"


@endpoint(
    bp,
    "/metrics",
    "GET",
    "Prometheus metrics (text exposition format)",
    envelope=False,
    media_types=(PROMETHEUS_TEXT,),
)
def metrics() -> Any:
    return Response(runtime().metrics.render(), mimetype=PROMETHEUS_TEXT)


@endpoint(bp, "/api/v1/openapi.json", "GET", "This OpenAPI 3.1 document", envelope=False)
def openapi_document() -> Any:
    cache = current_app.extensions.setdefault("rookery_openapi", {})
    if "doc" not in cache:
        cache["doc"] = build_openapi(current_app, runtime().settings.version)
    return jsonify(cache["doc"])


@endpoint(
    bp,
    "/api/v1/docs",
    "GET",
    "Swagger UI for this document (HTML)",
    envelope=False,
    media_types=("text/html",),
)
def swagger_ui() -> Any:
    response = Response(SWAGGER_PAGE, mimetype="text/html")
    response.headers["Content-Security-Policy"] = SWAGGER_CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@endpoint(
    bp,
    "/api/v1/docs/<asset>",
    "GET",
    "Swagger UI's script and stylesheet",
    envelope=False,
    media_types=tuple(sorted(set(SWAGGER_ASSETS.values()))),
)
def swagger_asset(asset: str) -> Any:
    if asset == "init.js":
        return Response(SWAGGER_INIT, mimetype="text/javascript")
    if asset not in SWAGGER_ASSETS:
        return error_response(404, "not_found", f"no documentation asset {asset!r}")
    response = send_from_directory(_swagger_static_dir(), asset, mimetype=SWAGGER_ASSETS[asset])
    response.cache_control.max_age = 86400
    response.cache_control.public = True
    return response
