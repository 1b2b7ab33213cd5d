"""Statistics-only ingest (gRPC Ingest) needs no verdict per incoming batch, so small
incoming batches are copied into a preallocated slot and processed together once the slot
holds `flush_packets` frames: numpy's fixed cost per call is paid per few thousand frames
instead of per 256. Frames never wait long: `flush_if_waiting` (called by a timer)
processes a slot whose oldest frame has waited `max_age`, whether or not the stream is
still sending, so statistics move while a slow but steady stream (a replay) runs.
No grpc here."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from packet_service.engine import PacketEngine
from packet_service.parser import LINK_ETHERNET
from packet_service.slot_pool import SlotPool


@dataclass(slots=True)
class IngestTotals:
    batches: int = 0
    packets: int = 0
    bytes: int = 0
    allow: int = 0
    drop: int = 0
    malformed: int = 0
    parse_errors: int = 0
    bytes_wire: int = 0


class IngestAccumulator:
    def __init__(
        self,
        engine: PacketEngine,
        pool: SlotPool,
        flush_packets: int = 8192,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.pool = pool
        self.slot = pool.acquire()
        self.flush_packets = min(flush_packets, self.slot.max_packets)
        self.totals = IngestTotals()
        self.lock = threading.Lock()
        self._monotonic = monotonic
        # When the oldest frame now in the slot arrived (None: the slot is empty). Age, not
        # idleness, decides: a stream sending a few frames every 100 ms is never idle, yet
        # its frames must not wait until a slot of 8,192 fills.
        self.oldest_at: float | None = None

    def add(
        self,
        data: np.ndarray,
        offsets: np.ndarray,
        timestamps: np.ndarray | None,
        link_type: int = LINK_ETHERNET,
    ) -> None:
        """Account one already-validated incoming batch."""
        with self.lock:
            self._add(data, offsets, timestamps, link_type)
            if self.slot.count and self.oldest_at is None:
                self.oldest_at = self._monotonic()

    def _add(self, data, offsets, timestamps, link_type) -> None:
        self.totals.batches += 1
        count = offsets.shape[0]
        if count == 0:
            return
        slot = self.slot
        if timestamps is None:
            timestamps = np.full(count, time.time())
        if slot.count and (
            slot.link_type != link_type
            or slot.used + data.shape[0] > slot.data.shape[0]
            or slot.count + count > slot.max_packets
        ):
            self._flush()
        if data.shape[0] > slot.data.shape[0] or count > slot.max_packets:
            self._account(data, offsets, timestamps, link_type)  # too big to copy: as is
            return
        used, filled = slot.used, slot.count
        slot.data[used : used + data.shape[0]] = data
        slot.offsets[filled : filled + count, 0] = offsets[:, 0] + np.uint32(used)
        slot.offsets[filled : filled + count, 1] = offsets[:, 1]
        slot.timestamps[filled : filled + count] = timestamps
        slot.used += data.shape[0]
        slot.count += count
        slot.link_type = link_type
        if slot.count >= self.flush_packets:
            self._flush()

    def flush_if_waiting(self, max_age: float) -> None:
        """Process the slot if its oldest frame has waited at least `max_age` seconds."""
        oldest = self.oldest_at
        if oldest is not None and self._monotonic() - oldest >= max_age:
            with self.lock:
                self._flush()

    def flush(self) -> None:
        with self.lock:
            self._flush()

    def _flush(self) -> None:
        slot = self.slot
        if slot.count:
            data, offsets, timestamps = slot.views()
            self._account(data, offsets, timestamps, slot.link_type)
        slot.reset()
        self.oldest_at = None

    def close(self) -> IngestTotals:
        with self.lock:
            self._flush()
            self.pool.release(self.slot)
        return self.totals

    def _account(self, data, offsets, timestamps, link_type) -> None:
        result = self.engine.process(data, offsets, timestamps, link_type)
        totals = self.totals
        totals.packets += result.verdicts.shape[0]
        totals.bytes += result.bytes
        totals.bytes_wire += result.bytes_wire
        totals.allow += result.allow
        totals.drop += result.drop
        totals.malformed += result.malformed
        totals.parse_errors += result.parse_errors
