"""One membership per person and team, one grant per holder and rule set: the schema's unique
indexes refuse a second row (two requests at once cannot leave one that removing the first
does not end), and a database an earlier release filled with such duplicates loses them,
oldest kept, when the index is added at start-up."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from rookery_backend.db import create_schema, sqlalchemy_url
from rookery_backend.tables import sqlalchemy_metadata, unique_index_name

STAMP = "2026-01-01 00:00:00"


def _rows(engine: sa.Engine, sql: str) -> list[tuple[Any, ...]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.exec_driver_sql(sql)]


@pytest.fixture
def engine(make_settings, app_factory) -> Any:
    app_factory()  # schema, default rule set, admin: tables emptied again afterwards
    settings = make_settings()
    engine = sa.create_engine(sqlalchemy_url(settings), poolclass=sa.pool.NullPool)
    with engine.begin() as connection:
        for sql in (
            "INSERT INTO auth_user (id, email, fs_uniquifier, active) VALUES"
            " (901, 'a@example.com', 'u901', 'T'), (902, 'b@example.com', 'u902', 'T')",
            f"INSERT INTO team (id, name, created_at) VALUES (71, 'red', '{STAMP}'),"
            f" (72, 'blue', '{STAMP}')",
            "INSERT INTO packet_ruleset (id, name, version, default_action)"
            " VALUES (81, 'edge', 0, 'allow')",
        ):
            connection.exec_driver_sql(sql)
    yield settings, engine
    engine.dispose()


def test_a_second_membership_or_grant_row_is_refused(engine) -> None:
    _, db = engine
    with db.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO team_member (team_id, user_id, role) VALUES (71, 901, 'team-viewer')"
        )
        connection.exec_driver_sql(
            "INSERT INTO ruleset_grant (ruleset_id, user_id, role) VALUES (81, 901, 'viewer')"
        )
        # team grants hold NULL as user: never duplicates of each other
        connection.exec_driver_sql(
            "INSERT INTO ruleset_grant (ruleset_id, team_id, role) VALUES (81, 71, 'viewer'),"
            " (81, 72, 'editor')"
        )
    for sql in (
        "INSERT INTO team_member (team_id, user_id, role) VALUES (71, 901, 'team-admin')",
        "INSERT INTO ruleset_grant (ruleset_id, user_id, role) VALUES (81, 901, 'owner')",
        "INSERT INTO ruleset_grant (ruleset_id, team_id, role) VALUES (81, 72, 'owner')",
    ):
        with pytest.raises(sa.exc.IntegrityError), db.begin() as connection:
            connection.exec_driver_sql(sql)


def test_an_upgrade_removes_older_duplicates_then_adds_the_index(engine) -> None:
    settings, db = engine
    tables = sqlalchemy_metadata().tables
    member_index = unique_index_name("team_member", ("team_id", "user_id"))
    grant_index = unique_index_name("ruleset_grant", ("ruleset_id", "user_id"))
    for table, name in (("team_member", member_index), ("ruleset_grant", grant_index)):
        next(i for i in tables[table].indexes if i.name == name).drop(db)  # the old schema
    with db.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO team_member (id, team_id, user_id, role) VALUES"
            " (1, 71, 901, 'team-viewer'), (2, 71, 901, 'team-admin'), (3, 72, 901, 'team-admin'),"
            " (4, 71, 902, 'team-viewer'), (5, 71, 901, 'team-maintainer')"
        )
        connection.exec_driver_sql(
            "INSERT INTO ruleset_grant (id, ruleset_id, user_id, team_id, role) VALUES"
            " (1, 81, 901, NULL, 'viewer'), (2, 81, 901, NULL, 'owner'),"
            " (3, 81, NULL, 71, 'viewer'), (4, 81, NULL, 72, 'viewer')"
        )
    create_schema(settings)
    create_schema(settings)  # idempotent: nothing more goes
    members = _rows(db, "SELECT id, team_id, user_id, role FROM team_member ORDER BY id")
    assert members == [
        (1, 71, 901, "team-viewer"),
        (3, 72, 901, "team-admin"),
        (4, 71, 902, "team-viewer"),
    ]
    grants = _rows(db, "SELECT id FROM ruleset_grant ORDER BY id")
    assert grants == [(1,), (3,), (4,)]
    present = {i["name"] for i in sa.inspect(db).get_indexes("team_member")}
    assert member_index in present
    with pytest.raises(sa.exc.IntegrityError), db.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO team_member (team_id, user_id, role) VALUES (72, 901, 'team-viewer')"
        )
