"""How many glibc malloc arenas a service process may use.

glibc gives threads their own malloc arenas, up to eight per core. A server whose requests
run on a thread pool then spreads the short-lived objects of each request over those
arenas, and every arena keeps the pages it fragmented: flask-backend's resident memory grew
about 170 bytes per request under four threads (PostgreSQL, 12,000 mixed requests) while
Python's own allocations stayed flat, and malloc_trim() gave almost nothing back. With two
arenas the same run grows about 20 bytes per request (bench/soak.py measures the service).

glibc reads MALLOC_ARENA_MAX only when a process starts, and the services' processes are
started in many ways (make run, hypercorn workers spawned by the supervisor, containers,
systemd); mallopt() at start-up sets the same limit from inside, so every start gets it.
A MALLOC_ARENA_MAX the operator set wins. On a C library without mallopt (musl, macOS)
this does nothing."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Mapping

M_ARENA_MAX = -8  # mallopt parameter number (glibc malloc.h)
DEFAULT_ARENAS = 2


def limit_malloc_arenas(
    env: Mapping[str, str] = os.environ, arenas: int = DEFAULT_ARENAS
) -> int | None:
    """Limits this process's malloc arenas to `arenas`; returns the limit set, or None when
    the operator's MALLOC_ARENA_MAX is in force or the C library has no mallopt."""
    if env.get("MALLOC_ARENA_MAX"):
        return None
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return arenas if mallopt(M_ARENA_MAX, arenas) == 1 else None
