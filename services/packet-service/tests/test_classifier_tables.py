"""The table-driven classifier agrees with the plain one-mask-per-term reference on random
rule sets (several chunks of eight rules, every term kind, IPv4 and IPv6 CIDRs incl.
/0, long IPv6 prefixes and IPv4-mapped space) over realistic and malformed traffic."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packet_service import synthetic as syn
from packet_service.classifier import classify, classify_reference
from packet_service.parser import parse_batch
from packet_service.rules import Rule, RuleSet, compile_rule_set

CIDRS = [
    "10.0.0.0/8",
    "10.7.0.0/16",
    "10.1.0.0/12",
    "192.168.3.0/24",
    "192.168.0.7/32",
    "0.0.0.0/0",
    "2001:db8::/32",
    "2001:db8:0:1::/64",
    "2001:db8:0:2::/64",
    "2001:db8:0:1::/100",
    "2001:db8:0:2::5/128",
    "::/0",
    "::ffff:0:0/96",
    "::ffff:10.0.0.0/104",
]
PORTS = ["22", "53", "80", "443", "8080", "5353", "1024-65535", "1-1023", "5000-6000"]
MIXED = syn.mixed_frames(1500, seed=5, flows=300, mean_payload=60)
MAPPED = syn.ethernet(
    syn.ipv6(
        bytes.fromhex("00000000000000000000ffff0a000001"),
        bytes.fromhex("00000000000000000000ffffc0a80301"),
        6,
        syn.tcp(4000, 22, 0x02),
    ),
    0x86DD,
)
FRAMES = [*MIXED, MAPPED, b"\x00" * 9, MIXED[3][:30], MIXED[7][:17]]

rules_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "action": st.sampled_from(["allow", "drop", "count"]),
            "protocol": st.sampled_from(["any", "tcp", "udp", "icmp", "icmpv6", "47"]),
            "src": st.lists(st.sampled_from(CIDRS), max_size=3),
            "dst": st.lists(st.sampled_from(CIDRS), max_size=3),
            "src_ports": st.lists(st.sampled_from(PORTS), max_size=2),
            "dst_ports": st.lists(st.sampled_from(PORTS), max_size=2),
            "vlan": st.one_of(st.none(), st.integers(0, 4095)),
            "enabled": st.booleans(),
        }
    ),
    max_size=20,
)


def build(specs: list[dict], default: str) -> RuleSet:
    rules = []
    for i, spec in enumerate(specs):
        ported = spec["protocol"] in ("any", "tcp", "udp")
        rules.append(
            Rule(
                id=f"r{i}",
                name=f"rule {i}",
                action=spec["action"],
                protocol=spec["protocol"],
                src=spec["src"],
                dst=spec["dst"],
                src_ports=spec["src_ports"] if ported else [],
                dst_ports=spec["dst_ports"] if ported else [],
                vlan=spec["vlan"],
                enabled=spec["enabled"],
            )
        )
    return RuleSet(version=1, default_action=default, rules=rules)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=rules_strategy, default=st.sampled_from(["allow", "drop"]), seed=st.integers(0, 99))
def test_tables_agree_with_reference(specs, default, seed):
    compiled = compile_rule_set(build(specs, default))
    rng = np.random.default_rng(seed)
    chosen = [FRAMES[i] for i in rng.integers(0, len(FRAMES), 300)]
    # Make some rows hit the VLANs the rules name.
    vlans = [s["vlan"] for s in specs if s["vlan"] is not None]
    if vlans:
        chosen.append(
            syn.ethernet(
                syn.ipv4("10.7.1.1", "192.168.3.9", 17, syn.udp(53, 53)), 0x0800, (vlans[0],)
            )
        )
    parsed = parse_batch(*syn.to_batch(chosen))
    verdicts, hits = classify(parsed, compiled)
    expected_verdicts, expected_hits = classify_reference(parsed, compiled)
    assert verdicts.tolist() == expected_verdicts.tolist()
    assert hits.tolist() == expected_hits.tolist()


def test_no_rules_and_all_malformed():
    compiled = compile_rule_set(RuleSet(version=1, default_action="drop"))
    parsed = parse_batch(*syn.to_batch([b"\x00" * 5, MIXED[0]]))
    verdicts, hits = classify(parsed, compiled)
    assert verdicts.tolist() == [3, 2] and hits.shape == (0,)
