"""Ask packet-service for the verdict on one UDP/IPv4 packet; prints JSON.

Used by the browser e2e run to check that rules edited in the web UI are enforced:
    python classify.py HOST:PORT SRC_IP DST_IP DST_PORT
"""

from __future__ import annotations

import ipaddress
import json
import os
import struct
import sys

import grpc
from packet_service.gen import packet_pb2, packet_pb2_grpc

VERDICTS = {1: "allow", 2: "drop", 3: "malformed"}


def udp_ipv4_packet(src: str, dst: str, src_port: int, dst_port: int) -> bytes:
    payload = b"rookery-e2e"
    udp = struct.pack("!HHHH", src_port, dst_port, 8 + len(payload), 0) + payload
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(udp),
        1,
        0,
        64,
        17,
        0,
        ipaddress.IPv4Address(src).packed,
        ipaddress.IPv4Address(dst).packed,
    )
    return header + udp


def main(argv: list[str]) -> int:
    target, src, dst, dst_port = argv[1], argv[2], argv[3], int(argv[4])
    frame = udp_ipv4_packet(src, dst, 40000, dst_port)
    batch = packet_pb2.PacketBatch(
        data=frame,
        offsets=struct.pack("<II", 0, len(frame)),
        link_type=packet_pb2.LINK_TYPE_RAW,
    )
    # When packet-service requires authentication, a packets:write API key from the run.
    token = os.environ.get("ROOKERY_TOKEN", "")
    metadata = [("authorization", f"Bearer {token}")] if token else None
    with grpc.insecure_channel(target) as channel:
        stub = packet_pb2_grpc.PacketServiceStub(channel)
        reply = stub.Classify(batch, timeout=10, metadata=metadata)
    verdict = VERDICTS.get(reply.verdicts[0], "unknown")
    print(json.dumps({"verdict": verdict, "ruleset_version": reply.ruleset_version}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
