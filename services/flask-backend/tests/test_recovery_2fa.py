"""Password recovery through a real SMTP server on loopback, and TOTP two-factor."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlparse

from passlib.totp import TOTP


def test_forgot_mails_a_working_link(mail_app, smtp) -> None:
    from conftest import Api

    _, inbox = smtp
    api = Api(mail_app.test_client())
    admin = api.admin_token()
    api.create_user(admin, "lost@example.com", ["viewer"])
    known = api.call("POST", "/api/v1/auth/forgot", json={"email": "LOST@example.com"})
    unknown = api.call("POST", "/api/v1/auth/forgot", json={"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.get_json() == unknown.get_json()
    assert known.get_json()["data"]["mail_delivery"] == "smtp"

    # A sentinel request for another known address, sent after the unknown one: once its
    # mail is in, a mail for the unknown address would be too (no waiting on a clock).
    api.create_user(admin, "sentinel@example.com", ["viewer"])
    sentinel = api.call("POST", "/api/v1/auth/forgot", json={"email": "sentinel@example.com"})
    assert sentinel.status_code == 202
    received = inbox.wait_for(2)
    assert sorted(m["To"] for m in received) == ["lost@example.com", "sentinel@example.com"]
    message = next(m for m in received if m["To"] == "lost@example.com")
    text = message.get_payload(decode=True).decode()
    link = re.search(r"http://ui\.example/reset-password\?token=\S+", text).group(0)
    token = parse_qs(urlparse(link).query)["token"][0]

    weak = api.call("POST", "/api/v1/auth/reset", json={"token": token, "password": "short"})
    assert weak.status_code == 422
    reset = api.call(
        "POST", "/api/v1/auth/reset", json={"token": token, "password": "brand-new-pass"}
    )
    assert reset.status_code == 200
    api.login("lost@example.com", "brand-new-pass")
    # The token is single use (the reset rotated the account's uniquifier).
    again = api.call(
        "POST", "/api/v1/auth/reset", json={"token": token, "password": "another-pass1"}
    )
    assert again.status_code == 400 and again.get_json()["error"]["code"] == "invalid_token"
    bogus = api.call(
        "POST", "/api/v1/auth/reset", json={"token": "garbage", "password": "another-pass1"}
    )
    assert bogus.status_code == 400


def test_forgot_without_mail_server_logs_the_link(api, caplog) -> None:
    admin = api.admin_token()
    api.create_user(admin, "nomail@example.com", ["viewer"])
    with caplog.at_level("WARNING", logger="rookery.mail"):
        reply = api.call("POST", "/api/v1/auth/forgot", json={"email": "nomail@example.com"})
    assert reply.status_code == 202
    assert reply.get_json()["data"]["mail_delivery"] == "logged"
    assert any("reset-password?token=" in str(getattr(r, "body", "")) for r in caplog.records)


def current_code(secret: str, step: int = 0) -> str:
    return TOTP(key=secret, format="base32").generate(time.time() + 30 * step).token


def test_totp_enrolment_login_recovery_and_disable(api) -> None:
    admin = api.admin_token()
    token = api.user_token(admin, "2fa@example.com", ["viewer"])
    # Enrolment asks for the password: a stolen access token alone cannot add a factor.
    unproven = api.call("POST", "/api/v1/auth/2fa/setup", token, json={"password": "nope"})
    assert unproven.status_code == 400
    setup = api.call("POST", "/api/v1/auth/2fa/setup", token, json={"password": "password1"})
    assert setup.status_code == 200
    secret = setup.get_json()["data"]["secret"]
    assert setup.get_json()["data"]["otpauth_uri"].startswith("otpauth://totp/")
    wrong = api.call("POST", "/api/v1/auth/2fa/confirm", token, json={"code": "000000"})
    assert wrong.status_code == 400
    confirm_code = current_code(secret)
    confirm = api.call("POST", "/api/v1/auth/2fa/confirm", token, json={"code": confirm_code})
    assert confirm.status_code == 200
    codes = confirm.get_json()["data"]["recovery_codes"]
    assert len(codes) == 10
    assert api.call("GET", "/api/v1/auth/me", token).get_json()["data"]["tf_enabled"] is True

    body = {"email": "2fa@example.com", "password": "password1"}
    needs = api.call("POST", "/api/v1/auth/login", json=body)
    assert needs.status_code == 401 and needs.get_json()["error"]["code"] == "totp_required"
    bad = api.call("POST", "/api/v1/auth/login", json={**body, "totp": "123456"})
    assert bad.status_code == 401 and bad.get_json()["error"]["code"] == "invalid_totp"
    # The code used to confirm enrolment is spent (replay protection); the next one works once.
    # It says so, rather than calling a right code wrong.
    replay = api.call("POST", "/api/v1/auth/login", json={**body, "totp": confirm_code})
    assert replay.status_code == 401 and replay.get_json()["error"]["code"] == "totp_reused"
    good = api.call("POST", "/api/v1/auth/login", json={**body, "totp": current_code(secret, 1)})
    assert good.status_code == 200
    again = api.call("POST", "/api/v1/auth/login", json={**body, "totp": current_code(secret, 1)})
    assert again.status_code == 401
    recovery = api.call("POST", "/api/v1/auth/login", json={**body, "totp": codes[0]})
    assert recovery.status_code == 200
    reused = api.call("POST", "/api/v1/auth/login", json={**body, "totp": codes[0]})
    assert reused.status_code == 401

    fresh = good.get_json()["data"]["access_token"]
    refused = api.call("POST", "/api/v1/auth/2fa/disable", fresh, json={"password": "x"})
    assert refused.status_code == 400
    # Turning the factor off takes the password and the factor (here a recovery code).
    half = api.call("POST", "/api/v1/auth/2fa/disable", fresh, json={"password": "password1"})
    assert half.status_code == 401 and half.get_json()["error"]["code"] == "totp_required"
    off = api.call(
        "POST", "/api/v1/auth/2fa/disable", fresh, json={"password": "password1", "totp": codes[1]}
    )
    assert off.status_code == 200
    assert api.call("POST", "/api/v1/auth/login", json=body).status_code == 200
