"""`.env.example` and the README's settings table list exactly the settings class's
variables (OTEL_* are read by the OpenTelemetry SDK itself and may be listed as well)."""

from __future__ import annotations

from conftest import SERVICE_DIR
from rookery_backend.config import Settings
from rookery_common.settings_docs import undocumented


def test_docs_list_exactly_the_settings() -> None:
    found = undocumented(
        set(Settings.env_names().values()),
        SERVICE_DIR / "README.md",
        SERVICE_DIR.parent.parent / ".env.example",
        "flask-backend",
    )
    assert all(not names for place in found.values() for names in place.values()), found
