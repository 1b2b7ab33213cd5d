"""Test helpers of the access model: rows written straight to the database (rule sets and
sensors do not depend on their own API here), and a small world of teams, rule sets,
sensors, members and grants."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rookery_backend.utils import utcnow


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


def add_ruleset(app: Any, name: str, team_id: int | None = None) -> int:
    with database(app) as dal:
        return int(dal.packet_ruleset.insert(name=name, team_id=team_id, created_at=utcnow()))


def add_sensor(app: Any, name: str, ruleset_id: int, team_id: int | None = None) -> int:
    with database(app) as dal:
        return int(
            dal.sensor.insert(
                name=name,
                address=f"127.0.0.1:{10000 + len(name)}-{name}",
                ruleset_id=ruleset_id,
                team_id=team_id,
                created_at=utcnow(),
            )
        )


def data(reply: Any) -> Any:
    assert reply.status_code < 300, (reply.status_code, reply.get_json())
    return reply.get_json()["data"]


def error_code(reply: Any) -> str | None:
    body = reply.get_json(silent=True) or {}
    return body.get("error", {}).get("code") if isinstance(body, dict) else None


def user_id(api: Any, token: str) -> int:
    return int(data(api.call("GET", "/api/v1/auth/me", token))["id"])


@dataclass(slots=True)
class Person:
    token: str
    id: int


def person(api: Any, admin: str, email: str, roles: list[str] | None = None) -> Person:
    created = api.create_user(admin, email, roles or [])
    return Person(api.login(email, "password1"), int(created["id"]))


def new_team(api: Any, admin: str, name: str) -> int:
    return int(data(api.call("POST", "/api/v1/teams", admin, json={"name": name}))["id"])


def join(api: Any, admin: str, team_id: int, uid: int, role: str) -> None:
    data(
        api.call(
            "POST", f"/api/v1/teams/{team_id}/members", admin, json={"user_id": uid, "role": role}
        )
    )


def grant(api: Any, admin: str, ruleset_id: int, role: str, **holder: Any) -> int:
    body = {"role": role, **holder}
    return int(
        data(api.call("POST", f"/api/v1/rulesets/{ruleset_id}/grants", admin, json=body))["id"]
    )


@dataclass(slots=True)
class World:
    """Teams A and B; rule sets ra (team A), rb (team B), rg (global); sensors sa (team A,
    on ra) and sg (global, on rg)."""

    admin: str
    team_a: int
    team_b: int
    ra: int
    rb: int
    rg: int
    sa: int
    sg: int
    people: dict[str, Person] = field(default_factory=dict)


def build_world(app: Any, api: Any) -> World:
    admin = api.admin_token()
    team_a = new_team(api, admin, "Team A")
    team_b = new_team(api, admin, "Team B")
    ra = add_ruleset(app, "ra", team_a)
    rb = add_ruleset(app, "rb", team_b)
    rg = add_ruleset(app, "rg", None)
    sa = add_sensor(app, "sensor-a", ra, team_a)
    sg = add_sensor(app, "sensor-g", rg, None)
    return World(admin, team_a, team_b, ra, rb, rg, sa, sg)
