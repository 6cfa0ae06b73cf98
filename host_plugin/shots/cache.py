"""Detection results cached per media file, keyed by a content hash and the detection settings.

The hash reads the file's size and three 1 MiB samples (start, middle, end): the same bytes always give
the same key wherever the file lives, and hashing stays instant on multi-gigabyte masters.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from .base import Detection, Transition

VERSION = 1  # bump when detection changes what it returns for the same settings
SAMPLE = 1 << 20


def default_cache_dir() -> Path:
    """The per-user cache folder for detection results (XDG_CACHE_HOME, else ~/.cache)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dreamstyle" / "shots"


def content_hash(media: Path) -> str:
    """A hex digest of the file's size and sampled content."""
    size = media.stat().st_size
    digest = hashlib.blake2b(str(size).encode(), digest_size=16)
    with media.open("rb") as f:
        for offset in sorted({0, max(0, size // 2 - SAMPLE // 2), max(0, size - SAMPLE)}):
            f.seek(offset)
            digest.update(f.read(SAMPLE))
    return digest.hexdigest()


def key(detector: str, threshold: float | None, min_shot: int, start: int, end: int) -> str:
    """The cache key of one detection over [start, end) of a file."""
    return json.dumps([VERSION, detector, threshold, min_shot, start, end])


def load(cache_dir: Path, digest: str, entry_key: str) -> Detection | None:
    """The cached result, or None."""
    try:
        entry = json.loads((cache_dir / f"{digest}.json").read_text())[entry_key]
    except (OSError, ValueError, KeyError):
        return None
    return Detection(tuple(entry["cuts"]), tuple(Transition(*t) for t in entry["transitions"]))


def store(cache_dir: Path, digest: str, entry_key: str, detection: Detection) -> None:
    """Adds a result to the media file's cache file (written atomically)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    path = cache_dir / f"{digest}.json"
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError):
        entries = {}
    entries[entry_key] = {
        "cuts": list(detection.cuts),
        "transitions": [[t.kind, t.start_frame, t.end_frame] for t in detection.transitions],
    }
    fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(entries, f)
    os.replace(tmp, path)
