"""rookery.auth.v1.AuthService: flask-backend's gRPC face for sibling services.

A thin servicer over credentials.validate_credential, the same function the REST guard
uses, so a token means the same thing on both transports. Served on GRPC_PORT next to
the standard health service and server reflection."""

from __future__ import annotations

import logging
from concurrent import futures
from typing import Any

import grpc
from flask import Flask
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from .credentials import CredentialCheck, Principal, validate_credential
from .gen import auth_pb2, auth_pb2_grpc
from .policy import SCOPES
from .services import Services

log = logging.getLogger("rookery.grpc")
SERVICE_NAME = auth_pb2.DESCRIPTOR.services_by_name["AuthService"].full_name
KINDS = {"user": auth_pb2.PRINCIPAL_KIND_USER, "api_key": auth_pb2.PRINCIPAL_KIND_API_KEY}


def _principal(principal: Principal) -> auth_pb2.Principal:
    return auth_pb2.Principal(
        kind=KINDS.get(principal.kind, auth_pb2.PRINCIPAL_KIND_UNSPECIFIED),
        user_id=str(principal.user.id),
        email=principal.user.email,
        api_key_id=str(principal.api_key_id or ""),
    )


def _bearer(context: grpc.ServicerContext) -> str:
    for key, value in context.invocation_metadata():
        if (
            key == "authorization"
            and isinstance(value, str)
            and value.lower().startswith("bearer ")
        ):
            return value[7:].strip()
    return ""


def _request_id(context: grpc.ServicerContext) -> str:
    for key, value in context.invocation_metadata():
        if key == "x-request-id" and isinstance(value, str):
            return value[:128]
    return ""


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):
    def __init__(self, app: Flask) -> None:
        self._app = app
        self._svc: Services = app.extensions["rookery"]

    def _start(self, context: grpc.ServicerContext) -> None:
        context.send_initial_metadata((("rookery-version", self._svc.settings.version),))

    def _validate(self, token: str) -> CredentialCheck:
        svc = self._svc
        ok = False
        svc.database.begin_request()
        try:
            with self._app.app_context():
                check = validate_credential(token, svc.codec, svc.datastore, svc.principal_cache)
            ok = True
            return check
        finally:
            svc.database.end_request(ok=ok)

    def _require_token(self, token: str, context: grpc.ServicerContext) -> None:
        if not token.strip():
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "token: must not be empty")

    def ValidateToken(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._start(context)
        self._require_token(request.token, context)
        check = self._validate(request.token)
        if check.principal is None:
            return auth_pb2.ValidateTokenResponse(valid=False, reason=check.reason)
        return auth_pb2.ValidateTokenResponse(
            valid=True,
            principal=_principal(check.principal),
            scopes=sorted(check.principal.scopes),
            expires_at=check.principal.expires_at,
        )

    def CheckScope(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._start(context)
        self._require_token(request.token, context)
        if request.scope not in SCOPES:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"scope: unknown scope {request.scope!r}"
            )
        check = self._validate(request.token)
        if check.principal is None:
            return auth_pb2.CheckScopeResponse(valid=False, allowed=False, reason=check.reason)
        allowed = request.scope in check.principal.scopes
        return auth_pb2.CheckScopeResponse(
            valid=True,
            allowed=allowed,
            principal=_principal(check.principal),
            expires_at=check.principal.expires_at,
            reason="" if allowed else f"missing scope {request.scope}",
        )

    def GetUser(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._start(context)
        token = _bearer(context)
        if not token:
            context.abort(
                grpc.StatusCode.UNAUTHENTICATED, "missing 'authorization: Bearer' metadata"
            )
        caller = self._validate(token)
        if caller.principal is None:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, f"invalid credential: {caller.reason}")
        if "users:read" not in caller.principal.scopes:
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "scope 'users:read' required")
        if not request.id.isdigit():
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "id: must be a user id (digits)")
        svc = self._svc
        ok = False
        svc.database.begin_request()
        try:
            with self._app.app_context():
                user = svc.datastore.find_user(id=int(request.id))
            ok = True
        finally:
            svc.database.end_request(ok=ok)
        if user is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"id: no user {request.id}")
        created = int(user.created_at.timestamp()) if user.created_at else 0
        return auth_pb2.User(
            id=str(user.id),
            email=user.email,
            active=bool(user.active),
            roles=sorted(role.name for role in user.roles),
            scopes=sorted(user.scopes),
            created_at=created,
        )


def build_grpc_server(app: Flask, host: str, port: int, workers: int = 8) -> grpc.Server:
    server = grpc.server(futures.ThreadPoolExecutor(workers, thread_name_prefix="grpc-auth"))
    auth_pb2_grpc.add_AuthServiceServicer_to_server(AuthServicer(app), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (
            SERVICE_NAME,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ),
        server,
    )
    bind_host = f"[{host}]" if ":" in host else host
    server.add_insecure_port(f"{bind_host}:{port}")
    return server
