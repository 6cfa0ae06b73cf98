"""Per-user folders on Linux and other XDG systems."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["xdg_folder"]


def xdg_folder(variable: str, default: Path) -> Path:
    """The folder `$variable` names, or `default` when it is unset, empty or relative (the XDG Base Directory
    specification ignores those: a relative one would put state under whatever folder a cron job starts in)."""
    value = os.environ.get(variable, "")
    return Path(value) if os.path.isabs(value) else default
