"""config/k8s: every object valid against the Kubernetes schemas, offline; wired as intended.

kubernetes-validate ships the Kubernetes JSON schemas inside the package; the tests block
outgoing connections while validating to prove it needs no network. The kustomizations
are rendered by a small resolver here (resources, namespace, labels, images: the only
features they use) and, where kubectl is installed, also by `kubectl kustomize`.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from rookery_ops import catalogue

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "config" / "k8s"
KUBERNETES_VERSION = "1.35"
CLUSTER_SCOPED = {"Namespace"}


def load_documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def render(directory: Path) -> list[dict[str, Any]]:
    """Resolve a kustomization the way kustomize does for the features used here."""
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    objects: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        target = (directory / entry).resolve()
        objects.extend(render(target) if target.is_dir() else load_documents(target))
    images = {i["name"]: f"{i['newName']}:{i['newTag']}" for i in spec.get("images", [])}
    for obj in objects:
        if "namespace" in spec and obj["kind"] not in CLUSTER_SCOPED:
            obj["metadata"]["namespace"] = spec["namespace"]
        for pairs in spec.get("labels", []):
            obj["metadata"].setdefault("labels", {}).update(pairs["pairs"])
        for container in pod_spec(obj).get("containers", []):
            container["image"] = images.get(container["image"], container["image"])
    return objects


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj.get("spec", {}).get("template", {}).get("spec", {})


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(self: socket.socket, address: object) -> None:
        raise AssertionError(f"kubernetes-validate tried to connect to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    yield


BASE = render(K8S)
CAPTURE = render(K8S / "capture")
SECRET = load_documents(K8S / "secret-template.yaml")


def effective_env(container: dict[str, Any]) -> dict[str, str]:
    """The container's environment with ConfigMap references resolved (env wins)."""
    maps = {name: o.get("data", {}) for name, o in by_kind(BASE, "ConfigMap").items()}
    result: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            result.update(maps[source["configMapRef"]["name"]])
    for entry in container.get("env", []):
        ref = entry.get("valueFrom", {}).get("configMapKeyRef")
        secret = entry.get("valueFrom", {}).get("secretKeyRef")
        if secret:  # no value here: name where it comes from
            result[entry["name"]] = f"secret:{secret['name']}/{secret['key']}"
            continue
        result[entry["name"]] = maps[ref["name"]][ref["key"]] if ref else entry["value"]
    return result


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


@pytest.mark.parametrize(
    "obj",
    [*CAPTURE, *SECRET],  # CAPTURE holds the base too
    ids=lambda o: f"{o['kind']}/{o['metadata']['name']}",
)
def test_object_is_valid_for_kubernetes(obj: dict[str, Any], no_network: None) -> None:
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path)
        pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {exc.message}")
    except kubernetes_validate.SchemaNotFoundError as exc:
        pytest.fail(exc.message)


def test_validator_rejects_a_broken_object(no_network: None) -> None:
    broken = {**by_kind(BASE, "Deployment")["webui"]}
    broken["spec"] = {**broken["spec"], "replicas": "two"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_every_manifest_file_is_used() -> None:
    listed = set()
    for kustomization in K8S.rglob("kustomization.yaml"):
        for entry in yaml.safe_load(kustomization.read_text()).get("resources", []):
            listed.add((kustomization.parent / entry).resolve())
    files = {p.resolve() for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml"}
    # The Secret template is applied by hand, with real values, never by kustomize.
    assert files - listed == {(K8S / "secret-template.yaml").resolve()}


@pytest.mark.parametrize("key", [s.key for s in catalogue.SERVICES])
def test_deployment_and_service_follow_the_catalogue(key: str) -> None:
    service = catalogue.by_key(key)
    deployment = by_kind(BASE, "Deployment")[key]
    assert deployment["metadata"]["namespace"] == "rookery"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (container,) = pod_spec(deployment)["containers"]
    assert container["image"] == f"ghcr.io/rookery/rookery-{key}:latest"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {p.name: p.number for p in service.ports}
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    for port in service.ports:
        assert env[port.env] == str(port.number)
    effective = effective_env(container)
    for name, value in service.extra_env.items():
        assert effective.get(name) == value, (key, name)
    http = service.http_port.name
    assert container["readinessProbe"]["httpGet"] == {"path": catalogue.READY_PATH, "port": http}
    assert container["livenessProbe"]["httpGet"] == {"path": catalogue.HEALTH_PATH, "port": http}
    assert pod_spec(deployment)["securityContext"]["runAsNonRoot"] is True

    k8s_service = by_kind(BASE, "Service")[key]
    assert k8s_service["spec"]["selector"].items() <= labels.items()
    assert {p["name"]: p["port"] for p in k8s_service["spec"]["ports"]} == ports


def test_stateless_services_autoscale_and_packet_service_does_not() -> None:
    hpas = by_kind(BASE, "HorizontalPodAutoscaler")
    stateless = {s.key for s in catalogue.SERVICES if s.stateless}
    assert set(hpas) == stateless == {"flask-backend", "webui"}
    for name, hpa in hpas.items():
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
        }
        assert hpa["spec"]["minReplicas"] >= 2


def test_postgresql_is_external() -> None:
    postgres = by_kind(BASE, "Service")["postgres"]
    assert postgres["spec"]["type"] == "ExternalName"
    assert not [o for o in BASE if o["kind"] == "StatefulSet"]
    config = by_kind(BASE, "ConfigMap")["rookery-config"]["data"]
    assert config["DB_HOST"] == "postgres" and config["DB_TYPE"] == "postgresql"
    assert config["RELEASE_MODE"] == "production"


def test_secret_template_holds_only_placeholders() -> None:
    (secret,) = SECRET
    values = secret["stringData"]
    assert {"SECRET_KEY", "SECURITY_PASSWORD_SALT", "DB_PASS", "ADMIN_PASSWORD"} <= set(values)
    assert all(v.startswith("REPLACE-") for v in values.values())
    for deployment in by_kind(BASE, "Deployment").values():
        for container in pod_spec(deployment)["containers"]:
            for source in container.get("envFrom", []):
                if "secretRef" in source:
                    assert source["secretRef"]["name"] == secret["metadata"]["name"]


def test_packet_services_authenticate_callers_with_their_own_key_from_the_secret() -> None:
    (secret,) = SECRET
    assert "AUTH_SERVICE_API_KEY" in secret["stringData"]
    daemonset = by_kind(CAPTURE, "DaemonSet")["packet-capture"]
    deployment = by_kind(BASE, "Deployment")["packet-service"]
    for workload in (deployment, daemonset):
        (container,) = pod_spec(workload)["containers"]
        env = effective_env(container)
        assert env["AUTH_REQUIRED"] == "true"
        assert env["AUTH_SERVICE_API_KEY"] == "secret:rookery-secrets/AUTH_SERVICE_API_KEY"
        assert not container.get("envFrom")  # only its own key, not the other secrets
    # flask-backend reads the whole Secret, so it provisions the same key
    (backend,) = pod_spec(by_kind(BASE, "Deployment")["flask-backend"])["containers"]
    assert {"secretRef": {"name": "rookery-secrets"}} in backend["envFrom"]


def test_backend_trusts_one_proxy_hop() -> None:
    (backend,) = pod_spec(by_kind(BASE, "Deployment")["flask-backend"])["containers"]
    assert effective_env(backend)["TRUSTED_PROXIES"] == "1"


def test_capture_daemonset_has_exactly_the_capture_capabilities() -> None:
    daemonset = by_kind(CAPTURE, "DaemonSet")["packet-capture"]
    spec = pod_spec(daemonset)
    assert spec["hostNetwork"] is True
    (container,) = spec["containers"]
    capabilities = container["securityContext"]["capabilities"]
    assert capabilities == {"drop": ["ALL"], "add": ["NET_RAW"]}
    assert container["image"] == "ghcr.io/rookery/rookery-packet-service:latest"
    assert container["livenessProbe"]["httpGet"]["path"] == catalogue.HEALTH_PATH


@pytest.mark.parametrize("directory", ["", "capture"])
def test_kubectl_kustomize_agrees(directory: str) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed: the manifests were rendered by the resolver above")
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S / directory)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    rendered = [d for d in yaml.safe_load_all(result.stdout) if d]
    mine = render(K8S / directory)

    def names(objects: list[dict[str, Any]]) -> set[tuple[str, str, str | None]]:
        return {(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")) for o in objects}

    assert names(rendered) == names(mine)
    images = {c["image"] for o in rendered for c in pod_spec(o).get("containers", [])}
    assert images == {c["image"] for o in mine for c in pod_spec(o).get("containers", [])}
