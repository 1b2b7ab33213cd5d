"""The adversarial suite: schemathesis generates valid and invalid requests for every
operation of /api/v1/openapi.json and sends them to the real server (`python -m
rookery_backend serve` under hypercorn), authenticated as an admin. Every answer must be a
non-5xx that the document describes (status, media type, body schema), and every request
the document calls invalid must be refused.

The run is reproducible (fixed seed) and bounded (examples per operation), and it must not
hurt the built-in admin: it runs as a throwaway admin made for the run, never edits or
deletes either admin account, and checks afterwards that the built-in admin still signs in
with its password and still holds the admin role."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from test_server import server  # noqa: F401 - the real-server fixture, shared

SEED = 20261201
# Fuzzing examples per operation (the coverage phase adds its own, derived from the
# schema's boundaries: empty, too long, wrong type, control characters, ...). PostgreSQL
# and MariaDB (DBS=all) get the same boundary values and a lighter fuzzing pass.
FUZZ_EXAMPLES = {"sqlite": 20, "postgresql": 5, "mysql": 5}
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)
FUZZ_ADMIN = "fuzz-admin@example.com"
FUZZ_PASSWORD = "fuzz-admin-password"
# Operations that would take an admin account away from the run (or from its owner) when
# aimed at one: they are aimed at an account that does not exist instead.
ACCOUNT_EDITS = {("PATCH", "/api/v1/users/{user_id}"), ("DELETE", "/api/v1/users/{user_id}")}
ABSENT_USER_ID = 2_000_000_000
# Ends the session whose token it carries: each gets a session of its own.
SESSION_ENDERS = {("POST", "/api/v1/auth/logout"), ("DELETE", "/api/v1/auth/sessions")}


def schemathesis_config(fuzz_examples: int) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "mode": "all",  # valid and invalid requests
                "max-examples": fuzz_examples,
                "database": "none",  # nothing written next to the tests
            },
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": False},
            },
            "checks": {
                "enabled": False,
                **{name: {"enabled": True} for name in CHECKS},
                # An invalid request refused because it is larger than any valid one can be
                # (a list past its maxItems) is refused all the same: 413 counts.
                "negative_data_rejection": {
                    "enabled": True,
                    "expected-statuses": [
                        *("400", "401", "403", "404", "405", "406", "409"),
                        *("413", "415", "422", "428", "429", "5xx"),
                    ],
                },
            },
            "operations": [
                {
                    # No packet-service runs here: statistics answer their documented 503
                    # upstream_unavailable, which is the designed answer, not a crash.
                    "include-path-regex": "^/api/v1/stats/",
                    "checks": {
                        "not_a_server_error": {"expected-statuses": ["2xx", "3xx", "4xx", "503"]}
                    },
                }
            ],
            "request-timeout": 30,
        }
    )


@dataclass
class FuzzRun:
    base: str
    backend: str
    token: str
    protected_ids: set[int]
    sent: int = 0
    by_operation: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    session: requests.Session = field(default_factory=requests.Session)

    def sign_in(self) -> str:
        reply = self.session.post(
            f"{self.base}/api/v1/auth/login",
            json={"email": FUZZ_ADMIN, "password": FUZZ_PASSWORD},
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        return reply.json()["data"]["access_token"]


def _admin_login(base: str, email: str, password: str) -> dict[str, Any]:
    reply = requests.post(
        f"{base}/api/v1/auth/login", json={"email": email, "password": password}, timeout=30
    )
    assert reply.status_code == 200, reply.text
    return reply.json()["data"]


@pytest.fixture
def fuzz_run(server, backend: str, request: pytest.FixtureRequest):  # noqa: F811 - the fixture above
    base, _, _ = server
    builtin = _admin_login(base, ADMIN_EMAIL, ADMIN_PASSWORD)
    created = requests.post(
        f"{base}/api/v1/users",
        headers={"Authorization": f"Bearer {builtin['access_token']}"},
        json={"email": FUZZ_ADMIN, "password": FUZZ_PASSWORD, "roles": ["admin"]},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    run = FuzzRun(base, backend, "", {builtin["user"]["id"], created.json()["data"]["id"]})
    run.token = run.sign_in()
    started = time.monotonic()
    yield run
    elapsed = time.monotonic() - started
    document = requests.get(f"{base}/api/v1/openapi.json", timeout=30).json()
    operations = {f"{m.upper()} {p}" for p, ops in document["paths"].items() for m in ops}
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(run.statuses.items()))
    spread = ""
    if run.by_operation:
        (most, high), (least, low) = (
            run.by_operation.most_common(1)[0],
            min(run.by_operation.items(), key=lambda item: item[1]),
        )
        spread = f"; per operation {low} ({least}) to {high} ({most})"
    _say(
        request,
        f"schemathesis ({backend}): {len(run.by_operation)} of {len(operations)} operations, "
        f"{run.sent} generated requests in {elapsed:.0f} s, seed {SEED}{spread}; "
        f"statuses {statuses}",
    )
    # Every operation was exercised ...
    assert set(run.by_operation) == operations, operations ^ set(run.by_operation)
    # ... and the built-in admin is as it was: same password, active, still an admin.
    after = _admin_login(base, ADMIN_EMAIL, ADMIN_PASSWORD)
    me = requests.get(
        f"{base}/api/v1/auth/me",
        headers={"Authorization": f"Bearer {after['access_token']}"},
        timeout=30,
    ).json()["data"]
    assert me["id"] == builtin["user"]["id"] and me["email"] == ADMIN_EMAIL
    assert me["active"] and "admin" in me["roles"], me


def _say(request: pytest.FixtureRequest, line: str) -> None:
    """A line in pytest's own output, passing or failing (not a captured print)."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line(line)


@pytest.fixture
def api_schema(fuzz_run: FuzzRun) -> Any:
    # The document as the server serves it. (Loaded from a dict rather than the URL:
    # schemathesis leaves out the operation a schema was loaded from, and that one, GET
    # /api/v1/openapi.json, is tested like the others.)
    document = fuzz_run.session.get(f"{fuzz_run.base}/api/v1/openapi.json", timeout=30)
    assert document.status_code == 200
    config = schemathesis_config(FUZZ_EXAMPLES[fuzz_run.backend])
    return schemathesis.openapi.from_dict(document.json(), config=config)


@pytest.fixture(autouse=True)
def _node_id_for_lazy_schemas(request: pytest.FixtureRequest) -> None:
    # schemathesis's fixture-loaded schemas read and rename `node._nodeid`, which pytest
    # 9.2 no longer has (its node ids live in `_id`); give them the attribute to work on.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
def test_every_operation_survives_generated_input(case: Any, fuzz_run: FuzzRun) -> None:
    operation = (case.method.upper(), case.operation.path)
    if operation in ACCOUNT_EDITS and case.path_parameters.get("user_id") in fuzz_run.protected_ids:
        case.path_parameters["user_id"] = ABSENT_USER_ID
    token = fuzz_run.sign_in() if operation in SESSION_ENDERS else fuzz_run.token
    response = case.call(
        base_url=fuzz_run.base,
        session=fuzz_run.session,
        headers={"Authorization": f"Bearer {token}"},
    )
    fuzz_run.sent += 1
    fuzz_run.by_operation[case.operation.label] += 1
    fuzz_run.statuses[response.status_code] += 1
    if response.status_code == 401 and operation not in SESSION_ENDERS:
        error = response.json().get("error", {}) if response.content else {}
        if error.get("code") == "invalid_token" and token == fuzz_run.token:
            # Something ended the run's own session after all: carry on with a new one.
            fuzz_run.token = fuzz_run.sign_in()
    case.validate_response(response)
