"""The REST layer's shared pieces: the envelope, body/query parsing with pydantic, and the
`endpoint` decorator whose metadata (models, summary, status) feeds the OpenAPI document."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Blueprint, current_app, jsonify, request
from pydantic import BaseModel, TypeAdapter, ValidationError

from ..errors import ApiError, validation_error
from .v1.bodies import single_line

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
    meta: type[BaseModel] | None = None  # what the envelope's "meta" holds
    errors: tuple[tuple[int, str], ...] = ()  # statuses only this view gives: (status, why)
    media_types: tuple[str, ...] = ("application/json",)  # of the success response


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
    meta: type[BaseModel] | None = None,
    errors: tuple[tuple[int, str], ...] = (),
    media_types: tuple[str, ...] = ("application/json",),
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a view for one method and record what the OpenAPI document says of it."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        docs: dict[str, EndpointDoc] = getattr(view, "api_docs", {})
        docs[method] = EndpointDoc(
            summary,
            blueprint.name,
            body,
            query,
            response,
            many,
            status,
            envelope,
            meta,
            errors,
            media_types,
        )
        view.api_docs = docs  # type: ignore[attr-defined]

        @functools.wraps(view)
        def checked(**path: Any) -> Any:
            check_path(path)
            return view(**path)

        blueprint.add_url_rule(
            rule, endpoint=f"{view.__name__}_{method.lower()}", view_func=checked, methods=[method]
        )
        return view

    return decorate


def is_json_media_type(mimetype: str) -> bool:
    """application/json, or a structured-syntax +json type (application/merge-patch+json)."""
    kind, _, subtype = mimetype.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


def parse_body(model: type[M]) -> M:
    """The request's JSON body as `model`. Not JSON → 415; not parseable → 400; missing or
    invalid fields → 422 naming them."""
    raw = request.get_data(cache=True)
    missing = not raw.strip()
    if missing:
        raw = b"{}"
    elif not is_json_media_type(request.mimetype):
        raise ApiError(
            415,
            "unsupported_media_type",
            "the request body must be JSON (Content-Type: application/json)",
            {"content_type": request.mimetype or None},
        )
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        if not any(item["type"] == "json_invalid" for item in error.errors()):
            if missing:
                raise validation_error(error, "body", "this request needs a JSON body") from None
            raise validation_error(error, "body") from None
    # The fast parser refuses lone surrogates ("\ud800") that the JSON grammar allows;
    # read the text with the standard parser so such a field is named like any other.
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nesting the fast parser refused
        raise ApiError(400, "invalid_json", "the request body is not valid JSON") from None
    try:
        model.model_validate(value)
    except ValidationError as error:
        raise validation_error(error, "body") from None
    raise ApiError(400, "invalid_json", "the request body is not valid UTF-8 JSON")


def parse_query(model: type[M]) -> M:
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as error:
        raise validation_error(error, "query") from None


def check_path(values: dict[str, Any]) -> None:
    """Text path parameters (/rules/<rule_id>) obey the same rules as body text: 422 naming
    the parameter, before a view hands it to the database."""
    fields: dict[str, str] = {}
    for name, value in values.items():
        if isinstance(value, str):
            try:
                single_line(value)
            except ValueError as error:
                fields[name] = str(error)
    if fields:
        raise ApiError(
            422, "validation_error", f"invalid path: {', '.join(fields)}", {"fields": fields}
        )


def _compact_json(value: Any) -> bytes:
    """As jsonify writes it (app.json: compact, keys in their order)."""
    return current_app.json.dumps(value).encode()  # type: ignore[no-any-return]


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
            # A list straight to JSON bytes: pydantic's serializer is several times faster
            # than dumping to Python values and then encoding those again.
            adapter = _list_adapter(model)
            encoded = adapter.dump_json(adapter.validate_python(data))
            tail = b"}" if meta is None else b',"meta":' + _compact_json(meta) + b"}"
            response = current_app.response_class(
                b'{"data":' + encoded + tail, status=status, mimetype="application/json"
            )
            return response
        else:
            data = model.model_validate(data).model_dump(mode="json")
    body: dict[str, Any] = {"data": data}
    if meta is not None:
        body["meta"] = meta
    response = jsonify(body)
    response.status_code = status
    return response
