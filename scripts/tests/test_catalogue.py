"""The catalogue is the one place for service facts; files that repeat them must agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rookery_ops import catalogue

ROOT = Path(__file__).resolve().parents[2]


def test_names_follow_the_gateway_convention() -> None:
    for service in catalogue.SERVICES:
        assert service.gateway_name == f"rookery-{service.key}"
        assert (ROOT / "services" / service.key).is_dir()


def test_every_service_has_one_http_port_and_gateway_port() -> None:
    for service in catalogue.SERVICES:
        assert len([p for p in service.ports if p.serves == "http"]) == 1
        assert service.published_port in service.ports
        assert service.gateway.protocol in ("tcp", "udp", "http", "https")
        assert service.gateway.auth_type in ("none", "base64", "jwt")
        assert service.gateway.health_check_interval >= 5


@pytest.mark.parametrize("service", catalogue.SERVICES, ids=lambda s: s.key)
def test_run_trio_uses_the_catalogue_ports(service: catalogue.Service) -> None:
    text = (ROOT / "scripts" / "run_trio.py").read_text()
    for port in service.ports:
        assert f'"{port.env}": "{port.number}"' in text, (service.key, port.env)
    assert f"127.0.0.1:{service.http_port.number}{catalogue.HEALTH_PATH}" in text


def test_readme_service_table_matches() -> None:
    readme = (ROOT / "README.md").read_text()
    for service in catalogue.SERVICES:
        row = next(line for line in readme.splitlines() if line.startswith(f"| {service.key} |"))
        numbers = {int(n) for n in re.findall(r"\b(\d{4,5})\b", row)}
        assert numbers == {p.number for p in service.ports}, service.key


def test_lookup_refuses_unknown_names() -> None:
    with pytest.raises(KeyError):
        catalogue.by_key("nope")
    with pytest.raises(KeyError):
        catalogue.WEBUI.port("grpc")
