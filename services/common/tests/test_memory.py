"""The malloc arena limit, observed in glibc's own report (malloc_info) of a fresh process
whose eight threads allocate at once."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from rookery_common.memory import limit_malloc_arenas

CHILD = r"""
import ctypes, sys, tempfile, threading
from rookery_common.memory import limit_malloc_arenas
limited = limit_malloc_arenas() if sys.argv[1] == "limit" else None
barrier = threading.Barrier(9)
held = []
def allocate():
    held.append(bytearray(100_000))  # malloc'd from the thread's arena (below mmap's threshold)
    barrier.wait()  # every thread alive at once: none hands its arena on
    barrier.wait()
threads = [threading.Thread(target=allocate) for _ in range(8)]
for thread in threads:
    thread.start()
barrier.wait()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = (ctypes.c_char_p, ctypes.c_char_p)
libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)
libc.fclose.argtypes = (ctypes.c_void_p,)
with tempfile.NamedTemporaryFile() as report:
    stream = libc.fopen(report.name.encode(), b"w")
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    heaps = open(report.name).read().count("<heap nr=")
barrier.wait()
print(limited, heaps)
"""


def arenas_used(mode: str) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    env["PYTHONMALLOC"] = "malloc"  # Python's objects straight from malloc, as C libraries'
    answer = subprocess.run(
        [sys.executable, "-c", CHILD, mode], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return answer[0], int(answer[1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_info")
def test_threads_share_two_arenas_once_limited() -> None:
    unlimited, heaps_before = arenas_used("as-is")
    assert unlimited == "None" and heaps_before > 2  # glibc's default: one per thread here
    limited, heaps_after = arenas_used("limit")
    assert limited == "2" and heaps_after <= 2


def test_the_operators_setting_wins() -> None:
    assert limit_malloc_arenas({"MALLOC_ARENA_MAX": "4"}) is None


FRAGMENTED = r"""
import ctypes, sys
from rookery_common.memory import heap_free_bytes, trim_heap
def rss_kb():
    return int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1])
# Garbage with a survivor every tenth block: the heap's free space is scattered between
# them, below its top, where free() alone gives nothing back.
blocks = [bytearray(4000) for _ in range(20_000)]
kept = blocks[::10]
del blocks
free_before, rss_before = heap_free_bytes(), rss_kb()
assert not trim_heap(above=1 << 40)  # under the threshold: nothing done
ran = trim_heap(above=1 << 20)
print(free_before, rss_before, int(ran), rss_kb(), len(kept))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_trimming_hands_the_heaps_free_pages_back() -> None:
    env = {**os.environ, "PYTHONMALLOC": "malloc"}  # objects from malloc, as C libraries'
    answer = subprocess.run(
        [sys.executable, "-c", FRAGMENTED], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    free_before, rss_before, ran, rss_after = (int(x) for x in answer[:4])
    assert free_before > 50_000_000  # ~72 MB of freed blocks between the survivors
    assert ran == 1
    assert rss_after < rss_before - 40_000  # most of it back to the kernel (kB)
