"""Attacks on the three-level access model that once worked: a team-admin capturing
flask-backend's service credential with a sensor address of their choosing, two spellings of
one packet-service's address, a sensor move seen late by access checks in the same process,
a refusal telling which team ids exist, a team name that reads as another's."""

from __future__ import annotations

from typing import Any

from rookery_backend import access
from tenancy import add_ruleset, add_sensor, build_world, grant, join, new_team, person


def test_a_team_admin_cannot_capture_the_backend_service_key_with_a_sensor(app, api) -> None:
    """flask-backend dials a sensor's address and presents its service API key there (global
    rules:read, rules:write, stats:read). A team-admin (sensors:admin in their team) who
    could register or readdress a sensor would receive that key on a server of theirs and
    read and rewrite every team's rule sets: only a global sensors:admin chooses addresses."""
    from concurrent import futures

    import grpc

    class Capture(grpc.GenericRpcHandler):
        def __init__(self) -> None:
            self.seen: list[dict[str, str]] = []

        def service(self, details: Any) -> None:
            self.seen.append({k: v for k, v in details.invocation_metadata})
            return None  # UNIMPLEMENTED: the backend's call fails, after sending its key

    capture = Capture()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2), handlers=[capture])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        w = build_world(app, api)
        svc = app.extensions["rookery"]
        with app.app_context():  # as the server does at start-up
            svc.packet_link.provision_service_key(svc.datastore)
            svc.database.end_request(ok=True)
        boss = person(api, w.admin, "boss@example.com")
        join(api, w.admin, w.team_a, boss.id, "team-admin")
        # Team B's rule set: out of reach for boss.
        assert api.call("GET", f"/api/v1/rulesets/{w.rb}/rules", boss.token).status_code == 403
        created = api.call(
            "POST",
            "/api/v1/sensors",
            boss.token,
            json={
                "name": "evil",
                "address": f"127.0.0.1:{port}",
                "ruleset_id": w.ra,
                "team_id": w.team_a,
            },
        )
        assert created.status_code == 403, created.get_json()
        # nor by readdressing a sensor the team owns
        owned = add_sensor(app, "team-a-sensor", w.ra, w.team_a)
        moved = api.call(
            "PATCH", f"/api/v1/sensors/{owned}", boss.token, json={"address": f"127.0.0.1:{port}"}
        )
        assert moved.status_code == 403, moved.get_json()
        api.call("GET", f"/api/v1/stats/summary?sensor_id={owned}", boss.token)
        stolen = [m["authorization"].split(" ", 1)[1] for m in capture.seen if "authorization" in m]
        if stolen:
            key = stolen[0]
            read = api.call("GET", f"/api/v1/rulesets/{w.rb}/rules", key)
            assert read.status_code == 403, "the captured key reads team B's rule set"
        assert stolen == [], "flask-backend sent its service key to a team-admin's host"
    finally:
        server.stop(None)


def test_a_team_admin_cannot_attach_a_second_sensor_to_another_teams_packet_service(
    app, api
) -> None:
    """sensor.address is unique as a string, and check_address keeps the host name's case
    and a trailing dot. A team-admin of A registers 'PACKET-B.internal.:50051' next to team
    B's 'packet-b.internal:50051': the publisher then pushes team A's rule set to team B's
    packet-service (one service, two sets: whichever publish lands last is enforced), i.e. a
    tenant replaces another tenant's filtering. Addresses are stored in one spelling (host
    names lower-case, no trailing dot, IPv6 compressed), so the second is a conflict; and a
    team-admin may not choose addresses at all."""
    w = build_world(app, api)
    theirs = api.call(
        "POST",
        "/api/v1/sensors",
        w.admin,
        json={
            "name": "b-sensor",
            "address": "packet-b.internal:50051",
            "ruleset_id": w.rb,
            "team_id": w.team_b,
        },
    )
    assert theirs.status_code == 201, theirs.get_json()
    boss = person(api, w.admin, "boss@example.com")
    join(api, w.admin, w.team_a, boss.id, "team-admin")
    statuses = []
    for caller in (boss.token, w.admin):
        for i, alias in enumerate(("PACKET-B.internal:50051", "packet-b.internal.:50051")):
            body = {"name": f"alias-{i}", "address": alias, "ruleset_id": w.ra,
                    "team_id": w.team_a}  # fmt: skip
            statuses.append(api.call("POST", "/api/v1/sensors", caller, json=body).status_code)
    assert statuses == [403, 403, 409, 409]
    v6 = {"name": "v6", "address": "[2001:DB8:0:0::1]:50051", "ruleset_id": w.ra}
    assert api.call("POST", "/api/v1/sensors", w.admin, json=v6).get_json()["data"]["address"] == (
        "[2001:db8::1]:50051"
    )


def test_moving_a_sensor_to_another_rule_set_applies_at_once(app, api) -> None:
    """patch_sensor calls access.invalidate() only when team_id changes. The snapshot
    stores each sensor's rule set, which decides who may see it (rules:read on the set ->
    sensors:read, stats:read). After a move, a viewer of the OLD set keeps seeing the
    sensor (and its statistics) and a viewer of the new set is refused, in THIS process,
    until the snapshot ages out (docs/TEAMS.md promises changes made here apply at once)."""
    admin = api.admin_token()
    old = add_ruleset(app, "old-set", None)
    new = add_ruleset(app, "new-set", None)
    sensor = add_sensor(app, "moving", old, None)
    eve = person(api, admin, "eve@example.com")
    ann = person(api, admin, "ann@example.com")
    grant(api, admin, old, "viewer", user_id=eve.id)
    grant(api, admin, new, "viewer", user_id=ann.id)
    cache = access.install(app)
    cache.clock = lambda: 1000.0  # within the bound for the whole test
    assert api.call("GET", f"/api/v1/sensors/{sensor}", eve.token).status_code == 200
    moved = api.call("PATCH", f"/api/v1/sensors/{sensor}", admin, json={"ruleset_id": new})
    assert moved.status_code == 200, moved.get_json()
    eve_now = api.call("GET", f"/api/v1/sensors/{sensor}", eve.token).status_code
    ann_now = api.call("GET", f"/api/v1/sensors/{sensor}", ann.token).status_code
    assert (eve_now, ann_now) == (403, 200)


def test_moving_a_sensor_to_a_team_does_not_reveal_which_teams_exist(app, api) -> None:
    """patch_sensor runs _check_team (404 'no team with id') BEFORE checking sensors:admin
    in the team given (403): a team-admin of A learns which team ids exist."""
    w = build_world(app, api)
    boss = person(api, w.admin, "boss@example.com")
    join(api, w.admin, w.team_a, boss.id, "team-admin")
    url = f"/api/v1/sensors/{w.sa}"
    existing = api.call("PATCH", url, boss.token, json={"team_id": w.team_b})
    unknown = api.call("PATCH", url, boss.token, json={"team_id": 987654})
    assert existing.status_code == 403
    assert unknown.status_code == existing.status_code


def test_a_team_admin_cannot_rename_their_team_to_look_like_another(app, api) -> None:
    """TeamName (team_bodies.py) refuses control characters but accepts format characters
    (Unicode Cf: U+200B zero-width space, U+202E right-to-left override, U+FEFF, U+2060),
    which NFKC + casefold in teams.name_key do not remove. A team-admin of A renames A to
    'Team B' + U+200B: a second 'Team B' on every screen (team lists, grant holders),
    so a rule-set owner picking 'Team B' may grant to the attacker's team."""
    w = build_world(app, api)
    boss = person(api, w.admin, "boss@example.com")
    join(api, w.admin, w.team_a, boss.id, "team-admin")
    statuses = []
    for spoof in ("Team B\u200b", "\u2060Team B", "Team \u202eB", "\ufeffTeam B"):
        reply = api.call("PATCH", f"/api/v1/teams/{w.team_a}", boss.token, json={"name": spoof})
        statuses.append(reply.status_code)
    assert statuses == [422, 422, 422, 422]


def _all_at_once(app: Any, method: str, url: str, token: str, body: dict[str, Any]) -> list[int]:
    """The same request from eight threads at once (each its own client); the statuses."""
    import threading

    statuses: list[int] = []
    start = threading.Barrier(8)

    def one() -> None:
        client = app.test_client()
        start.wait()
        reply = client.open(
            url, method=method, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        statuses.append(reply.status_code)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return sorted(statuses)


def test_a_member_added_by_many_requests_at_once_is_one_membership(app, api) -> None:
    """Adds racing each other: one wins, the others are 409 (the unique index decides, not
    a look before the insert), and removing the member ends the membership."""
    admin = api.admin_token()
    team = new_team(api, admin, "Race")
    owned = add_ruleset(app, "race-set", team)
    mallory = person(api, admin, "mallory@example.com")
    members = f"/api/v1/teams/{team}/members"
    body = {"user_id": mallory.id, "role": "team-maintainer"}
    assert _all_at_once(app, "POST", members, admin, body) == [201] + [409] * 7
    assert api.call("GET", f"/api/v1/rulesets/{owned}/rules", mallory.token).status_code == 200
    assert api.call("DELETE", f"{members}/{mallory.id}", admin).status_code == 200
    assert api.call("GET", f"/api/v1/rulesets/{owned}/rules", mallory.token).status_code == 403


def test_a_grant_given_by_many_requests_at_once_is_one_grant(app, api) -> None:
    admin = api.admin_token()
    ruleset = add_ruleset(app, "race-grants", None)
    eve = person(api, admin, "eve@example.com")
    grants = f"/api/v1/rulesets/{ruleset}/grants"
    body = {"user_id": eve.id, "role": "editor"}
    assert _all_at_once(app, "POST", grants, admin, body) == [201] + [409] * 7
    listed = api.call("GET", grants, admin).get_json()["data"]
    assert len(listed) == 1
    rules = f"/api/v1/rulesets/{ruleset}/rules"
    assert api.call("GET", rules, eve.token).status_code == 200
    assert api.call("DELETE", f"{grants}/{listed[0]['id']}", admin).status_code == 200
    assert api.call("GET", rules, eve.token).status_code == 403


def test_a_viewer_grant_gives_no_veto_over_deleting_the_rule_set(app, api) -> None:
    """A sensor attached to a set keeps the set from being deleted. A team-admin holding
    only a viewer grant on another team's set may not attach their sensor to it (403, the
    set being readable to them); an editor grant lets them."""
    w = build_world(app, api)
    boss_a = person(api, w.admin, "boss-a@example.com")
    join(api, w.admin, w.team_a, boss_a.id, "team-admin")
    viewer = grant(api, w.admin, w.rb, "viewer", user_id=boss_a.id)
    move = {"ruleset_id": w.rb}
    refused = api.call("PATCH", f"/api/v1/sensors/{w.sa}", boss_a.token, json=move)
    assert refused.status_code == 403, refused.get_json()
    assert refused.get_json()["error"]["details"]["required"] == "rules:write"
    api.call("DELETE", f"/api/v1/rulesets/{w.rb}/grants/{viewer}", w.admin)
    grant(api, w.admin, w.rb, "editor", user_id=boss_a.id)
    moved = api.call("PATCH", f"/api/v1/sensors/{w.sa}", boss_a.token, json=move)
    assert moved.status_code == 200, moved.get_json()
