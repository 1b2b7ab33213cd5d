"""The product version every service reports (/healthz, build_info, gRPC metadata)."""

from __future__ import annotations

import os
from pathlib import Path


def read_version(anchor: str | Path) -> str:
    """ROOKERY_VERSION when set (containers may set it), else the nearest `.version` file
    above `anchor` (the repository's, or the image's /app/.version), else 0.0.0."""
    from_env = os.environ.get("ROOKERY_VERSION")
    if from_env:
        return from_env.strip()
    for parent in Path(anchor).resolve().parents:
        candidate = parent / ".version"
        if candidate.is_file():
            return candidate.read_text().strip()
    return "0.0.0"
