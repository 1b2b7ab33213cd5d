"""Sensors: the packet-service instances of the deployment, rows of table `sensor` (name,
gRPC address, owning team, the rule set it enforces).

The publisher reads them at every round (one small statement) and the statistics view
before answering; `TargetPool` keeps one `PacketTarget` (channel, breaker, deadline) per
address, opened when a sensor appears and closed when it goes."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..utils import utcnow
from .packet_client import PacketTarget, parse_targets

DEFAULT_RULESET = 1


@dataclass(slots=True, frozen=True)
class Sensor:
    id: int
    name: str
    address: str
    ruleset_id: int
    team_id: int | None = None


def read_sensors(dal: Any) -> list[Sensor]:
    """Every sensor, by id."""
    table = dal.sensor
    rows = dal(table).select(
        table.id, table.name, table.address, table.ruleset_id, table.team_id,
        orderby=table.id, cacheable=True,
    )  # fmt: skip
    return [
        Sensor(int(r.id), r.name, r.address, int(r.ruleset_id), r.team_id and int(r.team_id))
        for r in rows
    ]


def seed_name(address: str, taken: set[str]) -> str:
    """A sensor name made from its address ("127.0.0.1:50051" → "127.0.0.1-50051"), made
    unique against `taken` with a numeric suffix; at most 64 characters."""
    base = address.replace("[", "").replace("]", "").replace(":", "-")[:56] or "sensor"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def seed_sensors(dal: Any, targets: str, ruleset_id: int = DEFAULT_RULESET) -> list[str]:
    """PACKET_SERVICE_TARGETS: a sensor attached to the default rule set for each address
    that no sensor has yet. Returns the addresses added (the caller commits)."""
    addresses = parse_targets(targets)
    if not addresses:
        return []
    table = dal.sensor
    rows = dal(table).select(table.name, table.address)
    known = {r.address for r in rows}
    taken = {r.name for r in rows}
    added = []
    for address in addresses:
        if address in known:
            continue
        name = seed_name(address, taken)
        now = utcnow()
        table.insert(
            name=name, address=address, ruleset_id=ruleset_id, team_id=None,
            created_at=now, updated_at=now,
        )  # fmt: skip
        known.add(address)
        taken.add(name)
        added.append(address)
    return added


class TargetPool:
    """One PacketTarget per sensor address, shared by the publisher and the statistics
    view. `sync()` opens the channels of new addresses and closes those no sensor has any
    more; a closed target's breaker and status go with it."""

    def __init__(self, factory: Callable[[str], PacketTarget]) -> None:
        self._factory = factory
        self._targets: dict[str, PacketTarget] = {}
        self._lock = threading.Lock()

    def sync(self, sensors: list[Sensor]) -> dict[str, PacketTarget]:
        wanted = {s.address for s in sensors}
        gone: list[PacketTarget] = []
        with self._lock:
            for address in list(self._targets):
                if address not in wanted:
                    gone.append(self._targets.pop(address))
            for address in wanted:
                if address not in self._targets:
                    self._targets[address] = self._factory(address)
            current = dict(self._targets)
        for target in gone:
            target.close()
        return current

    def get(self, address: str) -> PacketTarget | None:
        with self._lock:
            return self._targets.get(address)

    @property
    def targets(self) -> list[PacketTarget]:
        with self._lock:
            return list(self._targets.values())

    def close(self) -> None:
        with self._lock:
            targets, self._targets = list(self._targets.values()), {}
        for target in targets:
            target.close()
