"""Operations endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document and
Swagger UI."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from ..errors import error_response
from ..services import services
from . import endpoint
from .openapi import build_openapi
from .v1.schemas import HealthOut, ReadyOut

bp = Blueprint("ops", __name__)

SWAGGER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Rookery API</title>
<link rel="stylesheet" href="https://unpkg.com/swagger-ui-dist@5/swagger-ui.css"></head>
<body><div id="swagger"></div>
<script src="https://unpkg.com/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({url: "/api/v1/openapi.json", dom_id: "#swagger"});</script>
<noscript>The machine-readable document is at /api/v1/openapi.json</noscript>
</body></html>
"""


@endpoint(
    bp,
    "/healthz",
    "GET",
    "Liveness: the process answers (and its version)",
    response=HealthOut,
    envelope=False,
)
def healthz() -> Any:
    version = services().settings.version
    return jsonify({"status": "ok", "service": "flask-backend", "version": version})


@endpoint(
    bp,
    "/readyz",
    "GET",
    "Readiness: the database answers (503 otherwise)",
    response=ReadyOut,
    envelope=False,
)
def readyz() -> Any:
    svc = services()
    if svc.database.ping():
        return jsonify({"status": "ready", "database": svc.settings.db_type})
    return error_response(
        503,
        "database_unavailable",
        "the database does not answer",
        {"database": svc.settings.db_type},
    )


@endpoint(bp, "/metrics", "GET", "Prometheus metrics (text exposition format)", envelope=False)
def metrics() -> Any:
    return Response(services().metrics.render(), mimetype="text/plain; version=0.0.4")


@bp.get("/api/v1/openapi.json")
def openapi_document() -> Any:
    cache = current_app.extensions.setdefault("rookery_openapi", {})
    if "doc" not in cache:
        cache["doc"] = build_openapi(current_app, services().settings.version)
    return jsonify(cache["doc"])


@bp.get("/api/v1/docs")
def swagger_ui() -> Any:
    return Response(SWAGGER_PAGE, mimetype="text/html")
