"""GET/PUT /api/v1/license, gating through the API as the licence runs out (injected clock),
the seat limit, hostile licence input, and an installed licence reaching another app
instance on the same database (another worker process or replica). Runs on every
selected database: the licence table is new."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest
from conftest import ADMIN_EMAIL, Api
from license_issuer import DAY, PRODUCTION_ADMIN_PASSWORD, Issuer
from rookery_backend import create_app
from rookery_backend.accounts import SIBLING_ACCOUNT
from rookery_backend.licensing import EXTENSION
from rookery_backend.licensing.state import REFRESH_SECONDS


class ProductionApi(Api):
    def admin_token(self) -> str:
        return self.login(ADMIN_EMAIL, PRODUCTION_ADMIN_PASSWORD)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture
def prod(app_factory, issuer: Issuer):
    """Build a production app trusting `issuer` with LICENSE_KEY = the given text."""

    def build(text: str, **overrides: Any) -> tuple[Any, ProductionApi]:
        app = app_factory(
            release_mode="production",
            admin_password=PRODUCTION_ADMIN_PASSWORD,
            license_public_key=issuer.public_pem,
            license_key=text,
            **overrides,
        )
        return app, ProductionApi(app.test_client())

    return build


def data(reply: Any) -> Any:
    assert reply.status_code == 200, reply.get_json()
    return reply.get_json()["data"]


def error(reply: Any, status: int, code: str) -> dict[str, Any]:
    assert reply.status_code == status, (reply.status_code, reply.get_json())
    body = reply.get_json()["error"]
    assert body["code"] == code, body
    return body


def installed_rows(app: Any) -> int:
    with app.app_context():
        svc = app.extensions["rookery"]
        count = svc.dal(svc.dal.product_license.id > 0).count()
        svc.database.end_request(ok=True)
        return count


# -- reading ------------------------------------------------------------------------------------
def test_development_reports_every_feature_on(api) -> None:
    status = data(api.call("GET", "/api/v1/license", api.admin_token()))
    assert status["mode"] == "development" and status["status"] == "development"
    assert status["features_active"] == ["audit_export", "multi_tenancy", "sso_oidc"]
    assert status["seats"] == {"used": 1, "limit": None}
    # ... and the gated route works without any licence
    assert api.call("GET", "/api/v1/audit/export", api.admin_token()).status_code == 200


def test_production_reports_the_licence(prod, issuer: Issuer) -> None:
    now = int(time.time())
    text = issuer.issue(
        lid="lic-42", tier="community", features=["audit_export"], seats=25, exp=now + 100 * DAY
    )
    app, api = prod(text)
    status = data(api.call("GET", "/api/v1/license", api.admin_token()))
    assert status["mode"] == "production" and status["status"] == "valid"
    assert status["id"] == "lic-42" and status["customer"] == "Example Corp"
    assert status["tier"] == "community"
    assert status["features"] == ["audit_export"] == status["features_active"]
    assert status["seats"] == {"used": 1, "limit": 25}
    assert status["days_left"] == 100 and status["warnings"] == []
    assert status["source"] == "LICENSE_KEY"
    assert status["expires_at"].endswith("Z") and status["grace_ends_at"].endswith("Z")
    ready = app.test_client().get("/readyz").get_json()
    assert ready["status"] == "ready" and ready["license"]["status"] == "valid"
    assert "customer" not in json.dumps(ready)  # public: no customer details


def test_reading_and_installing_need_their_scopes(prod, issuer: Issuer) -> None:
    _app, api = prod(issuer.issue())
    admin = api.admin_token()
    viewer = api.user_token(admin, "viewer@example.com", ["viewer"])
    error(api.call("GET", "/api/v1/license", viewer), 403, "insufficient_scope")
    error(api.call("PUT", "/api/v1/license", viewer, json={"license": "x"}), 403,
          "insufficient_scope")  # fmt: skip
    key = api.call(
        "POST", "/api/v1/apikeys", admin, json={"name": "k", "scopes": ["license:admin"]}
    ).get_json()["data"]["key"]
    # installing is a person's act: an API key holding the scope is still refused
    reply = api.call("PUT", "/api/v1/license", key, json={"license": issuer.issue()})
    error(reply, 403, "session_required")
    error(api.call("GET", "/api/v1/license"), 401, "unauthorized")


# -- installing ---------------------------------------------------------------------------------
def test_install_switches_features_on_at_once_audited_and_for_another_instance(
    prod, issuer: Issuer, make_settings
) -> None:
    app, api = prod(issuer.issue(tier="community"))
    admin = api.admin_token()
    # A second app on the same database: another worker process or replica.
    other = create_app(app.extensions["rookery"].settings, initialise=False)
    other_manager = other.extensions[EXTENSION]
    tick = Clock(1000.0)
    other_manager.monotonic = tick
    other_api = ProductionApi(other.test_client())
    other_admin = other_api.admin_token()
    error(api.call("GET", "/api/v1/audit/export", admin), 403, "feature_not_licensed")
    error(other_api.call("GET", "/api/v1/audit/export", other_admin), 403, "feature_not_licensed")

    text = issuer.issue(lid="lic-pro", tier="professional", seats=50)
    status = data(api.call("PUT", "/api/v1/license", admin, json={"license": text}))
    assert status["status"] == "valid" and status["id"] == "lic-pro"
    assert status["source"] == "database" and status["tier"] == "professional"
    assert api.call("GET", "/api/v1/audit/export", admin).status_code == 200
    # The other instance reads the database again within REFRESH_SECONDS.
    tick.now += REFRESH_SECONDS + 0.01
    assert other_api.call("GET", "/api/v1/audit/export", other_admin).status_code == 200
    assert data(other_api.call("GET", "/api/v1/license", other_admin))["id"] == "lic-pro"

    events = data(api.call("GET", "/api/v1/audit?event=license_installed", admin))
    assert len(events) == 1
    assert events[0]["actor_email"] == ADMIN_EMAIL and events[0]["target"] == "license:lic-pro"
    assert events[0]["details"]["tier"] == "professional" and events[0]["details"]["seats"] == 50
    assert installed_rows(app) == 1


@pytest.mark.parametrize(
    "case",
    [
        "garbage",
        "flipped_bit",
        "other_key",
        "other_product",
        "expired",
        "not_yet_valid",
        "wrong_types",
        "huge",
        "empty",
    ],
)
def test_hostile_licences_are_refused_and_nothing_is_installed(
    prod, issuer: Issuer, case: str
) -> None:
    app, api = prod(issuer.issue(lid="current"))
    admin = api.admin_token()
    now = int(time.time())
    good = issuer.issue(lid="new")
    head, claims, signature = good.split(".")
    flipped = claims[:10] + ("A" if claims[10] != "A" else "B") + claims[11:]
    texts = {
        "garbage": "definitely not a licence",
        "flipped_bit": f"{head}.{flipped}.{signature}",
        "other_key": Issuer().issue(),
        "other_product": issuer.issue(product="otherthing"),
        "expired": issuer.issue(nbf=now - 30 * DAY, exp=now - 1),
        "not_yet_valid": issuer.issue(nbf=now + DAY),
        "wrong_types": issuer.issue(seats="ten"),
        "huge": "rookery1." + "A" * 20000 + ".AAAA",
        "empty": "",
    }
    reasons = {
        "garbage": "malformed",
        "flipped_bit": "bad_signature",
        "other_key": "bad_signature",
        "other_product": "wrong_product",
        "expired": "expired",
        "not_yet_valid": "not_yet_valid",
        "wrong_types": "malformed",
        "huge": "malformed",
        "empty": "malformed",
    }
    reply = api.call("PUT", "/api/v1/license", admin, json={"license": texts[case]})
    body = error(reply, 400, "license_invalid")
    assert body["details"]["reason"] == reasons[case]
    assert body["message"] and "\n" not in body["message"]
    assert installed_rows(app) == 0
    assert data(api.call("GET", "/api/v1/license", admin))["id"] == "current"
    events = data(api.call("GET", "/api/v1/audit?event=license_installed", admin))
    assert events == []


@pytest.mark.parametrize(
    "body",
    [
        {"license": "rookery1.a\x00b.c"},
        {"license": "x\x1fy"},
        {"license": 12345},
        {"license": None},
        {"license": ["rookery1.a.b"]},
        {"license": {"text": "x"}},
        {},
        {"license": "x", "extra": 1},
    ],
)
def test_bodies_that_are_no_licence_field_are_refused_as_bodies(prod, issuer: Issuer, body) -> None:
    # Control characters and wrong types are refused like in every body (422 naming the
    # field), before anything looks at a licence.
    app, api = prod(issuer.issue())
    reply = api.call("PUT", "/api/v1/license", api.admin_token(), json=body)
    assert reply.status_code == 422, reply.get_json()
    assert reply.get_json()["error"]["code"] == "validation_error"
    assert installed_rows(app) == 0


def test_bodies_past_the_limit_or_not_json(prod, issuer: Issuer) -> None:
    app, api = prod(issuer.issue())
    admin = api.admin_token()
    huge = json.dumps({"license": "A" * (80 * 1024)})
    reply = api.call(
        "PUT", "/api/v1/license", admin, data=huge, headers={"Content-Type": "application/json"}
    )
    error(reply, 413, "payload_too_large")
    reply = api.call(
        "PUT", "/api/v1/license", admin, data=b"{nope", headers={"Content-Type": "application/json"}
    )
    error(reply, 400, "invalid_json")
    reply = api.call("PUT", "/api/v1/license", admin, data=b"rookery1.a.b")
    error(reply, 415, "unsupported_media_type")
    assert installed_rows(app) == 0


# -- expiry while running -------------------------------------------------------------------------
def test_expiry_while_running_valid_grace_expired(prod, issuer: Issuer, caplog) -> None:
    caplog.set_level(logging.INFO, logger="rookery.license")
    start = time.time()
    text = issuer.issue(tier="enterprise", exp=int(start) + 40 * DAY)
    app, api = prod(text, license_grace_days=14)
    admin = api.admin_token()
    manager = app.extensions[EXTENSION]
    clock = Clock(start)
    manager.clock = clock
    client = app.test_client()

    def export() -> int:
        return api.call("GET", "/api/v1/audit/export", admin).status_code

    def ungated_work() -> None:
        # accounts, rules and the rest never stop
        assert api.call("GET", "/api/v1/users", admin).status_code == 200
        assert api.call("GET", "/api/v1/rules", admin).status_code == 200
        created = api.call(
            "POST", "/api/v1/rules", admin, json={"name": f"r{clock.now:.0f}", "action": "allow"}
        )
        assert created.status_code == 201, created.get_json()
        assert api.call("GET", "/api/v1/audit", admin).status_code == 200

    assert export() == 200
    ungated_work()
    clock.now = start + 41 * DAY  # expired a day ago: grace
    assert export() == 200
    ungated_work()
    status = data(api.call("GET", "/api/v1/license", admin))
    assert status["status"] == "grace" and status["days_left"] == 0
    assert "stop on" in status["warnings"][0]
    assert client.get("/readyz").get_json()["license"]["status"] == "grace"
    assert client.get("/readyz").status_code == 200

    clock.now = start + 54 * DAY + 1  # 40 + 14 days: the grace period is over
    body = error(api.call("GET", "/api/v1/audit/export", admin), 403, "feature_not_licensed")
    assert body["details"] == {"feature": "audit_export", "tier": "professional"}
    assert "audit_export" in body["message"] and "professional" in body["message"]
    ungated_work()
    user = api.create_user(admin, "after@example.com", ["viewer"])
    assert api.login("after@example.com", "password1")
    assert user["active"]
    status = data(api.call("GET", "/api/v1/license", admin))
    assert status["status"] == "expired" and status["features_active"] == []
    assert status["features"] == ["audit_export", "multi_tenancy", "sso_oidc"]
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["license"]["status"] == "expired"

    # The clock jumps back a month: the licence stays expired in this process.
    clock.now = start + 20 * DAY
    error(api.call("GET", "/api/v1/audit/export", admin), 403, "feature_not_licensed")
    assert data(api.call("GET", "/api/v1/license", admin))["status"] == "expired"

    # One warning per change of state, not per request.
    changes = [r.state for r in caplog.records if r.name == "rookery.license"]  # type: ignore[attr-defined]
    assert changes == ["valid", "grace", "expired"], changes

    # A renewal installed through the API switches the features on again at once.
    renewal = issuer.issue(lid="renewal", nbf=int(start), exp=int(start) + 400 * DAY)
    status = data(api.call("PUT", "/api/v1/license", admin, json={"license": renewal}))
    assert status["status"] == "valid" and status["id"] == "renewal"
    assert export() == 200


# -- seats ----------------------------------------------------------------------------------------
def test_the_seat_limit_counts_active_people(prod, issuer: Issuer) -> None:
    app, api = prod(issuer.issue(seats=3))
    admin = api.admin_token()  # seat 1
    # A service account does not take a seat.
    with app.app_context():
        svc = app.extensions["rookery"]
        svc.datastore.create_user(email=SIBLING_ACCOUNT, password=None, active=True)
        svc.database.end_request(ok=True)
    api.create_user(admin, "two@example.com", ["viewer"])
    three = api.create_user(admin, "three@example.com", ["viewer"])
    reply = api.call(
        "POST",
        "/api/v1/users",
        admin,
        json={"email": "four@example.com", "password": "password1", "roles": ["viewer"]},
    )
    body = error(reply, 409, "seat_limit_reached")
    assert body["details"] == {"limit": 3, "used": 3} and "3" in body["message"]
    # An inactive account takes no seat ...
    parked = api.call(
        "POST",
        "/api/v1/users",
        admin,
        json={"email": "parked@example.com", "password": "password1", "active": False},
    )
    assert parked.status_code == 201, parked.get_json()
    parked_id = parked.get_json()["data"]["id"]
    # ... until it is switched on.
    reply = api.call("PATCH", f"/api/v1/users/{parked_id}", admin, json={"active": True})
    error(reply, 409, "seat_limit_reached")
    assert data(api.call("GET", f"/api/v1/users/{parked_id}", admin))["active"] is False
    # Switching another off frees its seat.
    reply = api.call("PATCH", f"/api/v1/users/{three['id']}", admin, json={"active": False})
    assert reply.status_code == 200
    reply = api.call("PATCH", f"/api/v1/users/{parked_id}", admin, json={"active": True})
    assert reply.status_code == 200, reply.get_json()
    status = data(api.call("GET", "/api/v1/license", admin))
    assert status["seats"] == {"used": 3, "limit": 3}


def test_no_seat_limit_in_development(api) -> None:
    admin = api.admin_token()
    for index in range(3):
        api.create_user(admin, f"dev{index}@example.com", ["viewer"])


def test_no_seat_limit_with_an_unlimited_licence(prod, issuer: Issuer) -> None:
    _app, api = prod(issuer.issue(seats=0))
    admin = api.admin_token()
    for index in range(3):
        api.create_user(admin, f"prod{index}@example.com", ["viewer"])
    assert data(api.call("GET", "/api/v1/license", admin))["seats"] == {"used": 4, "limit": None}


# -- the document and tampering -------------------------------------------------------------------
def test_the_openapi_document_marks_gated_routes(api) -> None:
    document = api.call("GET", "/api/v1/openapi.json").get_json()
    export = document["paths"]["/api/v1/audit/export"]["get"]
    assert export["x-rookery-feature"] == "audit_export"
    assert "audit_export" in export["description"] and "professional" in export["description"]
    assert "feature_not_licensed" in export["responses"]["403"]["description"]
    listing = document["paths"]["/api/v1/audit"]["get"]
    assert "x-rookery-feature" not in listing
    assert "feature_not_licensed" not in listing["responses"]["403"]["description"]
    put = document["paths"]["/api/v1/license"]["put"]
    assert put["security"][0] == {"bearer": ["license:admin"]}
    assert "400" in put["responses"]


def test_a_forged_row_in_the_database_is_not_believed(prod, issuer: Issuer) -> None:
    # Someone with write access to the database (but not the issuer's key) writes a licence
    # of their own making: it is refused, the configured licence stays in force.
    app, api = prod(issuer.issue(lid="configured", tier="community"))
    admin = api.admin_token()
    forged = Issuer().issue(lid="forged", tier="enterprise", seats=0)
    head, _claims, signature = issuer.issue(tier="enterprise").split(".")
    with app.app_context():
        svc = app.extensions["rookery"]
        svc.dal.product_license.insert(license_text=forged, lid="forged")
        # ... and one with our issuer's signature moved onto other claims
        svc.dal.product_license.insert(
            license_text=f"{head}.{forged.split('.')[1]}.{signature}", lid="spliced"
        )
        svc.database.end_request(ok=True)
    app.extensions[EXTENSION].forget()
    status = data(api.call("GET", "/api/v1/license", admin))
    assert status["id"] == "configured" and status["tier"] == "community"
    assert any("from database is refused" in w and "signature" in w for w in status["warnings"])
    error(api.call("GET", "/api/v1/audit/export", admin), 403, "feature_not_licensed")


def test_dates_at_the_edge_of_the_calendar(prod, issuer: Issuer) -> None:
    from rookery_backend.licensing.document import MAX_TIME

    # The latest expiry a licence may carry still renders everywhere (its grace end too) ...
    app, api = prod(issuer.issue(exp=MAX_TIME), license_grace_days=365)
    admin = api.admin_token()
    status = data(api.call("GET", "/api/v1/license", admin))
    assert status["expires_at"] == "3000-01-01T00:00:00Z"
    assert status["grace_ends_at"].startswith("3001-")
    assert app.test_client().get("/readyz").status_code == 200
    # ... and one past it is refused, not a 500.
    body = error(
        api.call("PUT", "/api/v1/license", admin, json={"license": issuer.issue(exp=MAX_TIME + 1)}),
        400,
        "license_invalid",
    )
    assert body["details"]["reason"] == "malformed"


def test_a_service_account_address_is_no_free_seat(prod, issuer: Issuer) -> None:
    # A person given a service account's address (before that account exists), or a
    # service account turned into a person (a password, another address), takes a seat.
    _app, api = prod(issuer.issue(seats=2))
    admin = api.admin_token()  # seat 1
    reply = api.call(
        "POST",
        "/api/v1/users",
        admin,
        json={"email": SIBLING_ACCOUNT, "password": "password1", "roles": ["viewer"]},
    )
    assert reply.status_code == 201, reply.get_json()  # seat 2: it can sign in
    assert api.login(SIBLING_ACCOUNT, "password1")
    error(
        api.call(
            "POST",
            "/api/v1/users",
            admin,
            json={"email": "three@example.com", "password": "password1", "roles": ["viewer"]},
        ),
        409,
        "seat_limit_reached",
    )
    assert data(api.call("GET", "/api/v1/license", admin))["seats"] == {"used": 2, "limit": 2}


def test_a_service_account_made_a_person_takes_a_seat(prod, issuer: Issuer) -> None:
    app, api = prod(issuer.issue(seats=1))
    admin = api.admin_token()  # the only seat
    with app.app_context():
        svc = app.extensions["rookery"]
        machine = svc.datastore.create_user(email=SIBLING_ACCOUNT, password=None, active=True)
        machine_id = machine.id
        svc.database.end_request(ok=True)
    for change in (
        {"email": "somebody@example.com", "password": "password1"},
        {"password": "password1"},
    ):
        reply = api.call("PATCH", f"/api/v1/users/{machine_id}", admin, json=change)
        error(reply, 409, "seat_limit_reached")
    after = data(api.call("GET", f"/api/v1/users/{machine_id}", admin))
    assert after["email"] == SIBLING_ACCOUNT and after["service_account"] is True
    assert data(api.call("GET", "/api/v1/license", admin))["seats"] == {"used": 1, "limit": 1}
    # Edits that take no seat still go through (roles, with force as ever).
    reply = api.call(
        "PATCH", f"/api/v1/users/{machine_id}", admin, json={"roles": ["viewer"], "force": True}
    )
    assert reply.status_code == 200, reply.get_json()
