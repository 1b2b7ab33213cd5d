"""One error shape for every failure: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, g, jsonify
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

log = logging.getLogger("rookery.http")


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        keep_writes: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers or {}
        # Some refusals must still commit what they wrote (the audit line of a failed
        # login, the revocation of a reused refresh family).
        self.keep_writes = keep_writes


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> Any:
    response = jsonify(error_body(code, message, details))
    response.status_code = status
    return response


def validation_error(
    error: ValidationError, location: str = "body", message: str | None = None
) -> ApiError:
    fields: dict[str, str] = {}
    for item in error.errors():
        name = ".".join(str(part) for part in item["loc"]) or location
        fields.setdefault(name, item["msg"])
    names = ", ".join(fields)
    text = f"{message}: {names}" if message else f"invalid {location}: {names}"
    return ApiError(422, "validation_error", text, {"fields": fields})


HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def on_api_error(error: ApiError) -> Any:
        g.rollback = not error.keep_writes
        response = error_response(error.status, error.code, error.message, error.details)
        for name, value in error.headers.items():
            response.headers[name] = value
        return response

    @app.errorhandler(HTTPException)
    def on_http_error(error: HTTPException) -> Any:
        g.rollback = True
        status = error.code or 500
        code = HTTP_CODES.get(status, "http_error")
        response = error_response(status, code, error.description or error.name)
        if status == 405 and error.get_response().headers.get("Allow"):
            response.headers["Allow"] = error.get_response().headers["Allow"]
        return response

    @app.errorhandler(Exception)
    def on_unexpected(error: Exception) -> Any:
        g.rollback = True
        if is_database_outage(error):
            log.error("database unavailable", extra={"error": str(error).splitlines()[0]})
            response = error_response(
                503, "database_unavailable", "the database does not answer; try again"
            )
            response.headers["Retry-After"] = "5"
            return response
        log.exception("unhandled error")
        return error_response(500, "internal_error", "internal server error")


OUTAGE_CLASSES = ("OperationalError", "InterfaceError")
DRIVERS = ("sqlite3", "psycopg2", "pymysql")


def is_database_outage(error: BaseException) -> bool:
    """Connection-level driver errors: sqlite3, psycopg2 and pymysql all name them
    OperationalError or InterfaceError, and psycopg2 raises subclasses of those (AdminShutdown
    when the server restarts, QueryCanceled on a statement timeout). An error SQLAlchemy
    wraps is judged by the driver's error inside it."""
    error = getattr(error, "orig", None) or error
    return any(
        cls.__name__ in OUTAGE_CLASSES and cls.__module__.split(".")[0] in DRIVERS
        for cls in type(error).__mro__
    )
