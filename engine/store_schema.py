"""The job store's layout: its version (the database's `user_version`), its tables, how it stores paths,
and the upgrade from each older layout.

A newer or unknown layout is refused (`StateUnusable`) and left as it is. Upgrading from layouts 0 and 1
stores the absolute paths that lie in the state folder relative to it, also those in the folder it was
moved or restored from (`_moved_from`), so a moved state folder keeps its jobs and results.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from .storage import StateFolder

__all__ = ["PATHS", "SCHEMA_VERSION", "StateUnusable", "from_stored", "read_version", "to_stored", "upgrade"]

SCHEMA_VERSION = 2
"""0: condition frames as blobs in `segments` (before versions were kept); 1: condition frames as files in
the work folder; 2: paths inside the state folder stored relative to it."""
_TABLES = (
    """CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        seq INTEGER NOT NULL,
        state TEXT NOT NULL,
        request TEXT NOT NULL,
        progress TEXT NOT NULL,
        result TEXT,
        updated REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS segments (
        job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        conditioned INTEGER NOT NULL,
        anchor BLOB,
        PRIMARY KEY (job_id, idx)
    )""",
)
_JOB_COLUMNS = {"id", "key", "seq", "state", "request", "progress", "result", "updated"}
PATHS = ("media", "out_path_stem", "style_image", "first_frame")
"""The request fields that hold paths."""


class StateUnusable(Exception):
    """The state folder's job store has a layout this engine cannot use (a newer engine's, or unknown)."""


def to_stored(path: Path, folder: Path) -> str:
    """`path` as stored: relative to the state `folder` when inside it (the folder may move), else absolute."""
    return path.relative_to(folder).as_posix() if path.is_relative_to(folder) else str(path.absolute())


def from_stored(text: str, folder: Path) -> Path:
    """A stored path; a relative one lies in the state `folder`, wherever that is now."""
    path = Path(text)
    return path if path.is_absolute() else folder / path


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def read_version(db: sqlite3.Connection, path: Path) -> int | None:
    """The layout of the job store `path`: None when it holds no tables yet; one stored before versions
    were kept (0) is told by its tables. Raises StateUnusable for a newer or an unknown layout."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise StateUnusable(f"the state folder {path.parent} was written by a newer DreamStyle engine (job store "
                            f"version {version}; this engine reads up to {SCHEMA_VERSION}): run that version or a "
                            "newer one on it, or give this engine another --state-dir")
    if version > 0:
        return version
    if version == 0:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table'").fetchall():
            return None
        segments = _columns(db, "segments")
        if _JOB_COLUMNS <= _columns(db, "jobs") and {"condition", "conditioned"} & segments:
            return 0 if "condition" in segments else 1
    raise StateUnusable(f"the state folder {path.parent} holds a {path.name} this engine does not know: give the "
                        f"engine another --state-dir, or move {path.name} out of that folder to start without its jobs")


def upgrade(db: sqlite3.Connection, version: int | None, folder: Path) -> None:
    """Brings the store in `folder` from layout `version` (None: new) to SCHEMA_VERSION, in one transaction."""
    db.execute("BEGIN IMMEDIATE")
    try:
        if version == 0:  # its kept condition frames are blobs no renderer reads: its jobs render from their start
            db.execute("DROP TABLE segments")
        for table in _TABLES:
            db.execute(table)
        if version is not None and version < 2:
            _relocate(db, folder)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise


def _relocate(db: sqlite3.Connection, folder: Path) -> None:
    """Stores the absolute paths of layouts 0 and 1 that lie in the state `folder` relative to it, and those
    in the folder it was moved or restored from, as `_moved_from` tells it; others stay as they are."""
    rows = [(job_id, json.loads(request), json.loads(result) if result else None)
            for job_id, request, result in db.execute("SELECT id, request, result FROM jobs")]
    texts = [request[name] for _, request, _ in rows for name in PATHS if request[name]]
    texts += [result["path"] for _, _, result in rows if result]
    moved = _moved_from([Path(text) for text in texts], folder)

    def relocated(text: str) -> str:
        path = Path(text)
        for old in moved:
            if path.is_relative_to(old) and path.relative_to(old).parts[:1] in [(part,) for part in StateFolder.FOLDERS]:
                path = folder / path.relative_to(old)
        return to_stored(path, folder)

    for job_id, request, result in rows:
        for name in PATHS:
            request[name] = relocated(request[name]) if request[name] else request[name]
        if result:
            result["path"] = relocated(result["path"])
        db.execute("UPDATE jobs SET request = ?, result = ? WHERE id = ?",
                   (json.dumps(request), json.dumps(result) if result else None, job_id))


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # unreadable: taken as there
        return True


def _moved_from(paths: list[Path], folder: Path) -> set[Path]:
    """The folders the state folder was in before a move or a restore, as its files tell: a folder OLD that is
    gone (or is another state folder) and some file OLD/results|uploads|work/... of which is missing there
    and present at the same place in `folder`. A client's folder, which is there, is never taken for one."""
    found = set()
    for path in paths:
        if not path.is_absolute() or path.is_relative_to(folder) or _exists(path):
            continue
        for index, part in enumerate(path.parts[1:-1], start=1):
            old = Path(*path.parts[:index])
            if (part in StateFolder.FOLDERS and _exists(folder.joinpath(*path.parts[index:]))
                    and (not old.is_dir() or StateFolder(old).jobs_db.exists())):
                found.add(old)
    return found
