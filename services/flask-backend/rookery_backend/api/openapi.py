"""The OpenAPI 3 document, generated from the app's routes, their pydantic models and the
policy table (which says what each route needs)."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ..policy import (
    AUTHENTICATED,
    FEATURES,
    PUBLIC,
    SCOPES,
    V1,
    OnResource,
    gated_feature,
    lowest_tier,
    required_scope,
    resource_of,
)
from .v1.bodies import SINGLE_LINE_PATTERN

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {"type": "object"},
            },
        }
    },
}


# Why an error status can happen; every error body is the Error schema.
ERROR_REASONS: dict[int, str] = {
    400: "malformed request: the body is not JSON, or a check of this operation failed",
    401: "no credential, or one that is not valid (or, signing in: wrong credentials)",
    403: "the credential lacks the scope, or this action is not allowed on this target",
    404: "no such resource",
    409: "conflicts with the current state of the resource",
    413: "the body is larger than the server accepts",
    415: "the body is not JSON (send Content-Type: application/json)",
    422: "invalid input: details.fields names each field and what is wrong with it",
    429: "too many attempts: Retry-After says when to try again",
    503: "the database does not answer (Retry-After) or an upstream service is away",
}
# Statuses views raise on their own, beyond what every route of their kind can give (see
# _error_statuses). A view can also declare them with endpoint(errors=...).
VIEW_ERRORS: dict[tuple[str, str], tuple[int, ...]] = {
    ("POST", f"{V1}/auth/login"): (401, 403, 429),
    ("POST", f"{V1}/auth/refresh"): (401,),
    ("POST", f"{V1}/auth/forgot"): (429,),
    ("PATCH", f"{V1}/auth/me"): (409,),
    ("POST", f"{V1}/auth/2fa/setup"): (409,),
    ("POST", f"{V1}/auth/2fa/confirm"): (409,),
    ("POST", f"{V1}/users"): (409,),
    ("PATCH", f"{V1}/users/<int:user_id>"): (409,),
    ("DELETE", f"{V1}/users/<int:user_id>"): (409,),
    ("POST", f"{V1}/roles"): (409,),
    ("PATCH", f"{V1}/roles/<int:role_id>"): (409,),
    ("DELETE", f"{V1}/roles/<int:role_id>"): (409,),
    ("DELETE", f"{V1}/apikeys/<int:key_id>"): (409,),
    ("POST", f"{V1}/apikeys/<int:key_id>/rotate"): (409,),
}
# Routes that answer without touching the database (so never 503).
NO_DATABASE = {
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", f"{V1}/openapi.json"),
    ("GET", f"{V1}/docs"),
    ("GET", f"{V1}/docs/<asset>"),
}


def _error_statuses(
    method: str, rule: str, doc: Any, requirement: str | None, params: list[dict[str, Any]]
) -> dict[int, str]:
    """Every error status the route can answer, with why."""
    statuses: set[int] = set(VIEW_ERRORS.get((method, rule), ()))
    if (method, rule) not in NO_DATABASE:
        statuses.add(503)
    if requirement not in (None, PUBLIC):
        statuses |= {401, 403}
    if doc.body is not None:
        statuses |= {400, 413, 415, 422}
    if doc.query is not None:
        statuses.add(422)
    in_path = [p for p in params if p["in"] == "path"]
    if in_path:
        statuses.add(404)  # nothing there (an int parameter that is no int routes nowhere)
    if any(p["schema"]["type"] == "string" for p in in_path):
        statuses.add(422)  # text path parameters obey the Text rules
    resource = resource_of(method, rule)
    if isinstance(resource, OnResource) and not resource.arg.startswith("body:"):
        statuses.add(422)  # the guard reads the id first: not a positive 64-bit integer
    reasons = {status: ERROR_REASONS[status] for status in statuses}
    feature = gated_feature(method, rule)
    if feature is not None:
        reasons[403] = (
            reasons[403] + "; " if 403 in reasons else ""
        ) + f"feature_not_licensed: the licence does not turn on '{feature}'"
    reasons.update(dict(doc.errors))
    return dict(sorted(reasons.items()))


def _gate_note(feature: str) -> str:
    tier = lowest_tier(feature)
    where = f"the {tier} tier or higher" if tier else "a licence that lists it"
    return (
        f"Licensed feature `{feature}` ({FEATURES[feature]}): needs {where} in production;"
        " 403 `feature_not_licensed` otherwise."
    )


def _path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    params = []
    for converter, name in re.findall(r"<(?:(\w+):)?(\w+)>", rule):
        schema: dict[str, Any] = {"type": "integer"}
        if converter != "int":  # text path parameters obey the Text rules (check_path)
            schema = {"type": "string", "pattern": SINGLE_LINE_PATTERN}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule), params


def _query_params(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


def build_openapi(app: Flask, version: str) -> dict[str, Any]:
    docs_by_view: list[tuple[str, str, Any]] = []
    models: set[type[BaseModel]] = set()
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        api_docs = getattr(view, "api_docs", None)
        if not api_docs:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            doc = api_docs.get(method)
            if doc is None:
                continue
            docs_by_view.append((rule.rule, method, doc))
            for model in (doc.body, doc.response, doc.meta):
                if model is not None:
                    models.add(model)
    _, defs = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
        ref_template="#/components/schemas/{model}",
    )
    schemas = dict(defs.get("$defs", {}))
    schemas["Error"] = ERROR_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for rule, method, doc in docs_by_view:
        path, params = _path(rule)
        if doc.query is not None:
            params = params + _query_params(doc.query)
        requirement = required_scope(method, rule)
        operation: dict[str, Any] = {
            "summary": doc.summary,
            "tags": [doc.tag],
            "operationId": f"{doc.tag}_{method.lower()}_{path.strip('/').replace('/', '_')}",
            "parameters": params,
            "responses": {},
        }
        if requirement not in (None, PUBLIC):
            scopes = [] if requirement == AUTHENTICATED else [requirement]
            operation["security"] = [{"bearer": scopes}, {"apiKey": scopes}]
            operation["description"] = (
                "Needs a valid credential." if not scopes else f"Needs the `{requirement}` scope."
            )
        feature = gated_feature(method, rule)
        if feature is not None:
            note = _gate_note(feature)
            described = operation.get("description")
            operation["description"] = f"{described} {note}" if described else note
            operation["x-rookery-feature"] = feature
        if doc.body is not None:
            operation["requestBody"] = {
                # A missing body reads as {}: needed only when some field is.
                "required": any(f.is_required() for f in doc.body.model_fields.values()),
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{doc.body.__name__}"}
                    }
                },
            }
        data_schema: dict[str, Any] = {}
        if doc.response is not None:
            ref = {"$ref": f"#/components/schemas/{doc.response.__name__}"}
            data_schema = {"type": "array", "items": ref} if doc.many else ref
        meta_schema: dict[str, Any] = {"type": "object"}
        if doc.meta is not None:
            meta_schema = {"$ref": f"#/components/schemas/{doc.meta.__name__}"}
        if doc.envelope:
            envelope: dict[str, Any] = {
                "type": "object",
                "required": ["data"],
                "properties": {"data": data_schema, "meta": meta_schema},
            }
        else:
            envelope = data_schema or {"type": "object"}
        operation["responses"][str(doc.status)] = {
            "description": "success",
            "content": {
                media_type: {"schema": envelope if "json" in media_type else {"type": "string"}}
                for media_type in doc.media_types
            },
        }
        error_ref = {
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        }
        for status, why in _error_statuses(method, rule, doc, requirement, params).items():
            operation["responses"][str(status)] = {"description": why, **error_ref}
        paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Rookery flask-backend API", "version": version},
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT or API key",
                    "description": "Scopes: " + ", ".join(SCOPES),
                },
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }
