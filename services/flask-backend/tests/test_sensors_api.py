"""/api/v1/sensors: registering, listing (paginated, only what the caller may see), moving
and removing sensors; validation of names and addresses; 404/409 for unknown or taken
things; the audit trail; and the publisher following the sensors: a sensor registered
receives its rule set, a sensor moved receives its new set at once (the reconcile loop's
interval is an hour here: only sensors_changed() can bring the round), a sensor removed has
its channel closed. Packet-services are stand-ins served over real gRPC on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from conftest import Api
from rookery_backend import access
from rookery_backend.packet_link.rule_publisher import RulePublisher
from rookery_backend.utils import utcnow
from rookery_common.testing import wait_until
from test_rule_publisher import FOREVER, Clock, StandIn, serve

SENSORS = "/api/v1/sensors"


@contextmanager
def database(app: Any) -> Iterator[Any]:
    """The app's DAL outside a request; committed (and the connection handed back) after."""
    svc = app.extensions["rookery"]
    with app.app_context():
        ok = False
        try:
            yield svc.dal
            ok = True
        finally:
            svc.database.end_request(ok=ok)
        access.invalidate()


def add_ruleset(app: Any, name: str, version: int, team_id: int | None = None) -> int:
    with database(app) as dal:
        return int(
            dal.packet_ruleset.insert(
                name=name, version=version, default_action="allow", team_id=team_id,
                created_at=utcnow(), updated_at=utcnow(),
            )
        )  # fmt: skip


def set_default_version(app: Any, version: int) -> None:
    with database(app) as dal:
        table = dal.packet_ruleset
        table.update_or_insert(
            table.id == 1, id=1, name="default", version=version, default_action="allow"
        )


def add_team(app: Any, name: str) -> int:
    with database(app) as dal:
        return int(dal.team.insert(name=name, created_at=utcnow()))


def add_member(app: Any, team_id: int, user_id: int, role: str) -> None:
    with database(app) as dal:
        dal.team_member.insert(team_id=team_id, user_id=user_id, role=role, created_at=utcnow())


def data(reply: Any) -> Any:
    assert reply.status_code < 300, (reply.status_code, reply.get_json())
    return reply.get_json()["data"]


def error(reply: Any) -> tuple[int, str]:
    return reply.status_code, reply.get_json()["error"]["code"]


def sensor(name: str, address: str, ruleset_id: int = 1, **extra: Any) -> dict[str, Any]:
    return {"name": name, "address": address, "ruleset_id": ruleset_id, **extra}


# ---------------------------------------------------------------- the resource itself
def test_create_read_update_delete_and_audit(api: Api) -> None:
    admin = api.admin_token()
    created = api.call("POST", SENSORS, admin, json=sensor("  edge-1 ", "10.0.0.5:50051"))
    assert created.status_code == 201, created.get_json()
    body = created.get_json()["data"]
    assert body["name"] == "edge-1" and body["address"] == "10.0.0.5:50051"
    assert body["ruleset_id"] == 1 and body["team_id"] is None and body["created_at"]
    sensor_id = body["id"]
    assert data(api.call("GET", f"{SENSORS}/{sensor_id}", admin))["name"] == "edge-1"
    patched = data(
        api.call("PATCH", f"{SENSORS}/{sensor_id}", admin, json={"address": "[::1]:50052"})
    )
    assert patched["address"] == "[::1]:50052" and patched["name"] == "edge-1"
    deleted = data(api.call("DELETE", f"{SENSORS}/{sensor_id}", admin))
    assert deleted["id"] == sensor_id
    assert error(api.call("GET", f"{SENSORS}/{sensor_id}", admin)) == (404, "not_found")
    assert error(api.call("DELETE", f"{SENSORS}/{sensor_id}", admin)) == (404, "not_found")
    events = data(api.call("GET", "/api/v1/audit", admin, query_string={"target": "sensor:"}))
    named = [(e["event"], e["target"]) for e in events]
    for event in ("sensor_created", "sensor_updated", "sensor_deleted"):
        assert (event, "sensor:edge-1") in named, named
    updated = next(e for e in events if e["event"] == "sensor_updated")
    assert updated["actor_email"] == "admin@localhost.local"


def test_listing_is_paginated_and_filtered(app: Any, api: Api) -> None:
    admin = api.admin_token()
    other = add_ruleset(app, "other", version=500)
    for n in range(3):
        data(api.call("POST", SENSORS, admin, json=sensor(f"s{n}", f"10.0.0.{n + 1}:1")))
    data(api.call("POST", SENSORS, admin, json=sensor("moved", "10.0.1.1:1", other)))
    first = api.call("GET", SENSORS, admin, query_string={"per_page": 2}).get_json()
    assert first["meta"] == {"total": 4, "page": 1, "per_page": 2}
    assert [s["name"] for s in first["data"]] == ["s0", "s1"]
    second = api.call("GET", SENSORS, admin, query_string={"per_page": 2, "page": 2}).get_json()
    assert [s["name"] for s in second["data"]] == ["s2", "moved"]
    of_other = api.call("GET", SENSORS, admin, query_string={"ruleset_id": other}).get_json()
    assert [s["name"] for s in of_other["data"]] == ["moved"]
    assert of_other["meta"]["total"] == 1
    bad = api.call("GET", SENSORS, admin, query_string={"per_page": 0})
    assert error(bad) == (422, "validation_error")


@pytest.mark.parametrize(
    ("address", "stored"),
    [
        ("10.0.0.5:50051", "10.0.0.5:50051"),
        ("[2001:db8::1]:1", "[2001:db8::1]:1"),
        ("packet-service:65535", "packet-service:65535"),
        ("edge-1.example.org:0050051", "edge-1.example.org:50051"),
    ],
)
def test_valid_addresses(api: Api, address: str, stored: str) -> None:
    admin = api.admin_token()
    reply = api.call("POST", SENSORS, admin, json=sensor("s", address))
    assert data(reply)["address"] == stored


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.5",  # no port
        "10.0.0.5:",  # empty port
        "10.0.0.256:1",  # not an IPv4 address
        "2001:db8::1:50051",  # IPv6 without brackets
        "[2001:db8::zz]:1",
        "[::1]",
        "host:0",
        "host:65536",
        "host:http",
        "-host:1",
        "bad host:1",
        "host\x00:1",
        ":50051",
        "a" * 300 + ":1",
        5,
    ],
)
def test_invalid_addresses_are_422(api: Api, address: Any) -> None:
    admin = api.admin_token()
    reply = api.call("POST", SENSORS, admin, json=sensor("s", address))
    assert error(reply) == (422, "validation_error"), reply.get_json()
    assert "address" in reply.get_json()["error"]["details"]["fields"]


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "a\x00b", "a\nb", "a\u200bb\x7f", None, 7])
def test_invalid_names_are_422(api: Api, name: Any) -> None:
    admin = api.admin_token()
    reply = api.call("POST", SENSORS, admin, json=sensor(name, "10.0.0.5:1"))
    assert error(reply) == (422, "validation_error"), reply.get_json()


def test_unknown_rule_set_or_team_is_404_and_duplicates_are_409(api: Api) -> None:
    admin = api.admin_token()
    unknown_set = api.call("POST", SENSORS, admin, json=sensor("s", "10.0.0.5:1", 999))
    assert error(unknown_set) == (404, "not_found")
    assert "rule set" in unknown_set.get_json()["error"]["message"]
    unknown_team = api.call("POST", SENSORS, admin, json=sensor("s", "10.0.0.5:1", team_id=999))
    assert error(unknown_team) == (404, "not_found")
    first = data(api.call("POST", SENSORS, admin, json=sensor("s", "10.0.0.5:1")))
    same_name = api.call("POST", SENSORS, admin, json=sensor("s", "10.0.0.6:1"))
    assert error(same_name) == (409, "conflict")
    assert set(same_name.get_json()["error"]["details"]["fields"]) == {"name"}
    same_address = api.call("POST", SENSORS, admin, json=sensor("t", "10.0.0.5:1"))
    assert set(same_address.get_json()["error"]["details"]["fields"]) == {"address"}
    second = data(api.call("POST", SENSORS, admin, json=sensor("t", "10.0.0.6:1")))
    path = f"{SENSORS}/{second['id']}"
    assert error(api.call("PATCH", path, admin, json={"name": "s"})) == (409, "conflict")
    assert error(api.call("PATCH", path, admin, json={"ruleset_id": 999})) == (404, "not_found")
    assert error(api.call("PATCH", path, admin, json={"ruleset_id": None}))[0] == 422
    assert error(api.call("PATCH", path, admin, json={"address": "nowhere"}))[0] == 422
    # renaming to its own name is no conflict
    assert data(api.call("PATCH", f"{SENSORS}/{first['id']}", admin, json={"name": "s"}))


# ---------------------------------------------------------------- who sees and does what
def test_team_members_see_and_manage_their_teams_sensors_only(app: Any, api: Api) -> None:
    admin = api.admin_token()
    red, blue = add_team(app, "red"), add_team(app, "blue")
    red_set = add_ruleset(app, "red rules", version=700, team_id=red)
    blue_set = add_ruleset(app, "blue rules", version=701, team_id=blue)
    red_admin = api.create_user(admin, "red-admin@example.com", [])
    add_member(app, red, red_admin["id"], "team-admin")
    token = api.login("red-admin@example.com", "password1")
    # Only a global sensors:admin says which address flask-backend dials (and presents its
    # service credential to): the team's own admin may not register one, nor readdress it.
    own = api.call("POST", SENSORS, token, json=sensor("red-1", "10.1.0.1:1", red_set, team_id=red))
    assert error(own) == (403, "insufficient_scope")
    mine = data(
        api.call("POST", SENSORS, admin, json=sensor("red-1", "10.1.0.1:1", red_set, team_id=red))
    )
    readdress = api.call("PATCH", f"{SENSORS}/{mine['id']}", token, json={"address": "10.9.9.9:1"})
    assert error(readdress) == (403, "insufficient_scope")
    theirs = data(
        api.call(
            "POST", SENSORS, admin, json=sensor("blue-1", "10.2.0.1:1", blue_set, team_id=blue)
        )
    )
    listed = api.call("GET", SENSORS, token).get_json()
    assert [s["name"] for s in listed["data"]] == ["red-1"] and listed["meta"]["total"] == 1
    assert len(data(api.call("GET", SENSORS, admin))) == 2
    assert api.call("GET", f"{SENSORS}/{theirs['id']}", token).status_code in (403, 404)
    # no global sensors:admin: registering outside the team is refused
    outside = api.call("POST", SENSORS, token, json=sensor("x", "10.1.0.2:1", red_set))
    assert outside.status_code == 403
    # attaching the team's sensor to a rule set the caller cannot read: as if it did not exist
    foreign = api.call("PATCH", f"{SENSORS}/{mine['id']}", token, json={"ruleset_id": blue_set})
    assert error(foreign) == (404, "not_found")
    foreign_new = api.call(
        "POST", SENSORS, admin, json=sensor("red-2", "10.1.0.3:1", blue_set, team_id=red)
    )
    assert foreign_new.status_code == 201  # the global admin reads every set
    # giving the sensor away to another team needs sensors:admin there
    away = api.call("PATCH", f"{SENSORS}/{mine['id']}", token, json={"team_id": blue})
    assert away.status_code == 403
    assert api.call("DELETE", f"{SENSORS}/{theirs['id']}", token).status_code in (403, 404)
    assert data(api.call("DELETE", f"{SENSORS}/{mine['id']}", token))["name"] == "red-1"


def test_viewer_lists_every_sensor_but_changes_none(api: Api) -> None:
    admin = api.admin_token()
    made = data(api.call("POST", SENSORS, admin, json=sensor("s", "10.0.0.5:1")))
    viewer = api.user_token(admin, "viewer@example.com", ["viewer"])
    assert [s["id"] for s in data(api.call("GET", SENSORS, viewer))] == [made["id"]]
    assert api.call("POST", SENSORS, viewer, json=sensor("t", "10.0.0.6:1")).status_code == 403
    assert api.call("DELETE", f"{SENSORS}/{made['id']}", viewer).status_code == 403
    assert api.call("GET", SENSORS).status_code == 401


# ---------------------------------------------------------------- publishing follows
@pytest.fixture
def stand_ins() -> Iterator[list[tuple[StandIn, str]]]:
    clock = Clock()
    served = [(StandIn(clock), None) for _ in range(2)]
    running = []
    for service, _ in served:
        server, address = serve(service)
        running.append((service, address, server))
    try:
        yield [(service, address) for service, address, _ in running]
    finally:
        for service, _, server in running:
            service.gate.set()
            server.stop(None)


def test_registered_moved_and_removed_sensors_are_published_to(
    app_factory, stand_ins: list[tuple[StandIn, str]]
) -> None:
    app = app_factory()
    link = app.extensions["rookery"].packet_link
    link.publisher = RulePublisher(
        link.read_sensors,
        link.pool,
        link._load_desired,
        interval=FOREVER,  # only a write or a sensor change brings a round
        load_version=link._load_version,
    )
    link.start()
    try:
        api = Api(app.test_client())
        admin = api.admin_token()
        set_default_version(app, 5)
        other = add_ruleset(app, "other", version=900)
        (one, one_address), (two, two_address) = stand_ins
        first = data(api.call("POST", SENSORS, admin, json=sensor("one", one_address)))
        second = data(api.call("POST", SENSORS, admin, json=sensor("two", two_address, other)))
        assert wait_until(lambda: one.published == [5] and two.published == [900], 5)
        assert wait_until(lambda: link.publisher.status(900, other)["state"] == "in_sync", 5)
        status = link.publisher.status(900, other)
        assert [t["sensor_id"] for t in status["targets"]] == [second["id"]]
        assert status["targets"][0]["name"] == "two" and status["state"] == "in_sync"

        # moving: the default set (version 5, lower than 900) goes out to it at once
        api.call("PATCH", f"{SENSORS}/{second['id']}", admin, json={"ruleset_id": 1})
        assert wait_until(lambda: two.published == [900, 5], 2), two.published
        # the stand-in records the set before the publisher has its answer: wait for that
        assert wait_until(lambda: link.publisher.status(5, 1)["state"] == "in_sync", 5)
        default = link.publisher.status(5, 1)
        assert {t["sensor_id"] for t in default["targets"]} == {first["id"], second["id"]}
        assert link.publisher.status(900, other)["targets"] == []

        # removing: its channel is closed and it is no longer followed
        data(api.call("DELETE", f"{SENSORS}/{second['id']}", admin))
        assert wait_until(lambda: link.pool.get(two_address) is None, 2)
        assert [t["sensor_id"] for t in link.publisher.status(5, 1)["targets"]] == [first["id"]]
    finally:
        link.close()
