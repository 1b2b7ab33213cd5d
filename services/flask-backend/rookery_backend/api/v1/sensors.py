"""(being built) /api/v1 routes: sensors."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("sensors", __name__, url_prefix="/api/v1/sensors")
