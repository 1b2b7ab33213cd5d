"""The OpenAPI 3 document, generated from the app's routes, their pydantic models and the
policy table (which says what each route needs)."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ..policy import AUTHENTICATED, PUBLIC, SCOPES, required_scope

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


def _path(rule: str) -> tuple[str, list[dict[str, Any]]]:
    params = []
    for converter, name in re.findall(r"<(?:(\w+):)?(\w+)>", rule):
        kind = "integer" if converter == "int" else "string"
        params.append({"name": name, "in": "path", "required": True, "schema": {"type": kind}})
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
        if doc.body is not None:
            operation["requestBody"] = {
                "required": True,
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
                "properties": {"data": data_schema, "meta": meta_schema},
            }
        else:
            envelope = data_schema or {"type": "string"}
        operation["responses"][str(doc.status)] = {
            "description": "success",
            "content": {"application/json": {"schema": envelope}},
        }
        error_ref = {
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
        }
        for status, text in (
            ("401", "not authenticated"),
            ("403", "missing scope"),
            ("422", "invalid input"),
            *((str(code), why) for code, why in doc.errors),
        ):
            operation["responses"][status] = {"description": text, **error_ref}
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
