"""(being built) /api/v1 routes: teams."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("teams", __name__, url_prefix="/api/v1")
