"""API keys: shown once, stored hashed, scoped within the creator's scopes, revocable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def create(api, token, **body):
    return api.call("POST", "/api/v1/apikeys", token, json={"name": "ci", **body})


def test_key_is_shown_once_and_works_both_ways(api, app) -> None:
    admin = api.admin_token()
    reply = create(api, admin, scopes=["users:read"])
    assert reply.status_code == 201
    data = reply.get_json()["data"]
    key = data["key"]
    assert key.startswith(f"rk_{data['prefix']}_") and data["last_used_at"] is None
    listed = api.call("GET", "/api/v1/apikeys", admin).get_json()["data"]
    assert [k["id"] for k in listed] == [data["id"]] and "key" not in listed[0]
    # Only a hash is stored.
    dal = app.extensions["rookery"].dal
    row = dal(dal.api_key.id == data["id"]).select().first()
    assert key not in (row.key_hash, row.prefix) and len(row.key_hash) == 64
    dal.commit()
    assert api.call("GET", "/api/v1/users", key).status_code == 200
    via_header = api.call("GET", "/api/v1/users", headers={"X-API-Key": key})
    assert via_header.status_code == 200
    assert api.call("GET", "/api/v1/audit", key).status_code == 403  # not in its scopes
    used = api.call("GET", "/api/v1/apikeys", admin).get_json()["data"][0]
    assert used["last_used_at"] is not None


def test_key_cannot_exceed_creator_scopes(api) -> None:
    admin = api.admin_token()
    maintainer = api.user_token(admin, "m@example.com", ["maintainer"])
    reply = create(api, maintainer, scopes=["rules:read", "users:admin"])
    assert reply.status_code == 403
    assert reply.get_json()["error"]["details"]["scopes"] == ["users:admin"]
    assert create(api, maintainer, scopes=["rules:read"]).status_code == 201
    assert create(api, maintainer, scopes=["bogus"]).status_code == 422
    assert create(api, maintainer, scopes=[]).status_code == 422


def test_key_loses_scopes_its_creator_loses(api) -> None:
    admin = api.admin_token()
    maintainer = api.user_token(admin, "m2@example.com", ["maintainer"])
    key = create(api, maintainer, scopes=["audit:read"]).get_json()["data"]["key"]
    assert api.call("GET", "/api/v1/audit", key).status_code == 200
    me = api.call("GET", "/api/v1/auth/me", maintainer).get_json()["data"]
    api.call("PATCH", f"/api/v1/users/{me['id']}", admin, json={"roles": ["viewer"]})
    assert api.call("GET", "/api/v1/audit", key).status_code == 403


def test_revoke_and_rotate(api) -> None:
    admin = api.admin_token()
    first = create(api, admin, scopes=["users:read"]).get_json()["data"]
    rotated = api.call("POST", f"/api/v1/apikeys/{first['id']}/rotate", admin)
    assert rotated.status_code == 200
    new_key = rotated.get_json()["data"]["key"]
    assert new_key != first["key"]
    assert api.call("GET", "/api/v1/users", first["key"]).status_code == 401
    assert api.call("GET", "/api/v1/users", new_key).status_code == 200
    revoked = api.call("DELETE", f"/api/v1/apikeys/{first['id']}", admin)
    assert revoked.status_code == 200 and revoked.get_json()["data"]["revoked"] is True
    refused = api.call("GET", "/api/v1/users", new_key)
    assert refused.status_code == 401
    assert refused.get_json()["error"]["details"]["reason"] == "revoked"
    again = api.call("DELETE", f"/api/v1/apikeys/{first['id']}", admin)
    assert again.status_code == 409


def test_expired_key_is_refused(api) -> None:
    admin = api.admin_token()
    past = create(
        api,
        admin,
        scopes=["users:read"],
        expires_at=(datetime.now(UTC) - timedelta(hours=1)).isoformat(),
    )
    assert past.status_code == 422
    soon = create(
        api,
        admin,
        scopes=["users:read"],
        expires_at=(datetime.now(UTC) + timedelta(days=1)).isoformat(),
    )
    assert soon.status_code == 201 and soon.get_json()["data"]["expires_at"]


def test_keys_are_private_unless_all(api) -> None:
    admin = api.admin_token()
    maintainer = api.user_token(admin, "m3@example.com", ["maintainer"])
    theirs = create(api, maintainer, scopes=["rules:read"]).get_json()["data"]
    create(api, admin, scopes=["users:read"])
    assert len(api.call("GET", "/api/v1/apikeys", maintainer).get_json()["data"]) == 1
    assert api.call("GET", "/api/v1/apikeys?all=true", maintainer).status_code == 403
    assert len(api.call("GET", "/api/v1/apikeys?all=true", admin).get_json()["data"]) == 2
    # Another user's key is invisible to a maintainer, manageable by an admin.
    mine = create(api, admin, scopes=["users:read"]).get_json()["data"]
    assert api.call("DELETE", f"/api/v1/apikeys/{mine['id']}", maintainer).status_code == 404
    assert api.call("DELETE", f"/api/v1/apikeys/{theirs['id']}", admin).status_code == 200
