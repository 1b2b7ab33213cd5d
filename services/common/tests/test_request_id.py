"""The request id rule against the cases the web UI's Express proxy is tested with too
(services/webui/server/app.test.js reads the same file)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from rookery_common.request_id import accepted, request_id

CASES = json.loads((Path(__file__).resolve().parents[1] / "request_id_cases.json").read_text())


@pytest.mark.parametrize("given", CASES["kept"])
def test_kept(given: str) -> None:
    assert accepted(given) == given and request_id(given) == given


@pytest.mark.parametrize("given", [*CASES["replaced"], None, 42])
def test_replaced_by_a_new_uuid(given: object) -> None:
    assert accepted(given) is None
    made = request_id(given)
    assert str(uuid.UUID(made)) == made and request_id(given) != made
