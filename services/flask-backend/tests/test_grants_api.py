"""/api/v1/rulesets/{id}/grants: grants to users and teams, what they open, who may give
them (no escalation), duplicates, unknown ids, the audit trail and hostile input."""

from __future__ import annotations

import pytest
from rookery_backend.policy import GRANT_ROLES
from tenancy import add_ruleset, data, error_code, grant, join, new_team, person


def grants_url(ruleset_id: int) -> str:
    return f"/api/v1/rulesets/{ruleset_id}/grants"


@pytest.fixture
def ruleset(app) -> int:
    return add_ruleset(app, "edge", None)


def test_grant_to_a_user_opens_the_rule_set_and_deleting_it_closes(app, api, ruleset) -> None:
    admin = api.admin_token()
    alice = person(api, admin, "alice@example.com")
    other = add_ruleset(app, "other", None)
    assert api.call("GET", grants_url(ruleset), alice.token).status_code == 403
    created = api.call(
        "POST", grants_url(ruleset), admin, json={"user_id": alice.id, "role": "owner"}
    )
    assert created.status_code == 201
    body = data(created)
    assert body["holder"] == "alice@example.com" and body["team_id"] is None
    assert body["scopes"] == sorted(GRANT_ROLES["owner"][1])
    assert body["created_by"] == "admin@localhost.local"
    # The owner now manages grants on this rule set, and only this one.
    listed = api.call("GET", grants_url(ruleset), alice.token).get_json()
    assert listed["meta"] == {"total": 1, "page": 1, "per_page": 20}
    assert api.call("GET", grants_url(other), alice.token).status_code == 403
    removed = api.call("DELETE", f"{grants_url(ruleset)}/{body['id']}", admin)
    assert removed.status_code == 200
    assert api.call("GET", grants_url(ruleset), alice.token).status_code == 403  # at once
    assert api.call("DELETE", f"{grants_url(ruleset)}/{body['id']}", admin).status_code == 404
    created_lines = data(api.call("GET", "/api/v1/audit?event=grant_created", admin))
    deleted_lines = data(api.call("GET", "/api/v1/audit?event=grant_deleted", admin))
    assert len(created_lines) == 1 and len(deleted_lines) == 1
    assert deleted_lines[0]["details"]["grant_id"] == body["id"]
    line = created_lines[0]
    assert line["target"] == f"ruleset:{ruleset}" and line["details"]["user_id"] == alice.id
    assert line["details"]["role"] == "owner" and line["target_label"] == "edge"


def test_grant_to_a_team_reaches_its_members(api, ruleset) -> None:
    admin = api.admin_token()
    team = new_team(api, admin, "Editors")
    bob = person(api, admin, "bob@example.com")
    join(api, admin, team, bob.id, "team-viewer")
    assert api.call("GET", grants_url(ruleset), bob.token).status_code == 403
    grant(api, admin, ruleset, "custom", team_id=team, scopes=["rulesets:admin", "rules:read"])
    listed = data(api.call("GET", grants_url(ruleset), bob.token))
    assert listed[0]["holder"] == "Editors" and listed[0]["scopes"] == [
        "rules:read",
        "rulesets:admin",
    ]
    # Leaving the team ends it.
    api.call("DELETE", f"/api/v1/teams/{team}/members/{bob.id}", admin)
    assert api.call("GET", grants_url(ruleset), bob.token).status_code == 403


def test_rule_set_owned_by_a_team_is_managed_by_its_team_admin(app, api) -> None:
    admin = api.admin_token()
    team = new_team(api, admin, "Owners")
    boss = person(api, admin, "boss@example.com")
    person(api, admin, "viewer@example.com")
    join(api, admin, team, boss.id, "team-admin")
    owned = add_ruleset(app, "owned", team)
    created = api.call(
        "POST",
        grants_url(owned),
        boss.token,
        json={"email": "viewer@example.com", "role": "viewer"},
    )
    assert created.status_code == 201
    # Another team's maintainer: nothing here.
    elsewhere = new_team(api, admin, "Elsewhere")
    maint = person(api, admin, "maint@example.com")
    join(api, admin, elsewhere, maint.id, "team-admin")
    assert api.call("GET", grants_url(owned), maint.token).status_code == 403


def test_body_rules(api, ruleset) -> None:
    admin = api.admin_token()
    team = new_team(api, admin, "T")
    url = grants_url(ruleset)
    cases = [
        ({"role": "viewer"}, 422),  # neither holder
        ({"user_id": 1, "team_id": team, "role": "viewer"}, 422),  # both
        ({"user_id": 1, "role": "custom"}, 422),  # custom without scopes
        ({"user_id": 1, "role": "viewer", "scopes": ["rules:read"]}, 422),
        ({"user_id": 1, "role": "custom", "scopes": ["users:admin"]}, 422),
        ({"user_id": 1, "role": "custom", "scopes": ["sensors:admin"]}, 422),
        ({"user_id": 1, "role": "admin"}, 422),
        ({"user_id": 1, "role": "Viewer"}, 422),
        ({"user_id": "1", "role": "viewer"}, 422),
        ({"user_id": 1.0, "role": "viewer"}, 422),
        ({"user_id": True, "role": "viewer"}, 422),
        ({"user_id": 0, "role": "viewer"}, 422),
        ({"user_id": 2**64, "role": "viewer"}, 422),
        ({"user_id": 1, "role": "viewer\x00"}, 422),
        ({"user_id": 1, "role": ["viewer"]}, 422),
        ({"user_id": 1, "role": "custom", "scopes": ["rules:read\x00"]}, 422),
        ({"user_id": 999999, "role": "viewer"}, 404),
        ({"team_id": 999999, "role": "viewer"}, 404),
    ]
    for body, status in cases:
        reply = api.call("POST", url, admin, json=body)
        assert reply.status_code == status, (body, reply.get_json())
        assert reply.get_json()["error"]["message"]
    assert (
        api.call("POST", url, admin, data=b"\xff\xfe", content_type="application/json").status_code
        == 400
    )
    assert (
        api.call(
            "POST", grants_url(999999), admin, json={"user_id": 1, "role": "viewer"}
        ).status_code
        == 404
    )
    assert api.call("GET", grants_url(999999), admin).status_code == 404
    assert api.call("DELETE", f"{url}/999999", admin).status_code == 404


def test_duplicates_are_409(api, ruleset) -> None:
    admin = api.admin_token()
    team = new_team(api, admin, "Dup")
    carol = person(api, admin, "carol@example.com")
    grant(api, admin, ruleset, "viewer", user_id=carol.id)
    grant(api, admin, ruleset, "viewer", team_id=team)
    for body in ({"user_id": carol.id, "role": "editor"}, {"team_id": team, "role": "owner"}):
        reply = api.call("POST", grants_url(ruleset), admin, json=body)
        assert reply.status_code == 409 and error_code(reply) == "conflict"


def test_a_grant_from_another_rule_set_is_not_found_here(app, api, ruleset) -> None:
    admin = api.admin_token()
    other = add_ruleset(app, "other", None)
    dave = person(api, admin, "dave@example.com")
    foreign = grant(api, admin, other, "viewer", user_id=dave.id)
    assert api.call("DELETE", f"{grants_url(ruleset)}/{foreign}", admin).status_code == 404
    assert len(data(api.call("GET", grants_url(other), admin))) == 1


def test_no_escalation_through_grants(api, ruleset) -> None:
    """A custom grant holding rulesets:admin without rules:write may hand out viewer
    grants, not editor or owner ones, and cannot take away a grant holding more."""
    admin = api.admin_token()
    gate = person(api, admin, "gate@example.com")
    editor = person(api, admin, "editor@example.com")
    person(api, admin, "newcomer@example.com")
    grant(
        api,
        admin,
        ruleset,
        "custom",
        user_id=gate.id,
        scopes=["rulesets:admin", "rules:read", "stats:read"],
    )
    editor_grant = grant(api, admin, ruleset, "editor", user_id=editor.id)
    url = grants_url(ruleset)
    for role in ("editor", "owner"):
        reply = api.call(
            "POST", url, gate.token, json={"email": "newcomer@example.com", "role": role}
        )
        assert reply.status_code == 403 and error_code(reply) == "scope_escalation", role
        assert "rules:write" in reply.get_json()["error"]["details"]["scopes"]
    reply = api.call(
        "POST",
        url,
        gate.token,
        json={"email": "newcomer@example.com", "role": "custom", "scopes": ["rules:write"]},
    )
    assert reply.status_code == 403
    assert api.call("DELETE", f"{url}/{editor_grant}", gate.token).status_code == 403
    assert (
        api.call(
            "POST", url, gate.token, json={"email": "newcomer@example.com", "role": "viewer"}
        ).status_code
        == 201
    )
    # An editor does not manage grants at all; a global viewer neither.
    assert api.call("GET", url, editor.token).status_code == 403
    viewer = api.user_token(admin, "gv@example.com", ["viewer"])
    assert api.call("GET", url, viewer).status_code == 403


def test_unknown_rule_set_is_403_without_the_global_scope(api, ruleset) -> None:
    """Whether rule set 999999 exists is not told to a caller who may not manage it."""
    admin = api.admin_token()
    owner = person(api, admin, "own@example.com")
    grant(api, admin, ruleset, "owner", user_id=owner.id)
    for path in (grants_url(999999), f"{grants_url(999999)}/1"):
        reply = api.call("GET" if path.endswith("grants") else "DELETE", path, owner.token)
        assert reply.status_code == 403 and error_code(reply) == "insufficient_scope"
    bad = api.call("GET", "/api/v1/rulesets/0/grants", owner.token)
    assert bad.status_code == 422 and error_code(bad) == "validation_error"
