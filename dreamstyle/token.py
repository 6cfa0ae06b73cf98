"""The engine's bearer token, read the same way by the engine and its clients."""

from __future__ import annotations

import logging
import os
import re
import stat
from pathlib import Path

__all__ = ["checked_token", "read_token_file"]

log = logging.getLogger(__name__)
_PRINTABLE = re.compile(r"[\x20-\x7e]+")  # what a gRPC metadata value may hold


def checked_token(token: str, where: str) -> str:
    """`token` without a BOM and surrounding blanks (a Notepad file, CRLF); ValueError naming `where` when
    it is empty or holds characters a gRPC header cannot carry. The token itself is never shown."""
    token = token.lstrip("\ufeff").strip()
    if not token:
        raise ValueError(f"{where} is empty: write the engine's token in it (e.g. `openssl rand -hex 32`)")
    if not _PRINTABLE.fullmatch(token):
        raise ValueError(f"{where} holds non-ASCII or control characters, which a gRPC header cannot carry: "
                         "use printable ASCII only (e.g. `openssl rand -hex 32`)")
    return token


def read_token_file(path: Path) -> str:
    """The token in `path` (--token-file); ValueError saying what is wrong with the file. A file other users
    may read is used, with a warning (on POSIX systems: Windows folders carry their own access lists)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
        mode = path.stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the token file {path} (--token-file): {exc}") from None
    if os.name == "posix" and mode & 0o077:
        log.warning("the token file %s can be read by other users of this machine (mode %o), who could use the "
                    "engine with it: chmod 600 %s", path, stat.S_IMODE(mode), path)
    return checked_token(text, f"the token file {path} (--token-file)")
