"""/api/v1/rulesets: many rule sets, each with its own rules, default action and version (one
deployment-wide sequence: versions grow and never repeat across sets, also under concurrent
writers), owned by a team or global; hostile input is a JSON 4xx naming the field (on every
database backend)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from rookery_backend.utils import utcnow

SETS = "/api/v1/rulesets"
RULES = "/api/v1/rules"


def new_set(api, token, name: str, **fields: Any):
    return api.call("POST", SETS, token, json={"name": name, "default_action": "allow", **fields})


def made_set(api, token, name: str, **fields: Any) -> dict[str, Any]:
    reply = new_set(api, token, name, **fields)
    assert reply.status_code == 201, reply.get_json()
    return reply.get_json()["data"]


def add_rule(api, token, ruleset_id: int, name: str, **fields: Any):
    body = {"name": name, "action": "drop", **fields}
    return api.call("POST", f"{SETS}/{ruleset_id}/rules", token, json=body)


def rule_names(api, token, path: str) -> list[str]:
    reply = api.call("GET", path, token)
    assert reply.status_code == 200, reply.get_json()
    return [rule["name"] for rule in reply.get_json()["data"]]


def audit_events(api, token) -> list[dict[str, Any]]:
    return api.call("GET", "/api/v1/audit?per_page=200", token).get_json()["data"]


def attach_sensor(app, ruleset_id: int, name: str) -> None:
    database = app.extensions["rookery"].database
    database.begin_request()
    database.dal.sensor.insert(
        name=name, address=f"127.0.0.1:{50000 + ruleset_id}", ruleset_id=ruleset_id,
        created_at=utcnow(),
    )  # fmt: skip
    database.end_request(ok=True)


def test_the_default_set_is_listed_and_named(api) -> None:
    admin = api.admin_token()
    listed = api.call("GET", SETS, admin).get_json()
    assert listed["meta"] == {"total": 1, "page": 1, "per_page": 100}
    default = listed["data"][0]
    assert default["id"] == 1 and default["name"] == "default" and default["team_id"] is None
    assert default["version"] == 0 and default["rule_count"] == 0 and default["sensor_count"] == 0


def test_create_read_update_delete(api) -> None:
    admin = api.admin_token()
    created = new_set(api, admin, "  edge  ", default_action="drop", description="the edge")
    assert created.status_code == 201, created.get_json()
    edge = created.get_json()["data"]
    assert edge["name"] == "edge" and edge["default_action"] == "drop"
    assert edge["description"] == "the edge" and edge["team_id"] is None
    assert created.get_json()["meta"]["version"] == edge["version"] >= 1
    assert api.call("GET", f"{SETS}/{edge['id']}", admin).get_json()["data"] == edge

    patched = api.call(
        "PATCH", f"{SETS}/{edge['id']}", admin, json={"name": "edge-2", "default_action": "allow"}
    )
    assert patched.status_code == 200, patched.get_json()
    body = patched.get_json()
    assert body["data"]["name"] == "edge-2" and body["data"]["default_action"] == "allow"
    assert body["data"]["version"] == body["meta"]["version"] > edge["version"]
    assert body["meta"]["publish"] == "no_targets"
    unchanged = api.call("PATCH", f"{SETS}/{edge['id']}", admin, json={})
    assert unchanged.status_code == 200
    assert unchanged.get_json()["meta"]["version"] == body["data"]["version"]
    # the default action of a set is that set's only
    assert api.call("GET", RULES, admin).get_json()["meta"]["default_action"] == "allow"

    assert add_rule(api, admin, edge["id"], "r").status_code == 201
    deleted = api.call("DELETE", f"{SETS}/{edge['id']}", admin)
    assert deleted.status_code == 200 and deleted.get_json()["data"]["rule_count"] == 1
    assert api.call("GET", f"{SETS}/{edge['id']}", admin).get_json()["error"]["code"] == (
        "not_found"
    )
    assert api.call("GET", f"{SETS}/{edge['id']}/rules", admin).status_code == 404
    assert [s["id"] for s in api.call("GET", SETS, admin).get_json()["data"]] == [1]

    events = [e for e in audit_events(api, admin) if e["event"].startswith("ruleset_")]
    assert [e["event"] for e in events] == ["ruleset_deleted", "ruleset_updated", "ruleset_created"]
    assert all(e["target"] == f"ruleset:{edge['id']}" for e in events)
    assert events[1]["details"]["fields"] == ["default_action", "name"]
    assert events[1]["details"]["changes"]["name"] == {"from": "edge", "to": "edge-2"}
    assert events[0]["target_label"] == "edge-2"


def test_the_default_set_and_a_set_in_use_cannot_be_deleted(api, app) -> None:
    admin = api.admin_token()
    refused = api.call("DELETE", f"{SETS}/1", admin)
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "default_ruleset"
    used = made_set(api, admin, "used")
    attach_sensor(app, used["id"], "sensor-a")
    assert api.call("GET", f"{SETS}/{used['id']}", admin).get_json()["data"]["sensor_count"] == 1
    in_use = api.call("DELETE", f"{SETS}/{used['id']}", admin)
    assert in_use.status_code == 409, in_use.get_json()
    assert in_use.get_json()["error"] == {
        "code": "ruleset_in_use",
        "message": in_use.get_json()["error"]["message"],
        "details": {"sensors": 1},
    }
    assert api.call("GET", f"{SETS}/{used['id']}", admin).status_code == 200


def test_rules_of_each_set_are_isolated(api) -> None:
    admin = api.admin_token()
    one, two = made_set(api, admin, "one"), made_set(api, admin, "two")
    default_rule = api.call("POST", RULES, admin, json={"name": "d0", "action": "allow"})
    assert default_rule.status_code == 201
    ids = {}
    for ruleset in (one, two):
        for n in range(3):
            reply = add_rule(api, admin, ruleset["id"], f"{ruleset['name']}-{n}")
            assert reply.status_code == 201, reply.get_json()
            assert reply.get_json()["data"]["position"] == n  # positions count per set
            ids.setdefault(ruleset["id"], []).append(reply.get_json()["data"]["id"])
    assert rule_names(api, admin, RULES) == ["d0"]
    assert rule_names(api, admin, f"{SETS}/1/rules") == ["d0"]
    assert rule_names(api, admin, f"{SETS}/{one['id']}/rules") == ["one-0", "one-1", "one-2"]
    assert rule_names(api, admin, f"{SETS}/{two['id']}/rules") == ["two-0", "two-1", "two-2"]
    counts = {s["id"]: s["rule_count"] for s in api.call("GET", SETS, admin).get_json()["data"]}
    assert counts == {1: 1, one["id"]: 3, two["id"]: 3}

    # a rule of another set is not there: read, change, delete alike
    theirs = ids[two["id"]][0]
    for method, body in (("GET", None), ("PATCH", {"name": "x"}), ("DELETE", None)):
        for path in (f"{RULES}/{theirs}", f"{SETS}/{one['id']}/rules/{theirs}"):
            reply = api.call(method, path, admin, json=body)
            assert reply.status_code == 404, (method, path, reply.get_json())
            assert reply.get_json()["error"]["code"] == "not_found"
    assert rule_names(api, admin, f"{SETS}/{two['id']}/rules")[0] == "two-0"

    # reorder names the set's own rules only
    mixed = api.call(
        "POST", f"{SETS}/{one['id']}/rules/reorder", admin,
        json={"ids": [*ids[one["id"]][:2], theirs]},
    )  # fmt: skip
    assert mixed.status_code == 422 and mixed.get_json()["error"]["details"]["unknown"] == [theirs]
    reordered = api.call(
        "POST", f"{SETS}/{one['id']}/rules/reorder", admin, json={"ids": ids[one["id"]][::-1]}
    )
    assert reordered.status_code == 200
    assert rule_names(api, admin, f"{SETS}/{one['id']}/rules") == ["one-2", "one-1", "one-0"]
    assert rule_names(api, admin, f"{SETS}/{two['id']}/rules") == ["two-0", "two-1", "two-2"]

    patched = api.call(
        "PATCH", f"{SETS}/{two['id']}/rules/{theirs}", admin, json={"protocol": "tcp"}
    )
    assert patched.status_code == 200 and patched.get_json()["data"]["protocol"] == "tcp"
    assert api.call("DELETE", f"{SETS}/{two['id']}/rules/{theirs}", admin).status_code == 200
    assert rule_names(api, admin, f"{SETS}/{two['id']}/rules") == ["two-1", "two-2"]
    assert rule_names(api, admin, RULES) == ["d0"]
    created = [e for e in audit_events(api, admin) if e["event"] == "rule_created"]
    assert {e["details"].get("ruleset_id") for e in created} == {None, one["id"], two["id"]}


def test_versions_grow_and_never_repeat_across_sets(api) -> None:
    admin = api.admin_token()
    seen: list[int] = []
    sets = [made_set(api, admin, name) for name in ("a", "b")]
    seen += [s["version"] for s in sets]
    for n in range(4):
        for ruleset_id in (1, sets[0]["id"], sets[1]["id"]):
            reply = add_rule(api, admin, ruleset_id, f"r{n}")
            assert reply.status_code == 201
            seen.append(reply.get_json()["meta"]["version"])
    reply = api.call("PUT", f"{RULES}/default-action", admin, json={"default_action": "drop"})
    seen.append(reply.get_json()["meta"]["version"])
    assert seen == sorted(seen) and len(set(seen)) == len(seen)  # one growing sequence
    listed = {s["id"]: s["version"] for s in api.call("GET", SETS, admin).get_json()["data"]}
    assert listed[1] == seen[-1]
    assert listed[sets[1]["id"]] == seen[-2] and listed[sets[0]["id"]] == seen[-3]
    # each set reports its own version, /rules the default set's
    assert api.call("GET", RULES, admin).get_json()["meta"]["version"] == seen[-1]
    status = api.call("GET", f"{SETS}/{sets[0]['id']}/status", admin).get_json()["data"]
    assert status == {
        "desired_version": seen[-3], "default_action": "allow", "state": "in_sync", "targets": [],
    }  # fmt: skip


def test_concurrent_writers_on_two_sets_never_share_a_version(app, api) -> None:
    admin = api.admin_token()
    sets = [made_set(api, admin, name)["id"] for name in ("left", "right")]
    per_writer = 12
    start = threading.Barrier(len(sets))
    versions: dict[int, list[int]] = {s: [] for s in sets}
    failures: list[Any] = []

    def write(ruleset_id: int) -> None:
        client = app.test_client()
        headers = {"Authorization": f"Bearer {admin}"}
        start.wait()
        for n in range(per_writer):
            reply = client.post(
                f"{SETS}/{ruleset_id}/rules",
                headers=headers,
                json={"name": f"w{n}", "action": "drop"},
            )
            if reply.status_code != 201:
                failures.append(reply.get_json())
                return
            versions[ruleset_id].append(reply.get_json()["meta"]["version"])

    threads = [threading.Thread(target=write, args=(s,)) for s in sets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures
    every = [v for s in sets for v in versions[s]]
    assert len(every) == 2 * per_writer and len(set(every)) == len(every)
    for s in sets:
        assert versions[s] == sorted(versions[s])  # each writer saw its own grow
        rules = api.call("GET", f"{SETS}/{s}/rules", admin).get_json()
        assert [r["name"] for r in rules["data"]] == [f"w{n}" for n in range(per_writer)]
        assert rules["meta"]["version"] == versions[s][-1]


def test_team_sets_names_and_listing_per_caller(api) -> None:
    admin = api.admin_token()
    team = api.call("POST", "/api/v1/teams", admin, json={"name": "blue"})
    assert team.status_code == 201, team.get_json()
    team_id = team.get_json()["data"]["id"]
    global_edge = made_set(api, admin, "edge")
    team_edge = made_set(api, admin, "edge", team_id=team_id)  # a name is unique per owner
    assert team_edge["team_id"] == team_id
    for look_alike in ("EDGE", "Edge ", "\uff45\uff44\uff47\uff45", "edge"):
        taken = new_set(api, admin, look_alike, team_id=team_id)
        assert taken.status_code == 409, (look_alike, taken.get_json())
        assert taken.get_json()["error"]["code"] == "conflict"
    renamed = api.call("PATCH", f"{SETS}/{global_edge['id']}", admin, json={"name": "Default"})
    assert renamed.status_code == 409
    missing_team = new_set(api, admin, "x", team_id=999_999)
    assert missing_team.status_code == 404
    assert missing_team.get_json()["error"]["details"]["fields"] == {"team_id": "no such team"}

    user = api.create_user(admin, "member@example.com", [])
    joined = api.call(
        "POST", f"/api/v1/teams/{team_id}/members", admin,
        json={"user_id": user["id"], "role": "team-viewer"},
    )  # fmt: skip
    assert joined.status_code == 201, joined.get_json()
    member = api.login("member@example.com", "password1")
    listed = api.call("GET", SETS, member).get_json()
    assert [s["id"] for s in listed["data"]] == [team_edge["id"]] and listed["meta"]["total"] == 1
    assert api.call("GET", f"{SETS}/{global_edge['id']}", member).status_code == 403
    assert api.call("GET", f"{SETS}/{team_edge['id']}/rules", member).status_code == 200
    assert add_rule(api, member, team_edge["id"], "nope").status_code == 403
    # everyone with rules:read globally sees every set, paged
    paged = api.call("GET", SETS, admin, query_string={"per_page": 2, "page": 2}).get_json()
    assert paged["meta"]["total"] == 3 and [s["id"] for s in paged["data"]] == [team_edge["id"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"name": "a\x1fb"}, "name"),
        ({"name": "a\nb"}, "name"),
        ({"name": "a\u200bb"}, "name"),  # zero-width space
        ({"name": "a\u202eb"}, "name"),  # right-to-left override
        ({"name": "a\u00a0b"}, "name"),  # no-break space
        ({"name": "a\ud800b"}, "name"),  # lone surrogate
        ({"name": 5}, "name"),
        ({"name": ["edge"]}, "name"),
        ({"name": None}, "name"),
        ({"default_action": "count"}, "default_action"),
        ({"default_action": None}, "default_action"),
        ({"team_id": "1"}, "team_id"),
        ({"team_id": True}, "team_id"),
        ({"team_id": 0}, "team_id"),
        ({"team_id": -1}, "team_id"),
        ({"team_id": 1.5}, "team_id"),
        ({"team_id": 2**70}, "team_id"),
        ({"description": "x" * 2001}, "description"),
        ({"description": "a\x00"}, "description"),
    ],
)
def test_hostile_bodies_are_a_json_4xx_naming_the_field(api, body, field) -> None:
    admin = api.admin_token()
    reply = api.call("POST", SETS, admin, json={"name": "ok", "default_action": "allow", **body})
    assert reply.status_code == 422, reply.get_data(as_text=True)
    error = reply.get_json()["error"]
    assert error["code"] == "validation_error" and field in error["details"]["fields"], error
    patched = api.call("PATCH", f"{SETS}/1", admin, json=body)
    if field != "team_id" or body["team_id"] is not None:
        assert patched.status_code == 422, patched.get_data(as_text=True)
        assert field in patched.get_json()["error"]["details"]["fields"]
    assert api.call("GET", SETS, admin).get_json()["meta"]["total"] == 1


def test_hostile_requests_elsewhere(api) -> None:
    admin = api.admin_token()
    moved = api.call("PATCH", f"{SETS}/1", admin, json={"team_id": None})
    assert moved.status_code == 422 and "team_id" in moved.get_json()["error"]["details"]["fields"]
    for method in ("GET", "PATCH", "DELETE"):
        reply = api.call(method, f"{SETS}/424242", admin, json={"description": "x"})
        assert reply.status_code == 404 and reply.get_json()["error"]["code"] == "not_found"
    for path in (f"{SETS}/424242/rules", f"{SETS}/424242/status", f"{SETS}/424242/rules/abc"):
        assert api.call("GET", path, admin).status_code == 404
    assert add_rule(api, admin, 424242, "r").status_code == 404
    huge = api.call("GET", f"{SETS}/{2**70}", admin)
    assert huge.status_code in (404, 422) and huge.is_json
    control = api.call("GET", f"{SETS}/1/rules/a%00b", admin)
    assert control.status_code == 422 and control.is_json
    not_json = api.call("POST", SETS, admin, data="name=x", headers={"Content-Type": "text/plain"})
    assert not_json.status_code == 415
    broken = api.call("POST", SETS, admin, data="{", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.get_json()["error"]["code"] == "invalid_json"
    big = api.call(
        "POST", SETS, admin, json={"name": "big", "default_action": "allow", "pad": "x" * 2_000_000}
    )
    assert big.status_code == 413 and big.is_json
    paging = api.call("GET", SETS, admin, query_string={"per_page": "0"})
    assert paging.status_code == 422
    assert api.call("GET", SETS, admin).get_json()["meta"]["total"] == 1


def test_the_openapi_document_lists_the_routes(api) -> None:
    paths = api.call("GET", "/api/v1/openapi.json").get_json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/rulesets"])
    assert {"get", "patch", "delete"} <= set(paths["/api/v1/rulesets/{ruleset_id}"])
    assert "post" in paths["/api/v1/rulesets/{ruleset_id}/rules/reorder"]
    assert "default rule set" in paths["/api/v1/rules"]["get"]["summary"]


def test_each_rule_set_says_what_the_caller_may_do_on_it(app, api) -> None:
    """my_scopes: the caller's effective scopes on the set (what the web UI offers, asked
    rather than tried with a write), in the listing and on one set."""
    from rookery_backend.policy import RESOURCE_SCOPES
    from tenancy import build_world, data, grant, join, person

    w = build_world(app, api)
    admin_view = {s["id"]: s["my_scopes"] for s in data(api.call("GET", SETS, w.admin))}
    assert admin_view[w.ra] == sorted(RESOURCE_SCOPES)

    maintainer = person(api, w.admin, "maintainer-a@example.com")
    join(api, w.admin, w.team_a, maintainer.id, "team-maintainer")
    listed = {s["id"]: s["my_scopes"] for s in data(api.call("GET", SETS, maintainer.token))}
    assert set(listed) == {w.ra}  # only the team's set is visible to them
    assert "rules:write" in listed[w.ra] and "rulesets:admin" not in listed[w.ra]

    viewer = person(api, w.admin, "viewer-b@example.com")
    grant(api, w.admin, w.rb, "viewer", user_id=viewer.id)
    one = data(api.call("GET", f"{SETS}/{w.rb}", viewer.token))
    assert one["my_scopes"] == ["rules:read", "stats:read"]

    key = data(
        api.call(
            "POST",
            "/api/v1/apikeys",
            w.admin,
            json={"name": "ro", "scopes": ["rules:read"], "ruleset_id": w.ra},
        )
    )["key"]
    keyed = data(api.call("GET", SETS, key))
    assert [(s["id"], s["my_scopes"]) for s in keyed] == [(w.ra, ["rules:read"])]
