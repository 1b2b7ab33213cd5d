"""The server-less OpenAPI dump (python -m rookery_backend.api.openapi_dump), from which the
web UI generates its API types, is the document the running app serves."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rookery_backend import create_app
from rookery_backend.api.openapi_dump import openapi_document, render
from rookery_backend.config import load_settings

SERVICE_DIR = Path(__file__).resolve().parents[1]


def test_dump_is_the_served_document(tmp_path: Path) -> None:
    # A fully initialised app (schema, seeded admin) on SQLite, as `serve` builds it.
    settings = load_settings(
        {
            "RELEASE_MODE": "test",
            "DATA_DIR": str(tmp_path),
            "SECRET_KEY": "openapi-dump-test-secret-0123456789abcdef-0123456789abcdef-0123",
            "SECURITY_PASSWORD_SALT": "openapi-dump-test",
            "BCRYPT_ROUNDS": "4",
            "ADMIN_EMAIL": "admin@example.test",
            "ADMIN_PASSWORD": "admin-password-123",
        }
    )
    served = create_app(settings).test_client().get("/api/v1/openapi.json")
    assert served.status_code == 200
    assert openapi_document() == served.get_json()


def test_command_writes_stable_json(tmp_path: Path) -> None:
    out = tmp_path / "openapi.json"
    run = subprocess.run(
        [sys.executable, "-m", "rookery_backend.api.openapi_dump", "--output", str(out)],
        cwd=SERVICE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    text = out.read_text(encoding="utf-8")
    document = json.loads(text)
    assert document["openapi"].startswith("3.")
    assert "/api/v1/users" in document["paths"]
    assert "UserOut" in document["components"]["schemas"]
    # Byte-for-byte the same on every run: the web UI's drift check compares generated files.
    assert text == render(openapi_document())
