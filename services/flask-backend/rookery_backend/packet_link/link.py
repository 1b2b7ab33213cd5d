"""flask-backend's link to packet-service: the targets (PACKET_SERVICE_TARGETS), the rule
publisher with its reconcile loop, the statistics view, and the service API key that
flask-backend provisions for itself to call packet-service when it requires callers to
authenticate."""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from ..rules import store
from ..rules.model import to_proto
from ..security import new_api_key
from ..utils import sha256_hex, utcnow
from .packet_client import SERVICE_ACCOUNT, PacketTarget, parse_targets
from .prometheus_series import PrometheusSeries
from .rule_publisher import RulePublisher
from .stats_view import StatsView

log = logging.getLogger("rookery.rules")
SERVICE_SCOPES = ["rules:read", "rules:write", "stats:read"]


@dataclass(slots=True)
class ServiceCredential:
    """The API key flask-backend presents to packet-service; held only in memory."""

    key: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self) -> str | None:
        return self.key


class PacketLink:
    def __init__(self, settings: Any, database: Any) -> None:
        self.database = database
        self.credential = ServiceCredential()
        self.targets = [
            PacketTarget(
                address,
                self.credential.get,
                deadline=settings.packet_deadline,
                breaker_reset=settings.packet_breaker_reset,
            )
            for address in parse_targets(settings.packet_service_targets)
        ]
        self.publisher = RulePublisher(
            self.targets,
            self._load_desired,
            interval=settings.rules_reconcile_interval,
            load_version=self._load_version,
        )
        series_source = None
        if settings.prometheus_url:
            series_source = PrometheusSeries(
                settings.prometheus_url,
                job=settings.prometheus_job,
                scrape_interval=settings.prometheus_scrape_interval,
                timeout=settings.prometheus_timeout,
            )
        self.stats = StatsView(
            self.targets,
            max_stale_seconds=settings.stats_max_stale,
            rate_window_seconds=settings.stats_rate_window,
            series_source=series_source,
        )

    def _read(self, read: Any) -> Any:
        ok = False
        self.database.begin_request()
        try:
            result = read(self.database.dal)
            ok = True
        finally:
            self.database.end_request(ok=ok)
        return result

    def _load_desired(self) -> Any:
        state = self._read(store.current)
        return to_proto(state.version, state.default_action, state.rules)

    def _load_version(self) -> int:
        return int(self._read(store.version))

    def provision_service_key(self, datastore: Any) -> None:
        """Creates (or replaces) this host's service API key. The account holds the
        maintainer role and cannot log in (no password)."""
        if not self.targets:
            return
        dal = self.database.dal
        ok = False
        self.database.begin_request()
        try:
            user = datastore.find_user(email=SERVICE_ACCOUNT)
            if user is None:
                user = datastore.create_user(
                    email=SERVICE_ACCOUNT, password=None, roles=["maintainer"], active=True
                )
                datastore.put(user)
                user = datastore.find_user(email=SERVICE_ACCOUNT)
            name = f"flask-backend on {socket.gethostname()}"
            table = dal.api_key
            # A restart replaces this host's key instead of piling keys up.
            live = table.revoked_at == None  # noqa: E711 - PyDAL builds SQL from ==
            dal((table.user_id == user.id) & (table.name == name) & live).update(
                revoked_at=utcnow()
            )
            key, prefix = new_api_key()
            table.insert(
                user_id=user.id,
                name=name,
                prefix=prefix,
                key_hash=sha256_hex(key),
                scopes=SERVICE_SCOPES,
                created_at=utcnow(),
            )
            ok = True
        finally:
            self.database.end_request(ok=ok)
        self.credential.key = key
        log.info(
            "service API key provisioned", extra={"account": SERVICE_ACCOUNT, "key_name": name}
        )

    def start(self) -> None:
        """Starts publishing rules; idempotent, and again after stop()."""
        self.publisher.start()

    def stop(self) -> None:
        """Stops publishing rules; idempotent. The targets stay usable (statistics)."""
        self.publisher.stop()

    def close(self) -> None:
        """At shutdown: stop publishing and close the targets' channels."""
        self.publisher.stop()
        for target in self.targets:
            target.close()
