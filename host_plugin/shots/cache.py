"""Detection results cached per media file, keyed by a content hash and the detection settings.

The hash reads the file's size and three 1 MiB samples (start, middle, end): the same bytes always give
the same key wherever the file lives, and hashing stays instant on multi-gigabyte masters. Each result is a
small file of its own (`<hash>/<key hash>.json`): an EDL cutting a flattened master into 2000 shots reads and
writes 2000 small files, not one file 2000 times (quadratic), and two runs on one master never drop each
other's results. A media file's folder is dated by its last use; those unused for `KEEP_DAYS` are removed
when another file is first cached, so the cache does not grow with every project ever opened.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import time
from pathlib import Path

from dreamstyle.atomic import written_as
from dreamstyle.user_folders import user_cache_folder

from .base import Detection, Transition

VERSION = 1  # bump when detection changes what it returns for the same settings
SAMPLE = 1 << 20
KEEP_DAYS = 90


def default_cache_dir() -> Path:
    """The per-user cache folder for detection results."""
    return user_cache_folder() / "dreamstyle" / "shots"


def content_hash(media: Path) -> str:
    """A hex digest of the file's size and sampled content, worked out once per file version in a process."""
    stat = media.stat()
    return _sampled_hash(media.resolve(), stat.st_ino, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=512)
def _sampled_hash(media: Path, inode: int, size: int, mtime_ns: int) -> str:
    digest = hashlib.blake2b(str(size).encode(), digest_size=16)
    with media.open("rb") as f:
        for offset in sorted({0, max(0, size // 2 - SAMPLE // 2), max(0, size - SAMPLE)}):
            f.seek(offset)
            digest.update(f.read(SAMPLE))
    return digest.hexdigest()


def key(detector: str, threshold: float | None, min_shot: int, start: int, end: int) -> str:
    """The cache key of one detection over [start, end) of a file."""
    return json.dumps([VERSION, detector, threshold, min_shot, start, end])


def _path(cache_dir: Path, digest: str, entry_key: str) -> Path:
    return cache_dir / digest / f"{hashlib.blake2b(entry_key.encode(), digest_size=16).hexdigest()}.json"


def load(cache_dir: Path, digest: str, entry_key: str) -> Detection | None:
    """The cached result, or None."""
    path = _path(cache_dir, digest, entry_key)
    try:
        entry = json.loads(path.read_text())
        if entry["key"] != entry_key:
            return None
        found = Detection(tuple(entry["cuts"]), tuple(Transition(*t) for t in entry["transitions"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    with contextlib.suppress(OSError):  # in use, so kept (a cache this user may only read still serves)
        os.utime(path.parent)
    return found


def store(cache_dir: Path, digest: str, entry_key: str, detection: Detection) -> None:
    """Writes a result (atomically)."""
    path = _path(cache_dir, digest, entry_key)
    if not path.parent.exists():
        _prune(cache_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    entry = {
        "key": entry_key,
        "cuts": list(detection.cuts),
        "transitions": [[t.kind, t.start_frame, t.end_frame] for t in detection.transitions],
    }
    with written_as(path) as partial:
        partial.write_text(json.dumps(entry))


def _prune(cache_dir: Path) -> None:
    """Removes the folders of media files whose results were neither written nor read for `KEEP_DAYS`."""
    oldest = time.time() - KEEP_DAYS * 86400
    try:
        folders = list(cache_dir.iterdir())
    except OSError:  # no cache yet
        return
    for folder in folders:
        try:
            unused = folder.is_dir() and folder.stat().st_mtime < oldest
        except OSError:  # removed meanwhile by another run
            continue
        if unused:
            shutil.rmtree(folder, ignore_errors=True)
