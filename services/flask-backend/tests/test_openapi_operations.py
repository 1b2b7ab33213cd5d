"""The API's operations — method, path, operation id, Flask endpoint, scope, summary and
bodies — match the committed list in openapi_operations.tsv, so a refactoring that moves
views between modules cannot change the API by accident. A deliberate change regenerates
the list: ROOKERY_UPDATE_OPERATIONS=1 pytest test_openapi_operations.py."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

SNAPSHOT = Path(__file__).with_name("openapi_operations.tsv")
HEADER = "method\tpath\toperation_id\tendpoint\tsecurity\tsummary\tbody\tresponse"


def _model(ref_holder: dict[str, Any] | None) -> str:
    text = repr(ref_holder or {})
    found = re.findall(r"#/components/schemas/(\w+)", text)
    return ",".join(found) or "-"


def operations(app: Any) -> list[str]:
    document = app.test_client().get("/api/v1/openapi.json").get_json()
    endpoints = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method): rule.endpoint
        for rule in app.url_map.iter_rules()
        for method in rule.methods or ()
    }
    lines = [HEADER]
    for path, by_method in document["paths"].items():
        for method, operation in by_method.items():
            security = operation.get("security", [{"public": []}])[0]
            [(scheme, scopes)] = security.items()
            ok = operation["responses"].get(next(iter(operation["responses"]), ""), {})
            fields = (
                method.upper(),
                path,
                operation["operationId"],
                endpoints[(path, method.upper())],
                scheme if scheme == "public" else ",".join(scopes) or "authenticated",
                operation["summary"],
                _model(operation.get("requestBody")),
                _model(ok),
            )
            lines.append("\t".join(fields))
    return lines


def test_operations_match_the_committed_list(app) -> None:
    current = operations(app)
    if os.environ.get("ROOKERY_UPDATE_OPERATIONS") == "1":
        SNAPSHOT.write_text("\n".join(current) + "\n")
    committed = SNAPSHOT.read_text().splitlines()
    assert current == committed, (
        "the API's operations changed; if on purpose, regenerate openapi_operations.tsv "
        "(see this module's docstring)"
    )
