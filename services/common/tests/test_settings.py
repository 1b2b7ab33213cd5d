"""rookery_common.settings: one line naming the variable, keyword construction reads no
environment, validators see the mapping being loaded."""

from __future__ import annotations

import pytest
from pydantic import Field, model_validator
from rookery_common.settings import ConfigError, EnvSettings, Flag, Port


class Example(EnvSettings):
    http_port: Port = 8080
    workers: int = Field(4, ge=1, le=64)
    delay: float = Field(0.5, gt=0)
    debug: Flag = False
    sender: str = Field("me@localhost", validation_alias="MAIL_DEFAULT_SENDER")
    derived: int = 0

    @model_validator(mode="after")
    def _derived(self) -> Example:
        if self.workers > 32 and self.debug:
            raise ValueError("WORKERS: at most 32 with DEBUG")
        self._derive(derived=self.workers * 2)
        return self


def test_defaults_and_values() -> None:
    loaded = Example.load({"HTTP_PORT": " 9000 ", "DEBUG": "yes", "MAIL_DEFAULT_SENDER": "x@y"})
    assert (loaded.http_port, loaded.debug, loaded.sender, loaded.derived) == (9000, True, "x@y", 8)
    assert Example.load({}).http_port == 8080


@pytest.mark.parametrize(
    "env,line",
    [
        ({"HTTP_PORT": "eighty"}, "HTTP_PORT: expected an integer, got 'eighty'"),
        ({"HTTP_PORT": "70000"}, "HTTP_PORT: 70000 is out of range (0..65535)"),
        ({"WORKERS": "0"}, "WORKERS: 0 is out of range (1..64)"),
        ({"DELAY": "0"}, "DELAY: 0 is out of range (more than 0)"),
        ({"DELAY": "soon"}, "DELAY: expected a number, got 'soon'"),
        ({"DEBUG": "maybe"}, "DEBUG: expected true/false, got 'maybe'"),
        ({"WORKERS": "40", "DEBUG": "1"}, "WORKERS: at most 32 with DEBUG"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(env: dict[str, str], line: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Example.load(env)
    assert str(caught.value) == line and "\n" not in str(caught.value)


def test_keywords_read_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PORT", "1234")
    assert Example(workers=2).http_port == 8080
    assert Example.load().http_port == 1234  # load() without a mapping: the process's


def test_with_overrides_copies() -> None:
    base = Example.load({})
    changed = base.with_overrides(workers=9)
    assert (base.workers, changed.workers) == (4, 9)


def test_env_names() -> None:
    names = Example.env_names()
    assert names["sender"] == "MAIL_DEFAULT_SENDER" and names["http_port"] == "HTTP_PORT"
