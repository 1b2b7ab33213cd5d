"""Licences: the document (every invalid form, and attacks on it), the states a licence
goes through as the injected clock moves (valid → grace → expired, a clock set back), the
warnings logged once per change, and production's refusal to start (in process and
through the real server entry, exit status 2 and one line)."""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import SERVICE_DIR, base_env, settings_for
from cryptography.hazmat.primitives import serialization
from license_issuer import DAY, DROP, PRODUCTION_ADMIN_PASSWORD, Issuer, production
from rookery_backend import create_app
from rookery_backend.config import load_settings
from rookery_backend.licensing import (
    EXTENSION,
    LicenseInvalid,
    LicenseRefused,
    decode,
    load_public_key,
)
from rookery_backend.licensing.document import BUILTIN_PUBLIC_KEY, MAX_TEXT

NOW = 1_900_000_000  # a fixed "now" for the document tests


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


def key(issuer: Issuer) -> Any:
    return issuer.key.public_key()


def reason(text: object, issuer: Issuer) -> str:
    with pytest.raises(LicenseInvalid) as caught:
        decode(text, key(issuer))
    assert caught.value.message and "\n" not in caught.value.message
    return caught.value.reason


def _parts(text: str) -> tuple[str, bytes, bytes]:
    prefix, claims, signature = text.split(".")
    pad = lambda part: base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))  # noqa: E731
    return prefix, pad(claims), pad(signature)


def _join(prefix: str, claims: bytes, signature: bytes) -> str:
    enc = lambda data: base64.urlsafe_b64encode(data).rstrip(b"=").decode()  # noqa: E731
    return f"{prefix}.{enc(claims)}.{enc(signature)}"


# -- the document ---------------------------------------------------------------------------
def test_a_licence_round_trips_and_grants_its_tier_plus_its_list(issuer: Issuer) -> None:
    text = issuer.issue(tier="community", features=["audit_export", "from_the_future"], seats=7)
    lic = decode(f"  {text}\n", key(issuer))  # a file's newline and spaces around are fine
    assert lic.claims.tier == "community" and lic.claims.seats == 7
    # the listed feature adds to the tier; one this release does not know is ignored
    assert lic.claims.granted == {"audit_export"}
    assert decode(issuer.issue(tier="professional"), key(issuer)).claims.granted == {
        "sso_oidc",
        "audit_export",
    }
    enterprise = decode(issuer.issue(tier="enterprise"), key(issuer)).claims.granted
    assert enterprise == {"sso_oidc", "audit_export", "multi_tenancy"}


def test_the_built_in_key_is_a_real_ed25519_public_key() -> None:
    # The product ships its verifying key; its private half is nowhere in the repository.
    load_public_key("")
    assert "PRIVATE" not in BUILTIN_PUBLIC_KEY
    repo = SERVICE_DIR.parents[1]
    tracked = subprocess.run(
        ["git", "grep", "-l", "BEGIN PRIVATE KEY"], cwd=repo, capture_output=True, text=True
    ).stdout.split()
    assert not [name for name in tracked if "license" in name.lower()], tracked


@pytest.mark.parametrize(
    "text,expected",
    [
        ("", "malformed"),
        ("   \n", "malformed"),
        ("hello", "malformed"),
        ("rookery1.abc", "malformed"),
        ("rookery1.abc.def.ghi", "malformed"),
        ("rookery2.abcd.abcd", "malformed"),
        ("rookery1.ab$d.abcd", "malformed"),
        ("rookery1.a\x00cd.abcd", "malformed"),
        ("rookery1.abcd\x00.abcd", "malformed"),
        ("rookery1.abcde.abcd", "malformed"),  # a base64 length no encoder makes
        ("rookery1.abcd.abcd", "bad_signature"),  # a signature of 3 bytes
        ("rookery1." + "A" * MAX_TEXT + ".abcd", "malformed"),  # huge
        (12345, "malformed"),
        (None, "malformed"),
        (["rookery1.a.b"], "malformed"),
        ({"license": "x"}, "malformed"),
    ],
)
def test_invalid_forms_are_refused_with_their_reason(
    issuer: Issuer, text: object, expected: str
) -> None:
    assert reason(text, issuer) == expected


def test_every_flipped_bit_of_claims_or_signature_is_refused(issuer: Issuer) -> None:
    prefix, claims, signature = _parts(issuer.issue(now=NOW))
    for index in range(len(claims)):
        for bit in (0, 3, 7):
            flipped = bytearray(claims)
            flipped[index] ^= 1 << bit
            assert reason(_join(prefix, bytes(flipped), signature), issuer) == "bad_signature"
    for index in range(len(signature)):
        flipped = bytearray(signature)
        flipped[index] ^= 0x10
        assert reason(_join(prefix, claims, bytes(flipped)), issuer) == "bad_signature"


def test_a_licence_signed_by_another_key_is_refused(issuer: Issuer) -> None:
    assert reason(Issuer().issue(), issuer) == "bad_signature"
    # ... and the product's own key does not accept a test issuer's licence either
    with pytest.raises(LicenseInvalid) as caught:
        decode(issuer.issue(), load_public_key(""))
    assert caught.value.reason == "bad_signature"


@pytest.mark.parametrize(
    "changes,expected,needle",
    [
        ({"seats": "ten"}, "malformed", "'seats'"),
        ({"seats": True}, "malformed", "'seats'"),
        ({"seats": -1}, "malformed", "'seats'"),
        ({"seats": 2.5}, "malformed", "'seats'"),
        ({"exp": DROP}, "malformed", "'exp'"),
        ({"exp": "2030-01-01"}, "malformed", "'exp'"),
        ({"exp": 1.9e9}, "malformed", "'exp'"),
        ({"exp": 10**20}, "malformed", "'exp'"),
        ({"nbf": DROP}, "malformed", "'nbf'"),
        ({"iat": None}, "malformed", "'iat'"),
        ({"nbf": NOW + 10, "exp": NOW}, "malformed", "before it becomes valid"),
        ({"tier": "gold"}, "malformed", "'tier'"),
        ({"tier": ["enterprise"]}, "malformed", "'tier'"),
        ({"features": "sso_oidc"}, "malformed", "'features'"),
        ({"features": [1]}, "malformed", "'features'"),
        ({"features": ["SSO OIDC"]}, "malformed", "'features'"),
        ({"lid": ""}, "malformed", "'lid'"),
        ({"lid": 7}, "malformed", "'lid'"),
        ({"customer": "Evil\x00Corp"}, "malformed", "'customer'"),
        ({"customer": "x" * 201}, "malformed", "'customer'"),
        ({"product": "otherthing"}, "wrong_product", "otherthing"),
        ({"product": DROP}, "wrong_product", "no product"),
        ({"product": 1}, "wrong_product", "not for 'rookery'"),
    ],
)
def test_a_valid_signature_over_wrong_claims_is_refused(
    issuer: Issuer, changes: dict[str, Any], expected: str, needle: str
) -> None:
    with pytest.raises(LicenseInvalid) as caught:
        decode(issuer.issue(now=NOW, **changes), key(issuer))
    assert caught.value.reason == expected
    assert needle in caught.value.message


@pytest.mark.parametrize(
    "raw",
    [b"[1, 2]", b"not json", b"\xff\xfe", b'"text"', b"{" * 5000, b"null"],
)
def test_signed_bytes_that_are_no_claims_object_are_malformed(issuer: Issuer, raw: bytes) -> None:
    assert reason(issuer.sign_raw(raw), issuer) == "malformed"


def test_extra_claims_are_ignored(issuer: Issuer) -> None:
    lic = decode(issuer.issue(future_claim={"x": 1}), key(issuer))
    assert lic.claims.lid == "lic-test-1"


# -- states with the injected clock ------------------------------------------------------------
def make_production_app(tmp_path: Path, issuer: Issuer, text: str, **overrides: Any) -> Any:
    return create_app(production(settings_for("sqlite", tmp_path), issuer, text, **overrides))


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_valid_grace_expired_and_a_clock_set_back(tmp_path: Path, issuer: Issuer, caplog) -> None:
    import time

    start = time.time()
    text = issuer.issue(tier="professional", exp=int(start) + 10 * DAY)
    app = make_production_app(tmp_path, issuer, text, license_grace_days=14)
    manager = app.extensions[EXTENSION]
    clock = Clock(start)
    manager.clock = clock
    caplog.set_level(logging.INFO, logger="rookery.license")

    def state() -> tuple[str, bool]:
        with app.app_context():
            status = manager.status()
            return status.status, manager.feature_enabled("audit_export")

    assert state() == ("valid", True)
    for _ in range(50):
        state()  # many questions, one log line per change
    clock.now = start + 10 * DAY  # the moment it expires: grace begins
    assert state() == ("grace", True)
    clock.now = start + 23 * DAY
    assert state() == ("grace", True)
    with app.app_context():
        warning = manager.status().warnings[0]
    assert "expired on" in warning and "stop on" in warning
    clock.now = start + 24 * DAY  # 10 days of licence + 14 of grace
    for _ in range(50):
        assert state() == ("expired", False)
    # A clock set back does not bring the licence back (nor do the gated features return).
    clock.now = start
    assert state() == ("expired", False)
    changes = [r for r in caplog.records if r.name == "rookery.license"]
    assert [r.state for r in changes] == ["valid", "grace", "expired"]  # type: ignore[attr-defined]
    assert "10 days left" in changes[0].getMessage()  # close to its end: a warning already
    assert all(r.levelno == logging.WARNING for r in changes)


def test_grace_days_zero_switches_off_at_expiry(tmp_path: Path, issuer: Issuer) -> None:
    import time

    start = time.time()
    text = issuer.issue(exp=int(start) + DAY)
    app = make_production_app(tmp_path, issuer, text, license_grace_days=0)
    manager = app.extensions[EXTENSION]
    manager.clock = Clock(start + DAY)
    with app.app_context():
        assert manager.status().status == "expired"
        assert not manager.feature_enabled("sso_oidc")


def test_a_licence_close_to_its_end_warns(tmp_path: Path, issuer: Issuer) -> None:
    import time

    text = issuer.issue(exp=int(time.time()) + 5 * DAY - 60)
    app = make_production_app(tmp_path, issuer, text)
    with app.app_context():
        status = app.extensions[EXTENSION].status()
    assert status.status == "valid" and status.days_left == 5
    assert "5 days left" in status.warnings[0]


def test_development_ignores_the_licence(tmp_path: Path) -> None:
    settings = settings_for("sqlite", tmp_path).with_overrides(license_key="garbage")
    app = create_app(settings)
    with app.app_context():
        manager = app.extensions[EXTENSION]
        assert manager.status().status == "development"
        assert all(manager.feature_enabled(f) for f in ("sso_oidc", "audit_export"))
        assert not manager.feature_enabled("no_such_feature")


@pytest.mark.parametrize(
    "raw,mode", [("true", "production"), ("false", "development"), ("Production", "production")]
)
def test_release_mode_words(tmp_path: Path, raw: str, mode: str) -> None:
    env = {
        "DATA_DIR": str(tmp_path),
        "RELEASE_MODE": raw,
        "SECRET_KEY": "k" + os.urandom(24).hex(),
        "SECURITY_PASSWORD_SALT": "salt",
    }
    assert load_settings(env).release_mode == mode


# -- refusing to start --------------------------------------------------------------------------
def test_production_starts_with_a_licence_file(tmp_path: Path, issuer: Issuer) -> None:
    path = tmp_path / "rookery.license"
    path.write_text(issuer.issue(lid="from-file") + "\n")
    app = make_production_app(tmp_path, issuer, "", license_file=str(path))
    with app.app_context():
        status = app.extensions[EXTENSION].status()
    assert status.status == "valid" and status.license.claims.lid == "from-file"
    assert status.origin == f"LICENSE_FILE {path}"


def _refusals(issuer: Issuer, tmp_path: Path) -> dict[str, tuple[dict[str, str], str]]:
    """case → (settings, what the one line must say)"""
    import time

    now = int(time.time())
    other = Issuer()
    missing = str(tmp_path / "missing.license")
    return {
        "none": ({}, "no licence: RELEASE_MODE=production needs LICENSE_KEY or LICENSE_FILE"),
        "bad_signature": (
            {"license_key": other.issue()},
            "licence refused (LICENSE_KEY): the licence's signature does not verify",
        ),
        "expired": (
            {"license_key": issuer.issue(nbf=now - 30 * DAY, exp=now - DAY)},
            "licence refused (LICENSE_KEY): the licence expired on",
        ),
        "not_yet_valid": (
            {"license_key": issuer.issue(nbf=now + DAY)},
            "licence refused (LICENSE_KEY): the licence is not valid before",
        ),
        "malformed": (
            {"license_key": "rookery1.garbage"},
            "licence refused (LICENSE_KEY): the licence is not of the form",
        ),
        "wrong_product": (
            {"license_key": issuer.issue(product="otherthing")},
            "licence refused (LICENSE_KEY): the licence is for 'otherthing'",
        ),
        "wrong_types": (
            {"license_key": issuer.issue(seats="ten")},
            "licence refused (LICENSE_KEY): the licence's 'seats' claim must be an integer",
        ),
        "unreadable_file": ({"license_file": missing}, "LICENSE_FILE: cannot read"),
        "both": (
            {"license_key": issuer.issue(), "license_file": missing},
            "set LICENSE_KEY or LICENSE_FILE, not both",
        ),
        "bad_public_key": (
            {"license_key": issuer.issue(), "license_public_key": "-----BEGIN PUBLIC KEY-----x"},
            "LICENSE_PUBLIC_KEY is not a PEM public key",
        ),
    }


CASES = [
    "none",
    "bad_signature",
    "expired",
    "not_yet_valid",
    "malformed",
    "wrong_product",
    "wrong_types",
    "unreadable_file",
    "both",
    "bad_public_key",
]


@pytest.mark.parametrize("case", CASES)
def test_production_refuses_to_start_in_process(tmp_path: Path, issuer: Issuer, case: str) -> None:
    changes, line = _refusals(issuer, tmp_path)[case]
    settings = production(settings_for("sqlite", tmp_path), issuer)
    with pytest.raises(LicenseRefused) as caught:
        create_app(settings.with_overrides(**changes))
    assert line in str(caught.value) and "\n" not in str(caught.value)


def _pem_file(issuer: Issuer, tmp_path: Path) -> str:
    path = tmp_path / "license-public.pem"
    path.write_bytes(
        issuer.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return str(path)


def _serve(tmp_path: Path, env_changes: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {
        **base_env(tmp_path),
        "RELEASE_MODE": "production",
        "ADMIN_PASSWORD": PRODUCTION_ADMIN_PASSWORD,
        "PATH": "/usr/bin:/bin",
        "HTTP_PORT": "0",
        "GRPC_ENABLED": "false",
        **env_changes,
    }
    return subprocess.run(
        [sys.executable, "-m", "rookery_backend", "serve"],
        env=env,
        cwd=SERVICE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("case", ["none", "bad_signature", "expired", "wrong_product", "malformed"])
def test_the_server_refuses_to_start_with_one_line(
    tmp_path: Path, issuer: Issuer, case: str
) -> None:
    changes, line = _refusals(issuer, tmp_path)[case]
    env = {name.upper(): value for name, value in changes.items()}
    env["LICENSE_PUBLIC_KEY"] = _pem_file(issuer, tmp_path)  # a PEM file's path this time
    result = _serve(tmp_path, env)
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert line in last, result.stderr[-2000:]
    assert sum(line in text for text in result.stderr.splitlines()) == 1


def test_an_installed_licence_wins_over_a_bad_configured_one(
    tmp_path: Path, issuer: Issuer
) -> None:
    good = make_production_app(tmp_path, issuer, issuer.issue(lid="configured"))
    with good.app_context():
        manager = good.extensions[EXTENSION]
        manager.install(manager.validate(issuer.issue(lid="installed")), "admin@example.com")
        good.extensions["rookery"].database.end_request(ok=True)
    # The same database, now started with an expired LICENSE_KEY: the installed one counts.
    import time

    now = int(time.time())
    stale = issuer.issue(lid="stale", nbf=now - 30 * DAY, exp=now - DAY)
    app = make_production_app(tmp_path, issuer, stale)
    with app.app_context():
        status = app.extensions[EXTENSION].status()
    assert status.status == "valid" and status.license.claims.lid == "installed"
    assert status.origin == "database" and not status.warnings
    # ... and one signed by someone else: still the installed one, with a warning about it
    app = make_production_app(tmp_path, issuer, Issuer().issue(lid="forged"))
    with app.app_context():
        status = app.extensions[EXTENSION].status()
    assert status.status == "valid" and status.license.claims.lid == "installed"
    assert any("LICENSE_KEY is refused" in w for w in status.warnings), status.warnings


def test_claims_json_is_what_was_signed(issuer: Issuer) -> None:
    # Re-encoding the same claims differently (spaces) is a different document: refused.
    prefix, claims, signature = _parts(issuer.issue())
    spaced = json.dumps(json.loads(claims), indent=1).encode()
    assert reason(_join(prefix, spaced, signature), issuer) == "bad_signature"
