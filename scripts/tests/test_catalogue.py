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


def make_run_plan(tmp_path: Path) -> dict[str, object]:
    import run_trio

    return {p.name: p for p in run_trio.plan("python", "rk_abcdefgh_" + "x" * 40, tmp_path)}


def test_make_run_starts_every_catalogue_service_in_order(tmp_path: Path) -> None:
    planned = make_run_plan(tmp_path)
    assert list(planned) == [s.key for s in catalogue.SERVICES]
    for service in catalogue.SERVICES:
        run = planned[service.key]
        start = [part.format(python="python") for part in service.start_command]
        assert run.command[: len(start)] == start  # type: ignore[attr-defined]
        assert run.health_url == (  # type: ignore[attr-defined]
            f"http://127.0.0.1:{service.http_port.number}{catalogue.HEALTH_PATH}"
        )
        for port in service.ports:
            assert run.env[port.env] == str(port.number)  # type: ignore[attr-defined]


def test_make_run_settings_are_what_the_services_read(tmp_path: Path) -> None:
    """The plan's environment, read by the services' own settings classes: every port
    and every link between them lands where the catalogue says."""
    from packet_service.config import ServiceConfig
    from rookery_backend.config import load_settings

    planned = make_run_plan(tmp_path)
    backend = load_settings(planned["flask-backend"].env)  # type: ignore[attr-defined]
    packet = ServiceConfig.from_env(planned["packet-service"].env)  # type: ignore[attr-defined]
    webui_env = planned["webui"].env  # type: ignore[attr-defined]
    ports = {(s.key, p.name): p.number for s in catalogue.SERVICES for p in s.ports}

    assert backend.http_port == ports["flask-backend", "http"]
    assert backend.grpc_port == ports["flask-backend", "grpc"]
    assert backend.data_dir == (tmp_path / "flask-backend").resolve()
    assert backend.packet_service_targets == f"127.0.0.1:{ports['packet-service', 'grpc']}"
    assert packet.grpc_port == ports["packet-service", "grpc"]
    assert packet.metrics_port == ports["packet-service", "metrics"]
    assert packet.auth_service_target == f"127.0.0.1:{ports['flask-backend', 'grpc']}"
    assert packet.auth_required and packet.auth_service_api_key == backend.auth_service_api_key
    assert webui_env["PORT"] == str(ports["webui", "http"])
    assert webui_env["FLASK_API_URL"] == f"http://127.0.0.1:{ports['flask-backend', 'http']}"


def test_readme_service_table_matches() -> None:
    readme = (ROOT / "README.md").read_text()
    for service in catalogue.SERVICES:
        heads = (f"| {service.key} |", f"| [{service.key}](services/{service.key}/README.md) |")
        row = next(line for line in readme.splitlines() if line.startswith(heads))
        numbers = {int(n) for n in re.findall(r"\b(\d{4,5})\b", row)}
        assert numbers == {p.number for p in service.ports}, service.key


def test_lookup_refuses_unknown_names() -> None:
    with pytest.raises(KeyError):
        catalogue.by_key("nope")
    with pytest.raises(KeyError):
        catalogue.WEBUI.port("grpc")
