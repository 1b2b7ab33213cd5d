"""The rule model (what a rule means: packet-service's README, "Rules") as REST bodies.
The pydantic models validate input (422 naming the field), drive the OpenAPI document, and
convert to the rookery.packet.v1 messages that carry the rule set to packet-service."""

from __future__ import annotations

import ipaddress
import unicodedata
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

from ..api.v1.bodies import (
    SINGLE_LINE_PATTERN,
    MultilineText,
    Query,
    Timestamp,
    single_line,
    text,
)
from ..gen import packet_pb2

Action = Literal["allow", "drop", "count"]
DefaultAction = Literal["allow", "drop"]
NAMED_PROTOCOLS = ("any", "tcp", "udp", "icmp", "icmpv6")
# Ports only make sense where the packet has them: TCP (6), UDP (17), or "any".
PORT_PROTOCOLS = ("any", "tcp", "udp", "6", "17")


def _protocol(value: str) -> str:
    text = value.strip().lower()
    if text in NAMED_PROTOCOLS:
        return text
    if text.isdigit() and int(text) <= 255:
        return str(int(text))
    raise ValueError("must be any, tcp, udp, icmp, icmpv6 or a number 0-255")


def _cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 or IPv6 address or CIDR") from None


def _port_range(value: str) -> str:
    low, _, high = value.strip().partition("-")
    high = high or low
    if not (low.isdigit() and high.isdigit() and 1 <= int(low) <= int(high) <= 65535):
        raise ValueError(f"{value!r} must be N or N-M within 1-65535 with N <= M")
    return str(int(low)) if int(low) == int(high) else f"{int(low)}-{int(high)}"


# Text first (control characters refused before whitespace is stripped), then the parse.
Protocol = Annotated[text(8), AfterValidator(_protocol)]
Cidr = Annotated[text(64), AfterValidator(_cidr)]
PortRange = Annotated[text(11), AfterValidator(_port_range)]
Name = text(100, min_length=1)
RuleId = text(64, min_length=1)
Vlan = Annotated[int, Field(ge=0, le=4095)]
MAX_ITEMS = 256


class _RuleFields(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, str_strip_whitespace=True)

    # Declared after `protocol`, so the protocol is already validated here (info.data).
    @field_validator("src_ports", "dst_ports", check_fields=False)
    @classmethod
    def ports_need_a_port_protocol(cls, ports: list[str] | None, info: ValidationInfo) -> Any:
        protocol = info.data.get("protocol")
        if ports and protocol is not None and protocol not in PORT_PROTOCOLS:
            raise ValueError("ports need protocol tcp, udp or any")
        return ports


class RuleIn(_RuleFields):
    name: Name
    action: Action
    protocol: Protocol = "any"
    src: list[Cidr] = Field(default_factory=list, max_length=MAX_ITEMS)
    dst: list[Cidr] = Field(default_factory=list, max_length=MAX_ITEMS)
    src_ports: list[PortRange] = Field(default_factory=list, max_length=MAX_ITEMS)
    dst_ports: list[PortRange] = Field(default_factory=list, max_length=MAX_ITEMS)
    vlan: Vlan | None = None
    enabled: bool = True
    description: MultilineText = Field(default="", max_length=2000)


class RulePatchIn(_RuleFields):
    """Any subset of a rule's fields. `vlan: null` clears the VLAN match."""

    name: Name | None = None
    action: Action | None = None
    protocol: Protocol | None = None
    src: list[Cidr] | None = Field(default=None, max_length=MAX_ITEMS)
    dst: list[Cidr] | None = Field(default=None, max_length=MAX_ITEMS)
    src_ports: list[PortRange] | None = Field(default=None, max_length=MAX_ITEMS)
    dst_ports: list[PortRange] | None = Field(default=None, max_length=MAX_ITEMS)
    vlan: Vlan | None = None
    enabled: bool | None = None
    description: MultilineText | None = Field(default=None, max_length=2000)


# GET /rules pages. The web UI asks for RULES_PAGE_MAX rules at once; a set larger than
# that is read page by page (meta.total says how many pages there are).
RULES_PAGE_DEFAULT = 100
RULES_PAGE_MAX = 1000


class RuleListQuery(Query):
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=RULES_PAGE_DEFAULT, ge=1, le=RULES_PAGE_MAX)


class RuleOut(BaseModel):
    id: str
    position: int
    name: str
    action: str
    protocol: str
    src: list[str]
    dst: list[str]
    src_ports: list[str]
    dst_ports: list[str]
    vlan: int | None
    enabled: bool
    description: str


class RuleSetIn(BaseModel):
    """A whole rule set, for the dry-run validation endpoint."""

    model_config = ConfigDict(extra="ignore", strict=True)
    default_action: DefaultAction = "allow"
    rules: list[RuleIn] = Field(default_factory=list, max_length=10_000)


class ReorderIn(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    ids: list[RuleId] = Field(max_length=10_000)


class DefaultActionIn(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    default_action: DefaultAction


class ValidationOut(BaseModel):
    valid: bool
    rule_count: int


class TargetStatusOut(BaseModel):
    target: str
    # The sensor (a row of /api/v1/sensors) behind the target, once sensors are rows.
    sensor_id: int | None = None
    name: str | None = None
    applied_version: int | None
    last_publish_at: datetime | None
    last_contact_at: datetime | None
    last_error: str | None
    breaker_state: str


class RuleStatusOut(BaseModel):
    desired_version: int
    default_action: str
    state: Literal["in_sync", "pending"]
    targets: list[TargetStatusOut]


# -- rule sets ------------------------------------------------------------------------------
def _ruleset_name(value: str) -> str:
    """NFC; printable characters only: no control, format (zero-width, bidirectional
    overrides) or separator characters but the plain space."""
    value = unicodedata.normalize("NFC", value.strip())
    if not value:
        raise ValueError("must not be empty or only spaces")
    for position, char in enumerate(value):
        if not char.isprintable():
            raise ValueError(
                f"must be printable characters (U+{ord(char):04X} at position {position})"
            )
    if len(value) > 64:
        raise ValueError("must be at most 64 characters")
    return value


RuleSetName = Annotated[
    str,
    BeforeValidator(single_line),
    StringConstraints(min_length=1, max_length=200),
    AfterValidator(_ruleset_name),
    Field(json_schema_extra={"pattern": SINGLE_LINE_PATTERN}),
]
RuleSetDescription = Annotated[MultilineText, Field(max_length=2000)]
TeamId = Annotated[int, Field(ge=1, lt=2**63)]


class RuleSetCreateIn(BaseModel):
    """A new rule set: global (no team_id) or owned by a team."""

    model_config = ConfigDict(extra="ignore", strict=True)
    name: RuleSetName
    team_id: TeamId | None = None
    default_action: DefaultAction
    description: RuleSetDescription = ""


class RuleSetPatchIn(BaseModel):
    """Any of name, description and default action. The owner (team_id) is fixed when the
    set is created."""

    model_config = ConfigDict(extra="ignore", strict=True)
    name: RuleSetName | None = None
    description: RuleSetDescription | None = None
    default_action: DefaultAction | None = None

    # Accepted only to be refused by name (an ignored field would look like a change).
    team_id: Any = Field(default=None, json_schema_extra={"readOnly": True})

    @field_validator("team_id")
    @classmethod
    def owner_is_fixed(cls, value: Any) -> Any:
        raise ValueError("cannot be changed: a rule set keeps the owner it was made for")

    @field_validator("name", "default_action")
    @classmethod
    def not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("must not be null")
        return value


class RuleSetListQuery(Query):
    page: int = Field(default=1, ge=1, le=100_000)
    per_page: int = Field(default=100, ge=1, le=1000)


class RuleSetOut(BaseModel):
    id: int
    name: str
    description: str
    team_id: int | None
    version: int
    default_action: str
    created_at: Timestamp
    updated_at: Timestamp
    rule_count: int
    sensor_count: int
    my_scopes: list[str] = Field(
        description="What the caller may do on this set: their effective scopes on it (global,"
        " their team role in the owning team, their grants; an API key within its own), among"
        " the scopes a resource can carry"
    )


def to_proto(version: int, default_action: str, rules: list[dict[str, Any]]) -> packet_pb2.RuleSet:
    message = packet_pb2.RuleSet(version=version, default_action=default_action)
    for rule in rules:
        entry = message.rules.add(
            id=rule["id"],
            name=rule["name"],
            action=rule["action"],
            protocol=rule["protocol"],
            src=rule["src"],
            dst=rule["dst"],
            src_ports=rule["src_ports"],
            dst_ports=rule["dst_ports"],
            enabled=rule["enabled"],
            description=rule["description"],
        )
        if rule["vlan"] is not None:
            entry.vlan = rule["vlan"]
    return message
