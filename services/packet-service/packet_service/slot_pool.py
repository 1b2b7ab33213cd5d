"""Preallocated batch buffers (the Go design's memory slots).

Each slot holds a data blob, an (n, 2) uint32 offset table, a float64 timestamp column and
a uint32 wire-length column, all allocated once. Ingest paths fill a slot, hand numpy
views of its used part to the engine and give it back; steady-state ingest therefore
allocates no per-packet objects and no per-batch buffers. No grpc here.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass, field

import numpy as np


@dataclass(slots=True)
class Slot:
    data: np.ndarray  # uint8 [slot_bytes]
    offsets: np.ndarray  # uint32 [max_packets, 2] (start, length)
    timestamps: np.ndarray  # float64 [max_packets]
    # uint32 [max_packets]: each frame's length on the wire, where a capture kept less of
    # it (a snap length); filled by the capture paths only
    wire_lengths: np.ndarray
    count: int = 0  # frames filled in
    used: int = 0  # bytes of `data` filled in
    link_type: int = 1
    meta: dict = field(default_factory=dict)

    @property
    def max_packets(self) -> int:
        return int(self.offsets.shape[0])

    def reset(self) -> None:
        self.count = 0
        self.used = 0

    def views(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.data[: self.used], self.offsets[: self.count], self.timestamps[: self.count]


class SlotPool:
    def __init__(self, slots: int = 4, slot_bytes: int = 4 << 20, max_packets: int = 4096) -> None:
        self._free: queue.Queue[Slot] = queue.Queue()
        self.size = slots
        for _ in range(slots):
            self._free.put(
                Slot(
                    data=np.zeros(slot_bytes, dtype=np.uint8),
                    offsets=np.zeros((max_packets, 2), dtype=np.uint32),
                    timestamps=np.zeros(max_packets, dtype=np.float64),
                    wire_lengths=np.zeros(max_packets, dtype=np.uint32),
                )
            )

    def acquire(self, timeout: float | None = None) -> Slot:
        slot = self._free.get(timeout=timeout)
        slot.reset()
        return slot

    def release(self, slot: Slot) -> None:
        self._free.put(slot)

    def available(self) -> int:
        return self._free.qsize()
