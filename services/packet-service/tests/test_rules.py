"""Rule semantics: first match, count fall-through, CIDR and port edges, VLAN, default
action, validation naming the field, and atomic swap under concurrent classification."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from packet_service import synthetic as syn
from packet_service.classifier import (
    VERDICT_ALLOW,
    VERDICT_DROP,
    VERDICT_MALFORMED,
    RuleSetHolder,
    classify,
)
from packet_service.engine import PacketEngine
from packet_service.parser import parse_batch
from packet_service.rules import (
    Rule,
    RuleSet,
    RuleSetError,
    compile_rule_set,
    load_rule_set_file,
    rule_set_from_json,
)

V6A = bytes.fromhex("20010db8000000000000000000000001")
V6B = bytes.fromhex("20010db8ffff00000000000000000002")


def v4_tcp(src="10.0.0.1", dst="192.168.1.1", sport=40000, dport=443, vlans=()):
    return syn.ethernet(syn.ipv4(src, dst, 6, syn.tcp(sport, dport, 0x02)), 0x0800, vlans)


def v4_udp(src="10.0.0.1", dst="192.168.1.1", sport=40000, dport=53):
    return syn.ethernet(syn.ipv4(src, dst, 17, syn.udp(sport, dport)), 0x0800)


def v6_tcp(src=V6A, dst=V6B, sport=1000, dport=22):
    return syn.ethernet(syn.ipv6(src, dst, 6, syn.tcp(sport, dport, 0x10)), 0x86DD)


def verdicts(rules, frames, default="allow"):
    compiled = compile_rule_set(RuleSet(version=1, default_action=default, rules=rules))
    parsed = parse_batch(*syn.to_batch(frames))
    found, hits = classify(parsed, compiled)
    return found.tolist(), hits.tolist()


def rule(rid, action="drop", **kw):
    return Rule(id=rid, name=rid, action=action, **kw)


def test_first_match_wins_and_count_falls_through():
    rules = [
        rule("count-all", "count"),
        rule("allow-443", "allow", protocol="tcp", dst_ports=["443"]),
        rule("drop-tcp", "drop", protocol="tcp"),
    ]
    found, hits = verdicts(rules, [v4_tcp(dport=443), v4_tcp(dport=80), v4_udp()])
    assert found == [VERDICT_ALLOW, VERDICT_DROP, VERDICT_ALLOW]
    assert hits == [3, 1, 1]


def test_default_action_and_disabled_rules():
    rules = [rule("off", "allow", enabled=False)]
    assert verdicts(rules, [v4_tcp()], default="drop")[0] == [VERDICT_DROP]
    assert verdicts([], [v4_tcp()], default="allow")[0] == [VERDICT_ALLOW]


@pytest.mark.parametrize(
    ("cidr", "address", "matches"),
    [
        ("0.0.0.0/0", "203.0.113.9", True),
        ("10.0.0.1/32", "10.0.0.1", True),
        ("10.0.0.1/32", "10.0.0.2", False),
        ("10.0.0.0/8", "10.255.255.255", True),
        ("10.0.0.0/8", "11.0.0.0", False),
        ("192.168.1.0/24", "192.168.0.255", False),
    ],
)
def test_ipv4_cidr_edges(cidr, address, matches):
    found, _ = verdicts([rule("r", src=[cidr])], [v4_tcp(src=address)])
    assert found == [VERDICT_DROP if matches else VERDICT_ALLOW]


def test_ipv6_cidr_edges_and_family_separation():
    frames = [v6_tcp(), v6_tcp(src=V6B), v4_tcp()]
    assert verdicts([rule("r", src=["::/0"])], frames)[0] == [2, 2, 1]  # ::/0 is IPv6 only
    assert verdicts([rule("r", src=["0.0.0.0/0"])], frames)[0] == [1, 1, 2]
    assert verdicts([rule("r", src=["2001:db8::1/128"])], frames)[0] == [2, 1, 1]
    assert verdicts([rule("r", src=["2001:db8::/32"])], frames)[0] == [2, 2, 1]
    assert verdicts([rule("r", src=["2001:db8::/33"])], frames)[0] == [2, 1, 1]


@pytest.mark.parametrize(
    ("ports", "port", "matches"),
    [
        (["1-1024"], 1, True),
        (["1-1024"], 1024, True),
        (["1-1024"], 1025, False),
        (["65535"], 65535, True),
        (["22", "8000-8080"], 8080, True),
        (["22", "8000-8080"], 7999, False),
    ],
)
def test_port_range_edges(ports, port, matches):
    found, _ = verdicts([rule("r", dst_ports=ports)], [v4_tcp(dport=port)])
    assert found == [VERDICT_DROP if matches else VERDICT_ALLOW]


def test_ports_never_match_packets_without_ports():
    icmp = syn.ethernet(syn.ipv4("1.1.1.1", "2.2.2.2", 1, syn.icmp(8, 0)), 0x0800)
    later = syn.ethernet(syn.ipv4("1.1.1.1", "2.2.2.2", 6, b"x" * 16, frag_offset=8), 0x0800)
    found, _ = verdicts([rule("r", src_ports=["1-65535"])], [icmp, later])
    assert found == [VERDICT_ALLOW, VERDICT_ALLOW]


def test_protocol_and_vlan_terms():
    frames = [v4_tcp(vlans=(100,)), v4_tcp(), v4_udp(), v6_tcp()]
    assert verdicts([rule("r", vlan=100)], frames)[0] == [2, 1, 1, 1]
    assert verdicts([rule("r", vlan=0)], frames)[0] == [1, 1, 1, 1]
    assert verdicts([rule("r", protocol="udp")], frames)[0] == [1, 1, 2, 1]
    assert verdicts([rule("r", protocol="6")], frames)[0] == [2, 2, 1, 2]


def test_malformed_frames_consult_no_rule():
    found, hits = verdicts([rule("all", "count")], [b"\x00" * 5, v4_tcp()])
    assert found == [VERDICT_MALFORMED, VERDICT_ALLOW] and hits == [1]


@pytest.mark.parametrize(
    ("bad_rule", "field"),
    [
        ({"id": "x", "name": "x", "src": ["10.0.0.300/8"]}, "rules[1].src[0]"),
        ({"id": "x", "name": "x", "dst": ["::1", "nope"]}, "rules[1].dst[1]"),
        ({"id": "x", "name": "x", "dst_ports": ["0"]}, "rules[1].dst_ports[0]"),
        ({"id": "x", "name": "x", "src_ports": ["90-80"]}, "rules[1].src_ports[0]"),
        ({"id": "x", "name": "x", "protocol": "icmp", "dst_ports": ["80"]}, "rules[1].dst_ports"),
        ({"id": "x", "name": "x", "protocol": "256"}, "rules[1].protocol"),
        ({"id": "x", "name": "x", "action": "reject"}, "rules[1].action"),
        ({"id": "x", "name": "x", "vlan": 4096}, "rules[1].vlan"),
        ({"id": "x", "name": ""}, "rules[1].name"),
        ({"id": "ok", "name": "dup"}, "rules[1].id"),
    ],
)
def test_invalid_rules_name_index_and_field(bad_rule, field):
    document = {"version": 2, "rules": [{"id": "ok", "name": "fine"}, bad_rule]}
    with pytest.raises(RuleSetError) as caught:
        compile_rule_set(rule_set_from_json(document))
    assert caught.value.field == field


def test_invalid_default_action():
    with pytest.raises(RuleSetError) as caught:
        compile_rule_set(RuleSet(default_action="count"))
    assert caught.value.field == "default_action"


def test_invalid_set_leaves_old_one_in_force():
    holder = RuleSetHolder()
    holder.replace(RuleSet(version=3, rules=[rule("a")]))
    with pytest.raises(RuleSetError):
        holder.replace(RuleSet(version=4, rules=[rule("b", src=["bad"])]))
    assert holder.current.version == 3


def test_rules_file(tmp_path):
    path = tmp_path / "rules.json"
    path.write_text(
        '{"version": 9, "default_action": "drop", "rules": [{"id": "1", "name": "web", '
        '"action": "allow", "protocol": "tcp", "dst_ports": ["443"], "vlan": null}]}'
    )
    compiled = load_rule_set_file(path)
    assert compiled.version == 9 and len(compiled.rules) == 1
    path.write_text("not json")
    with pytest.raises(RuleSetError):
        load_rule_set_file(path)


def test_atomic_swap_under_concurrent_classification():
    """Two sets that give opposite verdicts for every packet; a batch classified while the
    sets flip must be uniformly one or the other and carry that set's version."""
    frames = syn.mixed_frames(2048, seed=3)
    frames = [f for f in frames if f[12:14] in (b"\x08\x00", b"\x86\xdd")]
    data, offsets = syn.to_batch(frames)
    engine = PacketEngine()
    drop_all = RuleSet(version=2, default_action="allow", rules=[rule("d", "drop")])
    allow_all = RuleSet(version=1, default_action="drop", rules=[rule("a", "allow")])
    engine.rules.replace(allow_all)
    stop = threading.Event()
    problems: list[str] = []
    seen_versions: set[int] = set()

    def classify_loop() -> None:
        while not stop.is_set():
            result = engine.process(data, offsets)
            distinct = set(np.unique(result.verdicts).tolist()) - {VERDICT_MALFORMED}
            expected = {1: {VERDICT_ALLOW}, 2: {VERDICT_DROP}}[result.ruleset_version]
            seen_versions.add(result.ruleset_version)
            if distinct != expected:
                problems.append(f"v{result.ruleset_version}: {distinct}")

    workers = [threading.Thread(target=classify_loop) for _ in range(2)]
    for w in workers:
        w.start()
    deadline = time.monotonic() + 10
    i = 0
    # Keep flipping until both versions were classified many times over.
    while (len(seen_versions) < 2 or engine.counters.batches < 60) and time.monotonic() < deadline:
        engine.rules.replace(drop_all if i % 2 == 0 else allow_all)
        i += 1
        time.sleep(0.0005)
    stop.set()
    for w in workers:
        w.join()
    assert not problems, problems[:5]
    assert seen_versions == {1, 2}
