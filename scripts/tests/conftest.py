"""Shared fixtures for the ops tooling tests; makes scripts/ importable."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))
if str(Path(__file__).parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).parent))
# the services' own settings classes, for the tests that check what configures them
for service in ("flask-backend", "packet-service"):
    if str(ROOT / "services" / service) not in sys.path:
        sys.path.append(str(ROOT / "services" / service))

from rookery_ops.debian import ensure_command  # noqa: E402


@pytest.fixture(scope="session")
def promtool() -> str:
    """Path of promtool; installs Debian's prometheus package when missing and root."""
    found = ensure_command("promtool", "prometheus")
    assert found, "promtool is missing: install Debian's prometheus package"
    return found
