"""rookery_common.logs: the fixed fields, extras, hooks (filters) and -v levels."""

from __future__ import annotations

import json
import logging

import pytest
from rookery_common.logs import (
    FIELDS,
    JsonFormatter,
    RepeatFilter,
    StateLog,
    quiet_repeats,
    setup_logging,
)


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


# ---------------------------------------------------------------- quiet outages
class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def error_record(
    msg: str = "database unavailable", name: str = "svc.http", level: int = logging.ERROR
) -> logging.LogRecord:
    return logging.makeLogRecord({"name": name, "levelno": level, "msg": msg})


def test_repeats_pass_once_per_interval_with_their_count() -> None:
    clock = FakeClock()
    quiet = RepeatFilter(interval=10.0, clock=clock)
    passed = [quiet.filter(error_record()) for _ in range(175)]
    assert passed.count(True) == 1 and passed[0]
    clock.now += 9.9
    assert not quiet.filter(error_record())
    clock.now += 0.1
    line = error_record()
    assert quiet.filter(line) and line.repeated == 175  # 174 + the one at 9.9 s
    clock.now += 10
    quiet_line = error_record()
    assert quiet.filter(quiet_line) and not hasattr(quiet_line, "repeated")


def test_repeats_are_told_apart_and_info_lines_always_pass() -> None:
    quiet = RepeatFilter(interval=10.0, clock=FakeClock())
    assert quiet.filter(error_record("database unavailable"))
    assert quiet.filter(error_record("rule publishing refused"))
    assert quiet.filter(error_record("database unavailable", name="svc.db"))
    assert not quiet.filter(error_record("database unavailable"))
    info = [error_record("request", level=logging.INFO) for _ in range(50)]
    assert all(quiet.filter(line) for line in info)


def test_repeats_are_events_not_templates() -> None:
    """Lines that share a template but not their facts are different events: the reset
    link written for one user must not hide the next user's, nor target A's refusal
    target B's. A request id or trace id alone does not make a line new."""
    quiet = RepeatFilter(interval=10.0, clock=FakeClock())

    def line(msg: str, args: tuple = (), **extra: str) -> logging.LogRecord:
        return logging.makeLogRecord(
            {"name": "svc.mail", "levelno": logging.WARNING, "msg": msg, "args": args, **extra}
        )

    assert quiet.filter(line("reset link", to="a@example.com"))
    assert quiet.filter(line("reset link", to="b@example.com"))
    assert quiet.filter(line("refused by %s", ("target-a",)))
    assert quiet.filter(line("refused by %s", ("target-b",)))
    assert quiet.filter(line("database unavailable", request_id="r1", trace_id="t1"))
    assert not quiet.filter(line("database unavailable", request_id="r2", trace_id="t2"))
    assert not quiet.filter(line("reset link", to="a@example.com"))


def test_repeats_keep_a_bounded_memory() -> None:
    quiet = RepeatFilter(interval=10.0, clock=FakeClock(), max_keys=8)
    for n in range(100):
        quiet.filter(error_record(f"distinct {n}"))
    assert len(quiet._seen) == 8


def test_quiet_repeats_hook_writes_one_line_for_a_flood(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging(0, own_loggers=("svc",), hooks=(quiet_repeats,))
    for _ in range(200):
        logging.getLogger("svc.http").error("database unavailable", extra={"error": "refused"})
    lines = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]
    assert [line["msg"] for line in lines] == ["database unavailable"]


def test_state_log_writes_state_changes_only(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    state = StateLog(logging.getLogger("svc.loop"), "the database", clock=clock)
    caplog.set_level(logging.DEBUG, logger="svc.loop")
    state.up()  # never down: nothing to say
    try:
        raise ConnectionRefusedError("refused")
    except ConnectionRefusedError as error:
        for _ in range(30):
            state.down("refused", error)
            clock.now += 2
    state.down("timed out")
    assert state.is_down and state.reason == "timed out"
    state.up()
    state.up()
    records = [r for r in caplog.records if r.name == "svc.loop"]
    assert [r.getMessage() for r in records] == [
        "the database unavailable",
        "the database available again",
    ]
    down, up = records
    assert down.levelno == up.levelno == logging.WARNING and down.exc_info is not None
    assert (up.down_seconds, up.failures) == (60.0, 31) and not state.is_down
