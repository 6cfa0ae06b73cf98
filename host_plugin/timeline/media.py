"""Media references: URL normalising, path mapping and relinking by search folders."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from dreamstyle.pathmap import PathMap

from ..errors import MediaNotFound

__all__ = ["VIDEO_SUFFIXES", "PathMap", "Relinker", "is_relative", "url_to_path"]

VIDEO_SUFFIXES = {".mov", ".mp4", ".m4v", ".mxf", ".avi", ".mkv", ".webm", ".mts", ".m2ts", ".r3d", ".braw"}
_DRIVE = re.compile(r"^/?([A-Za-z])[:|](.*)$")


def is_relative(path: str) -> bool:
    """Whether a local path, POSIX or Windows, is relative (no root, drive letter or UNC share)."""
    return not (path.startswith(("/", "\\")) or _DRIVE.match(path))


def url_to_path(url: str) -> str:
    """A plain path from the forms NLEs write: raw paths, file:// URLs (file:///..., file://localhost/D%3a/...,
    file://D:/..., UNC shares file://server/share/...), drive letters. A URL is decoded once, as written:
    OTIO's `filepath_from_url` decodes twice in some forms (a file named "a%20b.mov", written "a%2520b.mov",
    would read "a b.mov") and matches "localhost" in lower case only."""
    url = url.strip()
    if url.lower().startswith("file:"):
        parts = urlsplit(url, allow_fragments=False)  # "#" and "?" are a file name's in a file URL
        host, path = unquote(parts.netloc), unquote(parts.path + (f"?{parts.query}" if parts.query else ""))
        if _DRIVE.match(host):  # file://D:/Media/...: the drive written where the host goes
            path = host + path
        elif host and host.lower() != "localhost":  # a UNC share
            path = f"//{host}{path}"
        elif path.startswith("///"):  # a UNC share written file:////server/share or file://///server/share
            path = "//" + path.lstrip("/")
    else:  # a raw path: OTIO would take "D:" for a URL scheme and drop it
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
        self._index: list[dict[str, list[Path]]] | None = None

    def find(self, path: str | None, names: Iterable[str] = (), fits: Callable[[Path], bool] | None = None) -> Path | None:
        """The existing file for `path` (or for one of `names`, stems allowed: EDL source file, reel and
        clip names). Same-named files in one search folder (cameras reuse C0001.MP4 on every card) are
        told apart by `_choose`; MediaNotFound when they cannot be."""
        names = list(names)
        candidates: list[str] = []
        if path:
            if self.base is not None and is_relative(path):
                candidates.append(str(self.base / path))
            candidates.append(path)
            candidates.extend(m for rule in self.path_maps if (m := rule.apply(path)))
        for candidate in candidates:
            if Path(candidate).is_file():
                return Path(candidate).absolute()
        original = PurePosixPath(path.replace("\\", "/")) if path else None
        wanted = [original.name] if original else []
        wanted.extend(names)
        hints = {folder.lower() for folder in (*(original.parent.parts if original else ()), *names)}
        for name in wanted:
            if hits := self._hits(name):
                return _choose(name, hits, hints, fits).absolute()
        return None

    def _hits(self, name: str) -> list[Path]:
        """The files named `name` in the first search folder that holds any, else those with that stem."""
        for key in (name.lower(), Path(name).stem.lower()):
            for index in self._search_index():
                if hits := index.get(key):
                    return hits
        return []

    def _search_index(self) -> list[dict[str, list[Path]]]:
        """Per search folder: file name and video file stem (lower case) -> every file of that name under it."""
        if self._index is None:
            self._index = [_index_folder(folder) for folder in self.search_dirs]
        return self._index


def _index_folder(folder: Path) -> dict[str, list[Path]]:
    index: dict[str, list[Path]] = {}
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            index.setdefault(name.lower(), []).append(path)
            if path.suffix.lower() in VIDEO_SUFFIXES:
                index.setdefault(path.stem.lower(), []).append(path)
    return index


def _choose(name: str, hits: list[Path], hints: set[str], fits: Callable[[Path], bool] | None) -> Path:
    """The one of same-named `hits` whose folders match most of `hints` (the original path's folders, the
    reel name: often the card's folder), else the one that `fits` (holds the clip's frames)."""
    if len(hits) > 1:
        score = {hit: len(hints & {folder.lower() for folder in hit.parent.parts}) for hit in hits}
        hits = [hit for hit in hits if score[hit] == max(score.values())]
    if len(hits) > 1 and fits is not None:
        hits = [hit for hit in hits if fits(hit)] or hits
    if len(hits) > 1:
        raise MediaNotFound(f"ambiguous: {len(hits)} files named {name}: {', '.join(map(str, hits))}; "
                            "relink by hand or narrow --media-dir.")
    return hits[0]
