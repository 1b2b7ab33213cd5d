"""/api/v1/sensors: the packet-service instances of the deployment (name, gRPC address,
owning team or none, the rule set each enforces). The publisher (packet_link) publishes to
each sensor the rule set it is attached to; a sensor added, moved to another rule set or
removed is published to at once (`packet_link.sensors_changed()`).

Who may do what is the policy table's (policy.py): listing shows the sensors the caller
may read (access.visible_ids); attaching a sensor to a rule set also needs rules:write on
that set, so nobody points a sensor at a set they cannot see, nor vetoes its deletion.

The rule set and the team a sensor is given are kept (row_locks.keep) from the check that
they exist to the end of the request's transaction: deleting them meanwhile waits, then
finds the sensor (409 ruleset_in_use, team_in_use); a deletion that came first makes the
check answer 404. Never a sensor enforcing a set, or owned by a team, that is gone."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any

from flask import Blueprint
from pydantic import AfterValidator, BaseModel, Field

from ... import access, audit, row_locks
from ...errors import ApiError
from ...guard import current_principal
from ...packet_link.sensors import DEFAULT_RULESET
from ...runtime import runtime
from ...utils import utcnow
from .. import endpoint, parse_body, parse_query, respond
from .bodies import Query, Request, Text, Timestamp

bp = Blueprint("sensors", __name__, url_prefix="/api/v1/sensors")

HOSTNAME_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def check_address(value: str) -> str:
    """host:port — an IPv4 address, [an IPv6 address] or a host name; port 1-65535."""
    text = value.strip()
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep:
            raise ValueError("an IPv6 address is written [address]:port")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} is not an IPv6 address") from None
    else:
        host, sep, port = text.rpartition(":")
        if not sep or not host:
            raise ValueError("must be host:port (10.0.0.5:50051, [::1]:50051, sensor-1:50051)")
        if ":" in host:
            raise ValueError("an IPv6 address is written [address]:port")
        if re.fullmatch(r"[0-9.]+", host):
            try:
                ipaddress.IPv4Address(host)
            except ValueError:
                raise ValueError(f"{host!r} is not an IPv4 address") from None
        else:
            name = host[:-1] if host.endswith(".") else host
            if len(name) > 253 or not all(HOSTNAME_LABEL.match(p) for p in name.split(".")):
                raise ValueError(f"{host!r} is not a host name")
            # One spelling per host, so that uniqueness means one packet-service: host names
            # are case-insensitive and "name." is "name".
            host = name.lower()
    if not port.isascii() or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("the port must be a number from 1 to 65535")
    if text.startswith("["):
        return f"[{ipaddress.IPv6Address(host).compressed}]:{int(port)}"
    return f"{host}:{int(port)}"


Address = Annotated[Text, Field(min_length=3, max_length=255), AfterValidator(check_address)]
Name = Annotated[Text, Field(min_length=1, max_length=64), AfterValidator(str.strip)]


def _name(value: str) -> str:
    if not value:
        raise ValueError("must not be empty")
    if not value.isprintable():
        raise ValueError("must be printable characters")
    return value


SensorName = Annotated[Name, AfterValidator(_name)]


class SensorIn(Request):
    name: SensorName
    address: Address
    ruleset_id: int = Field(default=DEFAULT_RULESET, ge=1)
    team_id: int | None = Field(default=None, ge=1)


class SensorPatchIn(Request):
    name: SensorName | None = None
    address: Address | None = None
    ruleset_id: int | None = Field(default=None, ge=1)
    team_id: int | None = Field(default=None, ge=1)


class SensorListQuery(Query):
    ruleset_id: int | None = Field(default=None, ge=1)
    team_id: int | None = Field(default=None, ge=1)
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=50, ge=1, le=200)


class SensorOut(BaseModel):
    id: int
    name: str
    address: str
    ruleset_id: int
    team_id: int | None
    created_at: Timestamp
    updated_at: Timestamp


class SensorListMeta(BaseModel):
    total: int
    page: int
    per_page: int


def _json(row: Any) -> dict[str, Any]:
    return {
        "id": int(row.id),
        "name": row.name,
        "address": row.address,
        "ruleset_id": int(row.ruleset_id),
        "team_id": None if row.team_id is None else int(row.team_id),
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def _load(sensor_id: int) -> Any:
    dal = runtime().dal
    row = dal(dal.sensor.id == sensor_id).select(limitby=(0, 1)).first()
    if row is None:
        raise ApiError(404, "not_found", f"no sensor with id {sensor_id}")
    return row


def _check_ruleset(ruleset_id: int) -> None:
    """The rule set exists and the caller may write it. A set they cannot read is, to them,
    no set at all (404 either way). A set they may only read is 403: a sensor attached to
    a set keeps its owners from deleting it, and a read-only grant must not give that
    veto to another team."""
    dal = runtime().dal
    missing = not row_locks.keep(dal, "packet_ruleset", ruleset_id)
    if ruleset_id == DEFAULT_RULESET and missing:
        missing = False  # the default set's row is made on its first use
    principal = current_principal()
    if missing or not access.allowed(principal, "rules:read", "ruleset", ruleset_id):
        raise ApiError(
            404,
            "not_found",
            f"no rule set with id {ruleset_id} (or one you may not read)",
            {"fields": {"ruleset_id": "unknown rule set"}},
        )
    if not access.allowed(principal, "rules:write", "ruleset", ruleset_id):
        raise ApiError(
            403,
            "insufficient_scope",
            f"attaching a sensor to rule set {ruleset_id} needs 'rules:write' on it",
            {"required": "rules:write", "fields": {"ruleset_id": "read-only to you"}},
        )


def _check_may_choose_address() -> None:
    """The backend dials a sensor's address and presents its own service credential there:
    only a caller holding sensors:admin globally (not through a team, not with a restricted
    key) may say which address that is."""
    principal = current_principal()
    if "sensors:admin" not in principal.scopes or access.is_restricted(principal):
        raise ApiError(
            403,
            "insufficient_scope",
            "choosing a sensor's address needs the global 'sensors:admin' scope (flask-backend"
            " presents its service credential to that address)",
            {"required": "sensors:admin"},
        )


def _check_team(team_id: int) -> None:
    """The team exists, and stays until the end of this request (row_locks.keep)."""
    dal = runtime().dal
    if not row_locks.keep(dal, "team", team_id):
        raise ApiError(
            404, "not_found", f"no team with id {team_id}", {"fields": {"team_id": "unknown team"}}
        )


def _check_unique(name: str | None, address: str | None, sensor_id: int | None = None) -> None:
    dal = runtime().dal
    table = dal.sensor
    other = table.id != sensor_id if sensor_id is not None else table.id > 0
    fields: dict[str, str] = {}
    if name is not None and not dal(other & (table.name == name)).isempty():
        fields["name"] = "already in use by another sensor"
    if address is not None and not dal(other & (table.address == address)).isempty():
        fields["address"] = "already in use by another sensor"
    if fields:
        raise ApiError(
            409, "conflict", f"a sensor with this {' and '.join(fields)} exists", {"fields": fields}
        )


def _changed() -> None:
    """Commit first (the publisher reads through its own connection), then tell it."""
    svc = runtime()
    svc.database.end_request(ok=True)
    svc.database.begin_request()
    svc.packet_link.sensors_changed()


@endpoint(
    bp,
    "",
    "GET",
    "List the sensors the caller may see (paginated), optionally of one rule set or team",
    query=SensorListQuery,
    response=SensorOut,
    many=True,
    meta=SensorListMeta,
)
def list_sensors() -> Any:
    query = parse_query(SensorListQuery)
    dal = runtime().dal
    table = dal.sensor
    condition = table.id > 0
    visible = access.visible_ids(current_principal(), "sensor", "sensors:read")
    if visible is not None:
        condition &= table.id.belongs(sorted(visible) or [0])
    if query.ruleset_id is not None:
        condition &= table.ruleset_id == query.ruleset_id
    if query.team_id is not None:
        condition &= table.team_id == query.team_id
    total = dal(condition).count()
    start = (query.page - 1) * query.per_page
    rows = dal(condition).select(orderby=table.id, limitby=(start, start + query.per_page))
    return respond(
        [_json(r) for r in rows],
        SensorOut,
        meta={"total": total, "page": query.page, "per_page": query.per_page},
    )


@endpoint(
    bp,
    "",
    "POST",
    "Register a sensor: the publisher sends it its rule set at once",
    body=SensorIn,
    response=SensorOut,
    status=201,
    errors=((404, "unknown rule set or team: not_found"), (409, "name or address in use")),
)
def create_sensor() -> Any:
    payload = parse_body(SensorIn)
    _check_may_choose_address()
    _check_ruleset(payload.ruleset_id)
    if payload.team_id is not None:
        _check_team(payload.team_id)
    _check_unique(payload.name, payload.address)
    dal = runtime().dal
    now = utcnow()
    sensor_id = dal.sensor.insert(
        name=payload.name,
        address=payload.address,
        ruleset_id=payload.ruleset_id,
        team_id=payload.team_id,
        created_at=now,
        updated_at=now,
    )
    row = _load(int(sensor_id))
    audit.record_caller_action("sensor_created", f"sensor:{row.name}", _json(row))
    access.invalidate()  # a new resource owned by a team
    _changed()
    return respond(_json(row), SensorOut, status=201)


@endpoint(bp, "/<int:sensor_id>", "GET", "A sensor", response=SensorOut)
def get_sensor(sensor_id: int) -> Any:
    return respond(_json(_load(sensor_id)), SensorOut)


@endpoint(
    bp,
    "/<int:sensor_id>",
    "PATCH",
    "Rename, readdress, move to another rule set (published at once) or another team",
    body=SensorPatchIn,
    response=SensorOut,
    errors=((404, "unknown sensor, rule set or team: not_found"), (409, "name or address in use")),
)
def patch_sensor(sensor_id: int) -> Any:
    payload = parse_body(SensorPatchIn)
    given = payload.model_fields_set
    row = _load(sensor_id)
    changes: dict[str, Any] = {}
    nulls = {
        field: "must not be null"
        for field in ("name", "address", "ruleset_id")
        if field in given and getattr(payload, field) is None
    }
    if nulls:
        raise ApiError(
            422, "validation_error", f"invalid body: {', '.join(nulls)}", {"fields": nulls}
        )
    for field in ("name", "address", "ruleset_id", "team_id"):
        if field in given and getattr(payload, field) != row[field]:
            changes[field] = getattr(payload, field)
    if "address" in changes:
        _check_may_choose_address()
    if "ruleset_id" in changes:
        _check_ruleset(changes["ruleset_id"])
    # Giving the sensor to a team (or taking it from one) needs sensors:admin there too, as
    # registering it for that team would. Checked before whether the team exists: a refusal
    # must not tell which team ids do.
    if "team_id" in changes and not access.allowed(
        current_principal(), "sensors:admin", "team", changes["team_id"]
    ):
        raise ApiError(403, "forbidden", "sensors:admin is needed in the team given")
    if changes.get("team_id") is not None:
        _check_team(changes["team_id"])
    _check_unique(changes.get("name"), changes.get("address"), sensor_id)
    if changes:
        dal = runtime().dal
        dal(dal.sensor.id == sensor_id).update(updated_at=utcnow(), **changes)
        before = {field: row[field] for field in changes}
        audit.record_caller_action(
            "sensor_updated",
            f"sensor:{changes.get('name', row.name)}",
            {"id": sensor_id, "before": before, "after": changes},
        )
        if {"team_id", "ruleset_id"} & changes.keys():
            access.invalidate()  # who may see a sensor follows its team and its rule set
        if {"address", "ruleset_id"} & changes.keys():
            _changed()
    return respond(_json(_load(sensor_id)), SensorOut)


@endpoint(
    bp, "/<int:sensor_id>", "DELETE", "Remove a sensor (its channel is closed)", response=SensorOut
)
def delete_sensor(sensor_id: int) -> Any:
    row = _load(sensor_id)
    dal = runtime().dal
    dal(dal.sensor.id == sensor_id).delete()
    audit.record_caller_action("sensor_deleted", f"sensor:{row.name}", _json(row))
    access.invalidate()
    _changed()
    return respond(_json(row), SensorOut)
