"""Zero-copy decoding of a serialized PacketBatch.

The protobuf runtime copies every bytes field into a new Python object; for a batch blob
that is the whole payload again. PacketBatch is five plain fields, so the transport hands
the raw message to this decoder instead, which returns memoryview slices of the received
buffer. Unknown fields are skipped as protobuf requires; a malformed message yields a
WireBatch with `error` set rather than an exception. No grpc here.
"""

from __future__ import annotations

from dataclasses import dataclass

# PacketBatch field numbers (proto/packet.proto)
FIELD_DATA, FIELD_OFFSETS, FIELD_TIMESTAMPS, FIELD_LINK_TYPE, FIELD_BATCH_ID = 1, 2, 3, 4, 5
WIRE_VARINT, WIRE_I64, WIRE_LEN, WIRE_I32 = 0, 1, 2, 5


@dataclass(slots=True)
class WireBatch:
    data: memoryview | bytes = b""
    offsets: memoryview | bytes = b""
    timestamps: memoryview | bytes = b""
    link_type: int = 0
    batch_id: int = 0
    error: str | None = None


class _Malformed(Exception):
    pass


def _varint(raw: bytes, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise _Malformed("truncated or overlong varint")
        byte = raw[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def decode_packet_batch(raw: bytes) -> WireBatch:
    batch = WireBatch()
    view = memoryview(raw)
    pos, end = 0, len(raw)
    try:
        while pos < end:
            key, pos = _varint(raw, pos, end)
            field, wire_type = key >> 3, key & 7
            if field == 0:
                raise _Malformed("field number 0")
            if wire_type == WIRE_LEN:
                length, pos = _varint(raw, pos, end)
                if pos + length > end:
                    raise _Malformed(f"field {field} runs past the end of the message")
                value = view[pos : pos + length]
                pos += length
                if field == FIELD_DATA:
                    batch.data = value
                elif field == FIELD_OFFSETS:
                    batch.offsets = value
                elif field == FIELD_TIMESTAMPS:
                    batch.timestamps = value
            elif wire_type == WIRE_VARINT:
                value, pos = _varint(raw, pos, end)
                if field == FIELD_LINK_TYPE:  # an enum is an int32: negatives are 10 bytes
                    batch.link_type = value - (1 << 64) if value >= 1 << 63 else value
                elif field == FIELD_BATCH_ID:
                    batch.batch_id = value
            elif wire_type == WIRE_I64:
                pos += 8
            elif wire_type == WIRE_I32:
                pos += 4
            else:
                raise _Malformed(f"unsupported wire type {wire_type}")
            if pos > end:
                raise _Malformed("fixed-width field runs past the end of the message")
    except _Malformed as exc:
        return WireBatch(error=f"PacketBatch is not a valid protobuf message: {exc}")
    return batch
