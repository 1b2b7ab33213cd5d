"""The objects a request needs, built once by create_app and found through `runtime()`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flask import current_app

if TYPE_CHECKING:
    from .config import Settings
    from .credentials import PrincipalCache, RefreshTokenStore
    from .datastore import PydalUserDatastore
    from .db import Database
    from .mailer import Mailer
    from .metrics import Metrics
    from .packet_link.link import PacketLink
    from .ratelimit import LoginRateLimiter, LoginThrottle
    from .security import JwtCodec


@dataclass(slots=True)
class Runtime:
    settings: Settings
    database: Database
    datastore: PydalUserDatastore
    codec: JwtCodec
    refresh_tokens: RefreshTokenStore
    rate_limiter: LoginRateLimiter  # password recovery requests
    login_throttle: LoginThrottle
    metrics: Metrics
    mailer: Mailer
    principal_cache: PrincipalCache
    packet_link: PacketLink

    @property
    def dal(self) -> Any:
        return self.database.dal


def runtime() -> Runtime:
    return current_app.extensions["rookery"]
