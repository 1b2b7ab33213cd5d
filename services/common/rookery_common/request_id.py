"""The request id rule, once: a caller's id is kept when it is 1-128 characters of
letters, digits and `.` `_` `:` `-`; anything else (absent, empty, too long, spaces,
control characters, other punctuation) is replaced by a new random UUID.

flask-backend's HTTP layer and its gRPC AuthService use this module; the web UI's Express
proxy has the same rule in services/webui/server/proxy.js, and both languages' tests read
the same cases from services/common/request_id_cases.json."""

from __future__ import annotations

import re
import uuid

__all__ = ["REQUEST_ID_HEADER", "REQUEST_ID_METADATA", "accepted", "request_id"]

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_METADATA = "x-request-id"  # the same, as gRPC metadata (lower case)
_ALLOWED = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def accepted(given: object) -> str | None:
    """The caller's id when it follows the rule, else None."""
    if isinstance(given, str) and _ALLOWED.fullmatch(given):
        return given
    return None


def request_id(given: object = None) -> str:
    """The caller's id when it follows the rule, else a new one."""
    return accepted(given) or str(uuid.uuid4())
