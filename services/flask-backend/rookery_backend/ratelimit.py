"""Login and recovery throttling, shared by every worker process and replica: the attempts
live in the database (`throttle_event`, LOGIN_THROTTLE_STORE=database, the default), so a
guesser spreading attempts over workers and replicas meets one limit. `memory` keeps them
in the process (one worker of one replica: tests and single-process tools).

Three rules, so that an attacker is slowed down without being able to lock the owner out:
- per client address: LOGIN_RATE_LIMIT times ADDRESS_FACTOR attempts per window, whatever the
  account (one address guessing many accounts);
- per (account, address): LOGIN_RATE_LIMIT attempts per window;
- per account: once the account has collected LOGIN_RATE_LIMIT failures within
  ACCOUNT_WINDOW seconds, an address that has itself failed on it waits an exponential
  back-off (capped at BACKOFF_CAP seconds) after the account's latest failure. An address
  with no failure on the account is never held back by the account's history, so the
  owner signing in from their own machine gets in while someone elsewhere guesses.

Race safety in the database: an attempt is inserted (and committed) first, then the
attempts before it in the window are counted; over the limit, it is deleted again and
refused. Of attempts racing for the last place none is let through beyond the limit: the
one counting last sees every other one (at worst both are refused). Windows slide exactly
(`seen_at` keeps fractions of seconds). Times come from `clock` (unix seconds, injected in
tests; processes compare them, so it is the wall clock)."""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import sqlalchemy as sa

from .config import RateLimit
from .utils import sha256_hex

ADDRESS_FACTOR = 3
ACCOUNT_WINDOW = 900.0
BACKOFF_CAP = 60.0
CLEANUP_EVERY = 60.0  # seconds between deletions of rows past every window

log = logging.getLogger("rookery.ratelimit")


class ThrottleStore(Protocol):
    def hit(
        self, keys: tuple[str, ...], limits: tuple[int, ...], now: float, window: float
    ) -> float:
        """Record one attempt under every key unless one is at its limit; returns 0 when
        recorded, else the seconds until the oldest blocking attempt leaves the window."""
        ...

    def add_failure(self, account: str, address: str, now: float) -> None: ...

    def clear_failures(self, account: str) -> None: ...

    def failures(
        self, account: str, address: str, since: float
    ) -> tuple[float | None, int, float | None]:
        """(latest failure from this address, failures on the account, latest of them),
        counting failures after `since`."""
        ...

    def reset(self) -> None: ...


class MemoryThrottleStore:
    """Sliding windows in this process's memory (bounded: idle keys are forgotten)."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}
        # account → failure times; (account, address) → that address's latest failure
        self._failures: dict[str, deque[float]] = {}
        self._failed_from: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def hit(
        self, keys: tuple[str, ...], limits: tuple[int, ...], now: float, window: float
    ) -> float:
        with self._lock:
            wait = 0.0
            for key, limit in zip(keys, limits, strict=True):
                hits = self._hits.get(key)
                if hits is None:
                    continue
                while hits and hits[0] <= now - window:
                    hits.popleft()
                if len(hits) >= limit:
                    # Allowed again once enough of the oldest attempts left the window.
                    wait = max(wait, hits[len(hits) - limit] + window - now)
            if wait > 0:
                return wait
            if len(self._hits) > self.max_keys:
                horizon = now - window
                for key in [k for k, h in self._hits.items() if not h or h[-1] <= horizon]:
                    del self._hits[key]
            for key in keys:
                self._hits.setdefault(key, deque()).append(now)
            return 0.0

    def add_failure(self, account: str, address: str, now: float) -> None:
        with self._lock:
            failures = self._failures.setdefault(account, deque())
            failures.append(now)
            while failures and failures[0] <= now - ACCOUNT_WINDOW:
                failures.popleft()
            self._failed_from[(account, address)] = now
            if len(self._failed_from) > self.max_keys:
                horizon = now - ACCOUNT_WINDOW
                for key in [k for k, t in self._failed_from.items() if t <= horizon]:
                    del self._failed_from[key]

    def clear_failures(self, account: str) -> None:
        with self._lock:
            self._failures.pop(account, None)
            for key in [k for k in self._failed_from if k[0] == account]:
                del self._failed_from[key]

    def failures(
        self, account: str, address: str, since: float
    ) -> tuple[float | None, int, float | None]:
        with self._lock:
            last_own = self._failed_from.get((account, address))
            if last_own is not None and last_own <= since:
                last_own = None
            failures = self._failures.get(account)
            if not failures:
                return last_own, 0, None
            while failures and failures[0] <= since:
                failures.popleft()
            return last_own, len(failures), (failures[-1] if failures else None)

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
            self._failures.clear()
            self._failed_from.clear()


EVENTS = sa.Table(
    "throttle_event",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("bucket", sa.String(64)),
    sa.Column("address", sa.String(64)),
    sa.Column("seen_at", sa.Double),
)


def _driver_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """The database being away surfaces as the driver's own error, as from PyDAL, so the
    request answers 503 database_unavailable (errors.py) and not 500."""

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as error:
            if isinstance(error.orig, Exception):
                raise error.orig from error
            raise

    return call


def _bucket(key: str) -> str:
    return sha256_hex(key)  # fixed width whatever the e-mail; no plain addresses stored


class DatabaseThrottleStore:
    """The same windows in `throttle_event`, through its own engine and short transactions
    (never the request's: a limit must hold even when the request rolls back).

    `inline()` (SQLite only) returns the request's own DB-API connection when it already
    holds SQLite's write lock; bookkeeping then goes through it, as waiting for a lock this
    very thread holds would never end."""

    def __init__(self, engine: sa.Engine, inline: Callable[[], Any | None] | None = None) -> None:
        self.engine = engine
        self.inline = inline
        self._next_cleanup = 0.0
        self._cleanup_lock = threading.Lock()

    @_driver_errors
    def hit(
        self, keys: tuple[str, ...], limits: tuple[int, ...], now: float, window: float
    ) -> float:
        self._cleanup(now, window)
        buckets = [_bucket(key) for key in keys]
        # Already over a limit: refused with a read alone. A flood from one address then
        # costs no writes (the insert-then-count below still decides every admission, so
        # racing attempts cannot slip through).
        with self.engine.begin() as connection:
            wait = self._wait(connection, buckets, limits, now, window, [None] * len(buckets))
        if wait > 0:
            return wait
        mine: list[int] = []
        with self.engine.begin() as connection:
            for bucket in buckets:
                result = connection.execute(EVENTS.insert().values(bucket=bucket, seen_at=now))
                mine.append(int(result.inserted_primary_key[0]))
        with self.engine.begin() as connection:
            wait = self._wait(connection, buckets, limits, now, window, mine)
            if wait > 0:
                connection.execute(EVENTS.delete().where(EVENTS.c.id.in_(mine)))
        return wait

    @staticmethod
    def _wait(
        connection: sa.Connection,
        buckets: list[str],
        limits: tuple[int, ...],
        now: float,
        window: float,
        own: list[int] | list[None],
    ) -> float:
        """Seconds until every bucket has room, counting the attempts in the window other
        than this one's own (`own`: its event ids, None before it inserted any)."""
        wait = 0.0
        for bucket, limit, own_id in zip(buckets, limits, own, strict=True):
            condition = (EVENTS.c.bucket == bucket) & (EVENTS.c.seen_at > now - window)
            if own_id is not None:
                condition &= EVENTS.c.id != own_id
            # The `limit` latest other attempts in the window, latest first.
            others = connection.execute(
                sa.select(EVENTS.c.seen_at)
                .where(condition)
                .order_by(EVENTS.c.seen_at.desc())
                .limit(limit)
            ).all()
            if len(others) >= limit:
                wait = max(wait, others[limit - 1].seen_at + window - now)
        return wait

    def _cleanup(self, now: float, window: float) -> None:
        with self._cleanup_lock:
            if now < self._next_cleanup:
                return
            self._next_cleanup = now + CLEANUP_EVERY
        horizon = now - max(window, ACCOUNT_WINDOW)
        with self.engine.begin() as connection:
            connection.execute(EVENTS.delete().where(EVENTS.c.seen_at <= horizon))

    def _write(self, statement: sa.Executable, sql: str, params: tuple[Any, ...]) -> None:
        raw = self.inline() if self.inline is not None else None
        if raw is not None:
            raw.execute(sql, params)  # SQLite's own paramstyle
            return
        with self.engine.begin() as connection:
            connection.execute(statement)

    @_driver_errors
    def add_failure(self, account: str, address: str, now: float) -> None:
        bucket, address = _bucket(f"failed:{account}"), address[:64]
        self._write(
            EVENTS.insert().values(bucket=bucket, address=address, seen_at=now),
            "INSERT INTO throttle_event (bucket, address, seen_at) VALUES (?, ?, ?)",
            (bucket, address, now),
        )

    @_driver_errors
    def clear_failures(self, account: str) -> None:
        bucket = _bucket(f"failed:{account}")
        self._write(
            EVENTS.delete().where(EVENTS.c.bucket == bucket),
            "DELETE FROM throttle_event WHERE bucket = ?",
            (bucket,),
        )

    @_driver_errors
    def failures(
        self, account: str, address: str, since: float
    ) -> tuple[float | None, int, float | None]:
        bucket = (EVENTS.c.bucket == _bucket(f"failed:{account}")) & (EVENTS.c.seen_at > since)
        with self.engine.begin() as connection:
            count, last = connection.execute(
                sa.select(sa.func.count(), sa.func.max(EVENTS.c.seen_at)).where(bucket)
            ).one()
            if not count:
                return None, 0, None
            last_own = connection.execute(
                sa.select(sa.func.max(EVENTS.c.seen_at)).where(
                    bucket & (EVENTS.c.address == address[:64])
                )
            ).scalar()
        return last_own, int(count), last

    @_driver_errors
    def reset(self) -> None:
        with self.engine.begin() as connection:
            connection.execute(EVENTS.delete())


class LoginRateLimiter:
    """Sliding windows of attempts under arbitrary keys."""

    def __init__(
        self,
        limit: RateLimit,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.time,
        store: ThrottleStore | None = None,
    ) -> None:
        self.limit = limit
        self.clock = clock
        self.store: ThrottleStore = store or MemoryThrottleStore(max_keys)

    def hit(self, *keys: str, counts: tuple[int, ...] | None = None) -> int:
        """Record one attempt under every key. Returns 0 when allowed, else the seconds
        to wait before the oldest attempt leaves the window (nothing is recorded then).
        `counts` gives each key its own limit (default: the limit's count for all)."""
        limits = counts or (self.limit.count,) * len(keys)
        wait = self.store.hit(keys, limits, self.clock(), float(self.limit.period_seconds))
        return max(1, math.ceil(wait)) if wait > 0 else 0

    def reset(self) -> None:
        self.store.reset()


def address_key(address: str) -> str:
    """The client an address counts as: an IPv6 address by its /64 (one host is routinely
    given a whole /64 and may pick a new address in it per attempt), an IPv4-mapped one as
    the IPv4 address, anything else (IPv4, or not an address) as it is."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return address


class LoginThrottle:
    """The three login rules of the module docstring (addresses as `address_key` counts
    them)."""

    def __init__(
        self,
        limit: RateLimit,
        clock: Callable[[], float] = time.time,
        store: ThrottleStore | None = None,
    ) -> None:
        self.limit = limit
        self.clock = clock
        self.store: ThrottleStore = store or MemoryThrottleStore()
        self.attempts = LoginRateLimiter(limit, clock=clock, store=self.store)

    def check(self, account: str, address: str) -> int:
        """Seconds to wait before this attempt may be made (0: go ahead; then it is
        recorded as an attempt)."""
        address = address_key(address)
        backoff = self._account_backoff(account, address)
        if backoff:
            return backoff
        return self.attempts.hit(
            f"address:{address}",
            f"account:{account}|{address}",
            counts=(self.limit.count * ADDRESS_FACTOR, self.limit.count),
        )

    def failed(self, account: str, address: str) -> None:
        self.store.add_failure(account, address_key(address), self.clock())

    def succeeded(self, account: str, address: str) -> None:
        self.store.clear_failures(account)

    def _account_backoff(self, account: str, address: str) -> int:
        now = self.clock()
        last_own, count, last = self.store.failures(account, address, now - ACCOUNT_WINDOW)
        if last_own is None or last is None:
            return 0  # a fresh address: the account's history does not hold it back
        excess = count - self.limit.count
        if excess < 0:
            return 0
        delay = min(BACKOFF_CAP, 2.0**excess)
        wait = last + delay - now
        return max(1, math.ceil(wait)) if wait > 0 else 0

    def reset(self) -> None:
        self.store.reset()


def throttle_engine(url: str, sqlite: bool) -> sa.Engine:
    """The engine the database store uses: two pooled connections, kept, and no overflow
    (logins are few and slow — bcrypt — next to other requests, and a throttle statement
    takes a millisecond: a thread finding both busy waits for one rather than opening a
    connection the pool would close again on return, a new server process per login under
    concurrent sign-ins); SQLite waits up to 10 s for the write lock."""
    if sqlite:
        return sa.create_engine(url, connect_args={"timeout": 10})
    return sa.create_engine(url, pool_size=2, max_overflow=0, pool_timeout=15, pool_pre_ping=True)
