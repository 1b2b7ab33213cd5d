"""docker-compose.dev.yml against the catalogue (no Docker engine here: parse and check)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from rookery_ops import catalogue

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.dev.yml").read_text())
SERVICES = COMPOSE["services"]
KEYS = [s.key for s in catalogue.SERVICES]


def test_services_are_the_catalogue_plus_postgres() -> None:
    assert set(SERVICES) == {*KEYS, "postgres"}


def test_postgres_is_16_and_not_published() -> None:
    postgres = SERVICES["postgres"]
    assert postgres["image"] == "postgres:16"
    assert "ports" not in postgres
    assert postgres["networks"] == ["data"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])


@pytest.mark.parametrize("key", KEYS)
def test_service_env_and_build_follow_the_catalogue(key: str) -> None:
    service = catalogue.by_key(key)
    entry = SERVICES[key]
    assert entry["build"] == {"context": ".", "dockerfile": f"services/{key}/Dockerfile"}
    env = {k: str(v) for k, v in entry["environment"].items()}
    for port in service.ports:
        assert env.get(port.env) == str(port.number), (key, port.env)
    for name, value in service.extra_env.items():
        assert env.get(name) == value, (key, name)


@pytest.mark.parametrize("key", KEYS)
def test_only_public_services_reach_the_host_on_loopback(key: str) -> None:
    service = catalogue.by_key(key)
    ports = SERVICES[key].get("ports", [])
    if service.public:
        number = service.http_port.number
        assert ports == [f"127.0.0.1:{number}:{number}"]
    else:
        assert ports == []


def test_public_ports_are_exactly_the_web_ui_and_the_api() -> None:
    published = {k for k, v in SERVICES.items() if v.get("ports")}
    assert published == {"webui", "flask-backend"}


@pytest.mark.parametrize("key", KEYS)
def test_healthcheck_probes_healthz_on_the_http_port(key: str) -> None:
    service = catalogue.by_key(key)
    probe = " ".join(SERVICES[key]["healthcheck"]["test"])
    assert f"127.0.0.1:{service.http_port.number}{catalogue.HEALTH_PATH}" in probe


def test_start_order_is_health_gated() -> None:
    def needs(name: str) -> dict[str, str]:
        return {k: v["condition"] for k, v in SERVICES[name].get("depends_on", {}).items()}

    assert needs("flask-backend") == {
        "postgres": "service_healthy",
        "packet-service": "service_healthy",
    }
    assert needs("webui") == {"flask-backend": "service_healthy"}


def test_networks_are_named_and_separate_the_database() -> None:
    assert set(COMPOSE["networks"]) == {"frontend", "backend", "data"}
    on_data = {k for k, v in SERVICES.items() if "data" in v["networks"]}
    assert on_data == {"postgres", "flask-backend"}
    assert SERVICES["webui"]["networks"] == ["frontend"]
    for entry in SERVICES.values():
        assert set(entry["networks"]) <= set(COMPOSE["networks"])


def test_backend_talks_to_the_compose_postgres() -> None:
    env = SERVICES["flask-backend"]["environment"]
    postgres = SERVICES["postgres"]["environment"]
    assert env["DB_HOST"] == "postgres" and env["DB_TYPE"] == "postgresql"
    assert env["DB_NAME"] == postgres["POSTGRES_DB"] and env["DB_USER"] == postgres["POSTGRES_USER"]
    assert env["DB_PASS"] == postgres["POSTGRES_PASSWORD"]


def test_packet_service_authenticates_with_the_key_the_backend_provisions() -> None:
    packet = SERVICES["packet-service"]["environment"]
    backend = SERVICES["flask-backend"]["environment"]
    assert packet["AUTH_REQUIRED"] == "true"
    assert packet["AUTH_SERVICE_API_KEY"] == backend["AUTH_SERVICE_API_KEY"]
    assert packet["AUTH_SERVICE_API_KEY"].startswith("${AUTH_SERVICE_API_KEY:-rk_")


def test_backend_trusts_exactly_the_web_ui_hop() -> None:
    assert SERVICES["flask-backend"]["environment"]["TRUSTED_PROXIES"] == "1"
    # the web UI takes browsers' connections itself: it believes no forwarding header
    assert "TRUSTED_PROXIES" not in SERVICES["webui"]["environment"]


def test_packet_service_gets_capture_capabilities() -> None:
    # exactly what AF_PACKET capture needs; the service never sets promiscuous mode
    assert SERVICES["packet-service"]["cap_add"] == ["NET_RAW"]


# -- scripts/dev.sh, with stand-in docker commands (no engine on this machine) ----------


def fake_docker(tmp_path: Path, info_ok: bool) -> tuple[dict[str, str], Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "docker.log"
    docker = bin_dir / "docker"
    docker.write_text(
        f'#!/bin/sh\necho "$@" >> {log}\n[ "$1" = info ] && exit {0 if info_ok else 1}\nexit 0\n'
    )
    docker.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin"}
    return env, log


def test_dev_without_an_engine_says_so(tmp_path: Path) -> None:
    env, _ = fake_docker(tmp_path, info_ok=False)
    result = subprocess.run(
        [ROOT / "scripts" / "dev.sh"], capture_output=True, text=True, env=env, timeout=30
    )
    assert result.returncode == 1
    assert "no Docker engine answers" in result.stderr and "make run" in result.stderr


def test_dev_without_docker_says_so(tmp_path: Path) -> None:
    (tmp_path / "dirname").symlink_to("/usr/bin/dirname")
    env = {**os.environ, "PATH": str(tmp_path)}  # dirname only: no docker anywhere
    result = subprocess.run(
        ["/bin/bash", ROOT / "scripts" / "dev.sh"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 1 and "docker is not installed" in result.stderr


def test_dev_runs_compose_with_the_dev_file(tmp_path: Path) -> None:
    env, log = fake_docker(tmp_path, info_ok=True)
    result = subprocess.run(
        [ROOT / "scripts" / "dev.sh"], capture_output=True, text=True, env=env, timeout=30
    )
    assert result.returncode == 0, result.stderr
    last = log.read_text().splitlines()[-1]
    assert last == f"compose --project-directory {ROOT} -f {ROOT}/docker-compose.dev.yml up --build"
    down = subprocess.run([ROOT / "scripts" / "dev.sh", "down", "-v"], env=env, timeout=30)
    assert down.returncode == 0
    assert log.read_text().splitlines()[-1].endswith("docker-compose.dev.yml down -v")
