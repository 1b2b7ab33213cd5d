"""Licensing under attack and careless operation: what broke in review, kept broken no more.

Each test here failed on the code before its fix."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from conftest import settings_for
from license_issuer import DAY, Issuer, production
from rookery_backend import create_app
from rookery_backend.licensing import EXTENSION, decode


@pytest.fixture
def issuer() -> Issuer:
    return Issuer()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _app(tmp_path: Path, issuer: Issuer, text: str, **overrides: Any) -> Any:
    return create_app(production(settings_for("sqlite", tmp_path), issuer, text, **overrides))


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
