"""/api/v1/audit: filters (actor, event, target, dates, text), readable targets, sorting,
distinct activation events, rule_updated naming only what changed, and the CSV exports of
the audit log and of users (on every database backend)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from conftest import ADMIN_EMAIL

AUDIT = "/api/v1/audit"


def entries(api, token, query: str = "") -> list[dict]:
    reply = api.call("GET", f"{AUDIT}?per_page=500&{query}", token)
    assert reply.status_code == 200, reply.get_json()
    return reply.get_json()["data"]


def make_rule(api, token, name: str) -> dict:
    body = {"name": name, "action": "drop", "protocol": "udp", "dst_ports": ["53"]}
    reply = api.call("POST", "/api/v1/rules", token, json=body)
    assert reply.status_code == 201, reply.get_json()
    return reply.get_json()["data"]


def rows_of(reply) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(reply.get_data(as_text=True))))


def test_activation_has_its_own_events(api) -> None:
    admin = api.admin_token()
    user = api.create_user(admin, "erin@example.com", ["viewer"])
    path = f"/api/v1/users/{user['id']}"
    assert api.call("PATCH", path, admin, json={"active": False}).status_code == 200
    assert api.call("PATCH", path, admin, json={"active": True}).status_code == 200
    names = [e["event"] for e in entries(api, admin, f"target=user:{user['id']}")]
    assert names == ["user_activated", "user_deactivated", "user_created"]
    events = api.call("GET", f"{AUDIT}/events", admin).get_json()["data"]
    assert {"user_activated", "user_deactivated"} <= set(events)


def test_rule_updated_names_only_the_changed_fields(api) -> None:
    admin = api.admin_token()
    rule = make_rule(api, admin, "dns")
    # A form sends every field back; only the port changed.
    body = {k: v for k, v in rule.items() if k not in ("id", "position")}
    body["dst_ports"] = ["5353"]
    assert api.call("PATCH", f"/api/v1/rules/{rule['id']}", admin, json=body).status_code == 200
    line = entries(api, admin, "event=rule_updated")[0]
    assert line["details"]["fields"] == ["dst_ports"]
    assert line["details"]["changes"] == {"dst_ports": {"from": ["53"], "to": ["5353"]}}


def test_targets_are_readable(api) -> None:
    admin = api.admin_token()
    user = api.create_user(admin, "frank@example.com", ["viewer"])
    rule = make_rule(api, admin, "block telnet")
    by_target = {e["target"]: e["target_label"] for e in entries(api, admin)}
    assert by_target[f"user:{user['id']}"] == "frank@example.com"
    assert by_target[f"rule:{rule['id']}"] == "block telnet"
    # Deleted since: the name the audit line kept.
    api.call("DELETE", f"/api/v1/rules/{rule['id']}", admin)
    deleted = entries(api, admin, "event=rule_deleted")[0]
    assert deleted["target_label"] == "block telnet"


def test_filters_by_actor_target_text_and_dates(api) -> None:
    admin = api.admin_token()
    api.user_token(admin, "grace@example.com", ["maintainer"])
    grace = api.login("grace@example.com", "password1")
    make_rule(api, grace, "grace rule")
    make_rule(api, admin, "admin rule")

    by_grace = entries(api, admin, "actor=grace@")
    assert by_grace and {e["actor_email"] for e in by_grace} == {"grace@example.com"}
    grace_id = by_grace[0]["actor_id"]
    assert {e["actor_id"] for e in entries(api, admin, f"actor={grace_id}")} == {grace_id}

    # The target by its readable name: the rule's name, the user's e-mail.
    named = entries(api, admin, "target=grace rule")
    assert [e["event"] for e in named] == ["rule_created"]
    assert {e["target_label"] for e in entries(api, admin, "target=grace@example")} == {
        "grace@example.com"
    }

    texts = entries(api, admin, "q=admin rule")
    assert [e["details"].get("name") for e in texts] == ["admin rule"]

    today = datetime.now(UTC).date()
    assert entries(api, admin, f"from={today + timedelta(days=1)}") == []
    assert entries(api, admin, f"to={today - timedelta(days=1)}") == []
    assert len(entries(api, admin, f"from={today}&to={today}")) == len(entries(api, admin))
    # The calendar's ends, even shifted by a time zone, are just very wide bounds.
    edges = "from=0001-01-01T00:00:00%2B05:00&to=9999-12-31T23:59:59-05:00"
    assert len(entries(api, admin, edges)) == len(entries(api, admin))
    bad = api.call("GET", f"{AUDIT}?from=yesterday", admin)
    assert bad.status_code == 422 and "from" in bad.get_json()["error"]["details"]["fields"]


def test_sorts_by_event_and_actor(api) -> None:
    admin = api.admin_token()
    api.create_user(admin, "heidi@example.com", ["viewer"])
    names = [e["event"] for e in entries(api, admin, "sort=event")]
    assert names == sorted(names)
    names = [e["event"] for e in entries(api, admin, "sort=-event")]
    assert names == sorted(names, reverse=True)
    assert api.call("GET", f"{AUDIT}?sort=ip", admin).status_code == 422


def test_audit_csv_export_keeps_the_filters_and_the_scope(api) -> None:
    admin = api.admin_token()
    api.create_user(admin, "ivan@example.com", ["viewer"])
    make_rule(api, admin, "=HYPERLINK(evil)")
    reply = api.call("GET", f"{AUDIT}/export?event=rule_created", admin)
    assert reply.status_code == 200
    assert reply.mimetype == "text/csv"
    assert "attachment" in reply.headers["Content-Disposition"]
    rows = rows_of(reply)
    assert [r["event"] for r in rows] == ["rule_created"]
    assert rows[0]["actor_email"] == ADMIN_EMAIL
    # A cell a spreadsheet would run as a formula is quoted.
    assert rows[0]["target_label"] == "'=HYPERLINK(evil)"
    everything = rows_of(api.call("GET", f"{AUDIT}/export", admin))
    assert {"user_created", "rule_created", "login_succeeded"} <= {r["event"] for r in everything}

    viewer = api.user_token(admin, "judy@example.com", ["viewer"])
    assert api.call("GET", f"{AUDIT}/export", viewer).status_code == 403


def test_users_csv_export(api) -> None:
    admin = api.admin_token()
    api.create_user(admin, "kim@example.com", ["viewer"])
    api.create_user(admin, "leo@example.com", ["maintainer"])
    reply = api.call("GET", "/api/v1/users/export?role=viewer", admin)
    assert reply.status_code == 200 and reply.mimetype == "text/csv"
    rows = rows_of(reply)
    assert [(r["email"], r["roles"], r["active"]) for r in rows] == [
        ("kim@example.com", "viewer", "true")
    ]
    assert "password" not in reply.get_data(as_text=True)
    assert len(rows_of(api.call("GET", "/api/v1/users/export", admin))) == 3
    viewer = api.login("kim@example.com", "password1")
    assert api.call("GET", "/api/v1/users/export", viewer).status_code == 403
