"""File names made from names people give (clips, timelines, shots), the same on both sides."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["file_name"]

_UNSAFE = re.compile(r'[\x00-\x1f<>:"/\\|?*]+')  # folders, and what Windows or macOS refuse in a name


def file_name(text: str, fallback: str, limit: int = 100) -> str:
    """`text` as one file name on any OS: NFC (as macOS and Windows compare names), no folders, reserved
    characters or leading dots, at most `limit` bytes of UTF-8 (file systems count bytes); `fallback` when
    nothing is left."""
    name = _UNSAFE.sub("_", unicodedata.normalize("NFC", text)).strip(" .")
    return name.encode()[:limit].decode(errors="ignore").rstrip(" .") or fallback
