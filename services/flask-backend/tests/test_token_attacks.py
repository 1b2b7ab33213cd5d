"""Forged, expired, foreign and malformed credentials are refused with 401 JSON, never 500."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

ME = "/api/v1/auth/me"


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def assert_refused(api, token: str, reason: str | None = None) -> None:
    reply = api.call("GET", ME, token)
    assert reply.status_code == 401, reply.get_json()
    error = reply.get_json()["error"]
    assert error["code"] in ("invalid_token", "unauthorized")
    if reason:
        assert error["details"]["reason"] == reason


def test_alg_none_is_refused(api) -> None:
    claims = claims_of(api.admin_token())
    forged = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims)}."
    assert_refused(api, forged, "malformed")


def test_tampered_payload_is_refused(api) -> None:
    viewer = api.user_token(api.admin_token(), "v@example.com", ["viewer"])
    header, _, signature = viewer.split(".")
    claims = claims_of(viewer)
    claims["scope"] = "users:admin users:read"
    assert_refused(api, f"{header}.{b64(claims)}.{signature}", "malformed")


def test_expired_token_is_refused(app, api) -> None:
    secret = app.extensions["rookery"].codec.signing_key
    claims = claims_of(api.admin_token())
    claims.update(iat=int(time.time()) - 3600, exp=int(time.time()) - 60)
    assert_refused(api, jwt.encode(claims, secret, algorithm="HS256"), "expired")


@pytest.mark.parametrize("field,value", [("aud", "someone-else"), ("iss", "evil")])
def test_foreign_audience_or_issuer_is_refused(app, api, field, value) -> None:
    secret = app.extensions["rookery"].codec.signing_key
    claims = claims_of(api.admin_token())
    claims[field] = value
    assert_refused(api, jwt.encode(claims, secret, algorithm="HS256"), "unknown")


def test_token_signed_with_another_key_is_refused(api) -> None:
    claims = claims_of(api.admin_token())
    forged = jwt.encode(claims, "another-secret-of-sufficient-length-123456", algorithm="HS256")
    assert_refused(api, forged, "malformed")


def test_other_algorithm_is_refused(app, api) -> None:
    secret = app.extensions["rookery"].codec.signing_key
    claims = claims_of(api.admin_token())
    assert_refused(api, jwt.encode(claims, secret, algorithm="HS512"), "malformed")


def test_missing_claims_are_refused(app, api) -> None:
    secret = app.extensions["rookery"].codec.signing_key
    claims = claims_of(api.admin_token())
    del claims["jti"]
    assert_refused(api, jwt.encode(claims, secret, algorithm="HS256"), "malformed")
    claims = claims_of(api.admin_token())
    claims["sub"] = "not-a-number"
    assert_refused(api, jwt.encode(claims, secret, algorithm="HS256"), "malformed")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Basic YWRtaW46YWRtaW4=",
        "Bearer a.b.c",
        "Bearer rk_short",
        "Bearer rk_abcdefgh_guessed-secret",
        "Bearer \u00e9\u00e9",
        "Bearer " + "x" * 5000,
    ],
)
def test_garbage_credentials_are_401_json(api, header) -> None:
    reply = api.call("GET", ME, headers={"Authorization": header})
    assert reply.status_code == 401
    assert reply.get_json()["error"]["code"] in ("invalid_token", "unauthorized")


def test_deleted_user_token_is_refused(api) -> None:
    admin = api.admin_token()
    token = api.user_token(admin, "gone@example.com", ["viewer"])
    user_id = api.call("GET", ME, token).get_json()["data"]["id"]
    assert api.call("DELETE", f"/api/v1/users/{user_id}", admin).status_code == 200
    assert_refused(api, token, "unknown")


def test_deactivated_user_token_is_refused(api) -> None:
    admin = api.admin_token()
    token = api.user_token(admin, "off@example.com", ["viewer"])
    user_id = api.call("GET", ME, token).get_json()["data"]["id"]
    api.call("PATCH", f"/api/v1/users/{user_id}", admin, json={"active": False})
    assert_refused(api, token, "inactive")


def test_removed_role_takes_effect_at_once(api) -> None:
    admin = api.admin_token()
    token = api.user_token(admin, "demoted@example.com", ["maintainer"])
    user_id = api.call("GET", ME, token).get_json()["data"]["id"]
    assert api.call("GET", "/api/v1/audit", token).status_code == 200
    api.call("PATCH", f"/api/v1/users/{user_id}", admin, json={"roles": ["viewer"]})
    assert api.call("GET", "/api/v1/audit", token).status_code == 403
