"""The zero-copy PacketBatch decoder agrees with protobuf and never raises."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from packet_service.gen import packet_pb2
from packet_service.wire import decode_packet_batch

batches = st.builds(
    packet_pb2.PacketBatch,
    data=st.binary(max_size=300),
    offsets=st.binary(max_size=64),
    timestamps=st.binary(max_size=64),
    link_type=st.sampled_from([0, 1, 101, 7, -3]),
    batch_id=st.integers(0, 2**64 - 1),
)


@settings(max_examples=300, deadline=None)
@given(batches)
def test_decoder_matches_protobuf(message):
    decoded = decode_packet_batch(message.SerializeToString())
    assert decoded.error is None
    assert bytes(decoded.data) == message.data
    assert bytes(decoded.offsets) == message.offsets
    assert bytes(decoded.timestamps) == message.timestamps
    assert decoded.link_type == message.link_type
    assert decoded.batch_id == message.batch_id


def test_unknown_fields_are_skipped():
    known = packet_pb2.PacketBatch(data=b"abc", batch_id=9).SerializeToString()
    # field 9 varint, field 10 fixed64, field 11 bytes, field 12 fixed32
    extra = b"\x48\x96\x01" + b"\x51" + bytes(8) + b"\x5a\x02hi" + b"\x65" + bytes(4)
    decoded = decode_packet_batch(extra + known)
    assert decoded.error is None and bytes(decoded.data) == b"abc" and decoded.batch_id == 9


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80))
def test_garbage_never_raises(raw):
    decoded = decode_packet_batch(raw)
    try:
        reference = packet_pb2.PacketBatch.FromString(raw)
    except Exception:
        reference = None
    if decoded.error is None and reference is not None:
        assert bytes(decoded.data) == reference.data
        assert bytes(decoded.offsets) == reference.offsets


def test_truncated_message_is_an_error():
    raw = packet_pb2.PacketBatch(data=b"x" * 50).SerializeToString()
    assert decode_packet_batch(raw[:20]).error.startswith("PacketBatch is not a valid")
