"""Licensing under attack and careless operation: what broke in review, kept broken no more.

Each test here failed on the code before its fix."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import settings_for
from license_issuer import DAY, Issuer, production
from rookery_backend import create_app
from rookery_backend.licensing import EXTENSION, LicenseInvalid, LicenseRefused, decode


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _app(tmp_path: Path, issuer: Issuer, text: str, **overrides: Any) -> Any:
    settings = production(settings_for("sqlite", tmp_path), issuer, text)
    return create_app(settings.with_overrides(**overrides))


def _install_expired(tmp_path: Path, issuer: Issuer, lid: str, **grace: Any) -> None:
    """A licence installed through the API long ago, expired by now."""
    now = int(time.time())
    old = issuer.issue(lid=lid, nbf=now - 400 * DAY, iat=now - 400 * DAY, exp=now - 30 * DAY)
    app = _app(tmp_path, issuer, issuer.issue(lid="first"), **grace)
    manager = app.extensions[EXTENSION]
    with app.app_context():  # it was valid when it was installed
        manager.install(decode(old, issuer.key.public_key()), "admin@example.com")
        app.extensions["rookery"].database.end_request(ok=True)


# -- a renewal configured in LICENSE_KEY after an installed licence expired -------------------
def test_a_renewed_licence_key_starts_after_an_installed_licence_expired(
    tmp_path: Path, issuer: Issuer
) -> None:
    # The renewal arrives the usual deployment way (the secret behind LICENSE_KEY) and the
    # service restarts: the expired row in the database must not lock the deployment out
    # (production would not start, so nobody could install anything through the API).
    _install_expired(tmp_path, issuer, "installed-old")
    app = _app(tmp_path, issuer, issuer.issue(lid="renewal", tier="professional"))
    with app.app_context():
        status = app.extensions[EXTENSION].status()
        assert status.status == "valid" and status.license.claims.lid == "renewal"
        assert status.origin == "LICENSE_KEY"
        assert app.extensions[EXTENSION].feature_enabled("audit_export")


def test_a_renewal_in_licence_key_wins_over_an_installed_one_in_grace(
    tmp_path: Path, issuer: Issuer
) -> None:
    # In grace the installed licence still counts, but a valid one configured beside it is
    # better: the restart goes through and the grace warning goes away.
    _install_expired(tmp_path, issuer, "installed-old", license_grace_days=60)
    app = _app(tmp_path, issuer, issuer.issue(lid="renewal"), license_grace_days=60)
    with app.app_context():
        status = app.extensions[EXTENSION].status()
        assert (status.status, status.license.claims.lid) == ("valid", "renewal")
        assert not status.warnings


def test_a_valid_installed_licence_still_wins_over_the_configured_one(
    tmp_path: Path, issuer: Issuer
) -> None:
    app = _app(tmp_path, issuer, issuer.issue(lid="configured"))
    manager = app.extensions[EXTENSION]
    with app.app_context():
        manager.install(manager.validate(issuer.issue(lid="installed", tier="community")), None)
        app.extensions["rookery"].database.end_request(ok=True)
        assert manager.status().license.claims.lid == "installed"
        # ... until it expires and its grace ends: then the configured one, still valid
        manager.clock = Clock(time.time() + 380 * DAY)
        configured_long = manager.status()
    # the configured licence (365 days) has expired too by then: the installed one stays
    assert configured_long.license.claims.lid == "installed"


# -- the text of a licence and of its key, as operators and attackers hand them over ---------
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _reason(text: str, issuer: Issuer) -> str:
    with pytest.raises(LicenseInvalid) as caught:
        decode(text, issuer.key.public_key())
    assert "\n" not in caught.value.message
    return caught.value.reason


def test_a_licence_has_one_spelling_in_base64url(issuer: Issuer) -> None:
    # base64 leaves the last character's low bits unused: a text with them set is another
    # text for the same bytes. Only the encoder's own spelling is the licence.
    prefix, claims, signature = issuer.issue().split(".")
    for part in ("claims", "signature"):
        text = claims if part == "claims" else signature
        if len(text) % 4 == 0:
            continue  # no spare bits in this part
        spare = 3 if len(text) % 4 == 2 else 1  # 4 or 2 unused bits
        twin = text[:-1] + ALPHABET[ALPHABET.index(text[-1]) ^ spare]
        forged = f"{prefix}.{twin}.{signature}" if part == "claims" else f"{prefix}.{claims}.{twin}"
        assert _reason(forged, issuer) == "malformed", part


def test_claims_with_a_key_twice_are_malformed(issuer: Issuer) -> None:
    claims = issuer.claims(tier="community")
    body = json.dumps(claims, separators=(",", ":"))
    raw = (body[:-1] + ',"tier":"enterprise"}').encode()
    assert _reason(issuer.sign_raw(raw), issuer) == "malformed"


def test_a_byte_order_mark_before_a_licence_file_is_ignored(tmp_path: Path, issuer: Issuer) -> None:
    path = tmp_path / "rookery.license"
    path.write_bytes(b"\xef\xbb\xbf" + issuer.issue(lid="from-notepad").encode() + b"\r\n")
    app = _app(tmp_path, issuer, "", license_file=str(path))
    with app.app_context():
        assert app.extensions[EXTENSION].status().license.claims.lid == "from-notepad"
    assert decode("\ufeff" + issuer.issue(), issuer.key.public_key()).claims.lid == "lic-test-1"


def test_a_licence_file_that_never_ends_is_refused_not_read_whole(
    tmp_path: Path, issuer: Issuer
) -> None:
    # /dev/zero (a slip of the finger) was read into memory until the process died
    with pytest.raises(LicenseRefused) as caught:
        _app(tmp_path, issuer, "", license_file="/dev/zero")
    message = str(caught.value)
    assert "LICENSE_FILE" in message and "\n" not in message and len(message) < 300


@pytest.mark.parametrize(
    "shape",
    ["bom", "quoted", "escaped_newlines", "trailing_garbage"],
)
def test_a_public_key_as_env_files_spell_it(tmp_path: Path, issuer: Issuer, shape: str) -> None:
    pem = issuer.public_pem
    value = {
        "bom": "\ufeff" + pem,
        "quoted": f'"{pem.strip()}"',
        "escaped_newlines": pem.strip().replace("\n", "\\n"),
        "trailing_garbage": pem + "x",
    }[shape]
    text = issuer.issue(lid="keyed")
    try:
        app = _app(tmp_path, issuer, text, license_public_key=value)
    except LicenseRefused as error:  # refused: one short line, never the key's text in it
        message = str(error)
        assert "\n" not in message and "BEGIN" not in message, message
        assert "LICENSE_PUBLIC_KEY" in message
        return
    with app.app_context():
        assert app.extensions[EXTENSION].status().license.claims.lid == "keyed"


def test_a_public_key_path_that_is_long_text_is_named_in_short(
    tmp_path: Path, issuer: Issuer
) -> None:
    with pytest.raises(LicenseRefused) as caught:
        _app(tmp_path, issuer, issuer.issue(), license_public_key="x" * 5000 + "\nmore")
    message = str(caught.value)
    assert "\n" not in message and len(message) < 400, message
