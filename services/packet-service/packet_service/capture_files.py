"""Reading pcap and pcapng files as batches. The file is memory-mapped; each batch is a
view of the file plus an offset table written into a preallocated slot, so frame bytes
are never copied. No grpc here."""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from packet_service.parser import LINK_ETHERNET, LINK_RAW
from packet_service.slot_pool import Slot, SlotPool

PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_IDB, PCAPNG_SPB, PCAPNG_EPB = 1, 3, 6
# pcap LINKTYPE -> the parser's link type (Ethernet or bare IP)
LINK_TYPES = {1: LINK_ETHERNET, 101: LINK_RAW, 228: LINK_RAW, 229: LINK_RAW, 12: LINK_RAW}


# libpcap's largest snap length: a record claiming more is corrupt, not a big frame.
MAX_RECORD_BYTES = 262_144
# Smallest total length of each pcapng block kind (header, fixed fields, trailer).
PCAPNG_MIN_BLOCK = {PCAPNG_SHB: 28, PCAPNG_IDB: 20, PCAPNG_EPB: 32, PCAPNG_SPB: 16}
PCAPNG_BLOCK_NAMES = {
    PCAPNG_SHB: "section header block",
    PCAPNG_IDB: "interface description block",
    PCAPNG_EPB: "enhanced packet block",
    PCAPNG_SPB: "simple packet block",
}


class CaptureFormatError(ValueError):
    """The file is not a capture, or a record of it is malformed; one line of text that
    names the byte offset of the bad record."""


@dataclass(slots=True)
class CaptureBatch:
    data: np.ndarray  # uint8 view of the file from the batch's first frame
    offsets: np.ndarray  # (n, 2) uint32, relative to `data`
    timestamps: np.ndarray  # float64 Unix seconds
    link_type: int
    wire_lengths: np.ndarray  # uint32 per frame: its length on the wire (pcap orig_len)


class CaptureFile:
    """A pcap or pcapng file. Use as a context manager; `batches()` yields CaptureBatch."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._file = open(self.path, "rb")  # noqa: SIM115 (closed in close())
        except OSError as exc:
            raise CaptureFormatError(f"{path}: cannot open: {exc.strerror}") from None
        self.size = os.fstat(self._file.fileno()).st_size
        head = self._file.read(4)
        if len(head) < 4:
            self.close()
            raise CaptureFormatError(f"{path}: is not a pcap or pcapng capture (file too short)")
        if head in PCAP_MAGICS:
            self.kind = "pcap"
        elif struct.unpack("<I", head)[0] == PCAPNG_SHB:
            self.kind = "pcapng"
        else:
            self.close()
            raise CaptureFormatError(
                f"{path}: is not a pcap or pcapng capture (starts with {head.hex()})"
            )
        self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
        self.blob = np.frombuffer(self._map, dtype=np.uint8)
        self.truncated = False  # the file ends inside a record
        self.position = 0  # bytes consumed, for progress

    def __enter__(self) -> CaptureFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if getattr(self, "blob", None) is not None:
            self.blob = None  # type: ignore[assignment]
        if getattr(self, "_map", None) is not None:
            # A batch view still alive keeps the map open until it goes.
            with contextlib.suppress(BufferError):
                self._map.close()
            self._map = None  # type: ignore[assignment]
        self._file.close()

    def batches(self, pool: SlotPool, batch_size: int) -> Iterator[CaptureBatch]:
        walk = self._walk_pcap if self.kind == "pcap" else self._walk_pcapng
        slot = pool.acquire()
        try:
            yield from walk(slot, min(batch_size, slot.max_packets))
        finally:
            pool.release(slot)

    # ------------------------------------------------------------ helpers

    def _emit(self, slot: Slot, base: int, link_type: int) -> CaptureBatch:
        n = slot.count
        return CaptureBatch(
            data=self.blob[base:],
            offsets=slot.offsets[:n],
            timestamps=slot.timestamps[:n],
            link_type=link_type,
            wire_lengths=slot.wire_lengths[:n],
        )

    def _malformed(self, at: int, problem: str) -> CaptureFormatError:
        return CaptureFormatError(f"{self.path}: malformed {self.kind} at byte {at}: {problem}")

    def _walk_pcap(self, slot: Slot, batch_size: int) -> Iterator[CaptureBatch]:
        m = self._map
        endian, unit = PCAP_MAGICS[bytes(m[:4])]
        if self.size < 24:
            raise self._malformed(0, f"the file header needs 24 bytes, the file has {self.size}")
        network = struct.unpack_from(endian + "I", m, 20)[0] & 0x0FFFFFFF
        if network not in LINK_TYPES:
            raise self._malformed(20, f"link type {network} is not supported")
        link = LINK_TYPES[network]
        read_length = struct.Struct(endian + "I").unpack_from
        word = np.dtype(endian + "u4")
        # The walk itself is sequential (each record says where the next starts), so the
        # Python loop does only that: one length read per record. Every other header
        # field is then read for the whole batch with numpy.
        u32 = np.ndarray((self.size - 3,), dtype=word, buffer=self._map, strides=(1,))
        pos, size = 24, self.size
        while pos + 16 <= size:
            positions = []
            base = pos
            limit = base + 0xFFFF_0000  # offsets are uint32 relative to the batch start
            while len(positions) < batch_size and pos + 16 <= size:
                incl = read_length(m, pos + 8)[0]
                if incl > MAX_RECORD_BYTES:
                    raise self._malformed(
                        pos,
                        f"record of {incl} captured bytes (at most {MAX_RECORD_BYTES})",
                    )
                end = pos + 16 + incl
                if end > size or end > limit:
                    break
                positions.append(pos)
                pos = end
            if not positions:
                break
            at = np.array(positions, dtype=np.int64)
            n = at.shape[0]
            slot.offsets[:n, 0] = at + 16 - base
            slot.offsets[:n, 1] = u32[at + 8]
            # orig_len; a writer that put less than the captured length there is wrong
            # about the wire, never about the bytes it wrote
            np.maximum(u32[at + 12], slot.offsets[:n, 1], out=slot.wire_lengths[:n])
            slot.timestamps[:n] = u32[at] + u32[at + 4] * unit
            slot.count = n
            self.position = pos
            yield self._emit(slot, base, link)
        if pos < size:
            self.truncated = True
        self.position = size

    def _walk_pcapng(self, slot: Slot, batch_size: int) -> Iterator[CaptureBatch]:
        m = self._map
        size = self.size
        offsets, stamps, wire = slot.offsets, slot.timestamps, slot.wire_lengths
        endian = "<"
        interfaces: list[tuple[int, float]] = []  # (link type, seconds per tick)
        pos, count, base, link = 0, 0, 0, None
        while pos + 12 <= size:
            kind = struct.unpack_from(endian + "I", m, pos)[0]
            if kind == PCAPNG_SHB or struct.unpack_from("<I", m, pos)[0] == PCAPNG_SHB:
                magic = bytes(m[pos + 8 : pos + 12])
                if magic not in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"):
                    raise self._malformed(pos, f"byte-order magic {magic.hex()}")
                endian = "<" if magic == b"\x4d\x3c\x2b\x1a" else ">"
                interfaces = []
                kind = PCAPNG_SHB
            length = struct.unpack_from(endian + "I", m, pos + 4)[0]
            if length < PCAPNG_MIN_BLOCK.get(kind, 12) or length % 4:
                name = PCAPNG_BLOCK_NAMES.get(kind, f"block of type {kind:#x}")
                raise self._malformed(
                    pos,
                    f"{name} of total length {length} "
                    f"(a multiple of 4, at least {PCAPNG_MIN_BLOCK.get(kind, 12)})",
                )
            if pos + length > size:
                break  # the file ends inside this block: a capture cut short
            trailer = struct.unpack_from(endian + "I", m, pos + length - 4)[0]
            if trailer != length:
                raise self._malformed(
                    pos, f"block says {length} bytes at its start, {trailer} at its end"
                )
            if kind == PCAPNG_IDB:
                network = struct.unpack_from(endian + "H", m, pos + 8)[0]
                interfaces.append((network, self._tick(m, pos, length, endian)))
            elif kind in (PCAPNG_EPB, PCAPNG_SPB):
                if kind == PCAPNG_EPB:
                    iface, hi, lo, incl, orig = struct.unpack_from(endian + "IIIII", m, pos + 8)
                    start = pos + 28
                    if incl > length - 32:
                        raise self._malformed(pos, f"{incl} captured bytes in a block of {length}")
                else:
                    iface, hi, lo = 0, 0, 0
                    orig = struct.unpack_from(endian + "I", m, pos + 8)[0]
                    incl = min(orig, length - 16)  # the block holds what was captured
                    start = pos + 12
                if iface >= len(interfaces):
                    raise self._malformed(pos, f"packet names unknown interface {iface}")
                network, tick = interfaces[iface]
                if network not in LINK_TYPES:
                    raise self._malformed(pos, f"link type {network} is not supported")
                this_link = LINK_TYPES[network]
                if count and (this_link != link or start + incl - base >= 0xFFFFFFFF):
                    slot.count = count
                    yield self._emit(slot, base, link)  # type: ignore[arg-type]
                    count = 0
                if count == 0:
                    base, link = start, this_link
                offsets[count, 0] = start - base
                offsets[count, 1] = incl
                wire[count] = max(orig, incl)
                stamps[count] = ((hi << 32) | lo) * tick
                count += 1
                if count == batch_size:
                    slot.count = count
                    self.position = pos + length
                    yield self._emit(slot, base, link)
                    count = 0
            pos += length
        if pos < size:
            self.truncated = True
        self.position = size
        if count:
            slot.count = count
            yield self._emit(slot, base, link)  # type: ignore[arg-type]

    @staticmethod
    def _tick(m: mmap.mmap, pos: int, length: int, endian: str) -> float:
        """Seconds per timestamp unit from the if_tsresol option (default microseconds)."""
        cursor, end = pos + 16, pos + length - 4
        while cursor + 4 <= end:
            code, size = struct.unpack_from(endian + "HH", m, cursor)
            if code == 0:
                break
            if code == 9 and size >= 1:
                value = m[cursor + 4]
                return 2.0 ** -(value & 0x7F) if value & 0x80 else 10.0**-value
            cursor += 4 + size + (-size % 4)
        return 1e-6
