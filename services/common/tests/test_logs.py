"""rookery_common.logs: the fixed fields, extras, hooks (filters) and -v levels."""

from __future__ import annotations

import json
import logging

import pytest
from rookery_common.logs import FIELDS, JsonFormatter, setup_logging


@pytest.fixture(autouse=True)
def _restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name in ("svc", "svc.startup"):
        logging.getLogger(name).setLevel(logging.NOTSET)


def record(**extra: object) -> logging.LogRecord:
    made = logging.makeLogRecord({"name": "svc.http", "levelname": "INFO", "msg": "hello %s"})
    made.args = ("world",)
    for key, value in extra.items():
        setattr(made, key, value)
    return made


def test_fields_and_extras() -> None:
    line = json.loads(JsonFormatter().format(record(request_id="r-1", targets=["a"], n=3)))
    assert list(line)[:4] == list(FIELDS[:4])
    assert line["msg"] == "hello world" and line["level"] == "info"
    assert line["logger"] == "svc.http" and line["ts"].endswith("Z")
    assert (line["request_id"], line["targets"], line["n"]) == ("r-1", ["a"], 3)


def test_an_object_extra_is_its_text() -> None:
    line = json.loads(JsonFormatter().format(record(where=object)))
    assert line["where"] == str(object)


def test_exception_text() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        made = record()
        made.exc_info = sys.exc_info()
    assert "ValueError: boom" in json.loads(JsonFormatter().format(made))["exc"]


@pytest.mark.parametrize(
    "verbosity,own,library",
    [
        (0, logging.WARNING, logging.WARNING),
        (1, logging.INFO, logging.WARNING),
        (2, logging.DEBUG, logging.WARNING),
        (3, logging.DEBUG, logging.DEBUG),
    ],
)
def test_verbosity(verbosity: int, own: int, library: int) -> None:
    setup_logging(verbosity, own_loggers=("svc",), always_shown=("svc.startup",))
    assert logging.getLogger("svc.http").getEffectiveLevel() == own
    assert logging.getLogger("somelibrary").getEffectiveLevel() == library
    assert logging.getLogger("svc.startup").getEffectiveLevel() <= logging.INFO


def test_hooks_add_filters_to_the_one_handler(capsys: pytest.CaptureFixture[str]) -> None:
    class Stamp(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.trace_id = "t-1"
            return True

    handler = setup_logging(1, own_loggers=("svc",), hooks=(lambda h: h.addFilter(Stamp()),))
    assert logging.getLogger().handlers == [handler]
    logging.getLogger("svc.x").info("seen")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["msg"] == "seen" and line["trace_id"] == "t-1"
