"""config/marchproxy/*.json: generated from the catalogue, valid for MarchProxy's schema."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from rookery_ops import catalogue, marchproxy_config, marchproxy_schema

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "config" / "marchproxy"
FILES = {
    "services.json": "servicesFile",
    "mappings.json": "mappingsFile",
    "import-config.json": "importConfigFile",
}


def test_committed_files_are_what_the_catalogue_generates() -> None:
    stale = marchproxy_config.drifted_files(CONFIG_DIR)
    assert stale == [], f"{stale} drifted from the catalogue: run `make marchproxy-config`"


def test_config_script_check_mode_detects_drift(tmp_path: Path) -> None:
    script = ROOT / "scripts" / "marchproxy-config.sh"
    assert subprocess.run([script, "--out", str(tmp_path)], capture_output=True).returncode == 0
    assert subprocess.run([script, "--check", "--out", str(tmp_path)]).returncode == 0
    services = tmp_path / "services.json"
    services.write_text(services.read_text().replace("8080", "8081"))
    result = subprocess.run(
        [script, "--check", "--out", str(tmp_path)], capture_output=True, text=True
    )
    assert result.returncode == 1 and "services.json" in result.stderr


@pytest.mark.parametrize(("name", "definition"), sorted(FILES.items()))
def test_generated_file_is_valid_against_the_schema(name: str, definition: str) -> None:
    document = json.loads((CONFIG_DIR / name).read_text())
    assert marchproxy_schema.problems(definition, document) == []


def test_each_service_with_its_cluster_is_a_valid_create_body() -> None:
    for entry in json.loads((CONFIG_DIR / "services.json").read_text())["services"]:
        body = {k: v for k, v in entry.items() if v is not None} | {"cluster_id": 7}
        assert marchproxy_schema.problems("serviceCreate", body) == [], entry["name"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("protocol", "grpc"),
        ("auth_type", "oauth"),
        ("health_check_interval", 4),
        ("port", 70000),
        ("name", ""),
        ("cluster_id", 3),  # must stay null in the file; the importer fills it
        ("unknown_field", 1),
    ],
)
def test_schema_rejects_what_marchproxy_rejects(field: str, value: object) -> None:
    document = json.loads((CONFIG_DIR / "services.json").read_text())
    document["services"][0][field] = value
    found = marchproxy_schema.problems("servicesFile", document)
    assert found and any(f"services.0.{field}" in p or "unknown_field" in p for p in found)


def test_update_schema_validates_the_enums_patch_does_not() -> None:
    assert marchproxy_schema.problems("serviceUpdate", {"protocol": "grpc"})
    assert marchproxy_schema.problems("serviceUpdate", {"auth_type": "basic"})
    assert marchproxy_schema.problems("serviceUpdate", {}) != []
    assert marchproxy_schema.problems("serviceUpdate", {"is_active": True, "port": 80}) == []


def test_enabled_health_check_needs_a_path() -> None:
    document = json.loads((CONFIG_DIR / "services.json").read_text())
    document["services"][0]["health_check_path"] = None
    assert marchproxy_schema.problems("servicesFile", document)


def test_catalogue_facts_reach_the_generated_files() -> None:
    services = {s["name"]: s for s in marchproxy_config.services_document()["services"]}
    assert set(services) == {"rookery-flask-backend", "rookery-packet-service", "rookery-webui"}
    for service in catalogue.SERVICES:
        entry = services[service.gateway_name]
        assert entry["port"] == service.published_port.number
        assert entry["protocol"] == service.gateway.protocol
        # a gRPC port is published as tcp: MarchProxy has no grpc protocol
        if service.published_port.serves == "grpc":
            assert entry["protocol"] == "tcp"
            assert entry["health_check_enabled"] is False
    mapping_names = {
        m["source_services"] for m in marchproxy_config.mappings_document()["mappings"]
    }
    assert mapping_names <= set(services)


def test_catalogue_ports_are_distinct() -> None:
    numbers = [p.number for s in catalogue.SERVICES for p in s.ports]
    assert len(numbers) == len(set(numbers))


def test_import_config_cannot_ask_for_deletion() -> None:
    document = json.loads((CONFIG_DIR / "import-config.json").read_text())
    document["delete_unlisted"] = True
    found = marchproxy_schema.problems("importConfigFile", document)
    assert any("delete_unlisted" in p for p in found)
