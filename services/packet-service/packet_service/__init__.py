"""Rookery packet-service: vectorized packet classification (gRPC, UDP, pcap, live capture)."""

from __future__ import annotations

import os
from pathlib import Path


def service_version() -> str:
    """The product version: env ROOKERY_VERSION (containers), else the repository's .version."""
    from_env = os.environ.get("ROOKERY_VERSION")
    if from_env:
        return from_env.strip()
    for parent in Path(__file__).resolve().parents:
        candidate = parent / ".version"
        if candidate.is_file():
            return candidate.read_text().strip()
    return "0.0.0"
