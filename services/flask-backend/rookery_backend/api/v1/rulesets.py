"""(being built) /api/v1 routes: rulesets."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("rulesets", __name__, url_prefix="/api/v1/rulesets")
