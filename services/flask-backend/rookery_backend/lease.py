"""A lease in the database: one process of the whole deployment (every worker of every
replica) holds a named job at a time — the rule publisher with its reconcile loop.

The lease is one row of `service_lease`: holder id, term and expiry. Taking it is one
compare-and-set statement, the same on SQLite, PostgreSQL and MariaDB:

    UPDATE service_lease SET holder = :me, expires_at = :now + ttl, ...
     WHERE name = :name AND (expires_at < :now OR holder = :me OR holder = '')

One row changed: this process holds the lease until the new expiry; none: someone else
does. The holder renews every ttl/3 seconds; a holder that cannot renew (database gone,
or another process took the row) gives the job up as soon as its own expiry passes, before
anyone else can take it over. A `kill -9`ed holder renews nothing: another process takes
the row over once the expiry passes, so within ttl + ttl/3 seconds (PUBLISHER_LEASE_TTL,
6 s by default: at most 8 s); sooner when the holder ran on the same host (same host name
and boot id) and its process is gone, as when a replica restarts after a crash. A holder
that stops cleanly releases the row at once.

Expiries are compared with the caller's clock (injectable; wall-clock UTC by default), so
replicas' clocks must agree to well within the TTL (NTP does that)."""

from __future__ import annotations

import base64
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from rookery_common.logs import StateLog

from .keys import derive_key
from .tables import SERVICE_LEASES
from .utils import utcnow

log = logging.getLogger("rookery.lease")

PUBLISHER_LEASE = "rule-publisher"
SHARED_LABEL = b"rookery/lease-shared/v1"
NEVER = datetime(1970, 1, 1)


POOL_WAIT = 15.0  # seconds a thread waits for one of the lease engine's two connections


def lease_engine(settings: Any) -> sa.Engine:
    """A small engine for lease statements, with short timeouts: a renewal must fail
    (and the holder give the job up) rather than hang past the expiry.
    Two connections, kept, and no overflow: a thread finding both busy waits for one
    (statements here take a millisecond) instead of opening a connection that the pool
    closes again on return — with four view threads reading the publisher's status, that
    was a new database connection several times a second, each a server process forked
    and torn down, and the process's heap fragmenting with the client library's buffers."""
    from .db import sqlalchemy_url

    url = sqlalchemy_url(settings)
    timeout = max(1, int(settings.publisher_lease_ttl / 3))
    if settings.db_type == "sqlite":
        return sa.create_engine(url, connect_args={"timeout": timeout})
    if settings.db_type == "postgresql":
        args: dict[str, Any] = {
            "connect_timeout": timeout,
            "options": f"-c statement_timeout={timeout * 1000}",
        }
    else:
        args = {"connect_timeout": timeout, "read_timeout": timeout, "write_timeout": timeout}
    return sa.create_engine(
        url,
        pool_size=2,
        max_overflow=0,
        # a wait for one of the two is a wait for another thread's statement to end: seconds
        # only on a saturated machine (a 2 s wait timed out on a loaded MariaDB in CI)
        pool_timeout=POOL_WAIT,
        pool_pre_ping=True,
        connect_args=args,
    )


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
    except OSError:
        return "-"


def _host() -> str:
    return f"{socket.gethostname()[:70]}/{_boot_id()}"


def holder_id() -> str:
    """Unique per process and start: host (name and boot id), pid and a random tail (a
    restarted process with a recycled pid is still someone else)."""
    return f"{_host()}:{os.getpid()}:{secrets.token_hex(4)}"


def dead_here(holder: str) -> bool:
    """The holder ran on this host (same name, same boot) and its process is gone: a
    replica restarted after a crash need not wait for its own old lease to expire."""
    parts = holder.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != _host() or not parts[1].isdigit():
        return False
    pid = int(parts[1])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    try:  # a zombie (killed, not yet reaped by its supervisor) is gone too
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


@dataclass(slots=True, frozen=True)
class LeaseState:
    name: str
    holder: str
    term: int
    acquired_at: datetime | None
    expires_at: datetime | None

    def live(self, now: datetime) -> bool:
        return bool(self.holder) and self.expires_at is not None and self.expires_at >= now

    @property
    def pid(self) -> int | None:
        parts = self.holder.rsplit(":", 2)
        return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


def _table() -> sa.Table:
    metadata = sa.MetaData()
    return sa.Table(
        SERVICE_LEASES.name,
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64)),
        sa.Column("holder", sa.String(128)),
        sa.Column("term", sa.Integer),
        sa.Column("acquired_at", sa.DateTime),
        sa.Column("expires_at", sa.DateTime),
        sa.Column("shared", sa.Text),
        sa.Column("status", sa.Text),
        sa.Column("wanted", sa.String(128)),
    )


LEASES = _table()


class Lease:
    """The database side: acquire-or-renew, release, read. Each call is its own short
    transaction on `engine`. `clock` returns naive UTC datetimes."""

    def __init__(
        self,
        engine: sa.Engine,
        name: str,
        ttl_seconds: float,
        holder: str | None = None,
        clock: Callable[[], datetime] = utcnow,
        detect_dead: bool = True,
    ) -> None:
        self.engine = engine
        self.name = name
        self.ttl = timedelta(seconds=ttl_seconds)
        self.holder = holder or holder_id()
        self.clock = clock
        self.detect_dead = detect_dead

    def _ensure_row(self) -> None:
        with self.engine.begin() as connection:
            found = connection.execute(
                sa.select(LEASES.c.id).where(LEASES.c.name == self.name)
            ).first()
            if found is not None:
                return
        try:
            with self.engine.begin() as connection:
                connection.execute(
                    LEASES.insert().values(
                        name=self.name, holder="", term=0, expires_at=NEVER, shared=None
                    )
                )
        except sa.exc.IntegrityError:
            pass  # another process inserted it first: the unique name keeps one row

    def try_acquire(self) -> bool:
        """Take the lease when it is free or expired, renew it when this process holds it.
        True: held until now + ttl."""
        self._ensure_row()
        now = self.clock()
        table = LEASES
        mine = table.c.holder == self.holder
        free = (table.c.expires_at < now) | mine | (table.c.holder == "")
        if self.detect_dead:
            current = self.read()
            if current is not None and current.holder and dead_here(current.holder):
                free = free | (table.c.holder == current.holder)
        statement = (
            table.update()
            .where((table.c.name == self.name) & free)
            # Holder last: MySQL evaluates SET left to right, so the CASEs must still see
            # the old holder.
            .ordered_values(
                (table.c.term, sa.case((mine, table.c.term), else_=table.c.term + 1)),
                (table.c.acquired_at, sa.case((mine, table.c.acquired_at), else_=now)),
                (table.c.shared, sa.case((mine, table.c.shared), else_=sa.null())),
                (table.c.status, sa.case((mine, table.c.status), else_=sa.null())),
                (table.c.expires_at, now + self.ttl),
                (table.c.holder, self.holder),
            )
        )
        with self.engine.begin() as connection:
            # rowcount counts matched rows on every backend here (SQLAlchemy asks MySQL
            # drivers for FOUND_ROWS), so a renewal within the same second still counts.
            return connection.execute(statement).rowcount == 1

    def release(self) -> None:
        """Give the lease up now (a clean stop): the next process need not wait for expiry."""
        table = LEASES
        with self.engine.begin() as connection:
            connection.execute(
                table.update()
                .where((table.c.name == self.name) & (table.c.holder == self.holder))
                .values(holder="", expires_at=NEVER, shared=None, status=None)
            )

    def read(self) -> LeaseState | None:
        table = LEASES
        with self.engine.begin() as connection:
            row = connection.execute(
                sa.select(
                    table.c.holder, table.c.term, table.c.acquired_at, table.c.expires_at
                ).where(table.c.name == self.name)
            ).first()
        if row is None:
            return None
        return LeaseState(
            self.name, row.holder or "", row.term or 0, row.acquired_at, row.expires_at
        )

    def share(self, value: str | None, secret: str) -> bool:
        """Store `value` sealed (AES-GCM, key derived from `secret`) for every process of
        the deployment; only while this process holds the lease."""
        sealed = seal(secret, value) if value else None
        table = LEASES
        with self.engine.begin() as connection:
            result = connection.execute(
                table.update()
                .where((table.c.name == self.name) & (table.c.holder == self.holder))
                .values(shared=sealed)
            )
        return result.rowcount == 1

    def report(self, status: str) -> bool:
        """Store the holder's status text (only while this process holds the lease)."""
        table = LEASES
        with self.engine.begin() as connection:
            result = connection.execute(
                table.update()
                .where((table.c.name == self.name) & (table.c.holder == self.holder))
                .values(status=status)
            )
        return result.rowcount == 1

    def want(self, request: str) -> None:
        """Ask the holder to act now (any process may): `request` names who asks."""
        table = LEASES
        with self.engine.begin() as connection:
            connection.execute(
                table.update().where(table.c.name == self.name).values(wanted=request[:128])
            )

    def wanted(self, connection: sa.Connection | None = None) -> str | None:
        """What was last asked of the holder; read on `connection` (inside the caller's
        transaction) when given, else in a short transaction of its own."""
        if connection is None:
            with self.engine.begin() as own:
                return self.wanted(own)
        table = LEASES
        return connection.execute(
            sa.select(table.c.wanted).where(table.c.name == self.name)
        ).scalar()

    def reported(self) -> str | None:
        """The holder's status text while its lease lasts; None once it expired: a dead
        holder's last report would otherwise read as the targets' state for good (a
        packet-service restarted since then would still show the old version applied)."""
        table = LEASES
        with self.engine.begin() as connection:
            row = connection.execute(
                sa.select(table.c.status, table.c.expires_at).where(table.c.name == self.name)
            ).first()
        if row is None or row.expires_at is None or row.expires_at < self.clock():
            return None
        return row.status

    def shared(self, secret: str) -> str | None:
        """What the current holder shared (None when nothing, or it does not unseal)."""
        table = LEASES
        with self.engine.begin() as connection:
            sealed = connection.execute(
                sa.select(table.c.shared).where(table.c.name == self.name)
            ).scalar()
        return unseal(secret, sealed) if sealed else None


def seal(secret: str, value: str) -> str:
    nonce = secrets.token_bytes(12)
    data = AESGCM(derive_key(secret, SHARED_LABEL)).encrypt(nonce, value.encode(), None)
    return base64.urlsafe_b64encode(nonce + data).decode()


def unseal(secret: str, sealed: str) -> str | None:
    try:
        raw = base64.urlsafe_b64decode(sealed.encode())
        return AESGCM(derive_key(secret, SHARED_LABEL)).decrypt(raw[:12], raw[12:], None).decode()
    except (ValueError, InvalidTag):
        return None


class LeaseKeeper:
    """Keeps trying to hold `lease` on a thread: acquires or renews every ttl/3 seconds,
    calls `on_acquired()` when it starts holding and `on_lost()` when it stops (renewal
    refused, or not confirmed before the held expiry). `stop()` ends the thread, calls
    `on_lost()` when held, and releases the row."""

    def __init__(
        self,
        lease: Lease,
        on_acquired: Callable[[], None],
        on_lost: Callable[[], None],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lease = lease
        self.on_acquired = on_acquired
        self.on_lost = on_lost
        self.monotonic = monotonic
        self.held = False
        self._valid_until = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)

    @property
    def interval(self) -> float:
        return max(0.05, self.lease.ttl.total_seconds() / 3)

    def start(self) -> None:
        self._thread.start()

    def step(self) -> None:
        """One round: acquire or renew, and start or stop the job accordingly."""
        started = self.monotonic()
        try:
            got = self.lease.try_acquire()
        except sa.exc.SQLAlchemyError as error:
            log.warning(
                "lease renewal failed", extra={"lease": self.lease.name, "error": str(error)}
            )
            # Keep the job only while the last confirmed expiry has not passed.
            if self.held and self.monotonic() >= self._valid_until:
                self._lose("the lease could not be renewed before it expired")
            return
        if got:
            # Counted from before the statement ran: never longer than the row says.
            self._valid_until = started + self.lease.ttl.total_seconds()
            if not self.held:
                self.held = True
                log.info(
                    "lease acquired: this process runs the job",
                    extra={"lease": self.lease.name, "holder": self.lease.holder},
                )
                try:
                    self.on_acquired()
                except Exception:
                    log.exception("starting the leased job failed; giving the lease up")
                    self._lose("the job did not start")
                    self.lease.release()
                    return
                # Starting may have taken a while (a loaded machine): renew at once.
                renewed_from = self.monotonic()
                if self.lease.try_acquire():
                    self._valid_until = renewed_from + self.lease.ttl.total_seconds()
                else:
                    self._lose("the lease expired while the job started")
        elif self.held:
            self._lose("another process holds the lease")

    def _lose(self, why: str) -> None:
        self.held = False
        log.warning("lease lost: stopping the job", extra={"lease": self.lease.name, "why": why})
        try:
            self.on_lost()
        except Exception:
            log.exception("stopping the leased job failed")

    def _run(self) -> None:
        # One line when the keeper starts failing (the database is away) and one when it
        # works again, not a traceback every interval.
        state = StateLog(log, f"lease keeper ({self.lease.name})")
        while not self._stop.is_set():
            try:
                self.step()
            except Exception as error:  # the keeper must outlive any single failure
                state.down(f"{type(error).__name__}: {error}", error)
            else:
                if state.is_down:
                    state.up()
            self._stop.wait(self.interval)

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)
        if self.held:
            self._lose("stopping")
            try:
                self.lease.release()
            except sa.exc.SQLAlchemyError as error:
                log.warning("lease release failed", extra={"error": str(error)})
