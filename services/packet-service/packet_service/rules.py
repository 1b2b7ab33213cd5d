"""The rule model (what a rule means: this service's README, "Rules"): records,
validation, and compilation into the numeric form the classifier evaluates. No grpc here;
the transport maps messages to these records."""

from __future__ import annotations

import ipaddress
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from packet_service.rule_tables import RuleTables, build_rule_tables

ACTION_ALLOW, ACTION_DROP, ACTION_COUNT = 1, 2, 3
ACTIONS = {"allow": ACTION_ALLOW, "drop": ACTION_DROP, "count": ACTION_COUNT}
DEFAULT_ACTIONS = ("allow", "drop")
PROTOCOL_NAMES = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58}
PORTED_PROTOCOLS = ("any", "tcp", "udp", "6", "17")
NAME_MAX = 100
ANY = -1

_ALL_ONES = (1 << 64) - 1


class RuleSetError(ValueError):
    """A rule set that must not be loaded; `field` names where ("rules[3].src[0]")."""

    def __init__(self, field_path: str, message: str) -> None:
        super().__init__(f"{field_path}: {message}")
        self.field = field_path
        self.message = message


@dataclass(slots=True)
class Rule:
    id: str
    name: str
    action: str = "allow"
    protocol: str = "any"
    src: list[str] = field(default_factory=list)
    dst: list[str] = field(default_factory=list)
    src_ports: list[str] = field(default_factory=list)
    dst_ports: list[str] = field(default_factory=list)
    vlan: int | None = None
    enabled: bool = True
    description: str = ""


@dataclass(slots=True)
class RuleSet:
    version: int = 0
    default_action: str = "allow"
    rules: list[Rule] = field(default_factory=list)


@dataclass(slots=True)
class Cidr:
    """A prefix over the 128-bit (IPv4-mapped) address space, split in two uint64 halves."""

    family: int  # 4 or 6: an IPv4 CIDR matches only IPv4 packets and vice versa
    net_hi: int
    net_lo: int
    mask_hi: int
    mask_lo: int


@dataclass(slots=True)
class CompiledRule:
    index: int  # position in RuleSet.rules
    action: int
    protocol: int  # IP protocol number, ANY
    src: list[Cidr]
    dst: list[Cidr]
    src_ports: np.ndarray  # (k, 2) int32 inclusive ranges; k == 0 = any
    dst_ports: np.ndarray
    vlan: int  # ANY or 0-4095


@dataclass(slots=True)
class CompiledRuleSet:
    """Immutable once built; swapping the reference is the atomic rule-set change."""

    source: RuleSet
    default_verdict: int
    rules: list[CompiledRule]  # enabled rules only, in order
    hits: np.ndarray  # int64, one counter per entry of `rules` (updated under the engine lock)
    loaded_at: float
    tables: RuleTables  # the lookup-table form the classifier evaluates (rule_tables.py)

    @property
    def version(self) -> int:
        return self.source.version


# ---------------------------------------------------------------- validation


def parse_cidr(text: str, field_path: str) -> Cidr:
    try:
        network = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise RuleSetError(field_path, f"{text!r} is not an IPv4 or IPv6 CIDR") from None
    if network.version == 4:
        prefix = 96 + network.prefixlen
        value = 0xFFFF00000000 | int(network.network_address)
    else:
        prefix = network.prefixlen
        value = int(network.network_address)
    mask = ((1 << 128) - 1) ^ ((1 << (128 - prefix)) - 1)
    return Cidr(
        family=network.version,
        net_hi=(value & mask) >> 64,
        net_lo=(value & mask) & _ALL_ONES,
        mask_hi=mask >> 64,
        mask_lo=mask & _ALL_ONES,
    )


def parse_port_range(text: str, field_path: str) -> tuple[int, int]:
    low_text, dash, high_text = text.strip().partition("-")
    try:
        low = int(low_text)
        high = int(high_text) if dash else low
    except ValueError:
        raise RuleSetError(field_path, f"{text!r} is not a port 'N' or range 'N-M'") from None
    if not (1 <= low <= 65535 and 1 <= high <= 65535):
        raise RuleSetError(field_path, f"{text!r}: ports are 1-65535")
    if low > high:
        raise RuleSetError(field_path, f"{text!r}: range start is above its end")
    return low, high


def parse_protocol(text: str, field_path: str) -> int:
    name = text.strip().lower()
    if name in ("", "any"):
        return ANY
    if name in PROTOCOL_NAMES:
        return PROTOCOL_NAMES[name]
    if name.isdigit() and 0 <= int(name) <= 255:
        return int(name)
    raise RuleSetError(field_path, f"{text!r} is not any, tcp, udp, icmp, icmpv6 or 0-255")


def compile_rule_set(rule_set: RuleSet, loaded_at: float | None = None) -> CompiledRuleSet:
    """Validate every field and build the evaluable form; raises RuleSetError on the first
    problem, so a bad set is never half-loaded."""
    if rule_set.version < 0:
        raise RuleSetError("version", "must not be negative")
    if rule_set.default_action not in DEFAULT_ACTIONS:
        raise RuleSetError(
            "default_action", f"{rule_set.default_action!r} is not 'allow' or 'drop'"
        )
    seen_ids: set[str] = set()
    compiled: list[CompiledRule] = []
    for index, rule in enumerate(rule_set.rules):
        where = f"rules[{index}]"
        if not rule.id:
            raise RuleSetError(f"{where}.id", "must not be empty")
        if rule.id in seen_ids:
            raise RuleSetError(f"{where}.id", f"{rule.id!r} is used by an earlier rule")
        seen_ids.add(rule.id)
        if not 1 <= len(rule.name) <= NAME_MAX:
            raise RuleSetError(f"{where}.name", f"must be 1-{NAME_MAX} characters")
        if rule.action not in ACTIONS:
            raise RuleSetError(f"{where}.action", f"{rule.action!r} is not allow, drop or count")
        protocol = parse_protocol(rule.protocol, f"{where}.protocol")
        src = [parse_cidr(c, f"{where}.src[{i}]") for i, c in enumerate(rule.src)]
        dst = [parse_cidr(c, f"{where}.dst[{i}]") for i, c in enumerate(rule.dst)]
        port_lists = []
        for name in ("src_ports", "dst_ports"):
            texts = getattr(rule, name)
            if texts and rule.protocol.strip().lower() not in PORTED_PROTOCOLS:
                raise RuleSetError(
                    f"{where}.{name}", f"ports need protocol tcp, udp or any, not {rule.protocol!r}"
                )
            ranges = [parse_port_range(t, f"{where}.{name}[{i}]") for i, t in enumerate(texts)]
            port_lists.append(np.array(ranges, dtype=np.int32).reshape(-1, 2))
        if rule.vlan is not None and not 0 <= rule.vlan <= 4095:
            raise RuleSetError(f"{where}.vlan", f"{rule.vlan} is not 0-4095")
        if rule.enabled:
            compiled.append(
                CompiledRule(
                    index=index,
                    action=ACTIONS[rule.action],
                    protocol=protocol,
                    src=src,
                    dst=dst,
                    src_ports=port_lists[0],
                    dst_ports=port_lists[1],
                    vlan=ANY if rule.vlan is None else rule.vlan,
                )
            )
    default_verdict = ACTIONS[rule_set.default_action]
    return CompiledRuleSet(
        source=rule_set,
        default_verdict=default_verdict,
        rules=compiled,
        hits=np.zeros(len(compiled), dtype=np.int64),
        loaded_at=time.time() if loaded_at is None else loaded_at,
        tables=build_rule_tables(compiled, default_verdict),
    )


# ---------------------------------------------------------------- JSON (the REST shape)


def rule_set_from_json(document: Any) -> RuleSet:
    """The REST JSON shape ({"version", "default_action", "rules": [...]}) as records.
    A bare list is a rule list with version 0 and default allow."""
    if isinstance(document, list):
        document = {"rules": document}
    if not isinstance(document, dict):
        raise RuleSetError("$", "must be an object with version, default_action and rules")
    rules_doc = document.get("rules", [])
    if not isinstance(rules_doc, list):
        raise RuleSetError("rules", "must be a list")
    rules = []
    for index, item in enumerate(rules_doc):
        if not isinstance(item, dict):
            raise RuleSetError(f"rules[{index}]", "must be an object")
        for list_field in ("src", "dst", "src_ports", "dst_ports"):
            value = item.get(list_field, [])
            if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
                raise RuleSetError(f"rules[{index}].{list_field}", "must be a list of strings")
        vlan = item.get("vlan")
        if vlan is not None and (not isinstance(vlan, int) or isinstance(vlan, bool)):
            raise RuleSetError(f"rules[{index}].vlan", "must be an integer 0-4095 or null")
        rules.append(
            Rule(
                id=str(item.get("id", f"rule-{index + 1}")),
                name=str(item.get("name", item.get("id", f"rule {index + 1}"))),
                action=str(item.get("action", "allow")),
                protocol=str(item.get("protocol", "any")),
                src=[str(v) for v in item.get("src", [])],
                dst=[str(v) for v in item.get("dst", [])],
                src_ports=[str(v) for v in item.get("src_ports", [])],
                dst_ports=[str(v) for v in item.get("dst_ports", [])],
                vlan=vlan,
                enabled=bool(item.get("enabled", True)),
                description=str(item.get("description", "")),
            )
        )
    version = document.get("version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise RuleSetError("version", "must be an integer")
    return RuleSet(
        version=version,
        default_action=str(document.get("default_action", "allow")),
        rules=rules,
    )


def load_rule_set_file(path: str | Path) -> CompiledRuleSet:
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RuleSetError(str(path), f"cannot read rules: {exc}") from None
    return compile_rule_set(rule_set_from_json(document))
