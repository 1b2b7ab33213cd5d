"""Account takeover paths found by an attacker's review, one regression test each: every
test here fails on the code before the fix."""

from __future__ import annotations

import threading

import jwt
import pytest
from conftest import ADMIN_EMAIL, ADMIN_PASSWORD, Api
from rookery_backend.accounts import SERVICE_ACCOUNT
from rookery_backend.config import ConfigError, load_settings
from rookery_backend.keys import production_secret_problem
from rookery_backend.security import new_api_key, uniquifier_version
from rookery_backend.utils import sha256_hex, utcnow

ME = "/api/v1/auth/me"
REFRESH = "/api/v1/auth/refresh"


def make_key(api: Api, token: str, scopes: list[str], name: str = "k") -> dict:
    reply = api.call("POST", "/api/v1/apikeys", token, json={"name": name, "scopes": scopes})
    assert reply.status_code == 201, reply.get_json()
    return reply.get_json()["data"]


def error_code(reply) -> str:
    return reply.get_json()["error"]["code"]


def events(api: Api, admin: str, event: str) -> list[dict]:
    return api.call("GET", f"/api/v1/audit?event={event}", admin).get_json()["data"]


# -- an API key does not manage its owner's account -----------------------------------------
def test_a_read_only_key_cannot_change_its_owners_email_or_second_factor(api) -> None:
    admin = api.admin_token()
    key = make_key(api, admin, ["stats:read"])["key"]
    hostile = {"email": "attacker@example.com", "current_password": ADMIN_PASSWORD}
    reply = api.call("PATCH", ME, key, json=hostile)
    assert reply.status_code == 403 and error_code(reply) == "session_required"
    for path, body in (
        ("/api/v1/auth/2fa/setup", {"password": ADMIN_PASSWORD}),
        ("/api/v1/auth/2fa/confirm", {"code": "123456"}),
        ("/api/v1/auth/2fa/disable", {"password": ADMIN_PASSWORD}),
        ("/api/v1/auth/password", {"current_password": "x", "new_password": "password9"}),
    ):
        reply = api.call("POST", path, key, json=body)
        assert reply.status_code == 403 and error_code(reply) == "session_required", path
    assert api.call("GET", ME, admin).get_json()["data"]["email"] == ADMIN_EMAIL


def test_an_api_key_cannot_mint_or_rotate_keys(api) -> None:
    admin = api.admin_token()
    parent = make_key(api, admin, ["apikeys:read", "apikeys:write"])
    minted = api.call(
        "POST", "/api/v1/apikeys", parent["key"], json={"name": "child", "scopes": ["stats:read"]}
    )
    assert minted.status_code == 403 and error_code(minted) == "session_required"
    rotated = api.call("POST", f"/api/v1/apikeys/{parent['id']}/rotate", parent["key"])
    assert rotated.status_code == 403


def test_changing_the_email_needs_the_current_password_and_tells_the_old_address(
    mail_app, smtp
) -> None:
    _, inbox = smtp
    api = Api(mail_app.test_client())
    admin = api.admin_token()
    token = api.user_token(admin, "owner@example.com", ["viewer"])
    missing = api.call("PATCH", ME, token, json={"email": "new@example.com"})
    assert missing.status_code == 422 and error_code(missing) == "reauthentication_required"
    wrong = api.call(
        "PATCH", ME, token, json={"email": "new@example.com", "current_password": "nope"}
    )
    assert wrong.status_code == 400 and error_code(wrong) == "invalid_password"
    assert api.call("GET", ME, token).get_json()["data"]["email"] == "owner@example.com"
    ok = api.call(
        "PATCH", ME, token, json={"email": "new@example.com", "current_password": "password1"}
    )
    assert ok.status_code == 200 and ok.get_json()["data"]["email"] == "new@example.com"
    notice = inbox.wait_for(1)[-1]
    assert notice["To"] == "owner@example.com"
    assert "new@example.com" in notice.get_payload(decode=True).decode()
    assert events(api, admin, "email_changed")[0]["details"]["from"] == "owner@example.com"


# -- nobody acts on an account holding scopes they lack -------------------------------------
def test_a_helpdesk_role_cannot_take_over_the_admin(api) -> None:
    admin = api.admin_token()
    created = api.call(
        "POST",
        "/api/v1/roles",
        admin,
        json={"name": "helpdesk", "scopes": ["users:read", "users:write"]},
    )
    assert created.status_code == 201, created.get_json()
    helpdesk = api.user_token(admin, "helpdesk@example.com", ["helpdesk"])
    admin_id = api.call("GET", ME, admin).get_json()["data"]["id"]
    for body in (
        {"password": "takeover123"},
        {"email": "helpdesk-owned@example.com"},
        {"active": False},
    ):
        reply = api.call("PATCH", f"/api/v1/users/{admin_id}", helpdesk, json=body)
        assert reply.status_code == 403 and error_code(reply) == "scope_escalation", body
    api.login(ADMIN_EMAIL, ADMIN_PASSWORD)  # the admin's password still works
    # The helpdesk still manages accounts within its reach.
    viewer = api.create_user(admin, "plain@example.com", [])
    reply = api.call("PATCH", f"/api/v1/users/{viewer['id']}", helpdesk, json={"active": False})
    assert reply.status_code == 200


def test_an_admin_setting_a_password_is_its_own_audited_action(api) -> None:
    admin = api.admin_token()
    user = api.create_user(admin, "forgetful@example.com", ["viewer"])
    reply = api.call(
        "PATCH", f"/api/v1/users/{user['id']}", admin, json={"password": "chosen-by-admin"}
    )
    assert reply.status_code == 200
    [line] = events(api, admin, "password_reset_by_admin")
    assert line["target"] == f"user:{user['id']}" and line["actor_email"] == ADMIN_EMAIL
    # An admin's API key is a machine credential: it does not choose people's passwords.
    key = make_key(api, admin, ["users:read", "users:write", "users:admin"])["key"]
    by_key = api.call("PATCH", f"/api/v1/users/{user['id']}", key, json={"password": "x" * 12})
    assert by_key.status_code == 403 and error_code(by_key) == "session_required"
    # Nor does anyone set their own password or address here, skipping the password check.
    me = api.call("GET", ME, admin).get_json()["data"]
    own = api.call("PATCH", f"/api/v1/users/{me['id']}", admin, json={"password": "x" * 12})
    assert own.status_code == 403


def test_rotating_is_for_the_owner_others_may_only_revoke(api) -> None:
    admin = api.admin_token()
    maintainer = api.user_token(admin, "m@example.com", ["maintainer"])
    theirs = make_key(api, maintainer, ["rules:read"])
    rotate = api.call("POST", f"/api/v1/apikeys/{theirs['id']}/rotate", admin)
    assert rotate.status_code == 404 and "key" not in (rotate.get_json().get("data") or {})
    revoke = api.call("DELETE", f"/api/v1/apikeys/{theirs['id']}", admin)
    assert revoke.status_code == 200 and revoke.get_json()["data"]["revoked"] is True
    assert api.call("GET", ME, theirs["key"]).status_code == 401


def test_a_reset_revokes_the_accounts_api_keys_and_says_so(mail_app, smtp) -> None:
    import re

    _, inbox = smtp
    api = Api(mail_app.test_client())
    admin = api.admin_token()
    token = api.user_token(admin, "reset@example.com", ["maintainer"])
    key = make_key(api, token, ["rules:read"])["key"]
    api.call("POST", "/api/v1/auth/forgot", json={"email": "reset@example.com"})
    text = inbox.wait_for(1)[-1].get_payload(decode=True).decode()
    reset_token = re.search(r"Reset token: (\S+)", text).group(1)
    reply = api.call(
        "POST", "/api/v1/auth/reset", json={"token": reset_token, "password": "brand-new-pass"}
    )
    assert reply.status_code == 200, reply.get_json()
    data = reply.get_json()["data"]
    assert data["api_keys_revoked"] == 1 and "API key" in data["message"]
    assert api.call("GET", ME, key).status_code == 401
    assert api.call("GET", ME, token).status_code == 401


# -- sessions -------------------------------------------------------------------------------
def test_sessions_list_and_sign_out_others(api) -> None:
    admin = api.admin_token()
    api.create_user(admin, "tabs@example.com", ["viewer"])
    laptop = api.call(
        "POST",
        "/api/v1/auth/login",
        json={"email": "tabs@example.com", "password": "password1"},
        headers={"User-Agent": "Laptop/1.0"},
        environ_base={"REMOTE_ADDR": "192.0.2.1"},
    ).get_json()["data"]
    phone = api.call(
        "POST",
        "/api/v1/auth/login",
        json={"email": "tabs@example.com", "password": "password1"},
        headers={"User-Agent": "Phone/2.0"},
        environ_base={"REMOTE_ADDR": "192.0.2.2"},
    ).get_json()["data"]
    listed = api.call("GET", "/api/v1/auth/sessions", laptop["access_token"])
    assert listed.status_code == 200
    sessions = listed.get_json()["data"]
    assert len(sessions) == 2
    current = [s for s in sessions if s["current"]]
    assert len(current) == 1 and current[0]["user_agent"] == "Laptop/1.0"
    assert {s["ip"] for s in sessions} == {"192.0.2.1", "192.0.2.2"}
    # Another user's session id is not found, whoever asks.
    other = api.call("DELETE", f"/api/v1/auth/sessions/{current[0]['id']}", admin)
    assert other.status_code == 404
    ended = api.call("DELETE", "/api/v1/auth/sessions", laptop["access_token"])
    assert ended.status_code == 200 and ended.get_json()["data"]["ended"] == 1
    assert api.call("GET", ME, phone["access_token"]).status_code == 401
    assert (
        api.call("POST", REFRESH, json={"refresh_token": phone["refresh_token"]}).status_code == 401
    )
    assert api.call("GET", ME, laptop["access_token"]).status_code == 200
    mine = api.call("DELETE", f"/api/v1/auth/sessions/{current[0]['id']}", laptop["access_token"])
    assert mine.status_code == 200
    assert api.call("GET", ME, laptop["access_token"]).status_code == 401


def test_two_tabs_refreshing_at_once_stay_signed_in(app, api) -> None:
    tokens = api.call(
        "POST", "/api/v1/auth/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    ).get_json()["data"]
    spent = tokens["refresh_token"]
    answers: list = [None, None]
    barrier = threading.Barrier(2)

    def tab(index: int) -> None:
        client = app.test_client()
        barrier.wait()
        answers[index] = client.post(REFRESH, json={"refresh_token": spent})

    threads = [threading.Thread(target=tab, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [200, 200], [a.get_json() for a in answers]
    successors = {a.get_json()["data"]["refresh_token"] for a in answers}
    assert len(successors) == 1  # both tabs hold the same successor
    # The session lives on and nothing was logged as theft.
    again = api.call("POST", REFRESH, json={"refresh_token": successors.pop()})
    assert again.status_code == 200
    admin = again.get_json()["data"]["access_token"]
    assert events(api, admin, "refresh_reuse_detected") == []


# -- the built-in service account -----------------------------------------------------------
@pytest.fixture
def service_account(app) -> dict:
    svc = app.extensions["rookery"]
    with app.app_context():
        user = svc.datastore.create_user(
            email=SERVICE_ACCOUNT, password=None, roles=["maintainer"], active=True
        )
        key, prefix = new_api_key()
        key_id = svc.dal.api_key.insert(
            user_id=user.id,
            name="flask-backend on test",
            prefix=prefix,
            key_hash=sha256_hex(key),
            scopes=["rules:read"],
            created_at=utcnow(),
        )
        svc.dal.commit()
    return {"id": user.id, "key_id": key_id, "key": key}


def test_the_service_account_is_protected_unless_forced(api, service_account) -> None:
    admin = api.admin_token()
    user_id, key_id = service_account["id"], service_account["key_id"]
    listed = api.call("GET", f"/api/v1/users/{user_id}", admin).get_json()["data"]
    assert listed["service_account"] is True
    for method, path, body in (
        ("PATCH", f"/api/v1/users/{user_id}", {"active": False}),
        ("PATCH", f"/api/v1/users/{user_id}", {"roles": ["viewer"]}),
        ("DELETE", f"/api/v1/users/{user_id}", None),
        ("DELETE", f"/api/v1/apikeys/{key_id}", None),
    ):
        reply = api.call(method, path, admin, json=body)
        assert reply.status_code == 409 and error_code(reply) == "protected_account", path
        assert "force=true" in reply.get_json()["error"]["message"]
    assert api.call("GET", ME, service_account["key"]).status_code == 200
    forced = api.call(
        "PATCH", f"/api/v1/users/{user_id}", admin, json={"active": False, "force": True}
    )
    assert forced.status_code == 200
    line = events(api, admin, "user_deactivated")[0]
    assert line["details"]["forced"] is True
    revoked = api.call("DELETE", f"/api/v1/apikeys/{key_id}?force=true", admin)
    assert revoked.status_code == 200


# -- keys and tokens ------------------------------------------------------------------------
def test_the_version_claim_is_compared_exactly(app, api) -> None:
    svc = app.extensions["rookery"]
    with app.app_context():
        admin = svc.datastore.find_user(email=ADMIN_EMAIL)
        uniquifier = admin.fs_uniquifier
        svc.dal.commit()
    codec = svc.codec
    token, _ = codec.issue(admin.id, set(admin.scopes), ["admin"], uniquifier, None)
    assert api.call("GET", ME, token).status_code == 200
    claims = jwt.decode(token, codec.verify_key, algorithms=["HS256"], audience=codec.audience)
    for forged in (uniquifier_version(uniquifier)[:4], uniquifier[:12], ""):
        claims["ver"] = forged
        bad = jwt.encode(claims, codec.signing_key, algorithm="HS256")
        reply = api.call("GET", ME, bad)
        assert reply.status_code == 401, forged


def test_tokens_are_not_signed_with_the_raw_secret(app, api) -> None:
    settings = app.extensions["rookery"].settings
    token = api.admin_token()
    claims = jwt.decode(
        token,
        app.extensions["rookery"].codec.verify_key,
        algorithms=["HS256"],
        audience=settings.jwt_audience,
    )
    with_raw_secret = jwt.encode(claims, settings.secret_key, algorithm="HS256")
    assert api.call("GET", ME, with_raw_secret).status_code == 401
    assert app.config["SECRET_KEY"] != settings.secret_key  # reset tokens use a derived key


@pytest.mark.parametrize(
    "secret",
    [
        "REPLACE-with-64-random-characters",
        "dev-only-secret-key-change-me",
        "a" * 64,
        "abababababababababababababababababababab",
    ],
)
def test_production_refuses_placeholder_and_weak_secrets(tmp_path, secret: str) -> None:
    assert production_secret_problem(secret)
    env = {
        "RELEASE_MODE": "production",
        "DATA_DIR": str(tmp_path),
        "SECRET_KEY": secret,
        "SECURITY_PASSWORD_SALT": "salt-of-the-earth",
    }
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_settings(env)


def test_a_generated_secret_is_accepted() -> None:
    import secrets

    assert production_secret_problem(secrets.token_urlsafe(48)) is None


def test_the_refresh_cookie_is_secure_when_the_original_scheme_is_https(app_factory) -> None:
    # Behind the web UI (one trusted hop) the browser spoke https to the proxy.
    api = Api(app_factory(trusted_proxies=1).test_client())
    reply = api.call(
        "POST",
        "/api/v1/auth/login",
        json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "refresh_cookie": True},
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.7"},
    )
    assert reply.status_code == 200
    assert "Secure" in reply.headers["Set-Cookie"]
