"""CSV downloads (the audit log, the user list): one writer, one response shape."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from flask import Response

from .utils import utcnow

# Most rows a download holds; past it the newest rows are kept and a header says so.
EXPORT_MAX_ROWS = 100_000
# A cell a spreadsheet would read as a formula (CSV injection): these first characters.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    """One value as CSV text; text that a spreadsheet would evaluate is quoted with "'"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_START):
        return "'" + text
    return text


def csv_response(
    name: str, header: Sequence[str], rows: Iterable[Sequence[Any]], *, truncated: bool = False
) -> Response:
    """A text/csv attachment named `<name>-<UTC timestamp>.csv`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell(value) for value in row])
    response = Response(buffer.getvalue(), mimetype="text/csv")
    response.charset = "utf-8"
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    if truncated:
        response.headers["X-Export-Truncated"] = f"newest {EXPORT_MAX_ROWS} rows"
    return response
