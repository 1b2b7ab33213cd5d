"""/api/v1/teams and /api/v1/team-roles: teams, members, team roles; who sees and changes
what; no escalation; deleting a team; the audit trail; hostile input."""

from __future__ import annotations

import pytest
from rookery_backend.policy import TEAM_ROLES
from tenancy import (
    add_ruleset,
    add_sensor,
    data,
    database,
    error_code,
    grant,
    join,
    new_team,
    person,
)

TEAMS = "/api/v1/teams"


def members_of(api, token, team_id):
    return {
        m["user_id"]: m["role"] for m in data(api.call("GET", f"{TEAMS}/{team_id}/members", token))
    }


def audit_events(api, admin, event):
    return data(api.call("GET", f"/api/v1/audit?event={event}", admin))


def test_create_list_get_patch_a_team(api) -> None:
    admin = api.admin_token()
    created = api.call("POST", TEAMS, admin, json={"name": "  Blue  ", "description": "edge"})
    assert created.status_code == 201
    team = created.get_json()["data"]
    assert team["name"] == "Blue" and team["member_count"] == 0 and team["my_role"] is None
    for n in range(3):
        new_team(api, admin, f"Team {n}")
    page = api.call("GET", f"{TEAMS}?page=2&per_page=2", admin).get_json()
    assert page["meta"] == {"total": 4, "page": 2, "per_page": 2}
    assert [t["name"] for t in page["data"]] == ["Team 1", "Team 2"]
    patched = api.call("PATCH", f"{TEAMS}/{team['id']}", admin, json={"description": "new"})
    assert data(patched)["description"] == "new" and data(patched)["name"] == "Blue"
    renamed = data(api.call("PATCH", f"{TEAMS}/{team['id']}", admin, json={"name": "Navy"}))
    assert renamed["name"] == "Navy"
    assert data(api.call("GET", f"{TEAMS}/{team['id']}", admin))["name"] == "Navy"
    assert api.call("GET", f"{TEAMS}/999999", admin).status_code == 404
    events = [e["event"] for e in audit_events(api, admin, "team_updated")]
    assert events == ["team_updated", "team_updated"]
    created_line = audit_events(api, admin, "team_created")[-1]
    assert created_line["target"] == f"team:{team['id']}" and created_line["target_label"]


def test_team_names_are_unique_as_read(api) -> None:
    admin = api.admin_token()
    new_team(api, admin, "Red")
    other = new_team(api, admin, "Green")
    for name in ("red", "RED ", "\uff32\uff45\uff44"):  # case, spacing, full-width look-alike
        reply = api.call("POST", TEAMS, admin, json={"name": name})
        assert reply.status_code == 409 and error_code(reply) == "conflict", name
    assert api.call("PATCH", f"{TEAMS}/{other}", admin, json={"name": "rEd"}).status_code == 409
    # A different script is a different name (Cyrillic capital IE): accepted, stored as given.
    assert data(api.call("POST", TEAMS, admin, json={"name": "R\u0415d"}))["name"] == "R\u0415d"


@pytest.mark.parametrize(
    "body",
    [
        {"name": "a\x00b"},
        {"name": "tab\there"},
        {"name": "line\nbreak"},
        {"name": "\u0085next"},
        {"name": "x" * 65},
        {"name": "   "},
        {"name": ""},
        {"name": 7},
        {"name": ["Red"]},
        {"name": None},
        {},
        {"name": "ok", "description": 5},
        {"name": "ok", "description": "bell\x07"},
        {"name": "ok", "description": "y" * 1001},
    ],
)
def test_hostile_team_bodies_are_422(api, body) -> None:
    admin = api.admin_token()
    reply = api.call("POST", TEAMS, admin, json=body)
    assert reply.status_code == 422, (body, reply.get_json())
    assert error_code(reply) == "validation_error"


def test_hostile_requests_never_500(api) -> None:
    admin = api.admin_token()
    team = new_team(api, admin, "Solid")
    cases = [
        ("POST", TEAMS, {"data": b"{not json", "content_type": "application/json"}, 400),
        ("POST", TEAMS, {"data": b"name=x", "content_type": "text/plain"}, 415),
        ("POST", TEAMS, {"json": ["a", "list"]}, 422),
        ("POST", TEAMS, {"json": {"name": "a" * 10_000}}, 422),
        ("POST", TEAMS, {"json": {"name": "a" * 10_000_000}}, 413),
        ("POST", f"{TEAMS}/{team}/members", {"json": {"user_id": "1", "role": "team-viewer"}}, 422),
        (
            "POST",
            f"{TEAMS}/{team}/members",
            {"json": {"user_id": True, "role": "team-viewer"}},
            422,
        ),
        (
            "POST",
            f"{TEAMS}/{team}/members",
            {"json": {"user_id": 2**70, "role": "team-viewer"}},
            422,
        ),
        ("POST", f"{TEAMS}/{team}/members", {"json": {"user_id": -1, "role": "team-viewer"}}, 422),
        ("POST", f"{TEAMS}/{team}/members", {"json": {"user_id": 1, "role": "team\x00admin"}}, 422),
        (
            "POST",
            f"{TEAMS}/{team}/members",
            {"json": {"user_id": 1, "role": "t\u0435am-admin"}},
            422,
        ),
        ("POST", f"{TEAMS}/{team}/members", {"json": {"user_id": 1, "role": 3}}, 422),
        ("GET", f"{TEAMS}?page=0", {}, 422),
        ("GET", f"{TEAMS}?per_page=100000", {}, 422),
        ("GET", f"{TEAMS}?page=abc", {}, 422),
        ("GET", f"{TEAMS}/99999999999999999999999", {}, 422),  # past 64 bits
        ("PATCH", f"{TEAMS}/{team}", {"json": {"name": "\ud800"}}, 422),
        # Ids past any column's range: not found, never a database error.
        ("PATCH", f"{TEAMS}/{team}/members/{2**70}", {"json": {"role": "team-viewer"}}, 404),
        ("DELETE", f"{TEAMS}/{team}/members/{2**70}", {}, 404),
        ("DELETE", f"/api/v1/team-roles/{2**70}", {}, 404),
        ("GET", f"/api/v1/rulesets/{2**70}/grants", {}, 422),
    ]
    for method, path, kwargs, status in cases:
        reply = api.call(method, path, admin, **kwargs)
        assert reply.status_code == status, (method, path, kwargs, reply.get_json(silent=True))
        body = reply.get_json(silent=True)
        assert body and body["error"]["code"] and body["error"]["message"]


def test_members_add_change_remove_and_audit(api) -> None:
    admin = api.admin_token()
    team = new_team(api, admin, "Ops")
    member = person(api, admin, "member@example.com")
    added = api.call(
        "POST", f"{TEAMS}/{team}/members", admin, json={"user_id": member.id, "role": "team-viewer"}
    )
    assert added.status_code == 201
    assert data(added)["scopes"] == sorted(TEAM_ROLES["team-viewer"][1])
    assert data(added)["email"] == "member@example.com"
    again = api.call(
        "POST", f"{TEAMS}/{team}/members", admin, json={"user_id": member.id, "role": "team-admin"}
    )
    assert again.status_code == 409
    unknown = api.call(
        "POST", f"{TEAMS}/{team}/members", admin, json={"user_id": 999999, "role": "team-admin"}
    )
    assert unknown.status_code == 404
    no_role = api.call(
        "POST", f"{TEAMS}/{team}/members", admin, json={"user_id": member.id, "role": "overlord"}
    )
    assert no_role.status_code == 422 and "role" in no_role.get_json()["error"]["details"]["fields"]
    assert (
        api.call(
            "POST", f"{TEAMS}/999999/members", admin, json={"user_id": 1, "role": "team-admin"}
        ).status_code
        == 404
    )
    changed = api.call(
        "PATCH", f"{TEAMS}/{team}/members/{member.id}", admin, json={"role": "team-maintainer"}
    )
    assert data(changed)["role"] == "team-maintainer"
    assert members_of(api, admin, team) == {member.id: "team-maintainer"}
    # The member sees their team, and their role in it.
    listed = data(api.call("GET", TEAMS, member.token))
    assert [(t["id"], t["my_role"], t["member_count"]) for t in listed] == [
        (team, "team-maintainer", 1)
    ]
    assert api.call("DELETE", f"{TEAMS}/{team}/members/{member.id}", admin).status_code == 200
    assert api.call("DELETE", f"{TEAMS}/{team}/members/{member.id}", admin).status_code == 404
    assert members_of(api, admin, team) == {}
    assert api.call("GET", TEAMS, member.token).status_code == 403  # no team, no global scope
    for event in ("team_member_added", "team_member_updated", "team_member_removed"):
        line = audit_events(api, admin, event)[-1]
        assert line["target"] == f"team:{team}" and line["details"]["user_id"] == member.id
        assert line["actor_email"] == "admin@localhost.local"
    assert audit_events(api, admin, "team_member_updated")[-1]["details"]["previous_role"] == (
        "team-viewer"
    )


def test_members_pagination(api) -> None:
    admin = api.admin_token()
    team = new_team(api, admin, "Many")
    for n in range(5):
        created = api.create_user(admin, f"p{n}@example.com", [])
        join(api, admin, team, created["id"], "team-viewer")
    page = api.call("GET", f"{TEAMS}/{team}/members?per_page=2&page=3", admin).get_json()
    assert page["meta"] == {"total": 5, "page": 3, "per_page": 2} and len(page["data"]) == 1


def test_team_roles_reach_only_their_team(api) -> None:
    admin = api.admin_token()
    mine = new_team(api, admin, "Mine")
    theirs = new_team(api, admin, "Theirs")
    boss = person(api, admin, "boss@example.com")
    viewer = person(api, admin, "v@example.com")
    person(api, admin, "out@example.com")
    join(api, admin, mine, boss.id, "team-admin")
    join(api, admin, mine, viewer.id, "team-viewer")
    # A team-admin manages their team's members...
    reply = api.call(
        "POST",
        f"{TEAMS}/{mine}/members",
        boss.token,
        json={"email": "out@example.com", "role": "team-maintainer"},
    )
    assert reply.status_code == 201
    assert data(api.call("PATCH", f"{TEAMS}/{mine}", boss.token, json={"description": "ours"}))
    # ...not another team's, and cannot create or delete teams (global teams:admin).
    for method, path, body in (
        ("GET", f"{TEAMS}/{theirs}", None),
        ("POST", f"{TEAMS}/{theirs}/members", {"email": "out@example.com", "role": "team-viewer"}),
        ("DELETE", f"{TEAMS}/{mine}", None),
        ("POST", TEAMS, {"name": "Extra"}),
        ("GET", f"{TEAMS}/999999", None),  # unknown: refused, not "not found"
    ):
        reply = api.call(method, path, boss.token, json=body)
        assert reply.status_code == 403 and error_code(reply) == "insufficient_scope", path
    # A team-viewer reads the team and its members, changes nothing.
    assert api.call("GET", f"{TEAMS}/{mine}/members", viewer.token).status_code == 200
    assert (
        api.call(
            "PATCH",
            f"{TEAMS}/{mine}/members/{viewer.id}",
            viewer.token,
            json={"role": "team-admin"},
        ).status_code
        == 403
    )
    assert [t["id"] for t in data(api.call("GET", TEAMS, viewer.token))] == [mine]


def test_no_escalation_through_team_roles(api) -> None:
    """A member who may manage members (teams:admin) but lacks rules:write cannot make
    anyone a maintainer, nor change or remove a member holding more than they do."""
    admin = api.admin_token()
    team = new_team(api, admin, "Guarded")
    data(
        api.call(
            "POST",
            "/api/v1/team-roles",
            admin,
            json={"name": "door-keeper", "scopes": ["teams:read", "teams:admin"]},
        )
    )
    keeper = person(api, admin, "keeper@example.com")
    boss = person(api, admin, "boss2@example.com")
    newcomer = person(api, admin, "new@example.com")
    join(api, admin, team, keeper.id, "door-keeper")
    join(api, admin, team, boss.id, "team-admin")
    members = f"{TEAMS}/{team}/members"
    up = api.call(
        "POST", members, keeper.token, json={"email": "new@example.com", "role": "team-maintainer"}
    )
    assert up.status_code == 403 and error_code(up) == "scope_escalation"
    assert "rules:write" in up.get_json()["error"]["details"]["scopes"]
    # Within what they hold: fine.
    ok = api.call(
        "POST", members, keeper.token, json={"email": "new@example.com", "role": "door-keeper"}
    )
    assert ok.status_code == 201
    # Promoting someone (or themselves) past their own scopes: refused.
    for uid in (newcomer.id, keeper.id):
        reply = api.call("PATCH", f"{members}/{uid}", keeper.token, json={"role": "team-admin"})
        assert reply.status_code == 403 and error_code(reply) == "scope_escalation"
    # Demoting or removing someone holding more: refused.
    demote = api.call("PATCH", f"{members}/{boss.id}", keeper.token, json={"role": "door-keeper"})
    assert demote.status_code == 403
    assert api.call("DELETE", f"{members}/{boss.id}", keeper.token).status_code == 403
    assert members_of(api, admin, team)[boss.id] == "team-admin"
    # A global maintainer (teams:read only) manages no team at all.
    maintainer = api.user_token(admin, "gm@example.com", ["maintainer"])
    assert (
        api.call(
            "POST", members, maintainer, json={"email": "new@example.com", "role": "team-viewer"}
        ).status_code
        == 403
    )


def test_deleting_a_team(app, api) -> None:
    admin = api.admin_token()
    team = new_team(api, admin, "Doomed")
    member = person(api, admin, "doomed@example.com", ["maintainer"])
    join(api, admin, team, member.id, "team-admin")
    ruleset = add_ruleset(app, "doomed-set", team)
    sensor = add_sensor(app, "doomed-sensor", ruleset, team)
    global_set = add_ruleset(app, "shared", None)
    grant(api, admin, global_set, "viewer", team_id=team)
    key = api.call(
        "POST", "/api/v1/apikeys", member.token,
        json={"name": "team key", "scopes": ["teams:read"], "team_id": team},
    )  # fmt: skip
    key_secret = data(key)["key"]
    assert api.call("GET", f"{TEAMS}/{team}", key_secret).status_code == 200
    refused = api.call("DELETE", f"{TEAMS}/{team}", admin)
    assert refused.status_code == 409 and error_code(refused) == "team_in_use"
    assert refused.get_json()["error"]["details"] == {"rulesets": 1, "sensors": 1}
    with database(app) as dal:  # move the resources away (their own API does it normally)
        dal(dal.sensor.id == sensor).update(team_id=None)
        dal(dal.packet_ruleset.id == ruleset).update(team_id=None)
    deleted = data(api.call("DELETE", f"{TEAMS}/{team}", admin))
    assert deleted == {
        "id": team,
        "name": "Doomed",
        "members_removed": 1,
        "grants_removed": 1,
        "apikeys_revoked": 1,
    }
    assert api.call("GET", f"{TEAMS}/{team}", admin).status_code == 404
    assert api.call("GET", f"{TEAMS}/{team}", key_secret).status_code == 401  # revoked
    with database(app) as dal:
        assert dal(dal.team_member.team_id == team).count() == 0
        assert dal(dal.ruleset_grant.team_id == team).count() == 0
        assert dal(dal.packet_ruleset.id == ruleset).count() == 1  # the rule set stays
    line = audit_events(api, admin, "team_deleted")[-1]
    assert line["details"]["name"] == "Doomed" and line["details"]["grants_removed"] == 1


def test_custom_team_roles(api) -> None:
    admin = api.admin_token()
    roles = "/api/v1/team-roles"
    listed = api.call("GET", roles, admin).get_json()
    assert [r["name"] for r in listed["data"]] == list(TEAM_ROLES)
    assert all(r["builtin"] and r["id"] is None for r in listed["data"])
    created = api.call(
        "POST",
        roles,
        admin,
        json={"name": "auditor", "description": "reads", "scopes": ["rules:read", "stats:read"]},
    )
    assert created.status_code == 201
    role = data(created)
    assert role["scopes"] == ["rules:read", "stats:read"] and not role["builtin"]
    for body, status in (
        ({"name": "auditor", "scopes": ["rules:read"]}, 409),
        ({"name": "AUDITOR", "scopes": ["rules:read"]}, 409),
        ({"name": "team-admin", "scopes": ["rules:read"]}, 409),
        ({"name": "custom", "scopes": ["rules:read"]}, 409),
        ({"name": "boss", "scopes": ["users:admin"]}, 422),  # not a resource scope
        ({"name": "boss", "scopes": ["nonsense"]}, 422),
        ({"name": "boss", "scopes": []}, 422),
        ({"name": "bad name", "scopes": ["rules:read"]}, 422),
        ({"name": "\u0430uditor", "scopes": ["rules:read"]}, 422),  # Cyrillic a
        ({"name": "x" * 65, "scopes": ["rules:read"]}, 422),
        ({"name": "ok", "scopes": "rules:read"}, 422),
    ):
        reply = api.call("POST", roles, admin, json=body)
        assert reply.status_code == status, (body, reply.get_json())
    team = new_team(api, admin, "Auditors")
    someone = person(api, admin, "aud@example.com")
    join(api, admin, team, someone.id, "auditor")
    busy = api.call("DELETE", f"{roles}/{role['id']}", admin)
    assert busy.status_code == 409 and error_code(busy) == "team_role_in_use"
    api.call("DELETE", f"{TEAMS}/{team}/members/{someone.id}", admin)
    assert api.call("DELETE", f"{roles}/{role['id']}", admin).status_code == 200
    assert api.call("DELETE", f"{roles}/{role['id']}", admin).status_code == 404
    assert [e["event"] for e in audit_events(api, admin, "team_role_created")] == [
        "team_role_created"
    ]
    assert audit_events(api, admin, "team_role_deleted")[-1]["details"]["name"] == "auditor"
    # Managing team roles is global role management.
    maintainer = api.user_token(admin, "m@example.com", ["maintainer"])
    assert api.call("GET", roles, maintainer).status_code == 200
    assert (
        api.call(
            "POST", roles, maintainer, json={"name": "z", "scopes": ["rules:read"]}
        ).status_code
        == 403
    )
