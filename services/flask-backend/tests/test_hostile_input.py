"""Hostile input is a 4xx naming what is wrong, never a 500: control characters in any text
field (body, query, path), e-mail addresses that are not addresses, bodies that are not JSON.
Each test here was a 500 (or a silent acceptance) before the input rules existed."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

import pytest
import requests
from conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from test_server import server  # noqa: F401 - the real-server fixture, shared

LOGIN = "/api/v1/auth/login"
# Decoded: b, î, 😍, o, i, a private-use plane-16 character, a CJK extension-B ideograph, "@",
# and a cedilla as the whole "domain".
NOT_AN_ADDRESS = "b\u00ee\U0001f60doi\U000f436e\U00024773@\u00b8"


def field_errors(reply: Any) -> dict[str, str]:
    body = reply.get_json()
    assert body and "error" in body, reply.get_data(as_text=True)
    return body["error"]["details"].get("fields", {})


def assert_refused(reply: Any, field: str, words: str = "control characters") -> None:
    assert reply.status_code == 422, (reply.status_code, reply.get_data(as_text=True)[:300])
    assert reply.get_json()["error"]["code"] == "validation_error"
    fields = field_errors(reply)
    assert field in fields, fields
    assert words in fields[field], fields


# -- control characters --------------------------------------------------------------------
def test_nul_in_login_email_is_a_422_naming_the_field(api) -> None:
    reply = api.call("POST", LOGIN, json={"email": "admin\x00@localhost.local", "password": "x"})
    assert_refused(reply, "email")


def test_nul_in_own_email_change_is_a_422(api) -> None:
    admin = api.admin_token()
    body = {"email": "me\x00@example.com", "current_password": ADMIN_PASSWORD}
    reply = api.call("PATCH", "/api/v1/auth/me", admin, json=body)
    assert_refused(reply, "email")
    assert api.call("GET", "/api/v1/auth/me", admin).get_json()["data"]["email"] == ADMIN_EMAIL


def test_nul_in_role_names_of_a_new_user_is_a_422(api) -> None:
    admin = api.admin_token()
    body = {"email": "n@example.com", "password": "password1", "roles": ["viewer\x00"]}
    assert_refused(api.call("POST", "/api/v1/users", admin, json=body), "roles.0")


@pytest.mark.parametrize("character", ["\x00", "\x01", "\x1b", "\x7f", "\x85", "\x9f", "\n"])
def test_every_control_character_is_refused_in_one_line_text(api, character) -> None:
    admin = api.admin_token()
    body = {"name": f"web{character}", "action": "allow"}
    assert_refused(api.call("POST", "/api/v1/rules", admin, json=body), "name")
    # Not even at the end, where stripping whitespace would otherwise have hidden it.
    body = {"name": f"web{character}", "action": "allow", "protocol": "tcp"}
    assert_refused(api.call("POST", "/api/v1/rules", admin, json=body), "name")


def test_free_text_keeps_tabs_and_line_breaks_but_no_other_controls(api) -> None:
    admin = api.admin_token()
    body = {"name": "dns", "action": "allow", "description": "line one\n\tline two\r\n"}
    created = api.call("POST", "/api/v1/rules", admin, json=body)
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["data"]["description"] == "line one\n\tline two"
    body["description"] = "bell\x07"
    assert_refused(api.call("POST", "/api/v1/rules", admin, json=body), "description")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("protocol", "tcp\x1f"),
        ("protocol", "udp\t"),
        ("src", ["10.0.0.0/8\x85"]),
        ("dst_ports", ["443\x0b"]),
    ],
)
def test_structured_rule_fields_refuse_controls_instead_of_stripping_them(
    api, field, value
) -> None:
    """Whitespace stripping used to turn "tcp\x1f" into "tcp" and accept it."""
    body = {"name": "web", "action": "allow", "protocol": "tcp", field: value}
    reply = api.call("POST", "/api/v1/rules", api.admin_token(), json=body)
    assert_refused(reply, field if isinstance(value, str) else f"{field}.0")


def test_text_path_parameters_are_documented_with_the_text_rule(api) -> None:
    document = api.call("GET", "/api/v1/openapi.json").get_json()
    for path in ("/api/v1/rules/{rule_id}", "/api/v1/docs/{asset}"):
        for operation in document["paths"][path].values():
            (parameter,) = [p for p in operation["parameters"] if p["in"] == "path"]
            assert parameter["schema"]["pattern"].startswith("^[^\\x00-\\x1f"), path


def _request_bodies(document: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(method, path, property, is_list) for every text property of every request body."""
    schemas = document["components"]["schemas"]
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            ref = content.get("application/json", {}).get("schema", {}).get("$ref")
            if not ref:
                continue
            model = schemas[ref.rsplit("/", 1)[1]]
            for name, prop in model.get("properties", {}).items():
                variants = prop.get("anyOf", [prop])
                for variant in variants:
                    if variant.get("type") == "string" and "enum" not in variant:
                        found.append((method.upper(), path, name, False))
                    items = variant.get("items", {})
                    if variant.get("type") == "array" and items.get("type") == "string":
                        found.append((method.upper(), path, name, True))
    return found


def test_every_text_field_of_every_request_body_refuses_nul(api) -> None:
    """Walks the OpenAPI document, so a request model added later is covered too."""
    admin = api.admin_token()
    rule = api.call("POST", "/api/v1/rules", admin, json={"name": "r", "action": "allow"})
    rule_id = rule.get_json()["data"]["id"]
    user = api.create_user(admin, "target@example.com", ["viewer"])

    def made(path: str, body: dict[str, Any]) -> int:
        reply = api.call("POST", path, admin, json=body)
        assert reply.status_code == 201, (path, reply.get_json())
        return int(reply.get_json()["data"]["id"])

    team = made("/api/v1/teams", {"name": "team"})
    sensor = made("/api/v1/sensors", {"name": "s", "address": "127.0.0.1:9", "ruleset_id": 1})
    grant = made("/api/v1/rulesets/1/grants", {"user_id": user["id"], "role": "viewer"})
    ids = {"rule_id": rule_id, "user_id": user["id"], "role_id": 1, "key_id": 1,
           "team_id": team, "sensor_id": sensor, "ruleset_id": 1, "grant_id": grant}  # fmt: skip
    document = api.call("GET", "/api/v1/openapi.json").get_json()
    cases = _request_bodies(document)
    assert len(cases) > 20
    for method, path, name, is_list in cases:
        url = re.sub(r"\{(\w+)\}", lambda m: str(ids.get(m.group(1), "x")), path)
        value: Any = ["x\x00y"] if is_list else "x\x00y"
        reply = api.call(method, url, admin, json={name: value})
        field = f"{name}.0" if is_list else name
        assert reply.status_code == 422, (method, path, name, reply.get_json())
        assert field in field_errors(reply), (method, path, name, reply.get_json())


def test_every_request_string_in_the_document_is_constrained(api) -> None:
    """A text field added later as a plain `str` (body, query or path) shows up here: every
    request string must carry the Text pattern, an enum, or a format that parses it."""
    document = api.call("GET", "/api/v1/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    loose: list[str] = []

    def walk(schema: dict[str, Any], where: str, seen: frozenset[str]) -> None:
        for variant in schema.get("anyOf", [schema]):
            ref = variant.get("$ref")
            if ref:
                name = ref.rsplit("/", 1)[1]
                if name not in seen:
                    for prop, sub in schemas[name].get("properties", {}).items():
                        walk(sub, f"{where}.{prop}", seen | {name})
            elif variant.get("type") == "array":
                walk(variant.get("items", {}), f"{where}[]", seen)
            elif variant.get("type") == "object":
                for prop, sub in variant.get("properties", {}).items():
                    walk(sub, f"{where}.{prop}", seen)
            elif variant.get("type") == "string" and not (
                {"pattern", "enum", "format", "const"} & set(variant)
            ):
                loose.append(where)

    for method, path, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            walk(
                parameter["schema"],
                f"{method} {path} {parameter['in']}:{parameter['name']}",
                frozenset(),
            )
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if body:
            walk(body["schema"], f"{method} {path} body", frozenset())
    assert not loose, loose


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/api/v1/users?q=a%00b", "q"),
        ("/api/v1/users?role=viewer%00", "role"),
        ("/api/v1/audit?event=login%01", "event"),
    ],
)
def test_control_characters_in_query_parameters_are_a_422(api, path, parameter) -> None:
    assert_refused(api.call("GET", path, api.admin_token()), parameter)


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_nul_in_a_text_path_parameter_is_a_422(api, method) -> None:
    kwargs = {"json": {"name": "x"}} if method == "PATCH" else {}
    reply = api.call(method, "/api/v1/rules/a%00b", api.admin_token(), **kwargs)
    assert_refused(reply, "rule_id")


def test_lone_surrogate_in_json_is_a_422_naming_the_field(api) -> None:
    # Valid JSON text ("\ud800" is a legal escape) that is no Unicode string.
    raw = b'{"email": "\\ud800@example.com", "password": "x"}'
    reply = api.call("POST", LOGIN, data=raw, content_type="application/json")
    assert_refused(reply, "email", "")


@pytest.mark.parametrize(
    "raw",
    [b"[" * 30_000 + b"]" * 30_000, b'{"a":' * 10_000 + b"1" + b"}" * 10_000],
    ids=["deep-array", "deep-object"],
)
def test_deeply_nested_json_is_a_400_not_a_crash(api, raw) -> None:
    reply = api.call("POST", LOGIN, data=raw, content_type="application/json")
    assert reply.status_code == 400 and reply.get_json()["error"]["code"] == "invalid_json"


# -- e-mail addresses ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "extra"),
    [
        ("POST", "/api/v1/users", {"password": "password1"}),
        ("PATCH", "/api/v1/auth/me", {"current_password": ADMIN_PASSWORD}),
        ("POST", LOGIN, {"password": "whatever"}),
        ("POST", "/api/v1/auth/forgot", {}),
    ],
)
def test_an_address_that_is_no_address_is_a_422(api, method, path, extra) -> None:
    admin = api.admin_token()
    for email in (NOT_AN_ADDRESS, "a@b", "no-at-sign", "x@localhost", "two@@example.com"):
        reply = api.call(method, path, admin, json={"email": email, **extra})
        assert_refused(reply, "email", "not a valid e-mail address")


def test_login_and_forgot_still_do_not_say_whether_an_account_exists(api) -> None:
    wrong = api.call("POST", LOGIN, json={"email": ADMIN_EMAIL, "password": "nope"})
    ghost = api.call("POST", LOGIN, json={"email": "ghost@example.com", "password": "nope"})
    assert wrong.status_code == ghost.status_code == 401
    assert wrong.get_json() == ghost.get_json()
    known = api.call("POST", "/api/v1/auth/forgot", json={"email": ADMIN_EMAIL})
    unknown = api.call("POST", "/api/v1/auth/forgot", json={"email": "ghost@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.get_json() == unknown.get_json()


def test_addresses_are_normalised_and_the_default_admin_domain_is_allowed(api) -> None:
    admin = api.admin_token()
    decomposed = "Jose\u0301.Lopez@Example.COM"  # e + combining acute, mixed case
    created = api.create_user(admin, decomposed, ["viewer"])
    expected = unicodedata.normalize("NFC", "jose\u0301.lopez@example.com")
    assert created["email"] == expected and len(created["email"]) == len(decomposed) - 1
    # Any spelling of the same address finds the same account.
    assert api.login(decomposed.upper(), "password1")
    assert api.login(expected, "password1")
    # .local (the default admin's domain) is allowed for any account.
    moved = api.call(
        "PATCH",
        f"/api/v1/users/{created['id']}",
        admin,
        json={"email": "ops@mail.corp.local"},
    )
    assert moved.status_code == 200 and moved.get_json()["data"]["email"] == "ops@mail.corp.local"
    assert api.login(ADMIN_EMAIL, ADMIN_PASSWORD)


# -- bodies that are not JSON --------------------------------------------------------------
@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
def test_a_body_that_is_not_json_is_a_415(api, content_type) -> None:
    body = json.dumps({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    headers = {"Content-Type": content_type} if content_type else {}
    reply = api.call("POST", LOGIN, data=body, headers=headers)
    assert reply.status_code == 415, reply.get_data(as_text=True)
    error = reply.get_json()["error"]
    assert error["code"] == "unsupported_media_type" and "JSON" in error["message"]
    assert set(error) == {"code", "message", "details"}


def test_json_media_types_with_parameters_or_suffix_are_accepted(api) -> None:
    body = json.dumps({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    for content_type in ("application/json; charset=utf-8", "application/vnd.rookery+json"):
        reply = api.call("POST", LOGIN, data=body, content_type=content_type)
        assert reply.status_code == 200, (content_type, reply.get_json())


def test_a_missing_body_is_a_422_that_says_so(api) -> None:
    reply = api.call("POST", LOGIN)
    assert reply.status_code == 422
    error = reply.get_json()["error"]
    assert error["message"].startswith("this request needs a JSON body")
    assert set(error["details"]["fields"]) == {"email", "password"}


@pytest.mark.parametrize("raw", [b"[]", b'"text"', b"null", b"42"])
def test_a_json_body_that_is_not_an_object_is_a_422(api, raw) -> None:
    reply = api.call("POST", LOGIN, data=raw, content_type="application/json")
    assert reply.status_code == 422, reply.get_json()


# -- the docs page -------------------------------------------------------------------------
def test_swagger_ui_has_a_content_security_policy_its_assets_satisfy(api) -> None:
    page = api.call("GET", "/api/v1/docs")
    policy = page.headers["Content-Security-Policy"]
    directives = {}
    for part in filter(None, (p.strip() for p in policy.split(";"))):
        name, _, value = part.partition(" ")
        directives[name] = value
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"  # no inline script, no eval
    assert directives["style-src"] == "'self'" and directives["connect-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    html = page.get_data(as_text=True)
    # Every script and stylesheet the page loads is same-origin, and none is inline.
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert sources and all(source.startswith("/api/v1/docs/") for source in sources)
    assert "<script>" not in html and "<style" not in html and " style=" not in html
    for source in sources:
        assert api.call("GET", source).status_code == 200, source
    # The document the UI fetches is same-origin too (connect-src 'self').
    init = api.call("GET", "/api/v1/docs/init.js").get_data(as_text=True)
    assert 'url: "/api/v1/openapi.json"' in init


# -- what schemathesis found: every answer is one the document describes -------------------
def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


def _assert_documented(operation: dict[str, Any], reply: Any, label: str) -> None:
    documented = operation["responses"].get(str(reply.status_code))
    assert documented, (label, reply.status_code, sorted(operation["responses"]))
    media_type = reply.headers.get("Content-Type", "").split(";")[0]
    assert any(key.split(";")[0] == media_type for key in documented["content"]), (
        label,
        reply.status_code,
        media_type,
    )


def test_refusals_of_hostile_bodies_are_documented_for_every_operation(api) -> None:
    """Not JSON (400), not declared as JSON (415), too large (413): each operation with a
    body documents each answer, with the error schema."""
    admin = api.admin_token()
    document = api.call("GET", "/api/v1/openapi.json").get_json()
    checked = 0
    for method, path, operation in _operations(document):
        if "requestBody" not in operation:
            continue
        url = re.sub(r"\{\w+\}", "1", path)
        for kwargs in (
            {"data": b"\x00", "content_type": "application/json"},
            {"data": b'{"x": 1}', "content_type": "text/plain"},
            {"data": b"[" + b"1," * 40_000 + b"1]", "content_type": "application/json"},
        ):
            reply = api.call(method, url, admin, **kwargs)
            assert reply.status_code < 500, (method, path, reply.get_json())
            _assert_documented(operation, reply, f"{method} {path}")
            checked += 1
    assert checked >= 3 * 15


def test_not_found_and_path_refusals_are_documented(api) -> None:
    admin = api.admin_token()
    document = api.call("GET", "/api/v1/openapi.json").get_json()
    for method, path, operation in _operations(document):
        names = re.findall(r"\{(\w+)\}", path)
        if not names:
            continue
        url = path
        for name in names:
            kind = next(p for p in operation["parameters"] if p["name"] == name)["schema"]["type"]
            url = url.replace(f"{{{name}}}", "999999" if kind == "integer" else "nothing-here")
        kwargs = {"json": {}} if "requestBody" in operation else {}
        reply = api.call(method, url, admin, **kwargs)
        assert reply.status_code in (404, 422), (method, url, reply.get_json())
        _assert_documented(operation, reply, f"{method} {path}")


def test_a_body_is_required_exactly_where_an_empty_one_is_refused(api) -> None:
    """The document said every body was required; logout, PATCH /auth/me and
    rules/validate accept none (it reads as {})."""
    admin = api.admin_token()
    document = api.call("GET", "/api/v1/openapi.json").get_json()
    paths = document["paths"]
    for method, path in (
        ("POST", "/api/v1/rules/validate"),
        ("POST", "/api/v1/auth/refresh"),
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/rules"),
    ):
        required = paths[path][method.lower()]["requestBody"]["required"]
        reply = api.call(method, path, admin)
        needs_body = reply.status_code == 422 and reply.get_json()["error"]["message"].startswith(
            "this request needs a JSON body"
        )
        assert required == needs_body, (method, path, reply.status_code)
    assert paths["/api/v1/auth/logout"]["post"]["requestBody"]["required"] is False
    assert api.call("POST", "/api/v1/auth/logout", admin).status_code == 200


def test_non_json_operations_document_their_media_types(api) -> None:
    document = api.call("GET", "/api/v1/openapi.json").get_json()
    paths = document["paths"]
    for path, asset in (
        ("/metrics", None),
        ("/api/v1/docs", None),
        ("/api/v1/docs/{asset}", "swagger-ui.css"),
        ("/api/v1/docs/{asset}", "swagger-ui-bundle.js"),
        ("/api/v1/openapi.json", None),
        ("/healthz", None),
        ("/readyz", None),
    ):
        url = path.replace("{asset}", asset or "")
        reply = api.call("GET", url)
        assert reply.status_code == 200, url
        _assert_documented(paths[path]["get"], reply, url)
    metrics = paths["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain; version=0.0.4"]
    assert "503" not in paths["/healthz"]["get"]["responses"]
    assert "503" in paths["/readyz"]["get"]["responses"]


def test_a_body_over_the_limit_is_the_apis_413_from_the_real_server(server) -> None:  # noqa: F811
    """hypercorn's WSGI bridge answered a bare 400 (no body, no Content-Type) before Flask
    saw the request; declared or streamed, it is now the API's 413."""
    base, _, _ = server
    token = requests.post(
        f"{base}{LOGIN}", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}, timeout=10
    ).json()["data"]["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    big = b'{"ids": [' + b'"0000000000000000",' * 20_000 + b'"0"]}'

    def streamed() -> Any:
        for start in range(0, len(big), 8192):
            yield big[start : start + 8192]

    for body in (big, streamed()):
        reply = requests.post(
            f"{base}/api/v1/rules/reorder", data=body, headers=headers, timeout=10
        )
        assert reply.status_code == 413, (reply.status_code, reply.text[:200])
        assert reply.headers["Content-Type"] == "application/json"
        error = reply.json()["error"]
        assert error["code"] == "payload_too_large" and error["details"]["max_bytes"] > 0
    # The server is fine afterwards.
    assert requests.get(f"{base}/healthz", timeout=5).status_code == 200


# -- made-up HTTP methods ----------------------------------------------------------------------
def test_made_up_methods_do_not_grow_the_metrics(server) -> None:  # noqa: F811
    """Any method token a client sends is counted as OTHER: one series each would be a new
    file per worker (multiprocess metrics) that every scrape reads."""
    base, _process, _log = server
    tokens = [f"X{i}{'Z' * 2000}" for i in range(20)]
    for token in tokens:
        reply = requests.request(token, f"{base}/api/v1/users", timeout=10)
        assert 400 <= reply.status_code < 500
    text = requests.get(f"{base}/metrics", timeout=10).text
    assert "ZZZZ" not in text
    assert 'method="OTHER"' in text


def test_driver_errors_that_mean_an_outage_are_recognised_through_subclasses() -> None:
    import sqlite3

    import psycopg2.errors
    import pymysql
    import sqlalchemy.exc
    from rookery_backend.errors import is_database_outage

    outages = [
        sqlite3.OperationalError("database is locked"),
        pymysql.err.OperationalError(2013, "Lost connection"),
        psycopg2.errors.AdminShutdown("terminating connection due to administrator command"),
        psycopg2.errors.QueryCanceled("canceling statement due to statement timeout"),
        psycopg2.InterfaceError("connection already closed"),
    ]
    for error in outages:
        assert is_database_outage(error), error
        wrapped = sqlalchemy.exc.OperationalError("SELECT 1", {}, error)
        assert is_database_outage(wrapped), wrapped
    for error in (psycopg2.errors.UniqueViolation("duplicate"), ValueError("x"), OSError()):
        assert not is_database_outage(error), error
