"""AuthService (a real gRPC server on loopback) and API keys restricted to one team or one
rule set: such a key holds no global scope, so a sibling service asking about a global
scope (packets:write for packet-service) hears "not allowed", whatever scopes the key
lists, and the key cannot call AuthService itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from conftest import Api
from rookery_backend.gen import auth_pb2, auth_pb2_grpc
from rookery_backend.grpc_auth import build_grpc_server
from rookery_common.testing import free_port
from tenancy import data, new_team


@pytest.fixture
def auth_stub(app: Any) -> Iterator[auth_pb2_grpc.AuthServiceStub]:
    port = free_port()
    server = build_grpc_server(app, "127.0.0.1", port, workers=2)
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield auth_pb2_grpc.AuthServiceStub(channel)
    finally:
        channel.close()
        server.stop(None)


def new_key(api: Api, admin: str, scopes: list[str], **restriction: Any) -> str:
    body = {"name": f"key {len(scopes)} {sorted(restriction)}", "scopes": scopes, **restriction}
    return str(data(api.call("POST", "/api/v1/apikeys", admin, json=body))["key"])


def test_a_restricted_key_holds_no_global_scope_over_grpc(
    api: Api, auth_stub: auth_pb2_grpc.AuthServiceStub
) -> None:
    admin = api.admin_token()
    team = new_team(api, admin, "blue")
    sibling = [("authorization", f"Bearer {new_key(api, admin, ['auth:introspect'])}")]
    plain = new_key(api, admin, ["rules:read", "packets:write"])
    restricted = new_key(api, admin, ["rules:read", "packets:write"], team_id=team)

    def check(token: str) -> Any:
        request = auth_pb2.CheckScopeRequest(token=token, scope="packets:write")
        return auth_stub.CheckScope(request, timeout=10, metadata=sibling)

    assert check(plain).allowed is True
    refused = check(restricted)
    assert refused.valid is True and refused.allowed is False
    assert "restricted" in refused.reason
    validated = auth_stub.ValidateToken(
        auth_pb2.ValidateTokenRequest(token=restricted), timeout=10, metadata=sibling
    )
    assert validated.valid is True and list(validated.scopes) == []
    # a restricted key cannot be a sibling service's credential either
    caller = new_key(api, admin, ["auth:introspect", "rules:read"], team_id=team)
    with pytest.raises(grpc.RpcError) as raised:
        auth_stub.CheckScope(
            auth_pb2.CheckScopeRequest(token=plain, scope="rules:read"),
            timeout=10,
            metadata=[("authorization", f"Bearer {caller}")],
        )
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
