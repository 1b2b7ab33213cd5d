"""Where the settings are written down for people: `.env.example` (one section per service,
`# ---- name` headers) and each service README's `| variable | default | meaning |` table.
The services' tests compare both with their settings class (`EnvSettings.env_names()`)."""

from __future__ import annotations

import re
from pathlib import Path

VARIABLE = re.compile(r"`([A-Z][A-Z0-9_]*)`")
ASSIGNMENT = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.M)
SECTION = re.compile(r"^# -{4,}\s*(.+?)\s*$", re.M)
# Read by the OpenTelemetry SDK itself, not by a settings class.
SDK_PREFIXES = ("OTEL_",)


def readme_settings_table(readme: Path) -> set[str]:
    """Variables named in the first column of the README's settings table."""
    names: set[str] = set()
    in_table = False
    for line in readme.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[:1] == ["variable"]:
            in_table = True
            continue
        if in_table and not line.startswith("|"):
            break
        if in_table:
            names.update(VARIABLE.findall(cells[0]))
    return names


def env_example_sections(env_example: Path) -> dict[str, set[str]]:
    """Section title (`all services`, `flask-backend`, …) → variables assigned in it
    (commented-out assignments count: they document a variable without setting it)."""
    text = env_example.read_text()
    heads = list(SECTION.finditer(text))
    sections: dict[str, set[str]] = {}
    for index, head in enumerate(heads):
        end = heads[index + 1].start() if index + 1 < len(heads) else len(text)
        sections[head.group(1)] = set(ASSIGNMENT.findall(text, head.end(), end))
    return sections


def sdk_variable(name: str) -> bool:
    return name.startswith(SDK_PREFIXES)


def undocumented(
    variables: set[str], readme: Path, env_example: Path, section: str
) -> dict[str, dict[str, list[str]]]:
    """For each place (README table, .env.example section plus "all services"): what it
    lacks and what it names that is not a setting. All lists empty = in agreement."""
    sections = env_example_sections(env_example)
    return {
        "README": mismatch(variables, readme_settings_table(readme)),
        ".env.example": mismatch(variables, sections["all services"] | sections[section]),
    }


def mismatch(model: set[str], documented: set[str]) -> dict[str, list[str]]:
    """What the docs lack and what they name that the model does not read."""
    return {
        "missing from the docs": sorted(model - documented),
        "documented but not a setting": sorted(
            n for n in documented - model if not sdk_variable(n)
        ),
    }
