"""flask-backend's link to packet-service: the sensors (table `sensor`, seeded from
PACKET_SERVICE_TARGETS) and a target per sensor address, the rule publisher with its
reconcile loop, the statistics view, and the service API key that flask-backend provisions
for itself to call packet-service when it requires callers to authenticate."""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from flask import has_request_context

from ..rules import store
from ..rules.model import to_proto
from ..security import new_api_key
from ..utils import sha256_hex, utcnow
from .packet_client import SERVICE_ACCOUNT, PacketTarget
from .prometheus_series import PrometheusSeries
from .rule_publisher import RulePublisher
from .sensors import DEFAULT_RULESET, Sensor, TargetPool, read_sensors, seed_sensors
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
        self.settings = settings
        self.database = database
        self.credential = ServiceCredential()
        self.pool = TargetPool(self._new_target)
        # This process's RulePublisher, or (HTTP workers) the view of the lease holder's.
        self.publisher: Any = RulePublisher(
            self.read_sensors,
            self.pool,
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

    def _new_target(self, address: str) -> PacketTarget:
        return PacketTarget(
            address,
            self.credential.get,
            deadline=self.settings.packet_deadline,
            breaker_reset=self.settings.packet_breaker_reset,
        )

    # ------------------------------------------------------------------ sensors
    def read_sensors(self, dal: Any = None) -> list[Sensor]:
        """Every sensor row: through `dal` (a request's), else in a short transaction of
        this thread's own (the publisher's, or a caller outside any request)."""
        if dal is not None:
            return read_sensors(dal)
        if has_request_context():
            from ..runtime import runtime

            return read_sensors(runtime().dal)
        return list(self._read(read_sensors))

    def sync(self, sensors: list[Sensor]) -> dict[str, PacketTarget]:
        """The target of each sensor's address (channels of gone sensors closed)."""
        return self.pool.sync(sensors)

    @property
    def targets(self) -> list[PacketTarget]:
        """A target per sensor, read from the database now."""
        return list(self.sync(self.read_sensors()).values())

    def sensors_changed(self) -> None:
        """A sensor was added, moved or removed: the publisher reads them again and
        publishes what is due now (through the lease row when another process publishes)."""
        self.publisher.sensors_changed()

    def seed_sensors(self, dal: Any = None) -> list[str]:
        """PACKET_SERVICE_TARGETS: a sensor attached to the default rule set for each address
        no sensor has (once per deployment: at schema setup and by the lease holder)."""
        if not self.settings.packet_service_targets:
            return []
        if dal is not None:
            added = seed_sensors(dal, self.settings.packet_service_targets)
        else:
            added = self._write(lambda d: seed_sensors(d, self.settings.packet_service_targets))
        if added:
            log.info("sensors seeded from PACKET_SERVICE_TARGETS", extra={"targets": added})
        return added

    def _write(self, write: Any) -> Any:
        return self._read(write)  # one transaction, committed when `write` returns

    # ------------------------------------------------------------------ rule sets
    def _load_desired(self, ruleset_id: int = DEFAULT_RULESET) -> Any:
        def read(dal: Any) -> Any:
            if ruleset_id == DEFAULT_RULESET:
                return store.current(dal)
            if dal(dal.packet_ruleset.id == ruleset_id).isempty():
                return None
            return store.current(dal, ruleset_id)  # type: ignore[call-arg]

        state = self._read(read)
        if state is None:
            return None
        return to_proto(state.version, state.default_action, state.rules)

    def _load_version(self, ruleset_id: int = DEFAULT_RULESET) -> int | None:
        def read(dal: Any) -> int | None:
            if ruleset_id == DEFAULT_RULESET:
                return int(store.version(dal))
            table = dal.packet_ruleset
            row = dal(table.id == ruleset_id).select(table.version, limitby=(0, 1)).first()
            return None if row is None else int(row.version or 0)

        return self._read(read)

    def provision_service_key(self, datastore: Any) -> None:
        """Creates (or replaces) this host's service API key. The account holds the
        maintainer role and cannot log in (no password). Made whether or not a sensor
        exists yet: one may be added at any time."""
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
        self.pool.close()
