"""glibc heap thresholds for the large blocks media work allocates over and over.

Python gRPC hands every received message (1 MiB of a streamed clip) to Python in freshly allocated
blocks, and decoding allocates a new array per frame (6 MB at 1080p). glibc serves such blocks with
mmap and hands them back with munmap, and its adaptive threshold then trims the heap back so often
that each streamed message still pays about 500 page faults and the zeroing of fresh pages: a fifth of
a download's CPU time here (`benchmarks/farm_scaling.py`). Fixed thresholds at glibc's own adaptive
maximum keep blocks up to 32 MiB (a 4K RGB frame is 25 MB; at 16 bits, 50 MB, it is mmapped each time) in
the heap for reuse, at the cost of at most `TRIM_THRESHOLD` bytes of idle heap per malloc arena. Other C
libraries are left alone.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "reuse_large_blocks"]

MMAP_THRESHOLD = 32 << 20
"""Blocks below this come from the heap (glibc starts at 128 KiB and adapts up to this)."""
TRIM_THRESHOLD = 64 << 20
"""Free heap kept before it is returned to the system (twice the above, as glibc adapts it)."""

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers (malloc.h)


def reuse_large_blocks() -> bool:
    """Sets the thresholds for this process on glibc; True when they were set.

    Does nothing where an operator set MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_ (their
    choice stands) or the C library is not glibc.
    """
    if not sys.platform.startswith("linux") or {"MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"} & set(os.environ):
        return False
    libc = ctypes.CDLL(None)
    if not hasattr(libc, "gnu_get_libc_version"):  # musl's mallopt does nothing
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
