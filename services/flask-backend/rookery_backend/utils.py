"""Small shared helpers: UTC time as the database stores it, and token hashing."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime


def utcnow() -> datetime:
    # The database stores naive UTC datetimes (no backend-specific time zone handling).
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z; naive datetimes are UTC (that is how they are stored)."""
    if moment is None:
        return None
    if moment.tzinfo is None:  # the stored kind: no time zone arithmetic needed
        return moment.isoformat() + "Z"
    aware = moment.astimezone(UTC)
    return aware.isoformat().replace("+00:00", "Z")


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
