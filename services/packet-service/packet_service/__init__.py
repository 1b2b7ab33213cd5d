"""Rookery packet-service: vectorized packet classification (gRPC, UDP, pcap, live capture)."""

from __future__ import annotations

from rookery_common.version import read_version


def service_version() -> str:
    """The product version: env ROOKERY_VERSION (containers), else the repository's .version."""
    return read_version(__file__)
