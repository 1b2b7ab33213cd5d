"""How many glibc malloc arenas a service process may use, and handing the free pages of
its heap back to the kernel.

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
this does nothing.

Two arenas were not the end of it. Served under flask-backend's soak (bench/soak.py: 40
req/s of reads, rule writes and logins on PostgreSQL) an HTTP worker's resident memory still
grew about 0.05 to 0.09 MB a minute. Python's own allocations were flat (tracemalloc), and so
were the bytes malloc had handed out (mallinfo2 `uordblks`: +0.1 MB in six minutes); what
grew was the *free* space inside the heap (`fordblks`: 1.0 → 2.2 MB), pages that the
requests' garbage had touched and glibc keeps, since it gives back only the heap's top.
malloc_trim(0) returns free pages from anywhere in the heap (1.7 MB of those 2.2 MB at
once, measured on a live worker). `start_heap_trimmer` does that every TRIM_INTERVAL
seconds once the free space passed TRIM_ABOVE bytes: a walk of a heap of tens of MB takes
a millisecond or two, once a minute."""

from __future__ import annotations

import ctypes
import logging
import os
from collections.abc import Mapping

from .background import BackgroundLoop

M_ARENA_MAX = -8  # mallopt parameter number (glibc malloc.h)
DEFAULT_ARENAS = 2
TRIM_INTERVAL = 60.0  # seconds between looks at the heap's free space
TRIM_ABOVE = 1 << 20  # free bytes inside the heap worth handing back

log = logging.getLogger("rookery.memory")


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd",
            "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost",
        )
    ]  # fmt: skip


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


def _libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL(None)
        libc.malloc_trim.argtypes = (ctypes.c_size_t,)
        libc.malloc_trim.restype = ctypes.c_int
        libc.mallinfo2.restype = _MallInfo2
    except (OSError, AttributeError):
        return None  # not glibc (or one before 2.33, without mallinfo2)
    return libc


def heap_free_bytes() -> int | None:
    """Bytes free inside this process's malloc heaps (mallinfo2 fordblks); None off glibc."""
    libc = _libc()
    return None if libc is None else int(libc.mallinfo2().fordblks)


def trim_heap(above: int = TRIM_ABOVE) -> bool:
    """malloc_trim(0) when the heaps hold more than `above` free bytes; whether it ran."""
    libc = _libc()
    if libc is None or libc.mallinfo2().fordblks <= above:
        return False
    libc.malloc_trim(0)
    return True


def start_heap_trimmer(interval: float = TRIM_INTERVAL) -> BackgroundLoop | None:
    """A daemon loop calling trim_heap() every `interval` seconds; None off glibc."""
    if _libc() is None:
        return None

    def step() -> None:
        trim_heap()

    loop = BackgroundLoop("heap-trim", interval, step, log=log)
    loop.start()
    return loop
