"""services/*/Dockerfile against the container standard and the catalogue.

The Dockerfiles belong to each service; there is no Docker engine here, so they are
parsed: multi-stage, slim builder and runtime, non-root user, HEALTHCHECK on /healthz at
the catalogue's port, EXPOSE matching the catalogue, gRPC code generated in the build.
Every catalogue service has one; a missing Dockerfile is a failure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from rookery_ops import catalogue

ROOT = Path(__file__).resolve().parents[2]
BUILDER_IMAGES = {
    "flask-backend": "python:3.13-slim",
    "packet-service": "python:3.13-slim",
    "webui": "node:22-slim",
}


@dataclass(slots=True)
class Stage:
    base: str
    name: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


def parse(path: Path) -> tuple[list[Stage], str]:
    text = path.read_text()
    logical = re.sub(r"\\\n", " ", text)  # join continuation lines
    stages: list[Stage] = []
    for line in logical.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, args = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            match = re.match(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", args, re.I)
            assert match, f"cannot read FROM {args!r}"
            stages.append(Stage(match.group(1), match.group(2) or ""))
        elif stages:
            stages[-1].instructions.append((keyword, args.strip()))
    return stages, text


def dockerfile(key: str) -> tuple[list[Stage], str]:
    path = ROOT / "services" / key / "Dockerfile"
    assert path.is_file(), f"services/{key}/Dockerfile is missing"
    return parse(path)


KEYS = [s.key for s in catalogue.SERVICES]


@pytest.mark.parametrize("key", KEYS)
def test_multi_stage_with_slim_images(key: str) -> None:
    stages, _ = dockerfile(key)
    assert len(stages) >= 2, "multi-stage: a builder and a runtime stage"
    assert stages[0].base == BUILDER_IMAGES[key], stages[0].base
    runtime = stages[-1].base
    assert (
        "slim" in runtime
        or "distroless" in runtime
        or runtime.startswith(tuple(s.name for s in stages[:-1] if s.name))
    ), f"runtime stage should be slim, is {runtime}"


@pytest.mark.parametrize("key", KEYS)
def test_runs_as_a_non_root_user(key: str) -> None:
    stages, _ = dockerfile(key)
    users = stages[-1].all("USER")
    assert users, "the runtime stage sets USER"
    assert users[-1].split(":")[0] not in ("root", "0")


@pytest.mark.parametrize("key", KEYS)
def test_healthcheck_probes_healthz_on_the_catalogue_port(key: str) -> None:
    service = catalogue.by_key(key)
    stages, _ = dockerfile(key)
    checks = stages[-1].all("HEALTHCHECK")
    assert checks, "the runtime stage has a HEALTHCHECK"
    probe = checks[-1]
    assert catalogue.HEALTH_PATH in probe
    assert (
        str(service.http_port.number) in probe
        or f"${{{service.http_port.env}" in probe
        or (f"${service.http_port.env}" in probe)
    )


@pytest.mark.parametrize("key", KEYS)
def test_exposes_the_catalogue_ports(key: str) -> None:
    service = catalogue.by_key(key)
    stages, _ = dockerfile(key)
    exposed = {
        int(p.split("/")[0])
        for args in stages[-1].all("EXPOSE")
        for p in args.split()
        if p.split("/")[0].isdigit()
    }
    assert exposed == {p.number for p in service.ports}


@pytest.mark.parametrize("key", ["flask-backend", "packet-service"])
def test_grpc_code_is_generated_in_the_build(key: str) -> None:
    _, text = dockerfile(key)
    assert "grpc_tools.protoc" in text or "gen-proto.sh" in text
    assert re.search(r"COPY\s+(--\S+\s+)*proto\b", text), "proto/ is copied into the build"


@pytest.mark.parametrize("key", ["flask-backend", "packet-service"])
def test_the_shared_package_is_copied_where_the_requirements_point(key: str) -> None:
    """requirements.txt names services/common by a path relative to where pip runs; the
    builder copies it there (from WORKDIR) before `pip install -r requirements.txt`."""
    stages, _ = dockerfile(key)
    builder = stages[0]
    requirement = next(
        line.strip()
        for line in (ROOT / "services" / key / "requirements.txt").read_text().splitlines()
        if "services/common" in line and not line.lstrip().startswith("#")
    )
    assert requirement == "./services/common"
    steps = builder.instructions
    copy_common = next(
        (
            i
            for i, (kw, args) in enumerate(steps)
            if kw == "COPY" and args.startswith("services/common ")
        ),
        None,
    )
    install = next(
        (i for i, (kw, args) in enumerate(steps) if kw == "RUN" and "-r requirements.txt" in args),
        None,
    )
    assert copy_common is not None and install is not None, "COPY services/common, pip install"
    assert copy_common < install
    assert steps[copy_common][1].split()[-1] in ("services/common", "./services/common")
    workdirs = [args for kw, args in steps[:install] if kw == "WORKDIR"]
    assert workdirs, "a WORKDIR for the relative paths"


def test_packet_service_documents_capture_capabilities() -> None:
    _, text = dockerfile("packet-service")
    assert "NET_RAW" in text


@pytest.mark.parametrize("key", KEYS)
def test_version_reaches_the_container(key: str) -> None:
    _, text = dockerfile(key)
    assert "ROOKERY_VERSION" in text or ".version" in text


def test_parser_reads_a_known_dockerfile(tmp_path: Path) -> None:
    sample = tmp_path / "Dockerfile"
    sample.write_text(
        "FROM python:3.13-slim AS build\nRUN pip install \\\n  x\n"
        "FROM python:3.13-slim\nUSER app\nEXPOSE 8080 50051/tcp\n"
        "HEALTHCHECK CMD python -c \"get('http://127.0.0.1:8080/healthz')\"\n"
    )
    stages, _ = parse(sample)
    assert [s.name for s in stages] == ["build", ""]
    assert stages[0].all("RUN") == ["pip install    x"]
    assert stages[1].all("USER") == ["app"] and stages[1].all("EXPOSE") == ["8080 50051/tcp"]
