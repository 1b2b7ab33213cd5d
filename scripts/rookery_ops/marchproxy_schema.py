"""Validation against schemas/marchproxy.schema.json (one schema, used by tests and importer)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jsonschema

from rookery_ops.paths import SCHEMA_DIR

SCHEMA_FILE = SCHEMA_DIR / "marchproxy.schema.json"


@cache
def _root() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text())


@cache
def validator(definition: str) -> jsonschema.Draft202012Validator:
    root = _root()
    if definition not in root["$defs"]:
        raise KeyError(f"no definition {definition!r} in {SCHEMA_FILE.name}")
    schema = {**root, "$ref": f"#/$defs/{definition}"}
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def problems(definition: str, document: Any) -> list[str]:
    """Every violation as 'field.path: message'; empty when the document is valid."""
    found = []
    for error in sorted(validator(definition).iter_errors(document), key=lambda e: list(e.path)):
        where = ".".join(str(p) for p in error.absolute_path) or "(document)"
        found.append(f"{where}: {error.message}")
    return found
