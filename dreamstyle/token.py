"""The engine's bearer token, read the same way by the engine and its clients."""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["checked_token", "read_token_file"]

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
    """The token in `path` (--token-file); ValueError saying what is wrong with the file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the token file {path} (--token-file): {exc}") from None
    return checked_token(text, f"the token file {path} (--token-file)")
