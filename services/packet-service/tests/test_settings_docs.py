"""`.env.example` and the README's settings table list exactly the settings class's
variables (OTEL_* are read by the OpenTelemetry SDK itself and may be listed as well)."""

from __future__ import annotations

from pathlib import Path

from packet_service.config import ServiceConfig
from rookery_common.settings_docs import undocumented

SERVICE_DIR = Path(__file__).resolve().parents[1]


def test_docs_list_exactly_the_settings() -> None:
    found = undocumented(
        set(ServiceConfig.env_names().values()),
        SERVICE_DIR / "README.md",
        SERVICE_DIR.parent.parent / ".env.example",
        "packet-service",
    )
    assert all(not names for place in found.values() for names in place.values()), found
