"""Small shared helpers: UTC time as the database stores it, and token hashing."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime


def utcnow() -> datetime:
    # The database stores naive UTC datetimes (no backend-specific time zone handling).
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def iso(moment: datetime | None) -> str | None:
    return moment.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z") if moment else None


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
