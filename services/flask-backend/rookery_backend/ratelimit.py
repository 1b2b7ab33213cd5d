"""Login and recovery throttling, kept in process memory (each replica enforces its own
windows; the gateway in front limits globally).

Three rules, so that an attacker is slowed down without being able to lock the owner out:
- per client address: LOGIN_RATE_LIMIT times ADDRESS_FACTOR attempts per window, whatever the
  account (one address guessing many accounts);
- per (account, address): LOGIN_RATE_LIMIT attempts per window;
- per account: once the account has collected LOGIN_RATE_LIMIT failures within
  ACCOUNT_WINDOW seconds, an address that has itself failed on it waits an exponential
  back-off (capped at BACKOFF_CAP seconds) after the account's latest failure. An address
  with no failure on the account is never held back by the account's history, so the
  owner signing in from their own machine gets in while someone elsewhere guesses."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from .config import RateLimit

ADDRESS_FACTOR = 3
ACCOUNT_WINDOW = 900.0
BACKOFF_CAP = 60.0


class LoginRateLimiter:
    """Sliding windows of attempts under arbitrary keys."""

    def __init__(
        self,
        limit: RateLimit,
        max_keys: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.max_keys = max_keys
        self.clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, *keys: str, counts: tuple[int, ...] | None = None) -> int:
        """Record one attempt under every key. Returns 0 when allowed, else the seconds
        to wait before the oldest attempt leaves the window (nothing is recorded then).
        `counts` gives each key its own limit (default: the limit's count for all)."""
        now = self.clock()
        window = self.limit.period_seconds
        limits = counts or (self.limit.count,) * len(keys)
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
                return max(1, math.ceil(wait))
            if len(self._hits) > self.max_keys:
                self._forget_idle(now - window)
            for key in keys:
                self._hits.setdefault(key, deque()).append(now)
            return 0

    def _forget_idle(self, horizon: float) -> None:
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= horizon]:
            del self._hits[key]

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()


class LoginThrottle:
    """The three login rules of the module docstring."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.clock = clock
        self.attempts = LoginRateLimiter(limit, clock=clock)
        # account → failure times; (account, address) → failures of that address
        self._failures: dict[str, deque[float]] = {}
        self._failed_from: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def check(self, account: str, address: str) -> int:
        """Seconds to wait before this attempt may be made (0: go ahead; then it is
        recorded as an attempt)."""
        backoff = self._account_backoff(account, address)
        if backoff:
            return backoff
        return self.attempts.hit(
            f"address:{address}",
            f"account:{account}|{address}",
            counts=(self.limit.count * ADDRESS_FACTOR, self.limit.count),
        )

    def failed(self, account: str, address: str) -> None:
        now = self.clock()
        with self._lock:
            failures = self._failures.setdefault(account, deque())
            failures.append(now)
            self._trim(failures, now)
            self._failed_from[(account, address)] = now
            if len(self._failed_from) > 100_000:
                horizon = now - ACCOUNT_WINDOW
                for key in [k for k, t in self._failed_from.items() if t <= horizon]:
                    del self._failed_from[key]

    def succeeded(self, account: str, address: str) -> None:
        with self._lock:
            self._failures.pop(account, None)
            for key in [k for k in self._failed_from if k[0] == account]:
                del self._failed_from[key]

    def _account_backoff(self, account: str, address: str) -> int:
        now = self.clock()
        with self._lock:
            last_own = self._failed_from.get((account, address))
            if last_own is None or last_own <= now - ACCOUNT_WINDOW:
                return 0  # a fresh address: the account's history does not hold it back
            failures = self._failures.get(account)
            if not failures:
                return 0
            self._trim(failures, now)
            excess = len(failures) - self.limit.count
            if excess < 0 or not failures:
                return 0
            delay = min(BACKOFF_CAP, 2.0**excess)
            wait = failures[-1] + delay - now
            return max(1, math.ceil(wait)) if wait > 0 else 0

    @staticmethod
    def _trim(failures: deque[float], now: float) -> None:
        while failures and failures[0] <= now - ACCOUNT_WINDOW:
            failures.popleft()

    def reset(self) -> None:
        self.attempts.reset()
        with self._lock:
            self._failures.clear()
            self._failed_from.clear()
