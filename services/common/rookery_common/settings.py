"""Settings from environment variables, on pydantic-settings: one typed class per service.

A field is a variable: its name upper-cased (or the field's `validation_alias`) is the
environment variable, its annotation the type, its `Field(ge=…, le=…)` the range, its
default the working default. Cross-field and production rules are validators on the class.

`Class.load(env)` reads the process environment (or `env`, a mapping, for tests) and
raises `ConfigError` whose message is ONE line naming the variable; constructing the
class with keywords (`Class(http_port=0)`) reads no environment at all, so tests and
tools get exactly the values they pass.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Annotated, Any, Self

from pydantic import BeforeValidator, Field, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

__all__ = [
    "ConfigError",
    "EnvSettings",
    "Flag",
    "Port",
    "env_name",
    "matching",
    "one_of",
]


class ConfigError(ValueError):
    """A setting has a value the service cannot run with; the message names it."""


TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off", "")


def _flag(raw: object) -> object:
    if isinstance(raw, str):
        lowered = raw.strip().lower()
        if lowered in TRUE_WORDS:
            return True
        if lowered in FALSE_WORDS:
            return False
        raise ValueError(f"expected true/false, got {raw!r}")
    return raw


Flag = Annotated[bool, BeforeValidator(_flag)]
"""true/false, 1/0, yes/no, on/off (any case); empty is false."""

Port = Annotated[int, Field(ge=0, le=65535)]
"""0-65535 (0: any free port, or off where the variable says so)."""


def env_name(field_name: str, field: FieldInfo) -> str:
    """The environment variable a field is read from."""
    alias = field.validation_alias
    return alias if isinstance(alias, str) else field_name.upper()


# The mapping `load()` reads; empty outside it, so keyword construction reads nothing.
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("rookery_environ", default=None)


@contextmanager
def _reading(env: Mapping[str, str]) -> Iterator[None]:
    token = _ENVIRON.set(env)
    try:
        yield
    finally:
        _ENVIRON.reset(token)


class MappingEnvSource(PydanticBaseSettingsSource):
    """pydantic-settings source over the mapping `EnvSettings.load()` was given: the
    process environment, or a test's dict. Every value arrives as the string it was, so
    the field's own validators parse it and name it in errors."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        environ = _ENVIRON.get() or {}
        name = env_name(field_name, field)
        return environ.get(name), name, False

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        ignore_empty = bool(self.config.get("env_ignore_empty"))
        for field_name, field in self.settings_cls.model_fields.items():
            raw, name, _ = self.get_field_value(field, field_name)
            if raw is None or (ignore_empty and not str(raw).strip()):
                continue
            values[name if isinstance(field.validation_alias, str) else field_name] = raw
        return values


def _first_error_line(cls: type[EnvSettings], error: ValidationError) -> str:
    """ONE line for the first problem: `VARIABLE: what is wrong (got 'value')`."""
    first = error.errors(include_url=False)[0]
    loc = first.get("loc") or ()
    key = str(loc[0]) if loc else ""
    names = {name: env_name(name, f) for name, f in cls.model_fields.items()}
    variable = names.get(key, key.upper())
    context = first.get("ctx") or {}
    if isinstance(context.get("error"), ValueError):
        message = str(context["error"])  # our own validators' words, as they wrote them
        return message if not variable or message.startswith(variable) else f"{variable}: {message}"
    kind = first.get("type", "")
    given = first.get("input")
    if kind in ("int_parsing", "int_from_float", "int_type"):
        message = f"expected an integer, got {given!r}"
    elif kind in ("float_parsing", "float_type"):
        message = f"expected a number, got {given!r}"
    elif kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        message = f"{given} is out of range ({_bounds(cls, key)})"
    else:
        message = f"{first.get('msg', 'invalid value')}, got {given!r}"
    return f"{variable}: {message}"


def _bounds(cls: type[EnvSettings], key: str) -> str:
    field = cls.model_fields.get(key)
    limits: dict[str, Any] = {}
    for item in field.metadata if field is not None else ():
        for bound in ("ge", "gt", "le", "lt"):
            if getattr(item, bound, None) is not None:
                limits[bound] = getattr(item, bound)
    if "ge" in limits and "le" in limits:
        return f"{limits['ge']}..{limits['le']}"
    words = {"ge": "at least", "gt": "more than", "le": "at most", "lt": "less than"}
    return " and ".join(f"{words[b]} {v}" for b, v in limits.items())


class EnvSettings(BaseSettings):
    """Base of every service's settings class (see the module docstring)."""

    model_config = SettingsConfigDict(
        extra="ignore",
        populate_by_name=True,
        validate_default=False,
        env_ignore_empty=False,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Keywords first, then the mapping load() was given; no .env or secrets files
        # (configuration is the environment only).
        return init_settings, MappingEnvSource(settings_cls)

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None) -> Self:
        """Read and validate; raises ConfigError with one line naming the variable."""
        with _reading(dict(os.environ if env is None else env)):
            try:
                return cls()
            except ValidationError as error:
                raise ConfigError(_first_error_line(cls, error)) from None

    @classmethod
    def env_names(cls) -> dict[str, str]:
        """field name → environment variable, for the docs check and tools."""
        return {name: env_name(name, field) for name, field in cls.model_fields.items()}

    @classmethod
    def environ(cls) -> Mapping[str, str]:
        """Inside a validator: the mapping being loaded (empty for keyword construction)."""
        return _ENVIRON.get() or {}

    def _derive(self, **values: object) -> None:
        """For `mode="after"` model validators only: fill in values derived from others
        (the instance is not handed out yet, so a frozen class may still be completed)."""
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def with_overrides(self, **changes: object) -> Self:
        """A copy with some values replaced (not re-validated, like dataclasses.replace)."""
        return self.model_copy(update=changes)


def one_of(
    name: str, choices: tuple[str, ...], aliases: Mapping[str, str] | None = None
) -> Callable[[object], str]:
    """A before-validator: the lower-cased value must be one of `choices` (after aliases)."""

    def check(raw: object) -> str:
        value = str(raw).strip().lower()
        value = (aliases or {}).get(value, value)
        if value not in choices:
            raise ValueError(f"{name}: expected one of {', '.join(choices)}, got {value!r}")
        return value

    return check


def matching(name: str, pattern: str, expected: str, show_value: bool = True) -> BeforeValidator:
    """Stripped text that is empty or matches `pattern`; the error says `expected` (and
    the value, unless it is a secret)."""
    form = re.compile(pattern)

    def check(raw: object) -> str:
        value = str(raw).strip()
        if value and not form.fullmatch(value):
            got = f", got {value!r}" if show_value else ""
            raise ValueError(f"{name}: expected {expected}{got}")
        return value

    return BeforeValidator(check)
