"""Members and grants name accounts without giving them away: a team-admin or a rule-set
owner who may not list accounts (global users:read) nor teams (global teams:read) adds
people by the e-mail address they already know; walking user ids or team ids through
POST .../members and POST .../grants answers the same for an id that exists and one that
does not, and never tells an e-mail address or a team's name."""

from __future__ import annotations

from typing import Any

import pytest
from rookery_backend.policy import TEAM_ROLES
from tenancy import add_ruleset, data, error_code, grant, join, new_team, person

TEAMS = "/api/v1/teams"
TEAM_VIEWER = TEAM_ROLES["team-viewer"][1]


def members_url(team_id: int) -> str:
    return f"{TEAMS}/{team_id}/members"


def grants_url(ruleset_id: int) -> str:
    return f"/api/v1/rulesets/{ruleset_id}/grants"


def answer(reply: Any) -> tuple[int, Any]:
    return reply.status_code, reply.get_json()


def all_user_ids(api: Any, admin: str) -> list[int]:
    users = api.call("GET", "/api/v1/users?per_page=200", admin).get_json()["data"]
    return sorted(int(u["id"]) for u in users)


@pytest.fixture
def team_and_boss(api) -> tuple[str, int, Any]:
    """A team whose team-admin holds no global scope at all."""
    admin = api.admin_token()
    team = new_team(api, admin, "Door")
    boss = person(api, admin, "boss@example.com")
    join(api, admin, team, boss.id, "team-admin")
    person(api, admin, "Newcomer@Example.com")  # stored lower-cased, as every address
    return admin, team, boss


def test_team_admin_without_users_read_adds_by_email_not_by_id(api, team_and_boss) -> None:
    admin, team, boss = team_and_boss
    ids = all_user_ids(api, admin)
    newcomer = next(
        u["id"]
        for u in data(api.call("GET", "/api/v1/users", admin))
        if u["email"] == "newcomer@example.com"
    )
    # By id: refused before the id is looked at, the same answer for every id.
    replies = {
        uid: answer(
            api.call(
                "POST", members_url(team), boss.token, json={"user_id": uid, "role": "team-viewer"}
            )
        )
        for uid in [*ids, max(ids) + 1, 999_999, 2**62]
    }
    first = replies[ids[0]]
    assert first[0] == 403 and first[1]["error"]["code"] == "insufficient_scope"
    assert first[1]["error"]["details"]["required"] == "users:read"
    assert all(reply == first for reply in replies.values()), replies
    assert "@" not in str(replies)  # no address in any answer
    # By e-mail: added, whatever the case and surrounding spaces.
    added = api.call(
        "POST",
        members_url(team),
        boss.token,
        json={"email": "  NEWCOMER@example.COM ", "role": "team-viewer"},
    )
    assert added.status_code == 201, added.get_json()
    assert data(added)["user_id"] == newcomer and data(added)["email"] == "newcomer@example.com"
    again = api.call(
        "POST",
        members_url(team),
        boss.token,
        json={"email": "newcomer@example.com", "role": "team-viewer"},
    )
    assert again.status_code == 409 and "email" in again.get_json()["error"]["details"]["fields"]
    # An address with no account: 404 saying so, nothing written.
    unknown = api.call(
        "POST",
        members_url(team),
        boss.token,
        json={"email": "nobody@example.com", "role": "team-viewer"},
    )
    assert unknown.status_code == 404 and error_code(unknown) == "not_found"
    assert unknown.get_json()["error"]["message"] == "no account with this e-mail address"
    # Listing the team's members is unchanged: a member sees the others' addresses.
    listed = data(api.call("GET", members_url(team), boss.token))
    assert sorted(m["email"] for m in listed) == ["boss@example.com", "newcomer@example.com"]
    lines = data(api.call("GET", "/api/v1/audit?event=team_member_added", admin))
    assert any(
        line["details"]["user_id"] == newcomer and line["actor_email"] == "boss@example.com"
        for line in lines
    )


def test_users_read_still_adds_by_id(api) -> None:
    admin = api.admin_token()
    team = new_team(api, admin, "By id")
    member = person(api, admin, "member@example.com")
    by_id = api.call(
        "POST", members_url(team), admin, json={"user_id": member.id, "role": "team-viewer"}
    )
    assert by_id.status_code == 201 and data(by_id)["email"] == "member@example.com"
    missing = api.call(
        "POST", members_url(team), admin, json={"user_id": 999_999, "role": "team-viewer"}
    )
    assert missing.status_code == 404


def test_a_restricted_key_does_not_hold_users_read_globally(api) -> None:
    """An API key restricted to one team holds its scopes there only: not the global
    users:read that naming an account by id needs."""
    admin = api.admin_token()
    team = new_team(api, admin, "Keyed")
    member = person(api, admin, "keyed@example.com")
    created = api.call(
        "POST",
        "/api/v1/apikeys",
        admin,
        json={
            "name": "team key",
            "scopes": [*TEAM_VIEWER, "teams:admin", "users:read"],
            "team_id": team,
        },
    )
    key = data(created)["key"]
    body = {"user_id": member.id, "role": "team-viewer"}
    by_id = api.call("POST", members_url(team), key, json=body)
    assert by_id.status_code == 403 and by_id.get_json()["error"]["details"]["required"] == (
        "users:read"
    )
    by_email = api.call(
        "POST", members_url(team), key, json={"email": "keyed@example.com", "role": "team-viewer"}
    )
    assert by_email.status_code == 201, by_email.get_json()


def test_rule_set_owner_walking_ids_learns_nothing(app, api) -> None:
    admin = api.admin_token()
    ruleset = add_ruleset(app, "owned", None)
    owner = person(api, admin, "owner@example.com")
    grant(api, admin, ruleset, "owner", user_id=owner.id)
    secret_team = new_team(api, admin, "Secret Team Name")
    person(api, admin, "hidden@example.com")
    user_ids = all_user_ids(api, admin)
    url = grants_url(ruleset)

    def walk(field: str, ids: list[int]) -> dict[int, tuple[int, Any]]:
        return {
            i: answer(api.call("POST", url, owner.token, json={field: i, "role": "viewer"}))
            for i in ids
        }

    users = walk("user_id", [*user_ids, max(user_ids) + 1, 999_999])
    first = next(iter(users.values()))
    assert first[0] == 403 and first[1]["error"]["code"] == "insufficient_scope"
    assert first[1]["error"]["details"]["required"] == "users:read"
    assert all(reply == first for reply in users.values()), users
    teams = walk("team_id", [secret_team, secret_team + 1, 999_999])
    first = teams[secret_team]
    assert first[0] == 404 and first[1]["error"]["code"] == "not_found"
    assert all(reply == first for reply in teams.values()), teams
    told = str(users) + str(teams)
    assert "Secret Team Name" not in told and "@" not in told
    # Nothing was written.
    assert [g["user_id"] for g in data(api.call("GET", url, admin))] == [owner.id]
    # By e-mail the owner grants as before (case-insensitive).
    added = api.call(
        "POST", url, owner.token, json={"email": "Hidden@EXAMPLE.com", "role": "viewer"}
    )
    assert added.status_code == 201 and data(added)["holder"] == "hidden@example.com"
    unknown = api.call(
        "POST", url, owner.token, json={"email": "ghost@example.com", "role": "viewer"}
    )
    assert unknown.status_code == 404
    assert unknown.get_json()["error"]["details"]["fields"] == {
        "email": "no account with this address"
    }


def test_grants_to_teams_the_caller_may_see(app, api) -> None:
    """A member of a team (any team role), or a holder of global teams:read, grants to it."""
    admin = api.admin_token()
    ruleset = add_ruleset(app, "shared", None)
    mine = new_team(api, admin, "Mine")
    other = new_team(api, admin, "Other")
    owner = person(api, admin, "owner@example.com")
    grant(api, admin, ruleset, "owner", user_id=owner.id)
    data(
        api.call(
            "POST",
            "/api/v1/team-roles",
            admin,
            json={"name": "bystander", "scopes": ["stats:read"]},
        )
    )
    join(api, admin, mine, owner.id, "bystander")  # a member without teams:read
    url = grants_url(ruleset)
    to_mine = api.call("POST", url, owner.token, json={"team_id": mine, "role": "viewer"})
    assert to_mine.status_code == 201 and data(to_mine)["holder"] == "Mine"
    to_other = api.call("POST", url, owner.token, json={"team_id": other, "role": "viewer"})
    assert to_other.status_code == 404
    # A global viewer (teams:read) owning the set sees every team.
    viewer = api.user_token(admin, "gv@example.com", ["viewer"])
    viewer_id = next(
        u["id"]
        for u in data(api.call("GET", "/api/v1/users", admin))
        if u["email"] == "gv@example.com"
    )
    grant(api, admin, ruleset, "owner", user_id=viewer_id)
    seen = api.call("POST", url, viewer, json={"team_id": other, "role": "viewer"})
    assert seen.status_code == 201 and data(seen)["holder"] == "Other"
    gone = api.call("POST", url, viewer, json={"team_id": 999_999, "role": "viewer"})
    assert gone.status_code == 404
    assert (
        gone.get_json()
        == answer(api.call("POST", url, owner.token, json={"team_id": 999_999, "role": "viewer"}))[
            1
        ]
    )


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"role": "team-viewer"}, {"email", "user_id"}),
        ({"email": "a@example.com", "user_id": 1, "role": "team-viewer"}, {"email", "user_id"}),
        ({"email": None, "user_id": None, "role": "team-viewer"}, {"email", "user_id"}),
    ],
)
def test_exactly_one_account(api, team_and_boss, body, fields) -> None:
    admin, team, _ = team_and_boss
    reply = api.call("POST", members_url(team), admin, json=body)
    assert reply.status_code == 422 and error_code(reply) == "validation_error"
    assert set(reply.get_json()["error"]["details"]["fields"]) == fields


def test_exactly_one_holder_of_a_grant(app, api) -> None:
    admin = api.admin_token()
    url = grants_url(add_ruleset(app, "one", None))
    for body, fields in (
        ({"role": "viewer"}, {"email", "user_id", "team_id"}),
        ({"email": "a@example.com", "team_id": 1, "role": "viewer"}, {"email", "team_id"}),
        ({"email": "a@example.com", "user_id": 1, "role": "viewer"}, {"email", "user_id"}),
    ):
        reply = api.call("POST", url, admin, json=body)
        assert reply.status_code == 422, (body, reply.get_json())
        assert set(reply.get_json()["error"]["details"]["fields"]) == fields


HOSTILE_EMAILS: list[Any] = [
    "boss@example.com\x00",
    "bo\x00ss@example.com",
    "boss@exa\x07mple.com",
    "boss\n@example.com",
    "\x1bboss@example.com",
    "boss\u0085@example.com",
    "b" * 10_000 + "@example.com",
    "boss@" + "e" * 10_240 + ".com",
    "boss\u200b@example.com",  # zero-width space
    "boss@example.com\u202e",  # right-to-left override
    "\ud800@example.com",
    "",
    "   ",
    "not-an-address",
    "boss@@example.com",
    7,
    3.5,
    True,
    ["boss@example.com"],
    {"email": "boss@example.com"},
]


@pytest.mark.parametrize("email", HOSTILE_EMAILS, ids=range(len(HOSTILE_EMAILS)))
def test_hostile_emails_are_422(app, api, team_and_boss, email) -> None:
    _, team, boss = team_and_boss
    ruleset = add_ruleset(app, "hostile", team)
    for url, role in ((members_url(team), "team-viewer"), (grants_url(ruleset), "viewer")):
        reply = api.call("POST", url, boss.token, json={"email": email, "role": role})
        assert reply.status_code == 422, (url, reply.status_code, reply.get_json(silent=True))
        assert error_code(reply) == "validation_error"
        assert "email" in reply.get_json()["error"]["details"]["fields"]


@pytest.mark.parametrize(
    "look_alike",
    [
        "newc\u043emer@example.com",  # Cyrillic o
        "\uff4eewcomer@example.com",  # full-width n
        "newcomer@ex\u0430mple.com",  # Cyrillic a in the domain
        "n\u0435wcomer@example.com",  # Cyrillic ie
    ],
)
def test_look_alike_addresses_never_reach_the_real_account(api, team_and_boss, look_alike) -> None:
    """A look-alike is a different address (valid or not): never the account it imitates."""
    admin, team, boss = team_and_boss
    body = {"email": look_alike, "role": "team-viewer"}
    reply = api.call("POST", members_url(team), boss.token, json=body)
    assert reply.status_code in (404, 422), reply.get_json()
    assert error_code(reply) in ("not_found", "validation_error")
    listed = data(api.call("GET", members_url(team), admin))
    assert [m["email"] for m in listed] == ["boss@example.com"]
