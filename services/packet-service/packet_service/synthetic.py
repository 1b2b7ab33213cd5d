"""Deterministic synthetic traffic: realistic mixes of frames for tests, the benchmark and
demos, plus writers for pcap and pcapng files. Frames are built with struct only."""

from __future__ import annotations

import random
import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

PCAP_MAGIC = 0xA1B2C3D4


def ethernet(
    payload: bytes, ethertype: int, vlans: Sequence[int] = (), src_mac: bytes = b""
) -> bytes:
    dst_mac = b"\x02\x00\x00\x00\x00\x01"
    src_mac = src_mac or b"\x02\x00\x00\x00\x00\x02"
    tags = b""
    tpids = (0x88A8, 0x8100) if len(vlans) == 2 else (0x8100,)
    for tpid, vid in zip(tpids, vlans, strict=False):
        tags += struct.pack("!HH", tpid, vid & 0x0FFF)
    return dst_mac + src_mac + tags + struct.pack("!H", ethertype) + payload


def ipv4(
    src: str,
    dst: str,
    proto: int,
    l4: bytes,
    options: bytes = b"",
    frag_offset: int = 0,
    more_fragments: bool = False,
    ident: int = 1,
) -> bytes:
    options += b"\x00" * (-len(options) % 4)
    ihl = 5 + len(options) // 4
    flags = (0x2000 if more_fragments else 0) | (frag_offset & 0x1FFF)
    total = ihl * 4 + len(l4)
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x40 | ihl,
        0,
        total,
        ident & 0xFFFF,
        flags,
        64,
        proto,
        0,
        bytes(map(int, src.split("."))),
        bytes(map(int, dst.split("."))),
    )
    return header + options + l4


def ipv6(src: bytes, dst: bytes, next_header: int, payload: bytes) -> bytes:
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), next_header, 64, src, dst) + payload


def ipv6_ext(next_header: int, body_len_units: int = 0) -> bytes:
    """A hop-by-hop / routing / destination-options header of (units + 1) * 8 bytes."""
    return bytes([next_header, body_len_units]) + b"\x01" + b"\x00" * (5 + 8 * body_len_units)


def ipv6_fragment(next_header: int, offset_units: int, more: bool, ident: int = 7) -> bytes:
    return struct.pack("!BBHI", next_header, 0, (offset_units << 3) | int(more), ident)


def tcp(sport: int, dport: int, flags: int, payload: bytes = b"") -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, flags, 65535, 0, 0) + payload


def udp(sport: int, dport: int, payload: bytes = b"") -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def icmp(kind: int, code: int, payload: bytes = b"") -> bytes:
    return struct.pack("!BBHI", kind, code, 0, 0) + payload


def _v6(rng: random.Random, net: int) -> bytes:
    return (0x20010DB8 << 96 | net << 64 | rng.getrandbits(16)).to_bytes(16, "big")


def mixed_frames(
    count: int, seed: int = 1, flows: int = 2000, mean_payload: int = 340
) -> list[bytes]:
    """A realistic mix: ~60% IPv4 / 35% IPv6 / 5% ARP; TCP, UDP, ICMP/ICMPv6; ~15% VLAN
    tagged (some QinQ); IPv4 options, IPv6 extension headers and fragments; payload sizes
    around `mean_payload` so frames average ~400 bytes. Same seed, same frames."""
    rng = random.Random(seed)
    filler = bytes(range(256)) * 8
    frames: list[bytes] = []
    for _ in range(count):
        flow = rng.randrange(flows)
        frng = random.Random(flow * 7919 + seed)
        size = min(1400, max(0, int(rng.expovariate(1 / mean_payload))))
        payload = filler[:size]
        vlans: tuple[int, ...] = ()
        r = frng.random()
        if r < 0.12:
            vlans = (frng.randrange(1, 4095),)
        elif r < 0.15:
            vlans = (frng.randrange(1, 4095), frng.randrange(1, 4095))
        family = frng.random()
        proto_pick = frng.random()
        sport, dport = frng.randrange(1024, 65535), frng.choice((80, 443, 53, 22, 8080, 5353))
        if family < 0.05:
            arp = struct.pack(
                "!HHBBH6s4s6s4s",
                1,
                0x0800,
                6,
                4,
                1,
                b"\x02" * 6,
                b"\x0a" * 4,
                b"\0" * 6,
                b"\x0a" * 4,
            )
            frames.append(ethernet(arp, 0x0806, vlans))
            continue
        if proto_pick < 0.55:
            proto, l4 = 6, tcp(sport, dport, rng.choice((0x02, 0x10, 0x18, 0x11, 0x12)), payload)
        elif proto_pick < 0.9:
            proto, l4 = 17, udp(sport, dport, payload)
        else:
            proto, l4 = -1, b""
        if family < 0.65:
            src = f"10.{flow % 256}.{(flow // 256) % 256}.{frng.randrange(1, 255)}"
            dst = f"192.168.{frng.randrange(0, 4)}.{frng.randrange(1, 255)}"
            if proto == -1:
                proto, l4 = 1, icmp(8, 0, payload[:56])
            options = b"\x01\x01\x01\x00" if rng.random() < 0.03 else b""
            if rng.random() < 0.02:  # a fragmented datagram: first and a later piece
                frames.append(
                    ethernet(ipv4(src, dst, proto, l4[:64], options, 0, True), 0x0800, vlans)
                )
                frames.append(
                    ethernet(ipv4(src, dst, proto, l4[64:128], options, 8, False), 0x0800, vlans)
                )
                continue
            frames.append(ethernet(ipv4(src, dst, proto, l4, options), 0x0800, vlans))
        else:
            src, dst = _v6(frng, 1), _v6(frng, 2)
            if proto == -1:
                proto, l4 = 58, icmp(128, 0, payload[:56])
            pick = rng.random()
            if pick < 0.04:
                body = ipv6_ext(43, 0) + ipv6_ext(60, 1) + ipv6_ext(proto, 0)
                frames.append(ethernet(ipv6(src, dst, 0, body + l4), 0x86DD, vlans))
            elif pick < 0.06:
                frames.append(
                    ethernet(
                        ipv6(src, dst, 44, ipv6_fragment(proto, 0, True) + l4[:64]), 0x86DD, vlans
                    )
                )
                frames.append(
                    ethernet(
                        ipv6(src, dst, 44, ipv6_fragment(proto, 8, False) + l4[64:128]),
                        0x86DD,
                        vlans,
                    )
                )
            else:
                frames.append(ethernet(ipv6(src, dst, proto, l4), 0x86DD, vlans))
    return frames[:count]


def to_batch(frames: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """(blob uint8, offsets (n, 2) uint32) for a list of frames."""
    lengths = np.fromiter((len(f) for f in frames), dtype=np.uint32, count=len(frames))
    offsets = np.zeros((len(frames), 2), dtype=np.uint32)
    offsets[:, 1] = lengths
    if len(frames):
        offsets[1:, 0] = np.cumsum(lengths[:-1], dtype=np.uint64)
    return np.frombuffer(b"".join(frames), dtype=np.uint8), offsets


def write_pcap(
    path: str | Path, frames: Iterable[bytes], start: float = 1_700_000_000.0, link_type: int = 1
) -> None:
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", PCAP_MAGIC, 2, 4, 0, 0, 262144, link_type))
        for i, frame in enumerate(frames):
            t = start + i * 1e-4
            sec = int(t)
            out.write(struct.pack("<IIII", sec, int((t - sec) * 1e6), len(frame), len(frame)))
            out.write(frame)


def write_pcapng(path: str | Path, frames: Iterable[bytes], start: float = 1_700_000_000.0) -> None:
    def block(kind: int, body: bytes) -> bytes:
        body += b"\x00" * (-len(body) % 4)
        total = len(body) + 12
        return struct.pack("<II", kind, total) + body + struct.pack("<I", total)

    with open(path, "wb") as out:
        out.write(block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)))
        out.write(block(1, struct.pack("<HHI", 1, 0, 262144)))  # Ethernet, microseconds
        for i, frame in enumerate(frames):
            ticks = int((start + i * 1e-4) * 1e6)
            header = struct.pack(
                "<IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame)
            )
            out.write(block(6, header + frame))


def write_capture(
    path: str | Path,
    records: Iterable[tuple[float, bytes]],
    snaplen: int = 262144,
    pcapng: bool = False,
) -> None:
    """A pcap (µs) or pcapng file of (time, whole frame) records, each cut to `snaplen`
    bytes as a capture with that snap length would be (the record keeps the wire length)."""
    with open(path, "wb") as out:
        if pcapng:
            out.write(_pcapng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)))
            out.write(_pcapng_block(1, struct.pack("<HHI", 1, 0, snaplen)))
        else:
            out.write(struct.pack("<IHHiIII", PCAP_MAGIC, 2, 4, 0, 0, snaplen, 1))
        for t, frame in records:
            kept = frame[:snaplen]
            micros = round(t * 1e6)
            if pcapng:
                header = struct.pack(
                    "<IIIII", 0, micros >> 32, micros & 0xFFFFFFFF, len(kept), len(frame)
                )
                out.write(_pcapng_block(6, header + kept))
            else:
                sec, usec = divmod(micros, 1_000_000)
                out.write(struct.pack("<IIII", sec, usec, len(kept), len(frame)) + kept)


def _pcapng_block(kind: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    total = len(body) + 12
    return struct.pack("<II", kind, total) + body + struct.pack("<I", total)
