"""scripts/license.py: keygen, issue and verify as a person runs them (subprocesses), and
one line with exit status 2 for every bad input."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SERVICE_DIR
from cryptography.hazmat.primitives import serialization
from rookery_backend.licensing import decode, load_public_key

SCRIPT = SERVICE_DIR.parents[1] / "scripts" / "license.py"
ISSUE = ["issue", "--key", "KEY", "--customer", "x", "--tier", "community"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60
    )


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("issuer")
    result = run("keygen", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_keygen_writes_a_private_key_only_its_owner_reads(keys: Path) -> None:
    private, public = keys / "license-private.pem", keys / "license-public.pem"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(private.read_bytes(), password=None)
    assert load_public_key(str(public)).public_bytes_raw() == key.public_key().public_bytes_raw()
    # never replaces a key (every licence it signed would stop verifying)
    again = run("keygen", "--out", str(keys))
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1
    assert "exists" in again.stderr


def test_issue_then_verify(keys: Path) -> None:
    result = run(
        "issue",
        "--key",
        str(keys / "license-private.pem"),
        "--customer",
        "Example Corp",
        "--tier",
        "community",
        "--features",
        "audit_export",
        "--seats",
        "12",
        "--expires",
        "2099-01-31",
        "--not-before",
        "2020-01-01T00:00:00Z",
        "--id",
        "lic-cli",
    )
    assert result.returncode == 0, result.stderr
    text = result.stdout.strip()
    assert text.startswith("rookery1.") and len(text.splitlines()) == 1
    claims = decode(text, load_public_key(str(keys / "license-public.pem"))).claims
    assert (claims.lid, claims.customer, claims.tier, claims.seats) == (
        "lic-cli",
        "Example Corp",
        "community",
        12,
    )
    assert claims.features == ("audit_export",) and claims.nbf == 1577836800
    shown = run("verify", "--public-key", str(keys / "license-public.pem"), text)
    assert shown.returncode == 0, shown.stderr
    printed = json.loads(shown.stdout)
    assert printed["lid"] == "lic-cli" and printed["features_granted"] == ["audit_export"]
    # --file, and the built-in key refuses a licence from this issuer
    path = keys / "lic.txt"
    path.write_text(text + "\n")
    assert run("verify", "--public-key", str(keys / "license-public.pem"), "--file", str(path))
    builtin = run("verify", "--file", str(path))
    assert builtin.returncode == 2 and "bad_signature" in builtin.stderr


@pytest.mark.parametrize(
    "args,needle",
    [
        (["issue", "--customer", "x", "--tier", "enterprise"], "--key"),
        ([*ISSUE, "--expires", "soon"], "--expires"),
        ([*ISSUE, "--expires", "2020-01-01", "--not-before", "2021-01-01"], "expire before"),
        (["issue", "--key", "KEY", "--customer", "x", "--tier", "gold"], "--tier"),
        (["issue", "--key", "KEY", "--customer", "", "--tier", "community"], "--customer"),
        (["issue", "--key", "KEY", "--customer", "a\x01b", "--tier", "community"], "--customer"),
        (
            ["issue", "--key", "KEY", "--customer", "x", "--tier", "community", "--features", "y"],
            "unknown y",
        ),
        (
            ["issue", "--key", "KEY", "--customer", "x", "--tier", "community", "--seats", "-1"],
            "--seats",
        ),
        (
            ["issue", "--key", "KEY", "--customer", "x", "--tier", "community", "--seats", "ten"],
            "invalid int value",
        ),
        (
            ["issue", "--key", "KEY", "--customer", "x", "--tier", "community", "--days", "0"],
            "--days",
        ),
        (["issue", "--key", "PUB", "--customer", "x", "--tier", "community"], "private key"),
        (["issue", "--key", "/nonexistent", "--customer", "x", "--tier", "community"], "cannot"),
        (["verify"], "one of them"),
        (["verify", "garbage"], "malformed"),
        (["verify", "--public-key", "/nonexistent", "x"], "cannot read"),
        # a device never ends: refused, not read until memory runs out
        (["verify", "--file", "/dev/zero"], "not a regular file"),
        (["verify", "--public-key", "/dev/zero", "x"], "not a regular file"),
        (["issue", "--key", "/dev/zero", "--customer", "x", "--tier", "community"], "regular"),
        (["bogus"], "invalid choice"),
        ([], "required"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(keys: Path, args: list[str], needle: str) -> None:
    mapped = [
        str(keys / "license-private.pem")
        if a == "KEY"
        else str(keys / "license-public.pem")
        if a == "PUB"
        else a
        for a in args
    ]
    result = run(*mapped)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert result.stdout == ""
