"""scripts/version/update-version.sh, always on a temporary copy of .version."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "version" / "update-version.sh"


def bump(file: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "SOURCE_DATE_EPOCH"}
    environment.update(VERSION_FILE=str(file), **env)
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, env=environment)


@pytest.fixture
def version_file(tmp_path: Path) -> Path:
    copy = tmp_path / ".version"
    copy.write_text((ROOT / ".version").read_text())
    return copy


@pytest.mark.parametrize(
    ("start", "part", "expected"),
    [
        ("0.1.0", "patch", "0.1.1"),
        ("0.1.9", "minor", "0.2.0"),
        ("0.4.1", "major", "1.0.0"),
        ("1.2.3.1700000000", "patch", "1.2.4"),
        ("1.2.3.1700000000", "minor", "1.3.0"),
        ("1.2.3", "build", "1.2.3.1800000000"),
        ("1.2.3.1700000000", "build", "1.2.3.1800000000"),
        ("010.02.3", "patch", "10.2.4"),
    ],
)
def test_bumps(tmp_path: Path, start: str, part: str, expected: str) -> None:
    file = tmp_path / ".version"
    file.write_text(start + "\n")
    result = bump(file, part, SOURCE_DATE_EPOCH="1800000000")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected
    assert file.read_text() == expected + "\n"


def test_build_uses_the_current_time(version_file: Path) -> None:
    before = int(time.time())
    result = bump(version_file, "build")
    assert result.returncode == 0, result.stderr
    base, epoch = result.stdout.strip().rsplit(".", 1)
    assert base.split(".") == (ROOT / ".version").read_text().strip().split(".")[:3]
    assert before <= int(epoch) <= int(time.time()) + 1


def test_real_version_file_is_well_formed_and_untouched(version_file: Path) -> None:
    real = (ROOT / ".version").read_text()
    assert bump(version_file, "minor").returncode == 0
    assert (ROOT / ".version").read_text() == real
    assert real.strip().count(".") in (2, 3)


@pytest.mark.parametrize("args", [(), ("huge",), ("patch", "extra")])
def test_bad_arguments_are_refused(version_file: Path, args: tuple[str, ...]) -> None:
    before = version_file.read_text()
    result = bump(version_file, *args)
    assert result.returncode == 2 and "usage" in result.stderr
    assert version_file.read_text() == before


@pytest.mark.parametrize("content", ["", "1.2", "v1.2.3", "1.2.3-beta", "1.2.3.4.5"])
def test_malformed_file_is_refused(tmp_path: Path, content: str) -> None:
    file = tmp_path / ".version"
    file.write_text(content)
    result = bump(file, "patch")
    assert result.returncode == 1 and "expected Major.Minor.Patch" in result.stderr
    assert file.read_text() == content


def test_missing_file_is_refused(tmp_path: Path) -> None:
    result = bump(tmp_path / "nope", "patch")
    assert result.returncode == 1 and "does not exist" in result.stderr
