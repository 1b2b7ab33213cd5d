"""Upgrading a database made before there were many rule sets: the schema of that release
(schema_before_rulesets.py, frozen) with rules, their order, a default action and a version
written the way that release wrote them; then today's create_schema and its data migration.
The rules, their order and the version are kept, /api/v1/rules and /api/v1/rulesets/1/rules
show them, and the next write gets a higher version (on every database backend). The
migration is also run by two processes at once (threads with their own connections)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import schema_before_rulesets as before
import sqlalchemy as sa
from rookery_backend import migrations
from rookery_backend.db import _add_missing_columns, create_schema, drop_schema, sqlalchemy_url
from rookery_backend.tables import sqlalchemy_metadata
from rookery_backend.utils import utcnow

RULES = [  # (rule_id, name, action, protocol, src, dst_ports)
    ("a1", "allow ssh", "allow", "tcp", "|10.0.0.0/8|", "|22|"),
    ("b2", "drop dns", "drop", "udp", "", "|53|"),
    ("c3", "count icmp", "count", "icmp", "|192.168.0.0/16|2001:db8::/32|", ""),
    ("d4", "drop telnet", "drop", "tcp", "", "|23|"),
]
ORDER = ["d4", "a1", "c3", "b2"]  # after the reorder below
VERSION = len(RULES) + 2  # the creates, one reorder, one default action


def _engine(settings: Any) -> sa.Engine:
    return sa.create_engine(sqlalchemy_url(settings), poolclass=sa.pool.NullPool)


def make_old_database(settings: Any) -> None:
    """The old schema, written to as the old rules store did: row 1 of packet_ruleset made
    with an explicit id, and `version = version + 1` on it in each change's transaction."""
    drop_schema(settings)
    engine = _engine(settings)
    try:
        old = before.sqlalchemy_metadata()
        old.drop_all(engine)
        old.create_all(engine)
        bump = sa.text("UPDATE packet_ruleset SET version = version + 1 WHERE id = 1")
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO packet_ruleset (id, version, default_action, updated_at)"
                    " VALUES (1, 0, 'allow', :now)"
                ),
                {"now": utcnow()},
            )
        for position, (rule_id, name, action, protocol, src, ports) in enumerate(RULES):
            with engine.begin() as connection:
                connection.execute(
                    sa.text(
                        "INSERT INTO packet_rule (rule_id, position, name, action, protocol,"
                        " src, dst, src_ports, dst_ports, vlan, enabled, description,"
                        " created_at, updated_at) VALUES (:rule_id, :position, :name, :action,"
                        " :protocol, :src, '', '', :ports, NULL, 'T', '', :now, :now)"
                    ),
                    {
                        "rule_id": rule_id, "position": position, "name": name,
                        "action": action, "protocol": protocol, "src": src, "ports": ports,
                        "now": utcnow(),
                    },
                )  # fmt: skip
                connection.execute(bump)
        with engine.begin() as connection:
            for position, rule_id in enumerate(ORDER):
                connection.execute(
                    sa.text("UPDATE packet_rule SET position = :p WHERE rule_id = :r"),
                    {"p": position, "r": rule_id},
                )
            connection.execute(bump)
        with engine.begin() as connection:
            connection.execute(sa.text("UPDATE packet_ruleset SET default_action = 'drop'"))
            connection.execute(bump)
        with engine.connect() as connection:
            columns = {c["name"] for c in sa.inspect(connection).get_columns("packet_rule")}
            assert "ruleset_id" not in columns  # really the old schema
            assert not sa.inspect(connection).has_table("counter")
    finally:
        engine.dispose()


def upgrade_with_two_processes_at_once(settings: Any) -> None:
    """Tables and columns as create_schema makes them, then the data migration run by two
    'processes' at the same moment, each on its own connections."""
    metadata = sqlalchemy_metadata()
    engine = _engine(settings)
    try:
        metadata.create_all(engine, checkfirst=True)
        _add_missing_columns(engine, metadata)
    finally:
        engine.dispose()
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        own = _engine(settings)
        try:
            start.wait()
            migrations.migrate(own, sqlalchemy_metadata())
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            own.dispose()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors


def stored(settings: Any) -> dict[str, Any]:
    engine = _engine(settings)
    try:
        with engine.connect() as connection:
            rulesets = connection.execute(
                sa.text("SELECT id, name, version, default_action FROM packet_ruleset ORDER BY id")
            ).all()
            rules = connection.execute(
                sa.text("SELECT rule_id, ruleset_id FROM packet_rule ORDER BY position, id")
            ).all()
            counter = connection.execute(
                sa.text("SELECT name, value FROM counter ORDER BY id")
            ).all()
            indexes = {i["name"] for i in sa.inspect(connection).get_indexes("packet_rule")}
    finally:
        engine.dispose()
    return {
        "rulesets": [tuple(r) for r in rulesets],
        "rules": [tuple(r) for r in rules],
        "counter": [tuple(c) for c in counter],
        "indexes": indexes,
    }


@pytest.mark.parametrize("how", ["create_schema", "two_at_once"])
def test_an_old_database_keeps_its_rules_order_and_version(make_settings, app_factory, how) -> None:
    settings = make_settings()
    make_old_database(settings)
    if how == "create_schema":
        create_schema(settings)
    else:
        upgrade_with_two_processes_at_once(settings)
    create_schema(settings)  # every start runs it again: nothing changes
    data = stored(settings)
    assert data["rulesets"] == [(1, "default", VERSION, "drop")]
    assert data["rules"] == [(rule_id, 1) for rule_id in ORDER]
    assert data["counter"] == [("ruleset_version", VERSION)]
    assert any("ruleset_id" in name for name in data["indexes"]), data["indexes"]

    app = app_factory()  # create_app runs create_schema once more
    client = app.test_client()
    login = client.post(
        "/api/v1/auth/login",
        json={"email": "admin@localhost.local", "password": "admin123"},
    )
    headers = {"Authorization": f"Bearer {login.get_json()['data']['access_token']}"}
    for path in ("/api/v1/rules", "/api/v1/rulesets/1/rules"):
        listed = client.get(path, headers=headers).get_json()
        assert [r["id"] for r in listed["data"]] == ORDER, path
        assert listed["meta"]["version"] == VERSION and listed["meta"]["default_action"] == "drop"
        first = listed["data"][1]
        assert first["name"] == "allow ssh" and first["src"] == ["10.0.0.0/8"]
        assert first["dst_ports"] == ["22"] and first["enabled"] is True
    sets = client.get("/api/v1/rulesets", headers=headers).get_json()["data"]
    assert [(s["id"], s["name"], s["version"], s["rule_count"]) for s in sets] == [
        (1, "default", VERSION, len(RULES))
    ]

    # the next writes continue the sequence: the default set, then a new set (given id 2:
    # on PostgreSQL the id sequence was moved past the old explicit row 1)
    write = client.post("/api/v1/rules", headers=headers, json={"name": "new", "action": "allow"})
    assert write.status_code == 201 and write.get_json()["meta"]["version"] == VERSION + 1
    made = client.post(
        "/api/v1/rulesets", headers=headers, json={"name": "second", "default_action": "allow"}
    )
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["data"]["id"] == 2
    assert made.get_json()["data"]["version"] == VERSION + 2
    rule = client.post(
        "/api/v1/rulesets/2/rules", headers=headers, json={"name": "x", "action": "drop"}
    )
    assert rule.get_json()["meta"]["version"] == VERSION + 3
    again = client.get("/api/v1/rules", headers=headers).get_json()
    assert [r["id"] for r in again["data"]][:4] == ORDER and len(again["data"]) == 5


def test_orphan_rows_are_reported_at_start_and_kept(make_settings, app_factory, caplog) -> None:
    """Rows an earlier release's race left referring to rows that are gone (no foreign key
    on those columns: row_locks.py): a start reports them, a warning per reference naming
    the ids, and keeps them; nothing refuses to start; the API moves or deletes them as it
    does any other row, after which a start reports nothing."""
    settings = make_settings()
    make_old_database(settings)
    create_schema(settings)
    engine = _engine(settings)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO packet_ruleset (version, default_action, name, team_id,"
                    " created_at, updated_at) VALUES (0, 'allow', 'orphan', 4242, :now, :now)"
                ),
                {"now": utcnow()},
            )
            orphan_set = connection.execute(
                sa.text("SELECT id FROM packet_ruleset WHERE name = 'orphan'")
            ).scalar_one()
            connection.execute(
                sa.text(
                    "INSERT INTO sensor (name, address, ruleset_id, created_at, updated_at)"
                    " VALUES ('lost', '10.1.1.1:50051', 4343, :now, :now)"
                ),
                {"now": utcnow()},
            )
            sensor = connection.execute(
                sa.text("SELECT id FROM sensor WHERE name = 'lost'")
            ).scalar_one()
        caplog.set_level("WARNING", logger="rookery.db")
        create_schema(settings)  # a start
        reported = {r.reference: r.ids for r in caplog.records if getattr(r, "reference", None)}
        assert reported == {
            "packet_ruleset.team_id": [orphan_set],
            "sensor.ruleset_id": [sensor],
        }

        app = app_factory()  # starts, over the orphans
        client = app.test_client()
        login = client.post(
            "/api/v1/auth/login",
            json={"email": "admin@localhost.local", "password": "admin123"},
        )
        headers = {"Authorization": f"Bearer {login.get_json()['data']['access_token']}"}
        listed = client.get("/api/v1/rulesets", headers=headers).get_json()["data"]
        assert [s["team_id"] for s in listed if s["id"] == orphan_set] == [4242]
        moved = client.patch(f"/api/v1/sensors/{sensor}", headers=headers, json={"ruleset_id": 1})
        assert moved.status_code == 200, moved.get_json()
        deleted = client.delete(f"/api/v1/rulesets/{orphan_set}", headers=headers)
        assert deleted.status_code == 200, deleted.get_json()
        assert migrations.report_orphans(engine) == {}
    finally:
        engine.dispose()
