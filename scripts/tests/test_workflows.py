""".github/workflows: actionlint-clean, one build per service, and their scripts behave."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from rookery_ops import catalogue

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"


def load(name: str) -> dict:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as True
    document["on"] = document.pop(True, document.get("on"))
    return document


def step_script(workflow: str, job: str, step_name: str) -> str:
    for step in load(workflow)["jobs"][job]["steps"]:
        if step.get("name") == step_name:
            return step["run"]
    raise AssertionError(f"{workflow}: no step {step_name!r} in job {job}")


def actionlint() -> str:
    return venv_tool("actionlint")


def venv_tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is missing: it comes with scripts/requirements-dev.txt (make venv)"
    return found


def test_actionlint_reports_nothing() -> None:
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert files
    # with shellcheck, actionlint also checks every run: script
    shellcheck = ["-shellcheck", venv_tool("shellcheck")]
    result = subprocess.run(
        [actionlint(), "-no-color", *shellcheck, *files], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ github.nope_not_a_field }}\n"
    )
    result = subprocess.run([actionlint(), "-no-color", str(broken)], capture_output=True)
    assert result.returncode != 0


@pytest.mark.parametrize("service", [s.key for s in catalogue.SERVICES])
def test_each_service_has_a_build_workflow(service: str) -> None:
    workflow = load(f"build-{service}.yml")
    for event in ("push", "pull_request"):
        paths = workflow["on"][event]["paths"]
        assert f"services/{service}/**" in paths and ".version" in paths
    assert workflow["on"]["push"]["tags"] == ["v*"]
    job = workflow["jobs"]["build"]
    assert job["uses"] == "./.github/workflows/_build-image.yml"
    assert job["with"]["service"] == service


def test_reusable_build_is_multi_arch_and_scanned() -> None:
    text = (WORKFLOWS / "_build-image.yml").read_text()
    assert "platforms: linux/amd64,linux/arm64" in text
    assert "aquasecurity/trivy-action" in text


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("refs/heads/feature-x", ["alpha-{epoch}", "v0.3.1-alpha"]),
        ("refs/heads/main", ["beta-{epoch}", "v0.3.1-beta"]),
        ("refs/tags/v0.3.1", ["v0.3.1", "latest"]),
    ],
)
def test_image_tags_follow_the_standard(tmp_path: Path, ref: str, expected: list[str]) -> None:
    script = step_script("_build-image.yml", "image", "Compute image tags from .version")
    (tmp_path / ".version").write_text("0.3.1.1790000000\n")
    output = tmp_path / "out"
    env = {**os.environ, "GITHUB_REF": ref, "GITHUB_OUTPUT": str(output), "IMAGE": "reg/img"}
    subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env, check=True)
    values = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert values["version"] == "0.3.1"
    tags = [t.removeprefix("reg/img:") for t in values["tags"].split(",")]
    assert len(tags) == len(expected)
    for tag, pattern in zip(tags, expected, strict=True):
        assert re.fullmatch(re.escape(pattern).replace(r"\{epoch\}", r"\d{10}"), tag), tag


def run_release(tmp_path: Path, version: str, existing: bool = False) -> tuple[str, str]:
    script = step_script("version-release.yml", "release", "Create the pre-release for .version")
    (tmp_path / ".version").write_text(version + "\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    log = tmp_path / "gh.log"
    fake_gh = bin_dir / "gh"  # records its arguments instead of calling GitHub
    fake_gh.write_text(
        f'#!/bin/sh\necho "$@" >> {log}\n[ "$2" = view ] && exit {0 if existing else 1}\nexit 0\n'
    )
    fake_gh.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "GITHUB_SHA": "abc123"}
    result = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout, log.read_text() if log.exists() else ""


def test_release_creates_a_prerelease(tmp_path: Path) -> None:
    _, calls = run_release(tmp_path, "1.4.2.1790000000")
    assert "release create v1.4.2 --target abc123 --prerelease" in calls


def test_release_skips_version_zero(tmp_path: Path) -> None:
    stdout, calls = run_release(tmp_path, "0.0.0")
    assert calls == "" and "nothing to release" in stdout


def test_release_is_not_created_twice(tmp_path: Path) -> None:
    _, calls = run_release(tmp_path, "1.4.2", existing=True)
    assert "release create" not in calls


def test_release_runs_when_version_changes_on_main() -> None:
    workflow = load("version-release.yml")
    assert workflow["on"]["push"] == {"branches": ["main"], "paths": [".version"]}


def test_test_workflow_runs_make_test() -> None:
    text = (WORKFLOWS / "test.yml").read_text()
    assert "bash .ci/run" in text
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_security_workflow_covers_every_scanner() -> None:
    text = (WORKFLOWS / "security.yml").read_text()
    assert "bandit -r services scripts --severity-level high" in text
    assert "pip-audit" in text
    assert "npm audit --audit-level=high" in text
    assert "github/codeql-action/analyze" in text


OPS_SCRIPTS = [
    "scripts/dev.sh",
    "scripts/marchproxy-import.sh",
    "scripts/marchproxy-config.sh",
    "scripts/version/update-version.sh",
]


def test_ops_shell_scripts_pass_shellcheck() -> None:
    result = subprocess.run(
        [venv_tool("shellcheck"), *OPS_SCRIPTS], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr
