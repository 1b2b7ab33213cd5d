"""Test-harness helpers, once for every harness (service tests, scripts/tests, the trio
tests, the benchmarks, `make run`): a free port, a condition to wait for, a process
started and waited for until its health URL answers 200, a process stopped politely.
Standard library only, so any harness can import it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

__all__ = [
    "NotHealthy",
    "free_port",
    "healthy",
    "start_process",
    "stop_process",
    "wait_healthy",
    "wait_until",
]

T = TypeVar("T")


class NotHealthy(RuntimeError):
    """A started process exited, or its health URL did not answer 200 in time."""


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (TCP by default; SOCK_DGRAM for UDP)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def wait_until(predicate: Callable[[], T], timeout: float = 10.0, step: float = 0.05) -> T | None:
    """Calls `predicate` until it returns something truthy (returned) or `timeout`
    seconds passed (then its last answer, falsy, is returned)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = predicate()
        if answer or time.monotonic() >= deadline:
            return answer
        time.sleep(step)


# Loopback health checks never go through an HTTP proxy from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def healthy(url: str, timeout: float = 1.0) -> bool:
    """Whether `url` answers 200 now."""
    try:
        with _DIRECT.open(url, timeout=timeout) as reply:
            return reply.status == 200
    except (OSError, urllib.error.URLError):
        return False


def _tail(log_path: Path | None, chars: int = 3000) -> str:
    if log_path is None or not log_path.is_file():
        return ""
    return "\n" + log_path.read_text(errors="replace")[-chars:]


def wait_healthy(
    url: str,
    process: subprocess.Popen[Any] | None = None,
    timeout: float = 60.0,
    name: str = "the process",
    log_path: Path | None = None,
    interval: float = 0.2,
) -> None:
    """Returns once `url` answers 200; raises NotHealthy (with the log's tail) when
    `process` exits first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise NotHealthy(
                f"{name} exited with code {process.returncode} before it was healthy"
                + _tail(log_path)
            )
        if healthy(url):
            return
        time.sleep(interval)
    raise NotHealthy(f"{name}: {url} did not answer 200 within {timeout:.0f}s" + _tail(log_path))


def start_process(
    command: Sequence[str],
    health_url: str,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    timeout: float = 60.0,
    name: str | None = None,
    stdout: int | IO[Any] | None = None,
    stderr: int | IO[Any] | None = None,
    inherit_env: bool = True,
) -> subprocess.Popen[bytes]:
    """Starts `command` and waits until `health_url` answers 200. Its environment is this
    process's (unless `inherit_env` is false) plus `env`; its output is appended to
    `log_path` when given, else goes to `stdout`/`stderr`. A process that exits or never
    gets healthy is stopped and NotHealthy raised."""
    full_env = {**(os.environ if inherit_env else {}), **(env or {})}
    label = name or Path(command[0]).name
    if log_path is not None:
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                list(command), cwd=cwd, env=full_env, stdout=log, stderr=subprocess.STDOUT
            )
    else:
        process = subprocess.Popen(
            list(command), cwd=cwd, env=full_env, stdout=stdout, stderr=stderr
        )
    try:
        wait_healthy(health_url, process, timeout, label, log_path)
    except NotHealthy:
        stop_process(process, timeout=5)
        raise
    return process


def stop_process(
    process: subprocess.Popen[Any] | None, sig: int = signal.SIGTERM, timeout: float = 15.0
) -> int | None:
    """Sends `sig`, waits up to `timeout` seconds, then kills; returns the exit code."""
    if process is None:
        return None
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode
