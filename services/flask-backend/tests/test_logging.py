"""flask-backend's logging: every module's logger follows -v (it sits under `rookery`), and a
flood of identical errors (a database outage refusing each request) is one line per
interval."""

from __future__ import annotations

import importlib
import json
import logging
import pkgutil

import pytest
import rookery_backend
from rookery_backend.logs import OWN_LOGGER, configure_logging


@pytest.fixture(autouse=True)
def _restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger(OWN_LOGGER).setLevel(logging.NOTSET)


def module_loggers() -> dict[str, logging.Logger]:
    """Every module-level logger of the package, by module."""
    found = {}
    for info in pkgutil.walk_packages(rookery_backend.__path__, "rookery_backend."):
        if info.name.endswith("__main__") or ".gen." in info.name:
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, logging.Logger):
                found[f"{info.name}:{value.name}"] = value
    return found


def test_every_module_logger_follows_verbosity() -> None:
    loggers = module_loggers()
    assert any(":rookery.rules.publisher" in key for key in loggers)
    assert any(":rookery.packet_link" in key for key in loggers)
    outside = [key for key, logger in loggers.items() if not logger.name.startswith("rookery.")]
    assert outside == [], "these loggers ignore -v: name them under rookery."
    configure_logging(1)
    assert all(logger.isEnabledFor(logging.INFO) for logger in loggers.values())
    configure_logging(0)
    quiet = [key for key, logger in loggers.items() if logger.name != "rookery.startup"]
    assert not any(loggers[key].isEnabledFor(logging.INFO) for key in quiet)


def test_a_flood_of_identical_errors_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(0)
    http = logging.getLogger("rookery.http")
    for _ in range(175):
        http.error("database unavailable", extra={"error": "connection refused"})
    http.error("unhandled error")
    lines = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]
    assert [line["msg"] for line in lines] == ["database unavailable", "unhandled error"]
