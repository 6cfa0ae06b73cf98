"""The rich console the commands print their tables and messages with."""

from __future__ import annotations

from rich.console import Console

__all__ = ["console"]

PIPED_WIDTH = 1000
"""Columns of a report written to a pipe or a log: wide enough that no file name in a table is folded."""


def console(*, stderr: bool = False) -> Console:
    """A console printing names, paths and messages as they are (`[red]` in a clip name is no markup). Its
    report on stdout, piped or logged (no terminal), is as wide as its lines, not 80 columns (rich's guess),
    so a script or a grep finds each row whole; progress on stderr keeps rich's width."""
    out = Console(markup=False, highlight=False, stderr=stderr)
    if not stderr and not out.is_terminal:
        out.width = PIPED_WIDTH
    return out
