"""Print the OpenAPI document (the one GET /api/v1/openapi.json serves) without a server.

    python -m rookery_backend.api.openapi_dump [--output FILE]

The app is built over a throw-away SQLite directory with initialise=False, so no database is
waited for, created or seeded: the document comes from the routes, their pydantic models and
the policy table only. The web UI generates its TypeScript API types from this output
(services/webui/scripts/api-types.sh).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

# A fixed secret: nothing is signed or stored here, and the document does not depend on it.
_DUMP_SECRET = "openapi-dump-only-secret-not-used-for-anything-0123456789abcdef-0123"


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of a freshly built app (release mode "test", SQLite in a temp dir)."""
    from .. import create_app
    from ..config import load_settings
    from .openapi import build_openapi

    with tempfile.TemporaryDirectory(prefix="rookery-openapi-") as data_dir:
        settings = load_settings(
            {
                "RELEASE_MODE": "test",
                "DB_TYPE": "sqlite",
                "DATA_DIR": data_dir,
                "SECRET_KEY": _DUMP_SECRET,
                "SECURITY_PASSWORD_SALT": "openapi-dump",
            }
        )
        app = create_app(settings, initialise=False)
        with app.app_context():
            return build_openapi(app, settings.version)


def render(document: dict[str, Any]) -> str:
    """Stable text: two-space indent, keys in the document's own order, trailing newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", "-o", type=Path, help="write here instead of stdout")
    args = parser.parse_args(argv)
    logging.disable(logging.INFO)  # app start-up chatter must not mix into stdout
    text = render(openapi_document())
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
