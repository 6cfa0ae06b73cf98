"""Atomic file writes: a file appears whole under its name, or not at all."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["written_as"]


@contextmanager
def written_as(path: Path, *, replace: bool = True) -> Iterator[Path]:
    """Yields a hidden name beside `path` to write, renamed to `path` once written: an interrupted or failed write
    leaves nothing behind, never a truncated file. The name is this writer's own (process id and a random part):
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
