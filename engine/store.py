"""The durable job store: SQLite in WAL mode under the engine's state folder.

Every job is one row (its request, state, progress and result); an unfinished job's last kept segment
(see `SegmentDone.kept`) is one row with its colour anchor, and the frame that conditions the next
segment is a file in the job's work folder (`work/<job>/condition_NNNNN.npy`): a 6 MB 1080p frame in
the database cost about 60 ms a segment in WAL writes. So an engine killed at any moment resumes each
job at its last kept segment. `synchronous=NORMAL` in WAL mode
keeps every committed transaction across a process crash (SIGKILL); a power cut may lose the last few,
which only costs re-rendering those segments. One connection, guarded by a lock, serves the event loop
and the render threads.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import IO

import numpy as np

from .chain import Resume, SegmentDone
from .jobs import Job, JobState
from .render import RenderResult, ShotRequest

__all__ = ["JobStore", "StateInUse"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    seq INTEGER NOT NULL,
    state TEXT NOT NULL,
    request TEXT NOT NULL,
    progress TEXT NOT NULL,
    result TEXT,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS segments (
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    conditioned INTEGER NOT NULL,
    anchor BLOB,
    PRIMARY KEY (job_id, idx)
);
"""
_PATHS = ("media", "out_path_stem", "style_image", "first_frame")


def _array_bytes(array: np.ndarray | None) -> bytes | None:
    if array is None:
        return None
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def _array(blob: bytes | None) -> np.ndarray | None:
    return None if blob is None else np.load(io.BytesIO(blob), allow_pickle=False)


def _request_json(request: ShotRequest) -> str:
    data = dict(request.__dict__)
    for name in _PATHS:
        data[name] = str(data[name]) if data[name] is not None else None
    data["rate"] = [request.rate.numerator, request.rate.denominator] if request.rate else None
    return json.dumps(data)


def _request(text: str) -> ShotRequest:
    data = json.loads(text)
    for name in _PATHS:
        data[name] = Path(data[name]) if data[name] is not None else None
    data["rate"] = Fraction(*data["rate"]) if data["rate"] else None
    return ShotRequest(**data)


def _result_json(result: RenderResult | None) -> str | None:
    if result is None:
        return None
    rate = [result.rate.numerator, result.rate.denominator]
    return json.dumps({"path": str(result.path), "frames": result.frames, "rate": rate, "size": [result.width, result.height]})


def _result(text: str | None) -> RenderResult | None:
    if text is None:
        return None
    data = json.loads(text)
    return RenderResult(Path(data["path"]), data["frames"], Fraction(*data["rate"]), *data["size"])


class StateInUse(Exception):
    """Another engine already runs on this state folder."""


def _own(lock: Path) -> IO[str]:
    """Holds an exclusive lock on `lock` for as long as the returned file is open (the system drops it
    when the process dies, even killed): two engines on one state folder would render the same jobs."""
    handle = open(lock, "a+")
    try:
        if sys.platform == "win32":
            import msvcrt

            handle.seek(0)  # Windows locks bytes from the file position
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise StateInUse(f"another engine is running on the state folder {lock.parent}: stop it, or give this "
                         "one its own --state-dir") from None
    return handle


def _release(handle: IO[str]) -> None:
    """Drops the lock `_own` took (Windows frees a closed handle's locks only eventually) and closes it."""
    try:
        if sys.platform == "win32":
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_UNLCK, 1)
    finally:
        handle.close()


def _database(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    # Another program (a backup, an operator's query) may hold the database a while: wait that long.
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=busy_timeout_s)
    try:
        db.execute("PRAGMA journal_mode=WAL")  # the file is first read here, not at connect
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.executescript(_SCHEMA)
    except BaseException:
        db.close()
        raise
    return db


class JobStore:
    """Jobs and their finished segments in `path` (created with its folder when missing); condition
    frames go to `path.parent / "work" / <job id>`, the folder the job manager keeps a job's work in."""

    def __init__(self, path: Path, busy_timeout_s: float = 30) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._owner = _own(path.with_name(path.name + ".lock"))
        self._work = path.parent / "work"
        self._lock = threading.Lock()
        try:
            self._db = _database(path, busy_timeout_s)
        except BaseException:  # a database that is no database, an unwritable folder: the folder is free again
            _release(self._owner)
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()
        _release(self._owner)

    def _run(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def save(self, job: Job) -> None:
        """Inserts or updates `job`; a new job goes after every job already stored."""
        progress = json.dumps([job.segments_done, job.segments_total, job.frames_done, job.error, job.message,
                               job.cancel_requested])
        self._run(
            """INSERT INTO jobs (id, key, seq, state, request, progress, result, updated)
               VALUES (?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs), ?, ?, ?, ?, ?)
               ON CONFLICT(id) DO UPDATE SET state=excluded.state, request=excluded.request,
               progress=excluded.progress, result=excluded.result, updated=excluded.updated""",
            (job.id, job.request.key, job.state.value, _request_json(job.request), progress, _result_json(job.result), time.time()),
        )

    def load(self) -> list[Job]:
        """Every stored job, oldest first."""
        jobs = []
        for job_id, state, request, progress, result in self._run(
            "SELECT id, state, request, progress, result FROM jobs ORDER BY seq"
        ):
            done, total, frames, error, message, *cancel = json.loads(progress)  # rows stored before the cancel flag hold none
            jobs.append(Job(job_id, _request(request), JobState(state), done, total, frames, error, _result(result),
                            message, bool(cancel and cancel[0])))
        return jobs

    def finished_before(self, moment: float) -> list[Job]:
        """Jobs that ended (done, failed or cancelled) before `moment` (a time.time() value)."""
        finals = tuple(s.value for s in JobState if s.final)
        rows = self._run(f"SELECT id FROM jobs WHERE state IN ({','.join('?' * len(finals))}) AND updated < ?", (*finals, moment))
        ids = {row[0] for row in rows}
        return [job for job in self.load() if job.id in ids]

    def delete(self, job_id: str) -> None:
        self._run("DELETE FROM jobs WHERE id = ?", (job_id,))

    def _condition_path(self, job_id: str, index: int) -> Path:
        return self._work / job_id / f"condition_{index:05d}.npy"

    def add_segment(self, job_id: str, done: SegmentDone) -> None:
        """Records a kept segment with what the next one needs to resume. Its condition frame is written
        (atomically) before the row, and other rows and frames are removed after it: a job resumes only
        from the segment it recorded last."""
        conditioned = done.condition is not None
        if conditioned:
            path = self._condition_path(job_id, done.index)
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".partial")
            with open(partial, "wb") as out:
                np.save(out, np.ascontiguousarray(done.condition), allow_pickle=False)
            os.replace(partial, path)
        anchor = np.stack(done.anchor) if done.anchor is not None else None
        with self._lock:
            self._db.execute("BEGIN")
            self._db.execute(
                "INSERT OR REPLACE INTO segments (job_id, idx, conditioned, anchor) VALUES (?, ?, ?, ?)",
                (job_id, done.index, int(conditioned), _array_bytes(anchor)),
            )
            self._db.execute("DELETE FROM segments WHERE job_id = ? AND idx != ?", (job_id, done.index))
            self._db.execute("COMMIT")
        for stale in self._condition_path(job_id, 0).parent.glob("condition_*.npy"):
            if stale.name != self._condition_path(job_id, done.index).name:
                stale.unlink(missing_ok=True)

    def resume_point(self, job_id: str) -> Resume | None:
        """Where `job_id` restarts: after its last recorded segment, when its condition frame is still
        there (the renderer checks that the parts before it are)."""
        rows = self._run(
            "SELECT idx, conditioned, anchor FROM segments WHERE job_id = ? ORDER BY idx DESC LIMIT 1", (job_id,)
        )
        if not rows:
            return None
        index, conditioned, anchor = rows[0]
        path = self._condition_path(job_id, index)
        if conditioned and not path.exists():
            return None  # the work folder was cleared (a reboot): start over
        condition = np.load(path, allow_pickle=False) if conditioned else None
        kept = _array(anchor)
        return Resume(index + 1, condition, (kept[0], kept[1]) if kept is not None else None)

    def clear_segments(self, job_id: str) -> None:
        self._run("DELETE FROM segments WHERE job_id = ?", (job_id,))
