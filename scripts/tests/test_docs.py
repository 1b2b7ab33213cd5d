"""README, docs/ and each service's README: every shell command they show can be run, and
every link resolves.

A command in a fenced sh/bash/shell/console block must be one of:
  - `make TARGET ...` where TARGET is a rule in the Makefile;
  - a repository script that exists, is executable and is exercised by a test (a test
    file names it);
  - a command listed in EXECUTED below, which this test runs.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICE_READMES = sorted((ROOT / "services").glob("*/README.md"))
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *SERVICE_READMES]
SHELL_FENCE = re.compile(r"^```(sh|bash|shell|console)\s*$")
ENV_ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")
TEST_DIRS = [ROOT / "scripts" / "tests", *sorted((ROOT / "services").glob("*/tests"))]
REQUIRED_DOCS = ["ARCHITECTURE", "API", "DEPLOYMENT", "OPERATIONS", "SECURITY", "DEVELOPMENT"]

# Commands the docs show that are neither make targets nor scripts; run here, for real.
EXECUTED: dict[str, list[str]] = {
    "kubectl kustomize config/k8s": ["kubectl", "kustomize", "config/k8s"],
    "kubectl kustomize config/k8s/capture": ["kubectl", "kustomize", "config/k8s/capture"],
}
# Commands another test already runs, with a phrase that proves it does.
RUN_BY_OTHER_TESTS: dict[str, tuple[str, str]] = {
    ".venv/bin/ruff check --config config/ruff.toml .": ("test_lint.py", '"ruff", "check"'),
    ".venv/bin/actionlint": ("test_workflows.py", '"-no-color", *shellcheck, *files'),
    "cd services/flask-backend && ../../.venv/bin/python -m rookery_backend serve -v": (
        "../../services/flask-backend/tests/test_server.py",
        '"-m", "rookery_backend", "serve", "-v"',
    ),
    "python -m packet_service -vv serve": (
        "../../services/packet-service/tests/test_capture_robustness.py",
        '"-m", "packet_service", "serve"',
    ),
}


def shell_commands(path: Path) -> list[tuple[int, str]]:
    return shell_commands_in(path.read_text())


def shell_commands_in(text: str) -> list[tuple[int, str]]:
    """(line number, command) for each command in the text's shell blocks."""
    commands: list[tuple[int, str]] = []
    inside, pending, start = False, "", 0
    for number, line in enumerate(text.splitlines(), 1):
        if not inside:
            inside = bool(SHELL_FENCE.match(line))
            continue
        if line.startswith("```"):
            inside = False
            continue
        text = line.strip().removeprefix("$ ")
        if not pending:
            start = number
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        text = (pending + text).strip()
        pending = ""
        if text and not text.startswith("#"):
            commands.append((start, text))
    return commands


def make_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, flags=re.MULTILINE))


def all_test_sources() -> str:
    return "\n".join(
        p.read_text(errors="replace") for d in TEST_DIRS if d.is_dir() for p in d.rglob("*.py")
    )


def check(command: str, targets: set[str], tests_text: str) -> str:
    """'' when the command is covered, else why it is not."""
    without_comment = command.split("  #", 1)[0].split(" # ", 1)[0].strip()
    if without_comment in EXECUTED or without_comment in RUN_BY_OTHER_TESTS:
        return ""
    words = shlex.split(without_comment)
    while words and ENV_ASSIGNMENT.match(words[0]):
        words.pop(0)
    if not words:
        return "no command"
    if words[0] == "make":
        wanted = [w for w in words[1:] if not ENV_ASSIGNMENT.match(w) and not w.startswith("-")]
        missing = [t for t in wanted if t not in targets]
        return f"no Makefile target {missing}" if missing else ""
    script = ROOT / words[0]
    if "/" in words[0] and script.is_file():
        if not os.access(script, os.X_OK):
            return f"{words[0]} is not executable"
        if words[0] not in tests_text and script.name not in tests_text:
            return f"{words[0]} has no test that names it"
        return ""
    return "neither a make target, a tested script nor a command this test executes"


def test_every_documented_command_is_covered() -> None:
    targets, tests_text = make_targets(), all_test_sources()
    problems = []
    count = 0
    for path in DOCS:
        for number, command in shell_commands(path):
            count += 1
            why = check(command, targets, tests_text)
            if why:
                problems.append(f"{path.relative_to(ROOT)}:{number}: {command!r}: {why}")
    assert count > 10, "the docs show suspiciously few commands; is the parser broken?"
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("shown", sorted(EXECUTED))
def test_executed_commands_succeed(shown: str) -> None:
    shown_anywhere = any(shown in c for p in DOCS for _, c in shell_commands(p))
    assert shown_anywhere, f"{shown!r} is no longer in the docs; drop it from EXECUTED"
    argv = EXECUTED[shown]
    if argv[0] == "kubectl" and not any(
        (Path(d) / "kubectl").exists() for d in os.environ.get("PATH", "").split(os.pathsep)
    ):
        pytest.skip("kubectl is not installed; test_k8s.py renders the manifests itself")
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


@pytest.mark.parametrize("shown", sorted(RUN_BY_OTHER_TESTS))
def test_commands_run_by_other_tests_still_are(shown: str) -> None:
    test_file, phrase = RUN_BY_OTHER_TESTS[shown]
    assert phrase in (Path(__file__).parent / test_file).read_text(), (shown, test_file)


def test_the_checker_flags_what_it_should() -> None:
    targets, tests_text = make_targets(), all_test_sources()
    assert check("make run", targets, tests_text) == ""
    assert check("make test DBS=all", targets, tests_text) == ""
    assert check("make no-such-target", targets, tests_text)
    assert check("rm -rf /", targets, tests_text)
    assert check("scripts/no-such-script.sh", targets, tests_text)
    assert (
        check("MARCHPROXY_API=x scripts/marchproxy-import.sh --dry-run", targets, tests_text) == ""
    )


def test_readme_quick_start_is_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick Start", 1)[1].split("\n## ", 1)[0]
    assert [c for _, c in shell_commands_in(section)] == [
        "make run     # installs what is missing, starts every service on 127.0.0.1 with SQLite",
        "make test    # installs what is missing, runs every test suite",
    ]
    assert "admin@localhost.local" in section and "admin123" in section
    assert "Change them" in section


def test_docs_exist_and_links_resolve() -> None:
    for name in REQUIRED_DOCS:
        assert (ROOT / "docs" / f"{name}.md").is_file(), name
    broken = []
    for path in DOCS:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            if not (path.parent / target).exists():
                broken.append(f"{path.relative_to(ROOT)} -> {target}")
    assert broken == []


def test_readme_has_banner_badges_and_links_to_every_doc() -> None:
    readme = (ROOT / "README.md").read_text()
    assert readme.startswith("```text\n")  # the ASCII-art banner
    assert readme.count("badge.svg") >= 3
    for name in REQUIRED_DOCS:
        assert f"(docs/{name}.md)" in readme


def test_readme_links_every_service_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(SERVICE_READMES) >= 3, "the service READMEs were not found"
    for path in SERVICE_READMES:
        assert f"({path.relative_to(ROOT).as_posix()})" in readme, path.parent.name


def test_example_alerts_pass_promtool(promtool: str, tmp_path: Path) -> None:
    text = (ROOT / "docs" / "OPERATIONS.md").read_text()
    blocks = re.findall(r"^```yaml\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    rules = [b for b in blocks if b.startswith("groups:")]
    assert len(rules) == 1
    path = tmp_path / "alerts.yml"
    path.write_text(rules[0])
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "8 rules found" in result.stdout
