"""/api/v1/rules… act on the default rule set (row 1) and are resource routes on it: the
default set's grants and a key restricted to it reach them, as they reach
/api/v1/rulesets/1/rules…; a key restricted to another set does not."""

from __future__ import annotations

from rookery_backend.rules.store import DEFAULT_RULESET
from tenancy import add_ruleset, data, error_code, grant, join, new_team, person

RULE = {"name": "drop telnet", "action": "drop", "protocol": "tcp", "dst_port": 23}


def _key(api, admin: str, **restriction: int) -> str:
    body = {"name": "restricted", "scopes": ["rules:read", "rules:write"], **restriction}
    return data(api.call("POST", "/api/v1/apikeys", admin, json=body))["key"]


def test_a_key_restricted_to_the_default_set_uses_the_rules_routes(app, api) -> None:
    admin = api.admin_token()
    key = _key(api, admin, ruleset_id=DEFAULT_RULESET)
    created = api.call("POST", "/api/v1/rules", key, json=RULE)
    assert created.status_code == 201, created.get_json()
    rule_id = data(created)["id"]
    listed = api.call("GET", "/api/v1/rules", key)
    assert listed.status_code == 200
    assert [rule["id"] for rule in data(listed)] == [rule_id]
    assert api.call("GET", "/api/v1/rules/status", key).status_code == 200
    patched = api.call("PATCH", f"/api/v1/rules/{rule_id}", key, json={"enabled": False})
    assert patched.status_code == 200, patched.get_json()
    # ... and the same set by its number, as before
    assert api.call("GET", f"/api/v1/rulesets/{DEFAULT_RULESET}/rules", key).status_code == 200


def test_a_key_restricted_to_another_set_is_refused_on_the_default_one(app, api) -> None:
    admin = api.admin_token()
    other = add_ruleset(app, "elsewhere", None)
    key = _key(api, admin, ruleset_id=other)
    for method, path, body in (
        ("GET", "/api/v1/rules", None),
        ("POST", "/api/v1/rules", RULE),
        ("GET", "/api/v1/rules/status", None),
    ):
        reply = api.call(method, path, key, json=body)
        assert reply.status_code == 403, (method, path, reply.get_json())
        assert error_code(reply) == "insufficient_scope"
        assert reply.get_json()["error"]["details"]["resource"] == {
            "kind": "ruleset",
            "id": DEFAULT_RULESET,
        }
    # its own set works, and validating a rule (no set) is open to it
    assert api.call("GET", f"/api/v1/rulesets/{other}/rules", key).status_code == 200
    assert api.call("POST", "/api/v1/rules/validate", key, json=RULE).status_code == 200


def test_a_grant_on_the_default_set_opens_the_rules_routes(app, api) -> None:
    admin = api.admin_token()
    editor = person(api, admin, "default-editor@example.com")
    assert api.call("GET", "/api/v1/rules", editor.token).status_code == 403
    grant(api, admin, DEFAULT_RULESET, "editor", user_id=editor.id)
    assert api.call("GET", "/api/v1/rules", editor.token).status_code == 200
    created = api.call("POST", "/api/v1/rules", editor.token, json=RULE)
    assert created.status_code == 201, created.get_json()


def test_a_team_maintainer_validates_rules_for_their_team_set(app, api) -> None:
    """Validation checks a rule against no set: whoever may read some set's rules may."""
    admin = api.admin_token()
    team = new_team(api, admin, "Validators")
    add_ruleset(app, "team-set", team)
    maintainer = person(api, admin, "maintainer@example.com")
    stranger = person(api, admin, "stranger@example.com")
    join(api, admin, team, maintainer.id, "team-maintainer")
    validated = api.call("POST", "/api/v1/rules/validate", maintainer.token, json=RULE)
    assert validated.status_code == 200
    refused = api.call("POST", "/api/v1/rules/validate", stranger.token, json=RULE)
    assert refused.status_code == 403
    assert api.call("GET", "/api/v1/rules", maintainer.token).status_code == 403
