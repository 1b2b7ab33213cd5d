"""Where the licence stands, for every process of a deployment.

A licence comes from the database (installed through PUT /api/v1/license: every worker
process and every replica reads the same row) or, when none is installed, from
LICENSE_KEY / LICENSE_FILE. Each process reads the database row again at most every
REFRESH_SECONDS (like the principal cache's bound) and verifies a text only when it
changes. Time comes from `clock` (unix seconds, injected in tests); it never runs backward
for a licence: the latest time this process has seen counts (a clock set back does not
bring an expired licence back to life).

States: development (RELEASE_MODE is not production: every feature on, licence ignored),
unlicensed, not_yet_valid, valid, grace (expired less than LICENSE_GRACE_DAYS ago: gated
features still on, warnings), expired (gated features off). Accounts, rules and packet
processing never depend on the licence: only the gated features do.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from rookery_common.settings import ConfigError

from ..policy import FEATURES
from ..utils import utcnow
from .document import (
    EXPIRED,
    MALFORMED,
    MAX_TEXT,
    NOT_YET_VALID,
    License,
    LicenseInvalid,
    decode,
    load_public_key,
)

if TYPE_CHECKING:
    from ..config import Settings
    from ..db import Database

log = logging.getLogger("rookery.license")

REFRESH_SECONDS = 2.0  # how stale this process's view of an installed licence may be
STATUS_SECONDS = 60.0  # the longest one evaluation is reused (days_left stays current)
DAY = 86400
WARN_DAYS = 30  # a valid licence this close to its end carries a warning

DEVELOPMENT = "development"
UNLICENSED = "unlicensed"
VALID = "valid"
GRACE = "grace"
EXPIRED_STATE = "expired"
NOT_YET_VALID_STATE = "not_yet_valid"
# The states in which a licence's features are on.
IN_FORCE = (VALID, GRACE)


class LicenseRefused(ConfigError):
    """Production cannot start with this licence (or without one); one line says why."""


def when(seconds: int | float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True, frozen=True)
class Source:
    """The licence a process goes by: where it came from, and what a refused one was."""

    license: License | None
    origin: str | None  # "database", "LICENSE_KEY" or "LICENSE_FILE"
    # a configured licence that was refused (kept for the warnings and the start check)
    refused: tuple[tuple[str, LicenseInvalid], ...] = ()


@dataclass(slots=True, frozen=True)
class LicenseStatus:
    mode: str  # development | production
    status: str
    license: License | None
    origin: str | None
    features_active: frozenset[str]
    grace_ends_at: int | None
    days_left: int | None
    warnings: tuple[str, ...] = field(default=())


def _text_from_settings(settings: Settings) -> tuple[str | None, str | None]:
    """(licence text, origin) from LICENSE_KEY or LICENSE_FILE; ConfigError when unreadable."""
    if settings.license_key.strip() and settings.license_file.strip():
        raise LicenseRefused("set LICENSE_KEY or LICENSE_FILE, not both")
    if settings.license_key.strip():
        return settings.license_key, "LICENSE_KEY"
    if settings.license_file.strip():
        path = Path(settings.license_file.strip())
        try:
            # A regular file only (a device or a pipe may never end), and no more of it
            # than a licence can be: anything longer is refused as too long.
            if path.exists() and not path.is_file():
                raise IsADirectoryError(21, "not a regular file")
            with path.open("rb") as handle:
                data = handle.read(MAX_TEXT * 2)
        except OSError as error:
            raise LicenseRefused(f"LICENSE_FILE: cannot read {path}: {error.strerror}") from None
        # utf-8-sig: a byte order mark (an editor's) is no part of the licence
        return data.decode("utf-8-sig", errors="replace"), f"LICENSE_FILE {path}"
    return None, None


class LicenseManager:
    """One per app (create_app): answers which features are on, now."""

    def __init__(
        self,
        settings: Settings,
        database: Database,
        *,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.production = settings.production
        self.grace_seconds = settings.license_grace_days * DAY
        self.database = database
        self.clock = clock
        self.monotonic = monotonic
        self.public_key: Ed25519PublicKey | None = None
        self._configured: Source = Source(None, None)
        self._installed: tuple[str, License | None, LicenseInvalid | None] | None = None
        self._next_read = 0.0
        self._read_lock = threading.Lock()
        self._latest = 0.0  # the latest time seen: a clock set back does not count
        self._logged: tuple[str | None, str] | None = None  # (licence id, state) logged
        self._source_cache: tuple[Any, Source, Source | None] | None = None
        self._status_cache: tuple[Source, float, LicenseStatus] | None = None
        self.key_problem = ""
        try:
            self.public_key = load_public_key(settings.license_public_key)
        except ValueError as error:
            if self.production:
                raise LicenseRefused(str(error)) from None
            self.key_problem = str(error)  # development: only an install would need it
            return
        try:
            text, origin = _text_from_settings(settings)
        except LicenseRefused:
            if self.production:
                raise
            return  # development ignores the licence settings
        if text is not None and origin is not None:
            try:
                self._configured = Source(decode(text, self.public_key), origin)
            except LicenseInvalid as error:
                self._configured = Source(None, None, ((origin, error),))

    # -- time --------------------------------------------------------------------------------
    def now(self) -> float:
        now = self.clock()
        if now < self._latest:
            return self._latest
        self._latest = now
        return now

    # -- the installed licence (database) ----------------------------------------------------
    def forget(self) -> None:
        """Read the database again at the next question (after an install here)."""
        self._next_read = 0.0

    def _read_installed(self) -> None:
        dal = self.database.dal
        table = dal.product_license
        rows = dal(table.id > 0).select(table.license_text, orderby=~table.id, limitby=(0, 1))
        text = rows[0].license_text if rows else None
        if self._installed is not None and self._installed[0] == text:
            return
        if text is None:
            self._installed = None
            return
        assert self.public_key is not None  # source() reads only with a key
        try:
            self._installed = (text, decode(text, self.public_key), None)
        except LicenseInvalid as error:
            self._installed = (text, None, error)

    def source(self) -> Source:
        """The licence in force for this process: the installed one, else the configured."""
        if self.public_key is None:
            return self._configured
        tick = self.monotonic()
        if tick >= self._next_read:
            first = self._installed is None and self._next_read == 0.0
            # One thread reads; the others keep the previous answer meanwhile.
            if self._read_lock.acquire(blocking=first):
                try:
                    self._read_installed()
                    self._next_read = tick + REFRESH_SECONDS
                finally:
                    self._read_lock.release()
        installed = self._installed
        cached = self._source_cache
        if cached is None or cached[0] is not installed:
            cached = (installed, *self._sources(installed))
            self._source_cache = cached
        # the same objects while nothing changed: status() caches on them
        primary, fallback = cached[1], cached[2]
        if fallback is not None and self.production:
            # An installed licence past its end does not hide a better one configured
            # beside it (a renewal put in LICENSE_KEY and a restart must not be refused).
            now = self.now()
            if self._rank(fallback.license, now) > self._rank(primary.license, now):
                return fallback
        return primary

    def _sources(self, installed: Any) -> tuple[Source, Source | None]:
        """(the licence that counts first, the configured one behind it or None)."""
        configured = self._configured
        if installed is not None and installed[1] is not None:
            primary = Source(installed[1], "database", configured.refused)
            if configured.license is None:
                return primary, None
            return primary, Source(configured.license, configured.origin, configured.refused)
        refused = configured.refused
        if installed is not None and installed[2] is not None:
            refused = (("database", installed[2]), *refused)
        return Source(configured.license, configured.origin, refused), None

    def _rank(self, lic: License | None, now: float) -> int:
        """2 valid, 1 in its grace period, 0 otherwise."""
        if lic is None:
            return 0
        claims = lic.claims
        if claims.nbf <= now < claims.exp:
            return 2
        return 1 if claims.exp <= now < claims.exp + self.grace_seconds else 0

    # -- the state ---------------------------------------------------------------------------
    def status(self) -> LicenseStatus:
        """Where the licence stands now. Evaluated again when the licence changes, when the
        next boundary (not before, a month before the end, the end, the end of grace)
        passes, and at least every STATUS_SECONDS (days_left); else the same answer: the
        guard asks on every gated request."""
        source = self.source()
        now = self.now() if self.production else 0.0
        cached = self._status_cache
        if cached is not None and cached[0] is source and now < cached[1]:
            return cached[2]
        if not self.production:
            everything = frozenset(FEATURES)
            status = LicenseStatus(
                DEVELOPMENT, DEVELOPMENT, source.license, source.origin, everything, None, None
            )
            self._status_cache = (source, float("inf"), status)
            return status
        status = self.evaluate(source, now)
        self._status_cache = (source, self._next_change(source, now), status)
        self._log_change(status)
        return status

    def _next_change(self, source: Source, now: float) -> float:
        until = now + STATUS_SECONDS
        if source.license is not None:
            claims = source.license.claims
            exp = claims.exp
            for moment in (claims.nbf, exp - WARN_DAYS * DAY, exp, exp + self.grace_seconds):
                if now < moment < until:
                    until = moment
        return until

    def evaluate(self, source: Source, now: float) -> LicenseStatus:
        warnings = [
            f"the licence from {origin} is refused: {error.message}"
            for origin, error in source.refused
        ]
        lic = source.license
        if lic is None:
            warnings.insert(0, "no licence is installed: the licensed features are off")
            return LicenseStatus(
                "production", UNLICENSED, None, None, frozenset(), None, None, tuple(warnings)
            )
        claims = lic.claims
        grace_ends = claims.exp + self.grace_seconds
        days_left = max(0, math.ceil((claims.exp - now) / DAY))
        if now < claims.nbf:
            state = NOT_YET_VALID_STATE
            warnings.insert(
                0,
                f"the licence is not valid before {when(claims.nbf)}:"
                " the licensed features are off",
            )
            active: frozenset[str] = frozenset()
        elif now < claims.exp:
            state = VALID
            active = claims.granted
            if days_left < WARN_DAYS:
                warnings.insert(
                    0, f"the licence expires on {when(claims.exp)} ({days_left} days left)"
                )
        elif now < grace_ends:
            state = GRACE
            active = claims.granted
            warnings.insert(
                0,
                f"the licence expired on {when(claims.exp)}: the licensed features stop on"
                f" {when(grace_ends)} unless a renewed licence is installed",
            )
        else:
            state = EXPIRED_STATE
            active = frozenset()
            warnings.insert(
                0, f"the licence expired on {when(claims.exp)}: the licensed features are off"
            )
        return LicenseStatus(
            "production", state, lic, source.origin, active, grace_ends, days_left, tuple(warnings)
        )

    def _log_change(self, status: LicenseStatus) -> None:
        lid = status.license.claims.lid if status.license else None
        key = (lid, status.status)
        if key == self._logged:
            return
        self._logged = key
        extra: dict[str, Any] = {"license": lid, "state": status.status, "origin": status.origin}
        if status.status == VALID and not status.warnings:
            log.info("licence in force", extra=extra)
        else:
            log.warning("licence: " + "; ".join(status.warnings or (status.status,)), extra=extra)

    def feature_enabled(self, feature: str) -> bool:
        if not self.production:
            return feature in FEATURES
        return feature in self.status().features_active

    # -- start-up and installation -------------------------------------------------------
    def check_at_start(self) -> LicenseStatus:
        """Production: the licence this deployment starts with, or LicenseRefused saying
        in one line why there is none. The database's connection is the caller's."""
        source = self.source()
        if source.license is None:
            if source.refused:
                origin, error = source.refused[0]
                raise LicenseRefused(f"licence refused ({origin}): {error.message}")
            raise LicenseRefused(
                "no licence: RELEASE_MODE=production needs LICENSE_KEY or LICENSE_FILE"
                " (docs/LICENSING.md)"
            )
        try:
            check_dates(source.license, self.now())
        except LicenseInvalid as error:
            raise LicenseRefused(f"licence refused ({source.origin}): {error.message}") from None
        for origin, error in source.refused:
            log.warning(f"licence from {origin} ignored: {error.message}", extra={"origin": origin})
        return self.status()

    def validate(self, text: object) -> License:
        """A licence someone wants to install: verified, and in force now."""
        if self.public_key is None:
            raise LicenseInvalid(MALFORMED, f"no key to verify licences: {self.key_problem}")
        lic = decode(text, self.public_key)
        check_dates(lic, self.now())
        return lic

    def install(self, lic: License, installed_by: str | None) -> None:
        """Store `lic` (the caller's transaction commits it with its audit line)."""
        dal = self.database.dal
        dal.product_license.insert(
            license_text=lic.text,
            lid=lic.claims.lid,
            installed_at=utcnow(),
            installed_by=installed_by,
        )
        self.forget()

    def seats_used(self) -> int:
        from ..accounts import SERVICE_ACCOUNTS

        dal = self.database.dal
        users = dal.auth_user
        # A service account holds no password: one with a password is someone signing in.
        machine = users.email.belongs(sorted(SERVICE_ACCOUNTS)) & (users.password == None)  # noqa: E711
        return dal((users.active == True) & ~machine).count()  # noqa: E712

    def seat_limit(self) -> int | None:
        """The licence's seat limit in production (None = unlimited or development)."""
        if not self.production:
            return None
        lic = self.source().license
        if lic is None or lic.claims.seats == 0:
            return None
        return lic.claims.seats


def check_dates(lic: License, now: float) -> None:
    claims = lic.claims
    if now < claims.nbf:
        raise LicenseInvalid(NOT_YET_VALID, f"the licence is not valid before {when(claims.nbf)}")
    if now >= claims.exp:
        raise LicenseInvalid(EXPIRED, f"the licence expired on {when(claims.exp)}")
