"""API keys: shown once, stored hashed, scoped within the creator's scopes, revocable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tenancy import add_ruleset, data, error_code, join, new_team, person


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


# -- keys restricted to a team or a rule set -----------------------------------------------
def test_a_key_restricted_to_a_team(app, api) -> None:

    admin = api.admin_token()
    team = new_team(api, admin, "Keyed")
    other_team = new_team(api, admin, "Unkeyed")
    mine = add_ruleset(app, "mine", team)
    theirs = add_ruleset(app, "theirs", other_team)
    # A global maintainer (may create keys) who is team-admin of one team.
    member = person(api, admin, "keyed@example.com", ["maintainer"])
    join(api, admin, team, member.id, "team-admin")
    scopes = ["rulesets:admin", "teams:read", "users:read"]
    reply = create(api, member.token, scopes=scopes, team_id=team)
    assert reply.status_code == 201
    created = data(reply)
    assert created["team_id"] == team and created["ruleset_id"] is None
    listed = data(api.call("GET", "/api/v1/apikeys", member.token))
    assert [(k["team_id"], k["ruleset_id"]) for k in listed] == [(team, None)]
    key = created["key"]
    # Inside the team: what the member holds there (rulesets:admin from the team role).
    assert api.call("GET", f"/api/v1/rulesets/{mine}/grants", key).status_code == 200
    assert api.call("GET", f"/api/v1/teams/{team}", key).status_code == 200
    # Outside it: nothing, not even what the owner holds globally.
    assert api.call("GET", f"/api/v1/rulesets/{theirs}/grants", key).status_code == 403
    assert api.call("GET", f"/api/v1/teams/{other_team}", key).status_code == 403
    # Routes on no resource: refused to a restricted key, even with the scope.
    refused = api.call("GET", "/api/v1/users", key)
    assert refused.status_code == 403 and error_code(refused) == "key_restricted"
    assert api.call("GET", "/api/v1/auth/me", key).status_code == 200  # any credential
    # Listings show only the team's resources.
    assert [t["id"] for t in data(api.call("GET", "/api/v1/teams", key))] == [team]
    # Created and audited with its restriction.
    line = data(api.call("GET", "/api/v1/audit?event=apikey_created", admin))[0]
    assert line["details"]["team_id"] == team


def test_a_key_restricted_to_a_rule_set(app, api) -> None:

    admin = api.admin_token()
    owned = add_ruleset(app, "owned", None)
    other = add_ruleset(app, "other", None)
    owner = person(api, admin, "owner@example.com", ["maintainer"])
    api.call("POST", f"/api/v1/rulesets/{owned}/grants", admin,
             json={"user_id": owner.id, "role": "owner"})  # fmt: skip
    reply = create(api, owner.token, scopes=["rulesets:admin", "rules:read"], ruleset_id=owned)
    assert reply.status_code == 201 and data(reply)["ruleset_id"] == owned
    key = data(reply)["key"]
    assert api.call("GET", f"/api/v1/rulesets/{owned}/grants", key).status_code == 200
    assert api.call("GET", f"/api/v1/rulesets/{other}/grants", key).status_code == 403


def test_restriction_rules(app, api) -> None:

    admin = api.admin_token()
    team = new_team(api, admin, "Strict")
    ruleset = add_ruleset(app, "strict", team)
    member = person(api, admin, "strict@example.com", ["viewer"])
    join(api, admin, team, member.id, "team-maintainer")
    # Only apikeys:write holders create keys: give this person a role with it.
    api.call(
        "POST",
        "/api/v1/roles",
        admin,
        json={"name": "keymaker", "scopes": ["apikeys:write", "apikeys:read"]},
    )
    api.call("PATCH", f"/api/v1/users/{member.id}", admin, json={"roles": ["viewer", "keymaker"]})
    token = api.login("strict@example.com", "password1")
    # Within the team, the member's team role counts; without the restriction it does not.
    assert create(api, token, scopes=["rules:write"], team_id=team).status_code == 201
    assert create(api, token, scopes=["rules:write"], ruleset_id=ruleset).status_code == 201
    unrestricted = create(api, token, scopes=["rules:write"])
    assert unrestricted.status_code == 403 and error_code(unrestricted) == "scope_escalation"
    beyond = create(api, token, scopes=["rulesets:admin"], team_id=team)
    assert beyond.status_code == 403 and error_code(beyond) == "scope_escalation"
    for body, status in (
        ({"team_id": team, "ruleset_id": ruleset}, 422),
        ({"team_id": "1"}, 422),
        ({"team_id": True}, 422),
        ({"team_id": 0}, 422),
        ({"team_id": 2**70}, 422),
        ({"ruleset_id": [1]}, 422),
        ({"team_id": 999999}, 404),
        ({"ruleset_id": 999999}, 404),
    ):
        reply = create(api, token, scopes=["rules:read"], **body)
        assert reply.status_code == status, (body, reply.get_json())
