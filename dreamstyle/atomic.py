"""Atomic file writes: a file appears whole under its name, or not at all."""

from __future__ import annotations

import glob
import os
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["remove_abandoned", "written_as"]


@contextmanager
def written_as(path: Path, *, replace: bool = True) -> Iterator[Path]:
    """Yields a hidden name beside `path` to write, renamed to `path` once written: a write that fails or is
    interrupted (an exception, Ctrl-C) leaves nothing behind, never a truncated file; a process killed outright
    leaves its partial file (see `remove_abandoned`). The name is this writer's own (process id and a random part):
    two writers of one file at once each write their own file instead of one's rename taking the other's.

    With `replace=False` a file already at `path` is kept and FileExistsError raised (another writer took it)."""
    partial = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")
    try:
        yield partial
        if replace:
            os.replace(partial, path)
        else:
            _place_new(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _place_new(partial: Path, path: Path) -> None:
    """Gives `partial` the name `path` unless a file has it."""
    try:
        os.link(partial, path)  # atomic, and refuses an existing file
    except FileExistsError:
        raise
    except OSError:  # no hard links on this volume (exFAT, some shares): check, then move
        if path.exists():
            raise FileExistsError(path) from None
        os.replace(partial, path)


def remove_abandoned(path: Path, idle_s: float) -> None:
    """Removes the partial files of `path` that no writer has touched for `idle_s` seconds: those of processes
    killed outright (a crash, SIGKILL, a power cut), which would otherwise pile up, a whole clip each."""
    for partial in path.parent.glob(f".{glob.escape(path.name)}.*.partial"):
        try:
            if time.time() - partial.stat().st_mtime > idle_s:
                partial.unlink()
        except FileNotFoundError:  # its writer finished or another run removed it
            pass
