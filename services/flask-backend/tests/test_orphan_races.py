"""No orphan rows from a deletion racing a write that refers to the deleted row.

Every pair is driven deterministically, in both orders, on each database backend, by pausing
a request's thread at a chosen SQL statement (a hook on PyDAL's adapter.execute, per thread):

- "writer first": the writer (POST a rule set for a team, POST/PATCH a sensor with a rule
  set or a team, POST a member or a grant) has made its checks and is about to write its
  row; it waits there until the deleter is about to delete something (it got past its own
  checks) or has answered. A deleter blocked by the writer's lock never gets there: the
  writer's wait ends after PAUSE seconds, which only costs time (the outcome is the same
  whichever comes first).
- "deleter first": the deleter has deleted the row and not committed yet; it waits there
  until the writer has answered (or PAUSE seconds: a writer that waits for the deleter's
  lock cannot answer before). The writer starts once the deleter is paused.

Afterwards: never a row referring to a row that is gone (`orphans`), never a 500, the loser
gets a JSON error with a code and a message, and exactly one of the two got what it asked.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from rookery_backend import row_locks
from rookery_backend.policy import TEAM_ROLES
from tenancy import add_ruleset, add_sensor, data, database, new_team, person

PAUSE = 1.0  # seconds a paused request waits for the other one at most (see above)


def _normalised(sql: str) -> str:
    return re.sub(r'["`]', "", " ".join(sql.split())).upper()


def deleting(table: str) -> str:
    """A DELETE from `table` (from any table when empty), as each backend's PyDAL writes it
    (MySQL's reads DELETE t FROM t ...)."""
    return rf"^DELETE (?:\S+ )?FROM {table.upper()}\b" if table else r"^DELETE (?:\S+ )?FROM "


@dataclass(slots=True)
class Hook:
    thread: str
    pattern: re.Pattern[str]
    before: bool
    action: Callable[[], None]
    fired: bool = False


@dataclass(slots=True)
class Statements:
    """Runs an action in a named thread just before (or after) the first statement matching a
    pattern; PyDAL sends every statement through adapter.execute."""

    hooks: list[Hook] = field(default_factory=list)

    def at(self, thread: str, pattern: str, action: Callable[[], None], before: bool) -> None:
        self.hooks.append(Hook(thread, re.compile(pattern), before, action))

    def _due(self, sql: str, before: bool) -> list[Hook]:
        name = threading.current_thread().name
        due = []
        for hook in self.hooks:
            if hook.fired or hook.before != before or hook.thread != name:
                continue
            if hook.pattern.search(_normalised(sql)):
                hook.fired = True
                due.append(hook)
        return due

    def wrap(self, execute: Callable[..., Any]) -> Callable[..., Any]:
        def hooked(*args: Any, **kwargs: Any) -> Any:
            sql = args[0] if args and isinstance(args[0], str) else ""
            for hook in self._due(sql, before=True):
                hook.action()
            result = execute(*args, **kwargs)
            for hook in self._due(sql, before=False):
                hook.action()
            return result

        return hooked


@contextmanager
def statements(app: Any) -> Iterator[Statements]:
    adapter = app.extensions["rookery"].dal._adapter
    hooks = Statements()
    own = "execute" in vars(adapter)
    original = adapter.execute
    adapter.execute = hooks.wrap(original)
    try:
        yield hooks
    finally:
        if own:
            adapter.execute = original
        else:
            del adapter.execute  # the class's own again


@dataclass(slots=True)
class Call:
    method: str
    path: str
    body: dict[str, Any] | None = None


def _run(app: Any, token: str, call: Call, replies: dict[str, Any], name: str) -> None:
    client = app.test_client()
    try:
        replies[name] = client.open(
            call.path,
            method=call.method,
            headers={"Authorization": f"Bearer {token}"},
            json=call.body,
        )
    except BaseException as error:  # reported by the test
        replies[name] = error


def raced(
    app: Any,
    token: str,
    writer: Call,
    write_sql: str,
    deleter: Call,
    delete_sql: str,
    order: str,
    decided: tuple[str, bool] | None = None,
) -> tuple[int, int]:
    """race(), then: no orphan left; the writer's and the deleter's statuses."""
    replies = race(app, token, writer, write_sql, deleter, delete_sql, order, decided)
    outcome = (_answer(replies[0]), _answer(replies[1]))
    assert orphans(app) == {}, outcome
    return outcome


def race(
    app: Any,
    token: str,
    writer: Call,
    write_sql: str,
    deleter: Call,
    delete_sql: str,
    order: str,
    decided: tuple[str, bool] | None = None,
) -> tuple[Any, Any]:
    """The writer's and the deleter's replies, the race run in `order` (module docstring).
    `write_sql`: the writer's statement writing the reference; `delete_sql`: the deleter's
    statement deleting the referenced row; `decided`: (statement, after it?) by which the
    deleter has acted on what it found (default: before its first DELETE, which follows its
    counts), where a writer going first resumes."""
    replies: dict[str, Any] = {}
    deleter_deleting = threading.Event()  # about to delete, or answered
    writer_checked = threading.Event()
    writer_done = threading.Event()
    deleter_paused = threading.Event()

    def run(name: str, call: Call, done: threading.Event | None, start: threading.Event | None):
        def body() -> None:
            if start is not None:
                start.wait(30)
            try:
                _run(app, token, call, replies, name)
            finally:
                if done is not None:
                    done.set()
                if name == "deleter":
                    deleter_deleting.set()

        return threading.Thread(target=body, name=name)

    with statements(app) as hooks:
        if order == "writer_first":
            hooks.at(
                "writer",
                write_sql,
                lambda: (writer_checked.set(), deleter_deleting.wait(PAUSE)),
                before=True,
            )
            pattern, after = decided or (deleting(""), False)
            hooks.at("deleter", pattern, deleter_deleting.set, before=not after)
            threads = [
                run("writer", writer, writer_done, None),
                run("deleter", deleter, None, writer_checked),
            ]
        else:
            hooks.at(
                "deleter",
                delete_sql,
                lambda: (deleter_paused.set(), writer_done.wait(PAUSE)),
                before=False,
            )
            threads = [
                run("deleter", deleter, deleter_paused, None),
                run("writer", writer, writer_done, deleter_paused),
            ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in threads), "a request hung"
        paused = hooks.hooks[0]
        assert paused.fired, f"no race: the {paused.thread} never ran {paused.pattern.pattern}"
    return replies["writer"], replies["deleter"]


def orphans(app: Any) -> dict[str, list[Any]]:
    """Rows referring to a row that is not there."""
    builtin = sorted(TEAM_ROLES)
    roles = ", ".join(f"'{r}'" for r in builtin)
    checks = {
        "ruleset.team_id": "SELECT r.id FROM packet_ruleset r WHERE r.team_id IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM team t WHERE t.id = r.team_id)",
        "sensor.ruleset_id": "SELECT s.id FROM sensor s WHERE s.ruleset_id <> 1"
        " AND NOT EXISTS (SELECT 1 FROM packet_ruleset r WHERE r.id = s.ruleset_id)",
        "sensor.team_id": "SELECT s.id FROM sensor s WHERE s.team_id IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM team t WHERE t.id = s.team_id)",
        "team_member.team_id": "SELECT m.id FROM team_member m"
        " WHERE NOT EXISTS (SELECT 1 FROM team t WHERE t.id = m.team_id)",
        "team_member.role": f"SELECT m.id FROM team_member m WHERE m.role NOT IN ({roles})"
        " AND NOT EXISTS (SELECT 1 FROM team_role r WHERE r.name = m.role)",
        "ruleset_grant.ruleset_id": "SELECT g.id FROM ruleset_grant g"
        " WHERE NOT EXISTS (SELECT 1 FROM packet_ruleset r WHERE r.id = g.ruleset_id)",
        "ruleset_grant.team_id": "SELECT g.id FROM ruleset_grant g WHERE g.team_id IS NOT NULL"
        " AND NOT EXISTS (SELECT 1 FROM team t WHERE t.id = g.team_id)",
        "packet_rule.ruleset_id": "SELECT p.id FROM packet_rule p WHERE p.ruleset_id <> 1"
        " AND NOT EXISTS (SELECT 1 FROM packet_ruleset r WHERE r.id = p.ruleset_id)",
        # A key restricted to a team or rule set that is gone must be revoked: a set or team
        # made later may be given the same id (SQLite reuses the highest id once deleted).
        "api_key.team_id": "SELECT k.id FROM api_key k WHERE k.team_id IS NOT NULL"
        " AND k.revoked_at IS NULL AND NOT EXISTS (SELECT 1 FROM team t WHERE t.id = k.team_id)",
        "api_key.ruleset_id": "SELECT k.id FROM api_key k WHERE k.ruleset_id IS NOT NULL"
        " AND k.revoked_at IS NULL"
        " AND NOT EXISTS (SELECT 1 FROM packet_ruleset r WHERE r.id = k.ruleset_id)",
    }
    found: dict[str, list[Any]] = {}
    with database(app) as dal:
        for name, sql in checks.items():
            rows = dal.executesql(sql)
            if rows:
                found[name] = [row[0] for row in rows]
    return found


def _answer(reply: Any) -> int:
    assert not isinstance(reply, BaseException), repr(reply)
    assert reply.status_code < 500, (reply.status_code, reply.get_data(as_text=True)[:500])
    if reply.status_code >= 400:
        body = reply.get_json(silent=True)
        assert isinstance(body, dict), reply.get_data(as_text=True)[:200]
        assert body["error"]["code"] and body["error"]["message"], body
    return reply.status_code


def settled(app: Any, writer: Any, deleter: Any, wins: set[int], refusals: set[int]) -> None:
    """No orphan; no 500; either the writer won (one of `wins`) and the deleter was refused
    with 409, or the deleter won (200) and the writer was refused (one of `refusals`)."""
    outcome = (_answer(writer), _answer(deleter))
    assert orphans(app) == {}, outcome
    assert (outcome[0] in wins and outcome[1] == 409) or (
        outcome[1] == 200 and outcome[0] in refusals
    ), outcome


ORDERS = ["writer_first", "deleter_first"]
ADDRESS = "10.9.8.7:50051"


# -- rule set deleted / sensor attached to it (both sides in rulesets.py, sensors.py) -----
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("how", ["register", "move"])
def test_rule_set_deleted_while_a_sensor_is_attached(app, api, order, how) -> None:
    admin = api.admin_token()
    doomed = add_ruleset(app, "doomed", None)
    if how == "register":
        writer = Call(
            "POST", "/api/v1/sensors", {"name": "s1", "address": ADDRESS, "ruleset_id": doomed}
        )
        write_sql = r"^INSERT INTO SENSOR\b"
        wins = {201}
    else:
        sensor = add_sensor(app, "s1", 1)
        writer = Call("PATCH", f"/api/v1/sensors/{sensor}", {"ruleset_id": doomed})
        write_sql = r"^UPDATE SENSOR SET"
        wins = {200}
    deleter = Call("DELETE", f"/api/v1/rulesets/{doomed}")
    replies = race(app, admin, writer, write_sql, deleter, deleting("packet_ruleset"), order)
    settled(app, *replies, wins=wins, refusals={404})
    if replies[1].status_code == 409:
        assert replies[1].get_json()["error"]["code"] == "ruleset_in_use"
    else:
        assert "ruleset_id" in replies[0].get_json()["error"]["details"]["fields"]


# -- team deleted / rule set or sensor given to it ----------------------------------------
def _team_writer(app: Any, kind: str, team: int) -> tuple[Call, str]:
    if kind == "ruleset":
        body = {"name": "owned", "default_action": "allow", "team_id": team}
        return Call("POST", "/api/v1/rulesets", body), r"^INSERT INTO PACKET_RULESET\b"
    if kind == "sensor":
        body = {"name": "s1", "address": ADDRESS, "team_id": team}
        return Call("POST", "/api/v1/sensors", body), r"^INSERT INTO SENSOR\b"
    sensor = add_sensor(app, "s1", 1)
    return Call("PATCH", f"/api/v1/sensors/{sensor}", {"team_id": team}), r"^UPDATE SENSOR SET"


def _team_race(app: Any, api: Any, kind: str, order: str) -> None:
    admin = api.admin_token()
    team = new_team(api, admin, "Doomed")
    writer, write_sql = _team_writer(app, kind, team)
    deleter = Call("DELETE", f"/api/v1/teams/{team}")
    replies = race(app, admin, writer, write_sql, deleter, deleting("team"), order)
    settled(app, *replies, wins={200, 201}, refusals={404})
    if replies[1].status_code == 409:
        assert replies[1].get_json()["error"]["code"] == "team_in_use"
    else:
        assert replies[0].get_json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("kind", ["ruleset", "sensor", "sensor_move"])
def test_team_deleted_first_while_a_rule_set_or_sensor_is_given_to_it(app, api, kind) -> None:
    """The writer's lock alone decides this order: it waits for the deletion, then 404."""
    _team_race(app, api, kind, "deleter_first")


@pytest.mark.parametrize("kind", ["ruleset", "sensor", "sensor_move"])
def test_team_deleted_after_a_rule_set_or_sensor_was_checked(app, api, kind) -> None:
    """delete_team takes the team's row (row_locks.take) before it counts what the team owns:
    a rule set or sensor written first is counted (409 team_in_use), never left behind."""
    _team_race(app, api, kind, "writer_first")


# -- members and grants: foreign keys (team_member, ruleset_grant) ----------------------------
@pytest.mark.parametrize("order", ORDERS)
def test_team_deleted_while_a_member_is_added(app, api, order) -> None:
    admin = api.admin_token()
    team = new_team(api, admin, "Doomed")
    bob = person(api, admin, "bob@example.com")
    writer = Call(
        "POST", f"/api/v1/teams/{team}/members", {"user_id": bob.id, "role": "team-viewer"}
    )
    deleter = Call("DELETE", f"/api/v1/teams/{team}")
    outcome = raced(
        app, admin, writer, r"^INSERT INTO TEAM_MEMBER\b", deleter, deleting("team"), order
    )
    # The team is gone either way (a member does not keep a team); the membership went with it.
    # the writer keeps the row it refers to: it went first (201) or found it gone (404)
    assert outcome[1] == 200 and outcome[0] in (201, 404), outcome


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("holder", ["user", "team"])
def test_rule_set_deleted_while_a_grant_is_made_on_it(app, api, order, holder) -> None:
    admin = api.admin_token()
    doomed = add_ruleset(app, "doomed", None)
    if holder == "user":
        body = {"role": "viewer", "user_id": person(api, admin, "eve@example.com").id}
    else:
        body = {"role": "viewer", "team_id": new_team(api, admin, "Readers")}
    writer = Call("POST", f"/api/v1/rulesets/{doomed}/grants", body)
    deleter = Call("DELETE", f"/api/v1/rulesets/{doomed}")
    outcome = raced(
        app,
        admin,
        writer,
        r"^INSERT INTO RULESET_GRANT\b",
        deleter,
        deleting("packet_ruleset"),
        order,
    )
    # the writer keeps the row it refers to: it went first (201) or found it gone (404)
    assert outcome[1] == 200 and outcome[0] in (201, 404), outcome


@pytest.mark.parametrize("order", ORDERS)
def test_team_deleted_while_it_is_granted_a_rule_set(app, api, order) -> None:
    admin = api.admin_token()
    ruleset = add_ruleset(app, "kept", None)
    team = new_team(api, admin, "Doomed")
    writer = Call("POST", f"/api/v1/rulesets/{ruleset}/grants", {"role": "viewer", "team_id": team})
    deleter = Call("DELETE", f"/api/v1/teams/{team}")
    outcome = raced(
        app, admin, writer, r"^INSERT INTO RULESET_GRANT\b", deleter, deleting("team"), order
    )
    # the writer keeps the row it refers to: it went first (201) or found it gone (404)
    assert outcome[1] == 200 and outcome[0] in (201, 404), outcome


# -- custom team role deleted / given to a member (both sides in teams.py) --------------------
def _role_race(app: Any, api: Any, order: str, how: str) -> None:
    admin = api.admin_token()
    team = new_team(api, admin, "Crew")
    made = api.call(
        "POST", "/api/v1/team-roles", admin, json={"name": "reader", "scopes": ["rules:read"]}
    )
    role_id = int(data(made)["id"])
    bob = person(api, admin, "bob@example.com")
    if how == "add":
        writer = Call(
            "POST", f"/api/v1/teams/{team}/members", {"user_id": bob.id, "role": "reader"}
        )
        write_sql = r"^INSERT INTO TEAM_MEMBER\b"
        wins = {201}
    else:
        data(
            api.call(
                "POST",
                f"/api/v1/teams/{team}/members",
                admin,
                json={"user_id": bob.id, "role": "team-viewer"},
            )
        )
        writer = Call("PATCH", f"/api/v1/teams/{team}/members/{bob.id}", {"role": "reader"})
        write_sql = r"^UPDATE TEAM_MEMBER SET"
        wins = {200}
    deleter = Call("DELETE", f"/api/v1/team-roles/{role_id}")
    replies = race(app, admin, writer, write_sql, deleter, deleting("team_role"), order)
    settled(app, *replies, wins=wins, refusals={422})


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("how", ["add", "change"])
def test_team_role_deleted_while_it_is_given(app, api, order, how) -> None:
    _role_race(app, api, order, how)


# -- rule set deleted / rule written in it (both stamp the set's version first: rules/store.py)
@pytest.mark.parametrize("order", ORDERS)
def test_rule_set_deleted_while_a_rule_is_written_in_it(app, api, order) -> None:
    admin = api.admin_token()
    doomed = add_ruleset(app, "doomed", None)
    writer = Call("POST", f"/api/v1/rulesets/{doomed}/rules", {"name": "r", "action": "drop"})
    deleter = Call("DELETE", f"/api/v1/rulesets/{doomed}")
    outcome = raced(
        app,
        admin,
        writer,
        r"^INSERT INTO PACKET_RULE\b",
        deleter,
        deleting("packet_ruleset"),
        order,
    )
    # A rule does not keep its set: written first, it goes with the set; else 404.
    assert outcome in ((201, 200), (404, 200)), outcome


# -- team or rule set deleted / API key restricted to it (apikeys.py) ---------------------
def _key_race(app: Any, api: Any, kind: str, order: str) -> None:
    admin = api.admin_token()
    if kind == "team":
        target = new_team(api, admin, "Doomed")
        deleter = Call("DELETE", f"/api/v1/teams/{target}")
        delete_sql = deleting("team")
    else:
        target = add_ruleset(app, "doomed", None)
        deleter = Call("DELETE", f"/api/v1/rulesets/{target}")
        delete_sql = deleting("packet_ruleset")
    body = {"name": "ci", "scopes": ["rules:read"], f"{kind}_id": target}
    writer = Call("POST", "/api/v1/apikeys", body)
    # The deleter revokes the keys restricted to what it deletes after deleting other rows:
    # the writer resumes once that revocation ran.
    revoked = (r"^UPDATE API_KEY SET", True)
    outcome = raced(
        app, admin, writer, r"^INSERT INTO API_KEY\b", deleter, delete_sql, order, revoked
    )
    # A key does not keep what it is restricted to: made first, it is revoked with it.
    assert outcome in ((201, 200), (404, 200)), outcome


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("kind", ["team", "ruleset"])
def test_team_or_rule_set_deleted_while_a_key_is_restricted_to_it(app, api, kind, order) -> None:
    _key_race(app, api, kind, order)


def test_row_locks_answer_whether_the_row_is_there(app, api) -> None:
    admin = api.admin_token()
    team = new_team(api, admin, "Here")
    made = api.call(
        "POST", "/api/v1/team-roles", admin, json={"name": "reader", "scopes": ["rules:read"]}
    )
    role = int(data(made)["id"])
    with database(app) as dal:
        assert row_locks.keep(dal, "team", team) and row_locks.take(dal, "team", team)
        assert not row_locks.keep(dal, "team", team + 1000)
        assert not row_locks.take(dal, "packet_ruleset", 4242)
        assert row_locks.keep_team_role(dal, "reader") and row_locks.take_team_role(dal, role)
        assert not row_locks.keep_team_role(dal, "team-admin")  # built in: no row
        with pytest.raises(ValueError):
            row_locks.keep(dal, "sensor; DROP TABLE team", 1)
