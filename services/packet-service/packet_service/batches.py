"""Turning a wire batch (blob + little-endian u32 offset pairs) into numpy views without
copying, with every check a caller's mistake deserves. No grpc here."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from packet_service.parser import LINK_ETHERNET, SUPPORTED_LINK_TYPES, validate_offsets


class BatchError(ValueError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass(slots=True)
class DecodedBatch:
    data: np.ndarray  # uint8 view of the blob
    offsets: np.ndarray  # (n, 2) uint32 view
    timestamps: np.ndarray | None  # float64 per frame, or None = now
    link_type: int


def decode_batch(
    data: bytes, offsets: bytes, timestamps: bytes, link_type: int, max_packets: int
) -> DecodedBatch:
    if len(offsets) % 8:
        raise BatchError("offsets", f"{len(offsets)} bytes is not a whole number of u32 pairs")
    count = len(offsets) // 8
    if count > max_packets:
        raise BatchError("offsets", f"{count} frames exceed the limit of {max_packets} per batch")
    if link_type not in SUPPORTED_LINK_TYPES:
        raise BatchError("link_type", f"{link_type} is not supported (1 Ethernet, 101 raw IP)")
    table = np.frombuffer(offsets, dtype="<u4").reshape(-1, 2)
    problem = validate_offsets(table, len(data))
    if problem:
        raise BatchError("offsets", problem)
    times = None
    if timestamps:
        if len(timestamps) != 8 * count:
            raise BatchError(
                "timestamps", f"{len(timestamps)} bytes; expected 8 per frame ({8 * count})"
            )
        times = np.frombuffer(timestamps, dtype="<f8")
        if not np.isfinite(times).all():
            raise BatchError("timestamps", "must be finite Unix seconds")
    return DecodedBatch(
        data=np.frombuffer(data, dtype=np.uint8),
        offsets=table,
        timestamps=times,
        link_type=link_type or LINK_ETHERNET,
    )
