"""Live capture: AF_PACKET with a TPACKET_V3 memory-mapped ring, optional classic-BPF
pre-filter. A ring block the kernel hands over is parsed in place (the batch's blob is a
view of the block, offsets come from walking its packet headers into a preallocated slot)
and then given back to the kernel. Needs root (CAP_NET_RAW). No grpc here."""

from __future__ import annotations

import ctypes
import logging
import mmap
import select
import socket
import struct

import numpy as np
from rookery_common.background import BackgroundLoop

from packet_service.engine import PacketEngine
from packet_service.parser import LINK_ETHERNET
from packet_service.slot_pool import SlotPool

log = logging.getLogger("packet_service.capture")

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_RX_RING = 5
PACKET_VERSION = 10
TPACKET_V3 = 2
SO_ATTACH_FILTER = 26
TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1
# struct tpacket_block_desc: version, offset_to_priv, then tpacket_hdr_v1
BLOCK_STATUS_AT, BLOCK_NUM_PKTS_AT, BLOCK_FIRST_PKT_AT = 8, 12, 16
# struct tpacket3_hdr: next_offset, sec, nsec, snaplen, len, status, mac (u16), net (u16),
# then hv1: rxhash, vlan_tci, vlan_tpid (u16), padding (u16)
PACKET_HEADER = struct.Struct("=IIIIIIHHIIHH")
# The kernel takes the outer 802.1Q tag off a received frame before packet sockets see
# it and reports it here instead; the tag is put back so flows and `vlan` rules see it.
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_VLAN_TPID_VALID = 1 << 6
ETH_P_8021Q = 0x8100


class SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_uint16), ("filter", ctypes.POINTER(SockFilter))]


class BpfProgramError(ValueError):
    pass


def parse_bpf_program(text: str) -> list[tuple[int, int, int, int]]:
    """A classic BPF program in `tcpdump -ddd` form: the instruction count, then one
    "code jt jf k" per instruction (newlines or commas between them)."""
    parts = [p.strip() for p in text.replace(",", "\n").splitlines() if p.strip()]
    try:
        count = int(parts[0])
        program = [tuple(int(x) for x in line.split()) for line in parts[1:]]
    except (IndexError, ValueError):
        raise BpfProgramError("CAPTURE_BPF: expected `tcpdump -ddd` output") from None
    if count != len(program) or not 0 < count <= 4096:
        raise BpfProgramError(f"CAPTURE_BPF: says {count} instructions, has {len(program)}")
    if any(len(ins) != 4 for ins in program):
        raise BpfProgramError("CAPTURE_BPF: each instruction is 'code jt jf k'")
    return program  # type: ignore[return-value]


def attach_bpf(sock: socket.socket, program: list[tuple[int, int, int, int]]) -> None:
    instructions = (SockFilter * len(program))(*[SockFilter(*ins) for ins in program])
    fprog = SockFprog(len(program), instructions)
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(fprog))


class LiveCapture(BackgroundLoop):
    def __init__(
        self,
        engine: PacketEngine,
        iface: str,
        bpf_program: list[tuple[int, int, int, int]] | None = None,
        block_size: int = 1 << 20,
        block_count: int = 16,
        frame_size: int = 2048,
        retire_ms: int = 20,
    ) -> None:
        self.engine = engine
        self.iface = iface
        self.block_size = block_size
        self.block_count = block_count
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            if bpf_program:
                # Attached before bind so no unfiltered frame slips in.
                attach_bpf(self.sock, bpf_program)
            self.sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
            request = struct.pack(
                "=7I",
                block_size,
                block_count,
                frame_size,
                block_size * block_count // frame_size,
                retire_ms,  # a block is handed over at the latest after this long
                0,
                0,
            )
            self.sock.setsockopt(SOL_PACKET, PACKET_RX_RING, request)
            self.ring = mmap.mmap(
                self.sock.fileno(),
                block_size * block_count,
                mmap.MAP_SHARED,
                mmap.PROT_READ | mmap.PROT_WRITE,
            )
            self.sock.bind((iface, ETH_P_ALL))
        except OSError:
            self.sock.close()
            raise
        self.ring_bytes = np.frombuffer(self.ring, dtype=np.uint8)
        # Offsets/timestamps of one block; a 1 MiB block holds at most ~block/64 frames.
        self.pool = SlotPool(slots=1, slot_bytes=16, max_packets=block_size // 32)
        self.slot = self.pool.acquire()
        self.frames = 0
        self.blocks = 0
        self.poller = select.poll()
        self.poller.register(self.sock.fileno(), select.POLLIN | select.POLLERR)
        self.block = 0  # the ring block the kernel hands over next
        super().__init__("live-capture", log=log)

    def close(self) -> None:
        del self.ring_bytes
        self.ring.close()
        self.sock.close()

    def step(self) -> None:
        at = self.block * self.block_size
        status = struct.unpack_from("=I", self.ring, at + BLOCK_STATUS_AT)[0]
        if not status & TP_STATUS_USER:
            self.poller.poll(200)
            return
        try:
            self._consume(at)
        except Exception:  # a bug here must not kill capture silently, nor keep the block
            log.exception("live capture: block processing failed")
        struct.pack_into("=I", self.ring, at + BLOCK_STATUS_AT, TP_STATUS_KERNEL)
        self.block = (self.block + 1) % self.block_count
        self.blocks += 1

    def _consume(self, at: int) -> None:
        count, first = struct.unpack_from("=II", self.ring, at + BLOCK_NUM_PKTS_AT)
        slot = self.slot
        offsets, stamps, wire = slot.offsets, slot.timestamps, slot.wire_lengths
        count = min(count, offsets.shape[0])
        cursor = first
        ring = self.ring
        tagged: list[tuple[int, int, int]] = []  # (frame index, tpid, tci)
        for i in range(count):
            nxt, sec, nsec, snaplen, length, status, mac, _net, _hash, tci, tpid, _pad = (
                PACKET_HEADER.unpack_from(ring, at + cursor)
            )
            offsets[i, 0] = cursor + mac
            offsets[i, 1] = snaplen
            wire[i] = length  # tp_len: more than tp_snaplen when a frame did not fit
            stamps[i] = sec + nsec * 1e-9
            if status & TP_STATUS_VLAN_VALID:
                tpid = tpid if status & TP_STATUS_VLAN_TPID_VALID and tpid else ETH_P_8021Q
                tagged.append((i, tpid, tci))
            cursor += nxt
        if count:
            self.frames += count
            block = self.ring_bytes[at : at + self.block_size]
            if tagged:
                block = self._retag(block, offsets, wire, tagged)
            self.engine.process(block, offsets[:count], stamps[:count], LINK_ETHERNET, wire[:count])

    @staticmethod
    def _retag(
        block: np.ndarray,
        offsets: np.ndarray,
        wire: np.ndarray,
        tagged: list[tuple[int, int, int]],
    ) -> np.ndarray:
        """The block plus a copy of every frame whose tag the kernel took off, with the tag
        back after the MAC addresses; those frames' offsets point at the copies. Untagged
        traffic keeps the zero-copy path."""
        pieces = [block]
        end = block.shape[0]
        for index, tpid, tci in tagged:
            start, length = int(offsets[index, 0]), int(offsets[index, 1])
            frame = block[start : start + length]
            if length < 12:
                continue  # too short to carry MAC addresses: parsed as it is
            tag = np.frombuffer(struct.pack("!HH", tpid, tci & 0xFFFF), dtype=np.uint8)
            pieces += [frame[:12], tag, frame[12:]]
            offsets[index, 0], offsets[index, 1] = end, length + 4
            wire[index] += 4  # the tag was on the wire too
            end += length + 4
        return np.concatenate(pieces)
