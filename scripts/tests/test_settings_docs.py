"""`.env.example` and each service README's settings table list exactly the variables of
the service's settings class (OTEL_* are read by the OpenTelemetry SDK itself and may be
listed as well): adding a setting is one line in the class plus its two documentation
lines, and this fails until all three agree."""

from __future__ import annotations

from pathlib import Path

import pytest
from rookery_common.settings import EnvSettings
from rookery_common.settings_docs import undocumented

ROOT = Path(__file__).resolve().parents[2]


def settings_class(service: str) -> type[EnvSettings]:
    if service == "flask-backend":
        from rookery_backend.config import Settings

        return Settings
    from packet_service.config import ServiceConfig

    return ServiceConfig


@pytest.mark.parametrize("service", ["flask-backend", "packet-service"])
def test_docs_list_exactly_the_settings(service: str) -> None:
    found = undocumented(
        set(settings_class(service).env_names().values()),
        ROOT / "services" / service / "README.md",
        ROOT / ".env.example",
        service,
    )
    assert all(not names for place in found.values() for names in place.values()), found
