"""Who may do what on which resource: the three levels of the access model.

A request's effective scopes on a resource are

    the caller's global scopes (their roles, as in the token)
  + the scopes of their team role in the team that owns the resource
  + their grants on the resource (their own, and those of the teams they belong to).

An API key never holds more than its scopes: the team and grant scopes are intersected with
them, and a key restricted to a team or to a rule set (api_key.team_id / ruleset_id) holds
nothing outside it. Kinds of resource: "team" (a team owns itself), "ruleset" (owned by its
team_id; grants apply) and "sensor" (owned by its team_id; whoever may read the sensor's rule
set may also see the sensor and its statistics: sensors:read and stats:read).

Team and grant data are read once per ACCESS_TTL per process into a snapshot (every
membership, custom team role, grant, and the owner of every rule set and sensor; a few small
tables) and looked up in memory: a team member's request costs a few dict lookups, and a
caller holding the scope globally never looks. The snapshot lives as long as a principal
cache entry (PRINCIPAL_CACHE_TTL, 2 s by default): a change made in this process applies at
once (invalidate(), again after the change commits), one made in another worker or replica
within that bound. With the principal cache off (TTL 0) every request reads its own snapshot.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app, g

from .credentials import Principal
from .policy import GRANT_ROLES, RESOURCE_SCOPES, TEAM_ROLES
from .runtime import runtime

KINDS = ("team", "ruleset", "sensor")
EXTENSION = "rookery.access"
EMPTY: frozenset[str] = frozenset()
# What seeing a sensor's rule set lets one see of the sensor itself.
SENSOR_READ_SCOPES: frozenset[str] = frozenset({"sensors:read", "stats:read"})
_RESOURCE_SCOPES = frozenset(RESOURCE_SCOPES)


@dataclass(slots=True)
class Snapshot:
    """Every team, membership, custom team role and grant, and who owns what."""

    teams: set[int] = field(default_factory=set)
    ruleset_team: dict[int, int | None] = field(default_factory=dict)  # rule set -> owner
    sensors: dict[int, tuple[int | None, int | None]] = field(default_factory=dict)
    # user -> {team: scopes of their role there}
    memberships: dict[int, dict[int, frozenset[str]]] = field(default_factory=dict)
    # user -> {rule set: scopes}, team -> {rule set: scopes}
    user_grants: dict[int, dict[int, frozenset[str]]] = field(default_factory=dict)
    team_grants: dict[int, dict[int, frozenset[str]]] = field(default_factory=dict)
    team_roles: dict[str, frozenset[str]] = field(default_factory=dict)  # custom roles


def team_role_scopes(role: str, custom: dict[str, frozenset[str]]) -> frozenset[str]:
    """The scopes of a team role by name: built-in, custom, or nothing (a role deleted
    under a membership, which the API refuses, grants nothing)."""
    builtin = TEAM_ROLES.get(role)
    if builtin is not None:
        return frozenset(builtin[1])
    return custom.get(role, EMPTY)


def grant_scopes(role: str, scopes: list[str] | None) -> frozenset[str]:
    builtin = GRANT_ROLES.get(role)
    if builtin is not None:
        return frozenset(builtin[1])
    if role == "custom":
        return frozenset(scopes or ()) & _RESOURCE_SCOPES
    return EMPTY


def load_snapshot(dal: Any) -> Snapshot:
    snap = Snapshot()
    snap.teams = {row.id for row in dal(dal.team).select(dal.team.id)}
    rs = dal.packet_ruleset
    snap.ruleset_team = {row.id: row.team_id for row in dal(rs).select(rs.id, rs.team_id)}
    sensor = dal.sensor
    snap.sensors = {
        row.id: (row.team_id, row.ruleset_id)
        for row in dal(sensor).select(sensor.id, sensor.team_id, sensor.ruleset_id)
    }
    tr = dal.team_role
    snap.team_roles = {
        row.name: frozenset(row.scopes or ()) & _RESOURCE_SCOPES
        for row in dal(tr).select(tr.name, tr.scopes)
    }
    tm = dal.team_member
    for row in dal(tm).select(tm.team_id, tm.user_id, tm.role):
        scopes = team_role_scopes(row.role, snap.team_roles)
        snap.memberships.setdefault(row.user_id, {})[row.team_id] = scopes
    gr = dal.ruleset_grant
    for row in dal(gr).select(gr.ruleset_id, gr.user_id, gr.team_id, gr.role, gr.scopes):
        scopes = grant_scopes(row.role, row.scopes)
        if row.user_id is not None:
            holder = snap.user_grants.setdefault(row.user_id, {})
        elif row.team_id is not None:
            holder = snap.team_grants.setdefault(row.team_id, {})
        else:  # pragma: no cover - the API never writes one
            continue
        holder[row.ruleset_id] = holder.get(row.ruleset_id, EMPTY) | scopes
    return snap


class AccessCache:
    """One snapshot per process (per app), reloaded after `ttl` seconds or an invalidation."""

    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self.ttl = ttl
        self.clock = clock
        self._snapshot: Snapshot | None = None
        self._loaded_at = 0.0
        self._generation = 0
        self._lock = threading.Lock()

    def fresh(self) -> Snapshot | None:
        """The snapshot while it is within its lifetime (no database needed), else None."""
        snap = self._snapshot
        if snap is not None and self.clock() - self._loaded_at <= self.ttl:
            return snap
        return None

    def get(self, dal: Any) -> Snapshot:
        if self.ttl <= 0:
            # Off: one snapshot per request (the guard and the view share it).
            snap = g.get("access_snapshot")
            if snap is None:
                snap = g.access_snapshot = load_snapshot(dal)
            return snap
        snap = self._snapshot
        if snap is not None and self.clock() - self._loaded_at <= self.ttl:
            return snap
        with self._lock:
            snap = self._snapshot
            if snap is not None and self.clock() - self._loaded_at <= self.ttl:
                return snap
            generation = self._generation
            started = self.clock()
        snap = load_snapshot(dal)
        with self._lock:
            # An invalidation while it loaded: the snapshot may predate the change; this
            # request uses it, the next one loads again.
            if generation == self._generation:
                self._snapshot = snap
                self._loaded_at = started
        return snap

    def clear(self) -> None:
        with self._lock:
            self._generation += 1
            self._snapshot = None


def install(app: Flask) -> AccessCache:
    """The app's access cache; also clears it after a request that changed access data has
    committed (a request loading a snapshot meanwhile could otherwise keep the old state)."""
    cache = app.extensions.get(EXTENSION)
    if cache is not None:
        return cache
    svc = app.extensions["rookery"]
    cache = AccessCache(svc.settings.principal_cache_ttl, svc.principal_cache.clock)
    app.extensions[EXTENSION] = cache
    # Account changes (a user deleted takes their memberships and grants along).
    svc.datastore.on_change.append(cache.clear)

    def after_commit(error: BaseException | None) -> None:
        if g.get("access_changed"):
            cache.clear()

    # Teardown functions run last-registered first: at the front of the list, this one
    # runs after the request lifecycle's commit.
    app.teardown_request_funcs.setdefault(None, []).insert(0, after_commit)
    return cache


def _cache() -> AccessCache:
    cache = current_app.extensions.get(EXTENSION)
    if cache is None:
        cache = install(current_app._get_current_object())  # type: ignore[attr-defined]
    return cache


def snapshot() -> Snapshot:
    cache = _cache()
    if cache.ttl > 0:
        snap = cache.fresh()
        if snap is not None:
            return snap
    return cache.get(runtime().dal)


def invalidate() -> None:
    """Call after any membership, team role, grant or ownership change (this process sees it
    at once; other processes within the principal cache's bound)."""
    _cache().clear()
    g.access_changed = True
    g.pop("access_snapshot", None)


def _knowing(snap: Snapshot, kind: str, resource_id: int) -> Snapshot:
    """The snapshot, loaded again when it does not know a resource that exists: one created
    since (here or in another process) is usable at once, not after the bound."""
    if resource_id in _ids(snap, kind) or not 0 < resource_id < 2**63:
        return snap
    dal = runtime().dal
    table = {"team": dal.team, "ruleset": dal.packet_ruleset, "sensor": dal.sensor}[kind]
    if dal(table.id == resource_id).isempty():
        return snap
    cache = _cache()
    cache.clear()
    g.pop("access_snapshot", None)
    return cache.get(dal)


def is_restricted(principal: Principal) -> bool:
    """An API key restricted to one team or one rule set."""
    return principal.key_team_id is not None or principal.key_ruleset_id is not None


def _team_scopes(snap: Snapshot, user_id: int, team_id: int | None) -> frozenset[str]:
    if team_id is None:
        return EMPTY
    return snap.memberships.get(user_id, {}).get(team_id, EMPTY)


def _ruleset_scopes(snap: Snapshot, user_id: int, ruleset_id: int) -> frozenset[str]:
    """Team-role and grant scopes of a user on an existing rule set."""
    scopes = _team_scopes(snap, user_id, snap.ruleset_team[ruleset_id])
    own = snap.user_grants.get(user_id)
    if own:
        scopes = scopes | own.get(ruleset_id, EMPTY)
    if snap.team_grants:
        for team_id in snap.memberships.get(user_id, ()):
            granted = snap.team_grants.get(team_id)
            if granted:
                scopes = scopes | granted.get(ruleset_id, EMPTY)
    return scopes


def _within(principal: Principal, snap: Snapshot, kind: str, resource_id: int) -> bool:
    """Whether a restricted key may act on the resource at all."""
    team, ruleset = principal.key_team_id, principal.key_ruleset_id
    if kind == "team":
        return team is not None and resource_id == team
    if kind == "ruleset":
        if ruleset is not None:
            return resource_id == ruleset
        return resource_id in snap.ruleset_team and snap.ruleset_team[resource_id] == team
    if kind == "sensor":
        owner = snap.sensors.get(resource_id)
        if owner is None:
            return False
        if ruleset is not None:
            return owner[1] == ruleset
        return owner[0] == team
    return False


def _local_scopes(principal: Principal, snap: Snapshot, kind: str, rid: int) -> frozenset[str]:
    """Team and grant scopes (not the global ones) of the principal's user on a resource."""
    user_id = principal.user.id
    if kind == "team":
        return _team_scopes(snap, user_id, rid)
    if kind == "ruleset":
        if rid not in snap.ruleset_team:
            return EMPTY
        return _ruleset_scopes(snap, user_id, rid)
    if kind == "sensor":
        owner = snap.sensors.get(rid)
        if owner is None:
            return EMPTY
        team_id, ruleset_id = owner
        scopes = _team_scopes(snap, user_id, team_id)
        if principal.key_ruleset_id is not None:
            scopes = EMPTY  # a key kept to one rule set only sees that set's sensors
        if ruleset_id is not None and "rules:read" in effective_scopes(
            principal, "ruleset", ruleset_id
        ):
            scopes = scopes | SENSOR_READ_SCOPES
        return scopes
    raise ValueError(f"unknown kind of resource {kind!r}")


def effective_scopes(principal: Principal, kind: str, resource_id: int | None) -> frozenset[str]:
    """Global + team-role scopes in the owning team + grants; for an API key, within the key's
    scopes, and nothing outside the key's team/rule-set restriction. resource_id None (no
    resource, e.g. no team in a body): the global scopes only (nothing for a restricted
    key)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of resource {kind!r}")
    restricted = is_restricted(principal)
    if resource_id is None:
        return EMPTY if restricted else principal.scopes
    snap = _knowing(snapshot(), kind, resource_id)
    if restricted and not _within(principal, snap, kind, resource_id):
        return EMPTY
    local = _local_scopes(principal, snap, kind, resource_id)
    if principal.key_scopes is None:
        return principal.scopes | local if local else principal.scopes
    scopes = principal.scopes | (local & principal.key_scopes)
    if kind == "sensor" and principal.key_ruleset_id is not None:
        scopes &= SENSOR_READ_SCOPES
    return scopes


def allowed(principal: Principal, scope: str, kind: str, resource_id: int | None) -> bool:
    if scope in principal.scopes and not is_restricted(principal):
        return True  # held globally: no lookup
    return scope in effective_scopes(principal, kind, resource_id)


def _ids(snap: Snapshot, kind: str) -> Any:
    if kind == "team":
        return snap.teams
    if kind == "ruleset":
        return snap.ruleset_team.keys()
    if kind == "sensor":
        return snap.sensors.keys()
    raise ValueError(f"unknown kind of resource {kind!r}")


def visible_ids(principal: Principal, kind: str, scope: str) -> set[int] | None:
    """None: every resource of the kind (the caller holds `scope` globally, unrestricted);
    otherwise the ids on which the caller's effective scopes include `scope`."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of resource {kind!r}")
    if scope in principal.scopes and not is_restricted(principal):
        return None
    snap = snapshot()
    return {rid for rid in _ids(snap, kind) if scope in effective_scopes(principal, kind, rid)}
