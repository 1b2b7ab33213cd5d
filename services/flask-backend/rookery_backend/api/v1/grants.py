"""(being built) /api/v1 routes: grants."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("grants", __name__, url_prefix="/api/v1/rulesets")
