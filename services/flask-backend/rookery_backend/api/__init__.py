"""The REST layer's shared pieces: the envelope, body/query parsing with pydantic, and the
`endpoint` decorator whose metadata (models, summary, status) feeds the OpenAPI document."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Blueprint, jsonify, request
from pydantic import BaseModel, TypeAdapter, ValidationError

from ..errors import ApiError, validation_error

M = TypeVar("M", bound=BaseModel)


@dataclass(slots=True)
class EndpointDoc:
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    many: bool = False
    status: int = 200
    envelope: bool = True  # False: the body is the model itself (operations endpoints)


def endpoint(
    blueprint: Blueprint,
    rule: str,
    method: str,
    summary: str,
    *,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    many: bool = False,
    status: int = 200,
    envelope: bool = True,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a view for one method and record what the OpenAPI document says of it."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        docs: dict[str, EndpointDoc] = getattr(view, "api_docs", {})
        docs[method] = EndpointDoc(
            summary, blueprint.name, body, query, response, many, status, envelope
        )
        view.api_docs = docs  # type: ignore[attr-defined]
        blueprint.add_url_rule(
            rule, endpoint=f"{view.__name__}_{method.lower()}", view_func=view, methods=[method]
        )
        return view

    return decorate


def parse_body(model: type[M]) -> M:
    raw = request.get_data(cache=True)
    if not raw.strip():
        raw = b"{}"
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        if any(item["type"] == "json_invalid" for item in error.errors()):
            raise ApiError(400, "invalid_json", "the request body is not valid JSON") from None
        raise validation_error(error, "body") from None


def parse_query(model: type[M]) -> M:
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as error:
        raise validation_error(error, "query") from None


@functools.cache
def _list_adapter(model: type[BaseModel]) -> TypeAdapter[Any]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def respond(
    data: Any,
    model: type[BaseModel] | None = None,
    *,
    status: int = 200,
    meta: dict[str, Any] | None = None,
) -> Any:
    if model is not None:
        if isinstance(data, list):
            adapter = _list_adapter(model)
            data = adapter.dump_python(adapter.validate_python(data), mode="json")
        else:
            data = model.model_validate(data).model_dump(mode="json")
    body: dict[str, Any] = {"data": data}
    if meta is not None:
        body["meta"] = meta
    response = jsonify(body)
    response.status_code = status
    return response
