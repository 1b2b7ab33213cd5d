"""The access model (access.py): effective scopes = global + team role in the owning team +
grants; API keys within their scopes and restriction; the per-process snapshot is
invalidated by changes made here and bounded by the principal cache's TTL elsewhere."""

from __future__ import annotations

from typing import Any

import pytest
from rookery_backend import access
from rookery_backend.credentials import Principal
from rookery_backend.policy import GRANT_ROLES, RESOURCE_SCOPES, TEAM_ROLES
from tenancy import (
    add_ruleset,
    build_world,
    data,
    database,
    error_code,
    grant,
    join,
    person,
    user_id,
)

READ = frozenset({"sensors:read", "stats:read"})


def principal_of(app: Any, uid: int, **key: Any) -> Principal:
    """The principal a request of this user (or of a key of theirs) would carry."""
    with app.app_context():
        user = app.extensions["rookery"].datastore.find_user(id=uid)
        app.extensions["rookery"].database.end_request(ok=True)
    scopes = frozenset(user.scopes)
    if "key_scopes" in key:
        scopes &= key["key_scopes"]
        return Principal("api_key", user, scopes, 0, api_key_id=1, **key)
    return Principal("user", user, scopes, 0)


def scopes(app: Any, who: Principal, kind: str, rid: int | None) -> frozenset[str]:
    with app.test_request_context():
        try:
            return access.effective_scopes(who, kind, rid)
        finally:
            app.extensions["rookery"].database.end_request(ok=True)


def visible(app: Any, who: Principal, kind: str, scope: str) -> set[int] | None:
    with app.test_request_context():
        try:
            return access.visible_ids(who, kind, scope)
        finally:
            app.extensions["rookery"].database.end_request(ok=True)


@pytest.fixture
def world(app, api):
    w = build_world(app, api)
    admin = w.admin
    people = {
        "alice": person(api, admin, "alice@example.com"),  # team-admin of A
        "bob": person(api, admin, "bob@example.com"),  # team-viewer of A
        "carol": person(api, admin, "carol@example.com"),  # editor grant on rb
        "erin": person(api, admin, "erin@example.com"),  # custom team role in B
        "gus": person(api, admin, "gus@example.com", ["viewer"]),  # global viewer only
    }
    w.people = people
    join(api, admin, w.team_a, people["alice"].id, "team-admin")
    join(api, admin, w.team_a, people["bob"].id, "team-viewer")
    data(
        api.call(
            "POST", "/api/v1/team-roles", admin, json={"name": "reader", "scopes": ["rules:read"]}
        )
    )
    join(api, admin, w.team_b, people["erin"].id, "reader")
    grant(api, admin, w.rb, "editor", user_id=people["carol"].id)
    grant(api, admin, w.rg, "viewer", team_id=w.team_a)  # every member of A reads rg
    return w


def test_team_role_scopes_apply_to_the_owning_teams_resources(app, world) -> None:
    alice = principal_of(app, world.people["alice"].id)
    bob = principal_of(app, world.people["bob"].id)
    assert scopes(app, alice, "ruleset", world.ra) == frozenset(RESOURCE_SCOPES)
    assert scopes(app, alice, "team", world.team_a) == frozenset(RESOURCE_SCOPES)
    assert scopes(app, bob, "ruleset", world.ra) == frozenset(TEAM_ROLES["team-viewer"][1])
    # Another team's resources: nothing (these people hold no global scope).
    assert scopes(app, alice, "ruleset", world.rb) == frozenset()
    assert scopes(app, alice, "team", world.team_b) == frozenset()
    assert scopes(app, alice, "sensor", world.sa) == frozenset(RESOURCE_SCOPES)


def test_grants_to_users_and_to_teams(app, world) -> None:
    carol = principal_of(app, world.people["carol"].id)
    bob = principal_of(app, world.people["bob"].id)
    assert scopes(app, carol, "ruleset", world.rb) == frozenset(GRANT_ROLES["editor"][1])
    assert scopes(app, carol, "ruleset", world.ra) == frozenset()
    assert scopes(app, carol, "team", world.team_b) == frozenset()  # a grant is not membership
    # Team A's viewer grant on the global rule set reaches its members.
    assert scopes(app, bob, "ruleset", world.rg) == frozenset(GRANT_ROLES["viewer"][1])
    # Reading a rule set lets one see the sensors enforcing it and their statistics.
    assert scopes(app, bob, "sensor", world.sg) == READ


def test_custom_team_role(app, world) -> None:
    erin = principal_of(app, world.people["erin"].id)
    assert scopes(app, erin, "ruleset", world.rb) == {"rules:read"}
    assert scopes(app, erin, "team", world.team_b) == {"rules:read"}


def test_global_scopes_count_everywhere_and_nonexistent_resources_only_them(app, world) -> None:
    gus = principal_of(app, world.people["gus"].id)
    alice = principal_of(app, world.people["alice"].id)
    assert "rules:read" in scopes(app, gus, "ruleset", world.rb)
    assert scopes(app, gus, "ruleset", 999_999) == gus.scopes
    assert scopes(app, alice, "ruleset", 999_999) == frozenset()
    assert scopes(app, alice, "sensor", 999_999) == frozenset()
    assert scopes(app, alice, "team", None) == frozenset()
    assert scopes(app, gus, "team", None) == gus.scopes


def test_visible_ids(app, world) -> None:
    gus = principal_of(app, world.people["gus"].id)
    bob = principal_of(app, world.people["bob"].id)
    carol = principal_of(app, world.people["carol"].id)
    assert visible(app, gus, "ruleset", "rules:read") is None  # held globally: everything
    assert visible(app, bob, "ruleset", "rules:read") == {world.ra, world.rg}
    assert visible(app, bob, "ruleset", "rules:write") == set()
    assert visible(app, carol, "ruleset", "rules:write") == {world.rb}
    assert visible(app, bob, "sensor", "stats:read") == {world.sa, world.sg}
    assert visible(app, bob, "team", "teams:read") == {world.team_a}
    assert visible(app, gus, "team", "teams:admin") == set()


def test_api_keys_hold_at_most_their_scopes(app, world) -> None:
    alice = world.people["alice"].id
    key = principal_of(app, alice, key_scopes=frozenset({"rules:read"}))
    assert scopes(app, key, "ruleset", world.ra) == {"rules:read"}
    assert scopes(app, key, "ruleset", world.rb) == frozenset()


def test_a_key_restricted_to_a_team_acts_only_there(app, api, world) -> None:
    admin_id = user_id(api, world.admin)
    everything = frozenset(TEAM_ROLES["team-admin"][1]) | {"users:read"}
    key = principal_of(app, admin_id, key_scopes=everything, key_team_id=world.team_a)
    assert "rules:write" in scopes(app, key, "ruleset", world.ra)
    assert "teams:admin" in scopes(app, key, "team", world.team_a)
    assert "sensors:admin" in scopes(app, key, "sensor", world.sa)
    # The owner is a global admin, but the key stays within team A.
    assert scopes(app, key, "ruleset", world.rb) == frozenset()
    assert scopes(app, key, "ruleset", world.rg) == frozenset()
    assert scopes(app, key, "team", world.team_b) == frozenset()
    assert scopes(app, key, "sensor", world.sg) == frozenset()
    assert scopes(app, key, "team", None) == frozenset()
    assert visible(app, key, "ruleset", "rules:read") == {world.ra}


def test_a_key_restricted_to_a_rule_set(app, api, world) -> None:
    everything = frozenset(RESOURCE_SCOPES)
    key = principal_of(
        app, user_id(api, world.admin), key_scopes=everything, key_ruleset_id=world.ra
    )
    assert scopes(app, key, "ruleset", world.ra) == everything
    assert scopes(app, key, "ruleset", world.rg) == frozenset()
    assert scopes(app, key, "team", world.team_a) == frozenset()
    # The sensors enforcing it: seen, never administered through this key.
    assert scopes(app, key, "sensor", world.sa) == READ
    assert scopes(app, key, "sensor", world.sg) == frozenset()
    assert visible(app, key, "sensor", "sensors:read") == {world.sa}


def test_changes_made_here_apply_at_once(app, api, world) -> None:
    bob = world.people["bob"]
    probe = f"/api/v1/teams/{world.team_a}/members"
    assert api.call("POST", probe, bob.token, json={}).status_code == 403
    api.call(
        "PATCH",
        f"/api/v1/teams/{world.team_a}/members/{bob.id}",
        world.admin,
        json={"role": "team-admin"},
    )
    # Within the cache's lifetime, on the very next request.
    assert api.call("POST", probe, bob.token, json={}).status_code == 422  # past the guard
    api.call("DELETE", f"/api/v1/teams/{world.team_a}/members/{bob.id}", world.admin)
    assert api.call("GET", f"/api/v1/teams/{world.team_a}", bob.token).status_code == 403


def test_changes_made_elsewhere_apply_within_the_principal_cache_bound(
    app, app_factory, api, world
) -> None:
    """A second app on the same database stands for another worker or replica: it sees a
    membership change made through the first once its snapshot is older than the bound."""
    other = app_factory()  # the same database (the same data directory for SQLite)
    now = [1000.0]
    cache = access.install(other)
    cache.clock = lambda: now[0]
    bob = principal_of(app, world.people["bob"].id)
    assert "rules:write" not in scopes(other, bob, "ruleset", world.ra)
    api.call(
        "PATCH",
        f"/api/v1/teams/{world.team_a}/members/{world.people['bob'].id}",
        world.admin,
        json={"role": "team-maintainer"},
    )
    assert "rules:write" in scopes(app, bob, "ruleset", world.ra)  # here: at once
    now[0] += cache.ttl * 0.5
    assert "rules:write" not in scopes(other, bob, "ruleset", world.ra)  # there: not yet
    now[0] += cache.ttl * 0.6
    assert "rules:write" in scopes(other, bob, "ruleset", world.ra)  # within the bound


def test_a_resource_created_elsewhere_is_usable_at_once(app, api, world) -> None:
    """A rule set created since the snapshot (by another process, which could not tell this
    one) is found: the snapshot is loaded again rather than refusing for the bound."""
    cache = access.install(app)
    cache.clock = lambda: 1000.0  # the snapshot never ages by itself
    alice = world.people["alice"]
    assert api.call("GET", f"/api/v1/rulesets/{world.ra}/grants", alice.token).status_code == 200
    created = add_ruleset(app, "made-elsewhere", world.team_a)
    with database(app) as dal:  # a grant made elsewhere on it is seen with it
        dal.ruleset_grant.insert(ruleset_id=created, user_id=world.people["bob"].id, role="owner")
    assert api.call("GET", f"/api/v1/rulesets/{created}/grants", alice.token).status_code == 200
    bob = world.people["bob"].token
    assert api.call("GET", f"/api/v1/rulesets/{created}/grants", bob).status_code == 200
    # Still refused where it should be, and unknown ids stay unknown.
    assert api.call("GET", "/api/v1/rulesets/999999/grants", alice.token).status_code == 403


def test_a_global_holder_never_loads_the_snapshot(app, api, world, monkeypatch) -> None:
    """The cost model: a caller holding the scope globally skips the lookup; a member's
    requests load the snapshot once per bound, not per request."""
    loads = []
    real = access.load_snapshot

    def counting(dal):
        loads.append(1)
        return real(dal)

    monkeypatch.setattr(access, "load_snapshot", counting)
    cache = access.install(app)
    cache.clock = lambda: 1000.0  # time stands still: one load per bound
    cache.clear()
    for _ in range(5):
        assert (
            api.call("GET", f"/api/v1/rulesets/{world.ra}/grants", world.admin).status_code == 200
        )
    assert loads == []
    alice = world.people["alice"].token
    for _ in range(5):
        assert api.call("GET", f"/api/v1/rulesets/{world.ra}/grants", alice).status_code == 200
    assert len(loads) == 1


def test_the_snapshot_is_per_request_when_the_principal_cache_is_off(app_factory, api) -> None:
    app = app_factory(principal_cache_ttl=0)
    client_api = type(api)(app.test_client())
    w = build_world(app, client_api)
    alice = person(client_api, w.admin, "alice@example.com")
    probe = f"/api/v1/teams/{w.team_a}"
    assert client_api.call("GET", probe, alice.token).status_code == 403
    with database(app) as dal:  # a change this process was not told about
        dal.team_member.insert(team_id=w.team_a, user_id=alice.id, role="team-viewer")
    assert client_api.call("GET", probe, alice.token).status_code == 200


def test_a_deleted_custom_role_or_unknown_role_grants_nothing() -> None:
    assert access.team_role_scopes("gone", {}) == frozenset()
    assert access.grant_scopes("custom", ["rules:read", "users:admin"]) == {"rules:read"}
    assert access.grant_scopes("bogus", None) == frozenset()
    with pytest.raises(ValueError):
        access.visible_ids(Principal("user", None, frozenset(), 0), "planet", "x")  # type: ignore[arg-type]


def test_the_guard_reads_a_team_from_the_body(app, api, world) -> None:
    """POST /rulesets names its team in the body: a team-admin may create one for their
    team, not for another nor a global one; a malformed team id is a 422 naming it."""
    alice = world.people["alice"].token
    url = "/api/v1/rulesets"
    body = {"name": "made-by-alice", "default_action": "allow"}
    created = api.call("POST", url, alice, json={**body, "team_id": world.team_a})
    assert created.status_code == 201, created.get_json()
    for team in (world.team_b, None, 999_999):
        extra = {} if team is None else {"team_id": team}
        refused = api.call("POST", url, alice, json={**body, "name": f"x{team}", **extra})
        assert refused.status_code == 403 and error_code(refused) == "insufficient_scope", team
    for bad in ("1", True, 1.5, -3, 0, 2**64, [1], {"id": 1}):
        reply = api.call("POST", url, alice, json={**body, "team_id": bad})
        assert reply.status_code == 422, (bad, reply.get_json())
        assert "team_id" in reply.get_json()["error"]["details"]["fields"]
    # Not a JSON object, or not JSON: no team named, so the global scope decides (refused
    # here), and the global admin gets the view's own answer.
    assert api.call("POST", url, alice, json=[1, 2]).status_code == 403
    junk = {"data": b"{oops", "content_type": "application/json"}
    assert api.call("POST", url, alice, **junk).status_code == 403
    assert api.call("POST", url, world.admin, **junk).status_code == 400
