"""The durable job store: SQLite in WAL mode under the engine's state folder.

Every job is one row (its request, state, progress and result); an unfinished job's last kept segment
(see `SegmentDone.kept`) is one row with its colour anchor, and the frame that conditions the next
segment is a file in the job's work folder (`work/<job>/condition_NNNNN.npy`): a 6 MB 1080p frame (12 MB
at 16 bits) in the database cost about 60 ms a segment in WAL writes. So an engine killed at any moment resumes each
job at its last kept segment. `synchronous=NORMAL` in WAL mode
keeps every committed transaction across a process crash (SIGKILL); a power cut may lose the last few,
which only costs re-rendering those segments. One connection, guarded by a lock, serves the event loop
and the render threads.

Paths inside the state folder (results, uploads) are stored relative to it, so a state folder moved or
restored elsewhere keeps its jobs and results. An older layout is brought up to date when opened, a newer
or unknown one is refused and left as it is (`engine.store_schema`).
"""

from __future__ import annotations

import io
import json
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import IO

import numpy as np

from dreamstyle.atomic import written_as

from .chain import Resume, SegmentDone
from .jobs import Job, JobState, StoreFailed
from .render import RenderResult, ShotRequest
from .storage import StateFolder
from .store_schema import PATHS, SCHEMA_VERSION, StateUnusable, from_stored, read_version, to_stored, upgrade

__all__ = ["SCHEMA_VERSION", "JobStore", "StateInUse", "StateUnusable", "StoreFailed"]


def _array_bytes(array: np.ndarray | None) -> bytes | None:
    if array is None:
        return None
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def _write_array(path: Path, array: np.ndarray) -> None:
    """Writes `array` to `path` atomically; a write that fails (a full disk) leaves no partial file and names `path`."""
    try:
        with written_as(path) as partial:
            partial.write_bytes(_array_bytes(array))
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc


def _array(blob: bytes | None) -> np.ndarray | None:
    return None if blob is None else np.load(io.BytesIO(blob), allow_pickle=False)


def _request_json(request: ShotRequest, folder: Path) -> str:
    data = dict(request.__dict__)
    for name in PATHS:
        data[name] = to_stored(data[name], folder) if data[name] is not None else None
    data["rate"] = [request.rate.numerator, request.rate.denominator] if request.rate else None
    return json.dumps(data)


def _request(text: str, folder: Path) -> ShotRequest:
    data = json.loads(text)
    for name in PATHS:
        data[name] = from_stored(data[name], folder) if data[name] is not None else None
    data["rate"] = Fraction(*data["rate"]) if data["rate"] else None
    return ShotRequest(**data)


def _result_json(result: RenderResult | None, folder: Path) -> str | None:
    if result is None:
        return None
    rate = [result.rate.numerator, result.rate.denominator]
    return json.dumps({"path": to_stored(result.path, folder), "frames": result.frames, "rate": rate,
                       "size": [result.width, result.height]})


def _result(text: str | None, folder: Path) -> RenderResult | None:
    if text is None:
        return None
    data = json.loads(text)
    return RenderResult(from_stored(data["path"], folder), data["frames"], Fraction(*data["rate"]), *data["size"])


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
        version = read_version(db, path)  # the file is first read here, not at connect; nothing is written before
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        if version != SCHEMA_VERSION:
            upgrade(db, version, path.parent.resolve())
        db.execute("CREATE INDEX IF NOT EXISTS jobs_by_seq ON jobs (seq)")  # a save's MAX(seq) scanned every job
    except BaseException:
        db.close()
        raise
    return db


def _failure(folder: Path, exc: sqlite3.Error) -> str:
    """What failed in the job store in `folder` and what to do: a damaged file (SQLite's CORRUPT and NOTADB, the
    only errors it raises as a bare DatabaseError) is not mended by trying again, as a full disk is."""
    if type(exc) is sqlite3.DatabaseError:
        jobs_db = StateFolder(folder).jobs_db
        return (f"the engine's job store {jobs_db} is damaged ({exc}): stop the engine and move it out of that folder "
                "(keep it: its jobs may be recovered) to start without its jobs")
    return (f"the engine's job store in {folder} failed ({exc}); check that folder's free space and permissions, then "
            "submit the shot again")


def _unopenable(path: Path, exc: sqlite3.Error) -> str:
    """Why the job store `path` cannot be opened and what to do: a file that is no database or is damaged may
    be moved out of the way; a full or read-only disk must not be answered so (moving the file loses its jobs)."""
    if type(exc) is sqlite3.DatabaseError:  # as in `_failure`
        return (f"the state folder {path.parent}: its job store {path.name} cannot be opened ({exc}): give the engine "
                f"another --state-dir, or move {path.name} out of that folder to start without its jobs")
    return (f"the state folder {path.parent}: its job store {path.name} cannot be opened ({exc}): free space there, "
            f"check its permissions and that no other program holds {path.name}, or give the engine another --state-dir")


class JobStore:
    """Jobs and their finished segments in `path`, a state folder's `jobs_db` (created with its folder when
    missing); condition frames go to that folder's `work / <job id>`, where the job manager keeps a job's work."""

    def __init__(self, path: Path, busy_timeout_s: float = 30) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._owner = _own(path.with_name(path.name + ".lock"))
        self._work = StateFolder(path.parent).work
        self._folder = path.parent.resolve()
        self._lock = threading.Lock()
        try:
            self._db = _database(path, busy_timeout_s)
        except sqlite3.Error as exc:  # no database, a folder in its place, held by another program too long, a full disk
            _release(self._owner)
            raise StateUnusable(_unopenable(path, exc)) from exc
        except BaseException:  # the folder is free again, whatever failed
            _release(self._owner)
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()
        _release(self._owner)

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        """The connection, held; a SQLite error is a StoreFailed that says what to check."""
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.rollback()
                raise StoreFailed(_failure(self._folder, exc)) from exc

    def _run(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._connection() as db:
            return db.execute(sql, args).fetchall()

    def save(self, job: Job) -> None:
        """Inserts or updates `job`; a new job goes after every job already stored."""
        progress = json.dumps([job.segments_done, job.segments_total, job.frames_done, job.error, job.message,
                               job.cancel_requested])
        self._run(
            """INSERT INTO jobs (id, key, seq, state, request, progress, result, updated)
               VALUES (?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs), ?, ?, ?, ?, ?)
               ON CONFLICT(id) DO UPDATE SET state=excluded.state, request=excluded.request,
               progress=excluded.progress, result=excluded.result, updated=excluded.updated""",
            (job.id, job.request.key, job.state.value, _request_json(job.request, self._folder), progress,
             _result_json(job.result, self._folder), time.time()),
        )

    def load(self) -> list[Job]:
        """Every stored job, oldest first."""
        jobs = []
        for job_id, state, request, progress, result in self._run(
            "SELECT id, state, request, progress, result FROM jobs ORDER BY seq"
        ):
            done, total, frames, error, message, *cancel = json.loads(progress)  # rows stored before the cancel flag hold none
            jobs.append(Job(job_id, _request(request, self._folder), JobState(state), done, total, frames, error,
                            _result(result, self._folder), message, bool(cancel and cancel[0])))
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
            _write_array(path, done.condition)
        anchor = np.stack(done.anchor) if done.anchor is not None else None
        with self._connection() as db:
            db.execute("BEGIN")
            db.execute(
                "INSERT OR REPLACE INTO segments (job_id, idx, conditioned, anchor) VALUES (?, ?, ?, ?)",
                (job_id, done.index, int(conditioned), _array_bytes(anchor)),
            )
            db.execute("DELETE FROM segments WHERE job_id = ? AND idx != ?", (job_id, done.index))
            db.execute("COMMIT")
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
