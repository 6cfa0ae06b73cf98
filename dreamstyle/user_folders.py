"""The user's data and cache folders, where each OS keeps them; callers add their own folder names.

Linux: $XDG_DATA_HOME and $XDG_CACHE_HOME (ignored when empty or relative, as the XDG Base Directory specification
says: a relative one would put state under whatever folder a cron job starts in), else ~/.local/share and ~/.cache.
macOS: ~/Library/Application Support and ~/Library/Caches (or the $XDG_ folders, when set). Windows: %LOCALAPPDATA%
for both. platformdirs knows each OS's rules (Windows' known folders, not just its environment).
"""

from __future__ import annotations

from pathlib import Path

import platformdirs

__all__ = ["user_cache_folder", "user_data_folder"]


def user_data_folder() -> Path:
    """The folder for the user's data, such as the engine's jobs and the panel's state."""
    return platformdirs.user_data_path()


def user_cache_folder() -> Path:
    """The folder for what can be worked out again, such as shot detection results."""
    return platformdirs.user_cache_path()
