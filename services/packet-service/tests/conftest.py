"""Shared fixtures: synthetic traffic and free loopback ports (never fixed ones)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

SERVICE_DIR = Path(__file__).resolve().parents[1]
if str(SERVICE_DIR) not in sys.path:
    sys.path.insert(0, str(SERVICE_DIR))

from packet_service import synthetic  # noqa: E402


@pytest.fixture(scope="session")
def mixed_frames() -> list[bytes]:
    return synthetic.mixed_frames(6000, seed=11)
