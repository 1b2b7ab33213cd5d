"""Replay steady UDP traffic to packet-service for a while; prints the frames sent as JSON.

Used by the browser e2e run so the dashboard is looked at while traffic flows:
    python replay.py HOST:PORT DST_IP DST_PORT SECONDS FRAMES_PER_SECOND
A batch goes out every 0.1 s; ROOKERY_TOKEN (a packets:write API key) authenticates.
"""

from __future__ import annotations

import json
import os
import struct
import sys
import time

import grpc
from classify import udp_ipv4_packet
from packet_service.gen import packet_pb2, packet_pb2_grpc


def main(argv: list[str]) -> int:
    target, dst, dst_port = argv[1], argv[2], int(argv[3])
    seconds, per_second = float(argv[4]), int(argv[5])
    per_batch = max(1, per_second // 10)
    frames = [udp_ipv4_packet("192.0.2.20", dst, 30000 + i, dst_port) for i in range(per_batch)]
    data = bytearray()
    offsets = bytearray()
    for frame in frames:
        offsets += struct.pack("<II", len(data), len(frame))
        data += frame
    batch = packet_pb2.PacketBatch(
        data=bytes(data), offsets=bytes(offsets), link_type=packet_pb2.LINK_TYPE_RAW
    )
    token = os.environ.get("ROOKERY_TOKEN", "")
    metadata = [("authorization", f"Bearer {token}")] if token else None
    sent = 0
    with grpc.insecure_channel(target) as channel:
        stub = packet_pb2_grpc.PacketServiceStub(channel)
        started = due = time.monotonic()
        while time.monotonic() - started < seconds:
            stub.Classify(batch, timeout=10, metadata=metadata)
            sent += per_batch
            due += 0.1
            time.sleep(max(0.0, due - time.monotonic()))  # the pace of the traffic itself
    print(json.dumps({"sent": sent}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
