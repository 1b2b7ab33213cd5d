"""/api/v1/rules: the rule model validated field by field, the version that grows with
every change, evaluation order, and the audit trail (on every database backend)."""

from __future__ import annotations

import pytest

RULES = "/api/v1/rules"


def create(api, token, **fields):
    body = {"name": "drop dns", "action": "drop", "protocol": "udp", "dst_ports": ["53"], **fields}
    return api.call("POST", RULES, token, json=body)


def test_create_normalises_and_bumps_the_version(api) -> None:
    admin = api.admin_token()
    listed = api.call("GET", RULES, admin).get_json()
    assert listed["data"] == [] and listed["meta"]["version"] == 0
    reply = create(api, admin, src=["10.1.2.3/8", "2001:db8::1"], dst_ports=["53", "1000-2000"])
    assert reply.status_code == 201, reply.get_json()
    body = reply.get_json()
    rule = body["data"]
    assert rule["src"] == ["10.0.0.0/8", "2001:db8::1/128"]
    assert rule["dst_ports"] == ["53", "1000-2000"] and rule["vlan"] is None and rule["enabled"]
    # No packet-service is configured in these tests: nothing to publish to.
    assert body["meta"] == {"version": 1, "publish": "no_targets"}
    assert api.call("GET", f"{RULES}/{rule['id']}", admin).get_json()["data"] == rule


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"action": "reject"}, "action"),
        ({"protocol": "sctp"}, "protocol"),
        ({"protocol": "256"}, "protocol"),
        ({"src": ["10.0.0.300/8"]}, "src.0"),
        ({"dst": ["not-an-ip"]}, "dst.0"),
        ({"dst_ports": ["0"]}, "dst_ports.0"),
        ({"dst_ports": ["70000"]}, "dst_ports.0"),
        ({"dst_ports": ["20-10"]}, "dst_ports.0"),
        ({"protocol": "icmp", "dst_ports": ["53"]}, "dst_ports"),
        ({"vlan": 4096}, "vlan"),
        ({"vlan": "5"}, "vlan"),
        ({"enabled": "yes"}, "enabled"),
        ({"src": "10.0.0.0/8"}, "src"),
    ],
)
def test_invalid_rules_name_the_field_and_save_nothing(api, fields, field) -> None:
    admin = api.admin_token()
    reply = create(api, admin, **fields)
    assert reply.status_code == 422, reply.get_json()
    error = reply.get_json()["error"]
    assert error["code"] == "validation_error" and field in error["details"]["fields"]
    assert api.call("GET", RULES, admin).get_json()["meta"]["version"] == 0


def test_patch_merges_and_revalidates_the_whole_rule(api) -> None:
    admin = api.admin_token()
    rule = create(api, admin).get_json()["data"]
    reply = api.call(
        "PATCH", f"{RULES}/{rule['id']}", admin, json={"vlan": 100, "name": "dns v100"}
    )
    assert reply.status_code == 200
    assert reply.get_json()["data"]["vlan"] == 100 and reply.get_json()["meta"]["version"] == 2
    # protocol icmp would leave the rule's ports without a port protocol
    refused = api.call("PATCH", f"{RULES}/{rule['id']}", admin, json={"protocol": "icmp"})
    assert (
        refused.status_code == 422
        and "dst_ports" in refused.get_json()["error"]["details"]["fields"]
    )
    cleared = api.call("PATCH", f"{RULES}/{rule['id']}", admin, json={"vlan": None})
    assert cleared.get_json()["data"]["vlan"] is None
    assert api.call("PATCH", f"{RULES}/nope", admin, json={}).status_code == 404


def test_reorder_delete_and_default_action(api) -> None:
    admin = api.admin_token()
    ids = [create(api, admin, name=f"r{n}").get_json()["data"]["id"] for n in range(3)]
    reordered = api.call("POST", f"{RULES}/reorder", admin, json={"ids": ids[::-1]})
    assert reordered.status_code == 200
    assert [r["id"] for r in api.call("GET", RULES, admin).get_json()["data"]] == ids[::-1]
    partial = api.call("POST", f"{RULES}/reorder", admin, json={"ids": ids[:2]})
    assert partial.status_code == 422 and partial.get_json()["error"]["details"]["missing"] == [
        ids[2]
    ]
    doubled = api.call("POST", f"{RULES}/reorder", admin, json={"ids": [ids[0], *ids]})
    assert doubled.status_code == 422
    assert api.call("DELETE", f"{RULES}/{ids[1]}", admin).status_code == 200
    assert api.call("GET", f"{RULES}/{ids[1]}", admin).status_code == 404
    default = api.call("PUT", f"{RULES}/default-action", admin, json={"default_action": "drop"})
    assert default.status_code == 200 and default.get_json()["data"]["default_action"] == "drop"
    assert (
        api.call(
            "PUT", f"{RULES}/default-action", admin, json={"default_action": "count"}
        ).status_code
        == 422
    )
    listed = api.call("GET", RULES, admin).get_json()
    assert listed["meta"]["default_action"] == "drop"
    assert listed["meta"]["version"] == 3 + 1 + 1 + 1  # creates, reorder, delete, default
    events = {
        e["event"] for e in api.call("GET", "/api/v1/audit?per_page=100", admin).get_json()["data"]
    }
    assert {"rule_created", "rules_reordered", "rule_deleted", "rules_default_action"} <= events


def test_validate_is_a_dry_run_naming_rule_index_and_field(api) -> None:
    admin = api.admin_token()
    good = {"default_action": "allow", "rules": [{"name": "a", "action": "allow"}]}
    reply = api.call("POST", f"{RULES}/validate", admin, json=good)
    assert reply.status_code == 200 and reply.get_json()["data"] == {"valid": True, "rule_count": 1}
    bad = {
        "rules": [{"name": "a", "action": "allow"}, {"name": "b", "action": "drop", "src": ["x"]}]
    }
    reply = api.call("POST", f"{RULES}/validate", admin, json=bad)
    assert (
        reply.status_code == 422
        and "rules.1.src.0" in reply.get_json()["error"]["details"]["fields"]
    )
    assert api.call("GET", RULES, admin).get_json()["meta"]["version"] == 0


def test_viewer_reads_but_cannot_write(api) -> None:
    admin = api.admin_token()
    create(api, admin)
    viewer = api.user_token(admin, "viewer@example.com", ["viewer"])
    assert api.call("GET", RULES, viewer).status_code == 200
    assert api.call("GET", f"{RULES}/status", viewer).get_json()["data"]["state"] == "in_sync"
    refused = create(api, viewer)
    assert (
        refused.status_code == 403 and refused.get_json()["error"]["code"] == "insufficient_scope"
    )


def test_listing_pages_through_the_rules_in_order(api) -> None:
    admin = api.admin_token()
    names = [f"r{n}" for n in range(5)]
    for name in names:
        assert create(api, admin, name=name).status_code == 201
    first = api.call("GET", RULES, admin).get_json()
    assert [r["name"] for r in first["data"]] == names
    assert first["meta"] == {
        "version": 5, "default_action": "allow", "total": 5, "page": 1, "per_page": 100,
    }  # fmt: skip
    pages = [
        api.call("GET", RULES, admin, query_string={"page": page, "per_page": 2}).get_json()
        for page in (1, 2, 3, 4)
    ]
    assert [[r["name"] for r in page["data"]] for page in pages] == [
        ["r0", "r1"], ["r2", "r3"], ["r4"], [],
    ]  # fmt: skip
    assert all(page["meta"]["total"] == 5 and page["meta"]["per_page"] == 2 for page in pages)
    assert [r["position"] for r in pages[1]["data"]] == [2, 3]
    # what the web UI asks for: every rule of a realistic set in one page
    everything = api.call("GET", RULES, admin, query_string={"per_page": 1000}).get_json()
    assert len(everything["data"]) == everything["meta"]["total"] == 5


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"per_page": "0"}, "per_page"),
        ({"per_page": "1001"}, "per_page"),
        ({"per_page": "-5"}, "per_page"),
        ({"per_page": "ten"}, "per_page"),
        ({"per_page": "1e3"}, "per_page"),
        ({"per_page": "9" * 40}, "per_page"),
        ({"page": "0"}, "page"),
        ({"page": "100001"}, "page"),
        ({"page": "1; DROP TABLE packet_rule"}, "page"),
        ({"page": "\x00"}, "page"),
    ],
)
def test_hostile_paging_is_a_json_4xx_naming_the_parameter(api, query, field) -> None:
    reply = api.call("GET", RULES, api.admin_token(), query_string=query)
    assert reply.status_code == 422, reply.get_data(as_text=True)
    error = reply.get_json()["error"]
    assert error["code"] == "validation_error" and field in error["details"]["fields"]


def test_the_openapi_document_describes_the_paging(api) -> None:
    document = api.call("GET", "/api/v1/openapi.json").get_json()
    listing = document["paths"]["/api/v1/rules"]["get"]
    params = {p["name"]: p for p in listing["parameters"]}
    assert params["per_page"]["in"] == "query" and params["per_page"]["schema"]["maximum"] == 1000
    assert (
        params["per_page"]["schema"]["default"] == 100 and params["page"]["schema"]["minimum"] == 1
    )
    assert "422" in listing["responses"]
