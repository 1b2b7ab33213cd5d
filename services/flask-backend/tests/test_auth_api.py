"""Login, refresh rotation, logout, /auth/me, password change and input validation."""

from __future__ import annotations

from datetime import timedelta

from conftest import ADMIN_EMAIL, ADMIN_PASSWORD
from rookery_backend.utils import utcnow

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"


def login_body(api, **body):
    return api.call("POST", LOGIN, json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, **body})


def test_login_returns_tokens_and_user(api) -> None:
    reply = login_body(api)
    assert reply.status_code == 200
    data = reply.get_json()["data"]
    assert data["token_type"] == "Bearer" and data["expires_in"] == 900
    assert data["refresh_token"].startswith("rt_")
    user = data["user"]
    assert user["email"] == ADMIN_EMAIL and user["roles"] == ["admin"]
    assert "users:admin" in user["scopes"] and user["login_count"] == 1
    assert user["created_at"].endswith("Z") and user["last_login_at"].endswith("Z")
    assert set(user) == {
        "id",
        "email",
        "active",
        "roles",
        "scopes",
        "tf_enabled",
        "created_at",
        "last_login_at",
        "login_count",
        "service_account",
    }
    assert reply.headers["X-Request-ID"]


def test_login_is_case_insensitive_on_email(api) -> None:
    reply = api.call("POST", LOGIN, json={"email": ADMIN_EMAIL.upper(), "password": ADMIN_PASSWORD})
    assert reply.status_code == 200


def test_wrong_password_and_unknown_user_look_the_same(api) -> None:
    wrong = api.call("POST", LOGIN, json={"email": ADMIN_EMAIL, "password": "nope"})
    unknown = api.call("POST", LOGIN, json={"email": "ghost@example.com", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json()
    assert wrong.get_json()["error"]["code"] == "invalid_credentials"
    events = api.call("GET", "/api/v1/audit?event=login_failed", api.admin_token())
    assert events.get_json()["meta"]["total"] == 2


def test_inactive_account_is_refused(api) -> None:
    admin = api.admin_token()
    user = api.create_user(admin, "sleepy@example.com", ["viewer"])
    api.call("PATCH", f"/api/v1/users/{user['id']}", admin, json={"active": False})
    reply = api.call("POST", LOGIN, json={"email": "sleepy@example.com", "password": "password1"})
    assert reply.status_code == 403
    assert reply.get_json()["error"]["code"] == "account_inactive"


def past_the_reuse_grace(app) -> None:
    """Moves the refresh store's clock beyond the window in which concurrent tabs share a
    successor, so a spent token counts as stolen."""
    store = app.extensions["rookery"].refresh_tokens
    store.clock = lambda: utcnow() + store.grace + timedelta(seconds=1)


def test_refresh_rotates_and_reuse_revokes_the_family(app, api) -> None:
    first = login_body(api).get_json()["data"]["refresh_token"]
    rotated = api.call("POST", REFRESH, json={"refresh_token": first})
    assert rotated.status_code == 200
    second = rotated.get_json()["data"]["refresh_token"]
    assert second != first and rotated.get_json()["data"]["access_token"]
    # The spent token comes back after the grace window: someone copied it. The whole
    # family dies.
    past_the_reuse_grace(app)
    reuse = api.call("POST", REFRESH, json={"refresh_token": first})
    assert reuse.status_code == 401
    assert reuse.get_json()["error"]["code"] == "invalid_refresh"
    after = api.call("POST", REFRESH, json={"refresh_token": second})
    assert after.status_code == 401
    events = api.call("GET", "/api/v1/audit?event=refresh_reuse_detected", api.admin_token())
    assert events.get_json()["meta"]["total"] == 1


def test_unknown_refresh_token(api) -> None:
    for body in ({"refresh_token": "rt_unknown"}, {}):
        reply = api.call("POST", REFRESH, json=body)
        assert reply.status_code == 401
        assert reply.get_json()["error"]["code"] == "invalid_refresh"


def test_refresh_cookie_mode(api, client) -> None:
    reply = login_body(api, refresh_cookie=True)
    assert reply.status_code == 200
    assert reply.get_json()["data"]["refresh_token"] is None
    cookie = reply.headers["Set-Cookie"]
    assert cookie.startswith("rookery_refresh=rt_")
    for attribute in ("HttpOnly", "SameSite=Strict", "Path=/api/v1/auth", "Max-Age=1209600"):
        assert attribute in cookie
    assert "Secure" not in cookie  # plain HTTP here
    rotated = api.call("POST", REFRESH, json={})
    assert rotated.status_code == 200
    assert rotated.get_json()["data"]["refresh_token"] is None
    assert rotated.headers["Set-Cookie"].startswith("rookery_refresh=rt_")
    token = rotated.get_json()["data"]["access_token"]
    logout = api.call("POST", "/api/v1/auth/logout", token)
    assert logout.status_code == 200
    assert "rookery_refresh=;" in logout.headers["Set-Cookie"]


def test_sign_in_without_remember_me_ends_the_remembered_session(api, client) -> None:
    remembered = login_body(api, refresh_cookie=True)
    old_cookie = remembered.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    plain = login_body(api)  # same browser (the test client keeps the cookie)
    assert plain.status_code == 200 and plain.get_json()["data"]["refresh_token"]
    assert "rookery_refresh=;" in plain.headers["Set-Cookie"]  # the cookie is dropped
    reused = api.call("POST", REFRESH, json={"refresh_token": old_cookie})
    assert reused.status_code == 401  # and its session ended


def test_logout_revokes_refresh_tokens(api) -> None:
    data = login_body(api).get_json()["data"]
    assert api.call("POST", "/api/v1/auth/logout", data["access_token"]).status_code == 200
    reply = api.call("POST", REFRESH, json={"refresh_token": data["refresh_token"]})
    assert reply.status_code == 401


def test_me_and_patch_me(api) -> None:
    admin = api.admin_token()
    token = api.user_token(admin, "me@example.com", ["viewer"])
    me = api.call("GET", "/api/v1/auth/me", token).get_json()["data"]
    assert me["email"] == "me@example.com" and me["roles"] == ["viewer"]
    change = {"email": "Me2@Example.com", "current_password": "password1"}
    changed = api.call("PATCH", "/api/v1/auth/me", token, json=change)
    assert changed.status_code == 200
    assert changed.get_json()["data"]["email"] == "me2@example.com"
    taken = api.call(
        "PATCH",
        "/api/v1/auth/me",
        token,
        json={"email": ADMIN_EMAIL, "current_password": "password1"},
    )
    assert taken.status_code == 409 and taken.get_json()["error"]["code"] == "conflict"


def test_no_self_escalation_through_patch_me(api) -> None:
    admin = api.admin_token()
    token = api.user_token(admin, "climber@example.com", ["viewer"])
    for body in ({"roles": ["admin"]}, {"active": True}, {"scopes": ["users:admin"]}):
        reply = api.call("PATCH", "/api/v1/auth/me", token, json=body)
        assert reply.status_code == 403, body
    me = api.call("GET", "/api/v1/auth/me", token).get_json()["data"]
    assert me["roles"] == ["viewer"] and "users:admin" not in me["scopes"]
    # Nor through the users API, which needs a scope a viewer lacks.
    reply = api.call("PATCH", f"/api/v1/users/{me['id']}", token, json={"roles": ["admin"]})
    assert reply.status_code == 403


def test_password_change_invalidates_old_tokens(api) -> None:
    admin = api.admin_token()
    api.create_user(admin, "pw@example.com", ["viewer"])
    elsewhere = api.call(
        "POST", LOGIN, json={"email": "pw@example.com", "password": "password1"}
    ).get_json()["data"]
    here = api.call(
        "POST", LOGIN, json={"email": "pw@example.com", "password": "password1"}
    ).get_json()["data"]
    old = here["access_token"]
    wrong = api.call(
        "POST",
        "/api/v1/auth/password",
        old,
        json={"current_password": "bad", "new_password": "newpassword1"},
    )
    assert wrong.status_code == 400
    assert wrong.get_json()["error"]["details"]["fields"] == {"current_password": "wrong password"}
    reply = api.call(
        "POST",
        "/api/v1/auth/password",
        old,
        json={"current_password": "password1", "new_password": "newpassword1"},
    )
    assert reply.status_code == 200
    fresh = reply.get_json()["data"]["access_token"]
    assert api.call("GET", "/api/v1/auth/me", old).status_code == 401
    assert api.call("GET", "/api/v1/auth/me", fresh).status_code == 200
    api.login("pw@example.com", "newpassword1")
    # This session may still refresh (a client that ignores the returned tokens recovers);
    # the other session is over.
    again = api.call("POST", REFRESH, json={"refresh_token": here["refresh_token"]})
    assert again.status_code == 200
    other = api.call("POST", REFRESH, json={"refresh_token": elsewhere["refresh_token"]})
    assert other.status_code == 401


def test_validation_errors_name_the_field(api) -> None:
    wrong_type = api.call("POST", LOGIN, json={"email": 5, "password": "x"})
    assert wrong_type.status_code == 422
    error = wrong_type.get_json()["error"]
    assert error["code"] == "validation_error" and "email" in error["details"]["fields"]
    missing = api.call("POST", LOGIN, json={"email": "a@b.c"})
    assert "password" in missing.get_json()["error"]["details"]["fields"]
    not_json = api.call("POST", LOGIN, data=b"{nope", content_type="application/json")
    assert not_json.status_code == 400
    assert not_json.get_json()["error"]["code"] == "invalid_json"
    array = api.call("POST", LOGIN, json=[1, 2])
    assert array.status_code == 422
    extra = api.call(
        "POST",
        LOGIN,
        json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "favourite_colour": "gold"},
    )
    assert extra.status_code == 200  # unknown fields are ignored


def test_oversized_body_is_413_json(api) -> None:
    reply = api.call("POST", LOGIN, data=b"x" * 200_000, content_type="application/json")
    assert reply.status_code == 413
    assert reply.get_json()["error"]["code"] == "payload_too_large"


def test_unknown_route_and_method_are_json(api) -> None:
    missing = api.call("GET", "/api/v1/nothing-here")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    wrong = api.call("PUT", "/api/v1/auth/login")
    assert wrong.status_code == 405
    assert wrong.get_json()["error"]["code"] == "method_not_allowed"


def test_request_id_is_echoed(api) -> None:
    reply = api.call("GET", "/healthz", headers={"X-Request-ID": "abc-123"})
    assert reply.headers["X-Request-ID"] == "abc-123"


def test_logout_ends_the_sessions_access_token(api) -> None:
    data = login_body(api).get_json()["data"]
    token = data["access_token"]
    assert api.call("GET", "/api/v1/auth/me", token).status_code == 200
    assert api.call("POST", "/api/v1/auth/logout", token).status_code == 200
    after = api.call("GET", "/api/v1/auth/me", token)
    assert after.status_code == 401
    assert after.get_json()["error"]["details"]["reason"] == "revoked"
    # Another session of the same account is untouched.
    other = api.admin_token()
    assert api.call("GET", "/api/v1/auth/me", other).status_code == 200


def test_refresh_reuse_kills_the_access_tokens_of_the_family(app, api) -> None:
    data = login_body(api).get_json()["data"]
    rotated = api.call("POST", REFRESH, json={"refresh_token": data["refresh_token"]})
    new_access = rotated.get_json()["data"]["access_token"]
    assert api.call("GET", "/api/v1/auth/me", new_access).status_code == 200
    past_the_reuse_grace(app)
    api.call("POST", REFRESH, json={"refresh_token": data["refresh_token"]})  # reuse
    assert api.call("GET", "/api/v1/auth/me", new_access).status_code == 401


def test_user_fields_come_in_contract_order(api) -> None:
    reply = api.call("GET", "/api/v1/auth/me", api.admin_token())
    text = reply.get_data(as_text=True)
    assert text.index('"id"') < text.index('"email"') < text.index('"login_count"')
