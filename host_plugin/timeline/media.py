"""Media references: URL normalising, path mapping and relinking by search folders."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import unquote, urlparse

from dreamstyle.pathmap import PathMap

__all__ = ["PathMap", "url_to_path", "Relinker", "VIDEO_SUFFIXES", "file_name", "is_relative"]

VIDEO_SUFFIXES = {".mov", ".mp4", ".m4v", ".mxf", ".avi", ".mkv", ".webm", ".mts", ".m2ts", ".r3d", ".braw"}
_DRIVE = re.compile(r"^/?([A-Za-z])[:|](.*)$")
_UNSAFE = re.compile(r'[\x00-\x1f<>:"/\\|?*]+')  # folders, and what Windows or macOS refuse in a name


def file_name(text: str, fallback: str, limit: int = 100) -> str:
    """`text` (a clip or timeline name) as one file name on any OS: no folders, reserved characters or
    leading dots, at most `limit` characters; `fallback` when nothing is left."""
    return _UNSAFE.sub("_", text).strip(" .")[:limit].rstrip(" .") or fallback


def is_relative(path: str) -> bool:
    """Whether a local path, POSIX or Windows, is relative (no root, drive letter or UNC share)."""
    return not (path.startswith(("/", "\\")) or _DRIVE.match(path))


def url_to_path(url: str) -> str:
    """A plain path from the forms NLEs write: raw paths, file:// URLs, file://localhost/D%3a/..., drive letters."""
    url = url.strip()
    if url.lower().startswith("file:"):
        parsed = urlparse(url)
        path = unquote(parsed.path)
        if parsed.netloc and parsed.netloc.lower() != "localhost":
            path = f"//{parsed.netloc}{path}"  # a UNC share
    else:
        path = unquote(url) if "%" in url and not os.path.exists(url) else url
    drive = _DRIVE.match(path)
    if drive:
        path = f"{drive.group(1).upper()}:{drive.group(2)}"
    return path


class Relinker:
    """Finds a clip's media (as an absolute path): the path as written (a relative one from `base`, the
    timeline's folder), then path maps, then by file name in the search folders, in their order."""

    def __init__(self, search_dirs: Sequence[Path] = (), path_maps: Sequence[PathMap] = (), base: Path | None = None) -> None:
        self.search_dirs = [Path(d) for d in search_dirs]
        self.path_maps = list(path_maps)
        self.base = base
        self._index: dict[str, Path] | None = None

    def find(self, path: str | None, names: Iterable[str] = ()) -> Path | None:
        """The existing file for `path` (or for one of `names`, stems allowed: EDL reel/clip names)."""
        candidates: list[str] = []
        if path:
            if self.base is not None and is_relative(path):
                candidates.append(str(self.base / path))
            candidates.append(path)
            candidates.extend(m for rule in self.path_maps if (m := rule.apply(path)))
        for candidate in candidates:
            if Path(candidate).is_file():
                return Path(candidate).absolute()
        wanted = [Path(path.replace("\\", "/")).name] if path else []
        wanted.extend(names)
        index = self._search_index()
        for name in wanted:
            hit = index.get(name.lower()) or index.get(Path(name).stem.lower())
            if hit:
                return hit.absolute()
        return None

    def _search_index(self) -> dict[str, Path]:
        """File name and stem (lower case) -> first file found under the search folders."""
        if self._index is None:
            self._index = {}
            for folder in self.search_dirs:
                for root, _dirs, files in os.walk(folder):
                    for name in sorted(files):
                        path = Path(root) / name
                        self._index.setdefault(name.lower(), path)
                        if path.suffix.lower() in VIDEO_SUFFIXES:
                            self._index.setdefault(path.stem.lower(), path)
        return self._index
