"""Live capture over AF_PACKET / TPACKET_V3: two network namespaces joined by a veth pair;
real frames are sent on one end and captured on the other, through a BPF pre-filter.
Skips (saying why) when not root or network namespaces are unavailable."""

from __future__ import annotations

import ctypes
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from packet_service import synthetic as syn
from packet_service.capture import LiveCapture, parse_bpf_program
from packet_service.engine import PacketEngine
from packet_service.parser import TRUNCATED_IPV4, parse_batch
from packet_service.rules import Rule, RuleSet

CLONE_NEWNET = 0x40000000
# `tcpdump -ddd ether src 02:00:00:00:00:02`
BPF_SRC_MAC = "6\n32 0 0 8\n21 0 3 2\n40 0 0 6\n21 0 1 512\n6 0 0 262144\n6 0 0 0"
_libc = ctypes.CDLL(None, use_errno=True)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)


def _netns_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "live capture needs root (AF_PACKET and ip netns); running as a normal user"
    if not shutil.which("ip"):
        return "the `ip` command (iproute2) is not installed"
    probe = f"rk-probe-{os.getpid()}"
    try:
        _ip("netns", "add", probe)
        _ip("netns", "del", probe)
    except (subprocess.CalledProcessError, OSError) as exc:
        return f"network namespaces are unavailable here: {exc}"
    return None


def in_netns(name: str, action: Callable[[], Any]) -> Any:
    """Run `action` on a thread that joined network namespace `name` (namespaces are per
    thread), so sockets it opens live in that namespace."""
    box: dict[str, Any] = {}

    def body() -> None:
        fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns failed")
            box["result"] = action()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc
        finally:
            os.close(fd)

    worker = threading.Thread(target=body)
    worker.start()
    worker.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


@pytest.fixture()
def veth_pair():
    reason = _netns_unavailable()
    if reason and os.environ.get("ROOKERY_REQUIRE_NETNS"):
        pytest.fail(f"CI must run the live-capture test: {reason}")  # set by make test in CI
    if reason:
        pytest.skip(reason)
    tag = f"{os.getpid() % 100000}"
    ns_cap, ns_send = f"rk-cap-{tag}", f"rk-send-{tag}"
    cap_if, send_if = f"rkc{tag}", f"rks{tag}"
    try:
        for ns in (ns_cap, ns_send):
            _ip("netns", "add", ns)
            # No IPv6 router/neighbour chatter on the link: the test counts exact frames.
            subprocess.run(
                [
                    "ip",
                    "netns",
                    "exec",
                    ns,
                    "sysctl",
                    "-qw",
                    "net.ipv6.conf.all.disable_ipv6=1",
                    "net.ipv6.conf.default.disable_ipv6=1",
                ],
                check=True,
                timeout=20,
            )
        _ip("link", "add", cap_if, "type", "veth", "peer", "name", send_if)
        _ip("link", "set", cap_if, "netns", ns_cap)
        _ip("link", "set", send_if, "netns", ns_send)
        _ip("-n", ns_cap, "link", "set", cap_if, "mtu", "9000", "up")
        _ip("-n", ns_send, "link", "set", send_if, "mtu", "9000", "up")
        yield ns_cap, cap_if, ns_send, send_if
    finally:
        for ns in (ns_cap, ns_send):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=20)


def test_live_capture_counts_real_frames_across_a_veth_pair(veth_pair):
    ns_cap, cap_if, ns_send, send_if = veth_pair
    engine = PacketEngine()
    engine.rules.replace(
        RuleSet(version=3, rules=[Rule(id="u", name="udp", action="drop", protocol="udp")])
    )
    capture = in_netns(
        ns_cap,
        lambda: LiveCapture(
            engine, cap_if, parse_bpf_program(BPF_SRC_MAC), block_size=1 << 16, retire_ms=10
        ),
    )
    capture.start()
    frames = syn.mixed_frames(600, seed=4)
    noise = [
        b"\x02\x00\x00\x00\x00\x01" + b"\x02\x00\x00\x00\x00\x99" + f[12:] for f in frames[:50]
    ]
    parsed = parse_batch(*syn.to_batch(frames))
    expected_udp = int(((parsed.protocol == 17) & (parsed.error == 0)).sum())
    truncated_ipv4 = int((parsed.error == TRUNCATED_IPV4).sum())
    # Sent last, through the filter, and told apart by its verdict: an IPv4 frame with no
    # IPv4 header. The link delivers in order, so once it is counted every frame before it
    # (noise included) has been counted or filtered out.
    sentinel = frames[0][:12] + b"\x08\x00"  # the test's addresses, IPv4, nothing more

    def send() -> None:
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as tx:
            tx.bind((send_if, 0))
            for frame in [*noise, *frames, sentinel]:
                tx.send(frame)

    try:
        # Give the ring a moment to be live on an up link before sending.
        time.sleep(0.2)
        in_netns(ns_send, send)
        deadline = time.monotonic() + 15
        while (
            engine.counters.parse_errors[TRUNCATED_IPV4] <= truncated_ipv4
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
    finally:
        capture.stop()
    assert engine.counters.parse_errors[TRUNCATED_IPV4] == truncated_ipv4 + 1, "no sentinel"
    kept = len(frames) + 1
    assert capture.frames == kept, "BPF must keep only the test's frames, all of them"
    assert engine.counters.packets == kept
    assert int(engine.counters.verdicts[2]) == expected_udp > 0
    assert engine.flow_table.count > 0


def test_vlan_tags_the_kernel_strips_are_restored(veth_pair):
    """The receiving kernel moves an 802.1Q tag out of the frame into packet metadata;
    live capture must put it back, or `vlan` rules and flow keys would never see it."""
    ns_cap, cap_if, ns_send, send_if = veth_pair
    engine = PacketEngine()
    engine.rules.replace(
        RuleSet(version=1, rules=[Rule(id="v", name="vlan 100", action="drop", vlan=100)])
    )
    capture = in_netns(
        ns_cap, lambda: LiveCapture(engine, cap_if, block_size=1 << 16, retire_ms=10)
    )
    capture.start()
    udp = syn.ipv4("10.0.0.1", "10.0.0.2", 17, syn.udp(1000, 53, b"q" * 40))
    tagged = [syn.ethernet(udp, 0x0800, vlans=(100,)) for _ in range(20)]
    other = [syn.ethernet(udp, 0x0800, vlans=(200,)) for _ in range(10)]
    plain = [syn.ethernet(udp, 0x0800) for _ in range(10)]

    def send() -> None:
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as tx:
            tx.bind((send_if, 0))
            for frame in tagged + other + plain:
                tx.send(frame)

    try:
        time.sleep(0.2)
        in_netns(ns_send, send)
        deadline = time.monotonic() + 15
        while engine.counters.packets < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        capture.stop()
    assert engine.counters.packets == 40
    assert int(engine.counters.verdicts[2]) == 20  # exactly the VLAN 100 frames dropped
    vlans = {flow.vlan for flow in engine.flow_table.top(10, "packets")}
    assert {100, 200, None} <= vlans


def test_bpf_program_text_is_validated():
    assert parse_bpf_program(BPF_SRC_MAC)[0] == (32, 0, 0, 8)
    for bad in ("", "2\n6 0 0 0", "1\n6 0 0"):
        with pytest.raises(ValueError):
            parse_bpf_program(bad)


# BPF_SRC_MAC, except that matching frames are cut to their first 96 bytes (tcpdump -s 96)
BPF_SRC_MAC_SNAP_96 = BPF_SRC_MAC.replace("6 0 0 262144", "6 0 0 96")


def test_frames_cut_by_a_snap_length_count_as_normal_with_their_wire_bytes(veth_pair):
    ns_cap, cap_if, ns_send, send_if = veth_pair
    engine = PacketEngine()
    capture = in_netns(
        ns_cap,
        lambda: LiveCapture(
            engine, cap_if, parse_bpf_program(BPF_SRC_MAC_SNAP_96), block_size=1 << 16
        ),
    )
    capture.start()
    segment = syn.tcp(1000, 443, 0x18, b"x" * 1200)
    plain = [syn.ethernet(syn.ipv4("10.0.0.1", "10.0.0.2", 6, segment), 0x0800)] * 30
    tagged = [syn.ethernet(syn.ipv4("10.0.0.3", "10.0.0.4", 6, segment), 0x0800, (7,))] * 10

    def send() -> None:
        with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as tx:
            tx.bind((send_if, 0))
            for frame in plain + tagged:
                tx.send(frame)

    try:
        time.sleep(0.2)
        in_netns(ns_send, send)
        deadline = time.monotonic() + 15
        while engine.counters.packets < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        capture.stop()
    counters = engine.counters
    assert counters.packets == 40 and int(counters.verdicts[3]) == 0
    # tagged frames: 96 bytes without the tag the kernel took off, then the tag put back
    assert counters.bytes == 30 * 96 + 10 * 100
    assert counters.bytes_wire == sum(map(len, plain + tagged))
    flows = {flow.src: flow.bytes for flow in engine.flow_table.top(10)}
    assert flows == {"10.0.0.1": 30 * len(plain[0]), "10.0.0.3": 10 * len(tagged[0])}
