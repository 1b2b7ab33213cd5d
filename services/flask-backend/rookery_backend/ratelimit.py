"""Login rate limiting: a sliding window per client address and per account.

Kept in process memory: with several replicas each enforces its own window (the gateway
in front limits globally)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque

from .config import RateLimit


class LoginRateLimiter:
    def __init__(self, limit: RateLimit, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, *keys: str) -> int:
        """Record one attempt under every key. Returns 0 when allowed, else the seconds
        to wait before the oldest attempt leaves the window (nothing is recorded)."""
        now = time.monotonic()
        window = self.limit.period_seconds
        with self._lock:
            wait = 0.0
            for key in keys:
                hits = self._hits.get(key)
                if hits is None:
                    continue
                while hits and hits[0] <= now - window:
                    hits.popleft()
                if len(hits) >= self.limit.count:
                    wait = max(wait, hits[0] + window - now)
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
