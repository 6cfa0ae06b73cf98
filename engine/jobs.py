"""Jobs: durable, keyed by idempotency key, queued by priority, rendered by a runner.

Every change is written to the job store before it is published to watchers, and every kept segment
(its encoded part closed) is recorded with what the next one needs, so an engine killed at any moment
restarts with each unfinished job queued again at its last kept segment. The same idempotency key
never renders twice: a queued, running or finished job is returned as it is; a failed or cancelled one
is queued again (a failed one resumes from its kept segments). Watchers that go away never cancel a
job; `cancel` does, and is stored at once: a running job whose cancel was asked before the engine
stopped ends cancelled at the next start. The same key asked again while its cancel is under way
withdraws the cancel.

Disk: a job's encoded parts live in `work/<job id>/` until its clip is joined; they are removed
on success and on cancel, kept on failure (a resubmit resumes there) and after a crash, dropped after
a reboot (they are not synced), and `retention_days` removes old finished jobs with the results they
left in the engine's own result folder, and old uploads no job reads.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
import shutil
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from .backends.base import BackendError
from .chain import Cancelled, SegmentDone
from .render import RenderError, RenderResult, ShotRequest
from .storage import OutsideRoots

if TYPE_CHECKING:
    from .store import JobStore
    from .workers import Runner

__all__ = ["MAX_QUEUED", "Conflict", "Job", "JobManager", "JobNotFound", "JobState", "QueueFull", "StoreFailed"]

log = logging.getLogger(__name__)
RETRY_AFTER_S = 5  # an answer costs nothing, and a shot waiting in line should not wait long for a free place
MAX_QUEUED = 1000
"""Unfinished jobs an engine holds before it refuses submits, unless its operator sets another number."""


def _boot_id() -> str:
    """This boot of the machine (Linux); part files written before a reboot are not trusted, as
    they are not synced to disk. Elsewhere "" (a reboot is then not told from a crash)."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


class JobState(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in (JobState.DONE, JobState.FAILED, JobState.CANCELLED)


class JobNotFound(KeyError):
    """No job has this id."""


def _settings(request: ShotRequest) -> tuple:
    """What an idempotency key stands for: the frames and the look. Files are not compared by path (a
    re-upload has a new one): the client's key says which content it means."""
    return (request.start, request.end, request.rate, request.backend, request.prompt, request.seed,
            request.params, request.codec, request.timecode, request.style_image is None, request.first_frame is None)


def _files(request: ShotRequest) -> str:
    """The files a job reads, each as its size and modification time (as the host's keys tell them apart)."""
    stats = [path.stat() for path in (request.media, request.style_image, request.first_frame) if path]
    return " ".join(f"{stat.st_size}:{stat.st_mtime_ns}" for stat in stats)


class Conflict(Exception):
    """A request clashes with another job: its idempotency key names other settings, or its clip would
    replace another job's or a file the engine did not write."""


class StoreFailed(Exception):
    """The job store could not be read or written while the engine ran (a full disk, a lost volume); the store
    (engine/store.py) raises it saying what to check."""


class QueueFull(Exception):
    """The queue holds its limit of unfinished jobs; retry after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int = RETRY_AFTER_S) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Job:
    """An immutable snapshot of a job; the manager replaces it on every change."""

    id: str
    request: ShotRequest
    state: JobState = JobState.QUEUED
    segments_done: int = 0
    segments_total: int = 0
    frames_done: int = 0
    error: str = ""
    result: RenderResult | None = None
    message: str = ""
    cancel_requested: bool = False


class _Watcher:
    """What a watcher has yet to read: the job's newest state, or the final one its watch ends at. Each event
    carries the whole job, so a client that stops reading (its stream held by flow control) holds one job, not
    every step since."""

    def __init__(self) -> None:
        self._next: Job | None = None
        self._ready = asyncio.Event()

    def put(self, job: Job) -> None:
        if self._next is None or not self._next.state.final:
            self._next = job
            self._ready.set()

    async def get(self) -> Job:
        await self._ready.wait()
        self._ready.clear()
        job, self._next = self._next, None
        return job


@dataclass
class _Entry:
    job: Job
    watchers: list[_Watcher] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)


def _log_failure(job: Job, error: str, trace: bool = False) -> None:
    """One warning line for the operator: the job, its shot and why it failed; with the traceback of the
    exception being handled when `trace` (an unexpected one, not a shot that cannot be rendered as asked)."""
    log.warning("job %s (shot %s) failed: %s", job.id, job.request.label or job.request.media.name, error,
                exc_info=trace)


def _failed(job: Job, error: str, trace: bool = False) -> dict[str, object]:
    """The changes that end `job` failed with `error`, logged."""
    _log_failure(job, error, trace)
    return {"state": JobState.FAILED, "error": error}


class JobManager:
    """Queues jobs by priority and renders them with `runner`, one per runner slot, durably in `store`."""

    def __init__(
        self,
        store: JobStore,
        runner: Runner,
        work_root: Path,
        *,
        results_root: Path | None = None,
        uploads_root: Path | None = None,
        max_queued: int = MAX_QUEUED,
        retention_days: float | None = None,
        admit: Callable[[ShotRequest], None] = lambda request: None,
        engine_id: str = "",
    ) -> None:
        """`admit(request)` checks a job's paths again as it starts (raising OutsideRoots, or OSError for an
        output folder it can no longer write); `engine_id` names
        the backends' configuration (models, adapters, options): kept segments made under another are dropped."""
        self._admit = admit
        self._engine_id = engine_id
        self._store = store
        self._runner = runner
        self._work_root = work_root
        self._results_root = results_root
        self._uploads_root = uploads_root
        self._max_queued = max_queued
        self._retention_s = retention_days * 86400 if retention_days else None
        # Indexes kept with `_entries`, so a submit costs the same with 50,000 jobs kept as with ten.
        self._entries: dict[str, _Entry] = {}
        self._by_key: dict[str, str] = {}
        self._by_stem: dict[Path, str] = {}  # the job that last claimed each output stem (cancelled ones at start: none)
        self._unfinished: set[str] = set()
        self._queue: asyncio.PriorityQueue[tuple[int, int, str]] = asyncio.PriorityQueue()
        self._order = itertools.count()
        self._executor = ThreadPoolExecutor(max_workers=runner.slots, thread_name_prefix="render")
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False

    async def start(self) -> None:
        """Loads the stored jobs, queues the unfinished ones again and starts the workers."""
        self._loop = asyncio.get_running_loop()
        for job in self._store.load():
            if job.cancel_requested and not job.state.final:
                job = replace(job, state=JobState.CANCELLED, message="cancelled (asked before the engine stopped)")
                self._store.save(job)
            elif not job.state.final:
                job = replace(job, state=JobState.QUEUED, message="queued again after an engine restart")
                self._store.save(job)
            self._entries[job.id] = _Entry(job)
            self._by_key[job.request.key] = job.id
            if job.state is not JobState.CANCELLED:  # the one job that may write there (a cancelled one never will)
                self._by_stem[job.request.out_path_stem] = job.id
            self._note(job)
            if job.state is JobState.QUEUED:
                self._queue.put_nowait((-job.request.priority, next(self._order), job.id))
        self._work_root.mkdir(parents=True, exist_ok=True)
        boot, boot_file = _boot_id(), self._work_root / ".boot_id"
        rebooted = boot_file.exists() and boot_file.read_text() != boot
        for folder in self._work_root.iterdir():
            entry = self._entries.get(folder.name)
            finished = entry is None or entry.job.state in (JobState.DONE, JobState.CANCELLED)
            if folder.is_dir() and (finished or rebooted):
                self._discard_work(folder.name)
        boot_file.write_text(boot)
        self._tasks = [asyncio.create_task(self._work()) for _ in range(self._runner.slots)]
        if self._retention_s:
            self._tasks.append(asyncio.create_task(self._retain()))

    async def stop(self) -> None:
        """Stops the workers; jobs in flight stay unfinished in the store and resume on the next start."""
        self._stopping = True
        for entry in self._entries.values():
            entry.cancel.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.to_thread(self._executor.shutdown, wait=True, cancel_futures=True)
        self._runner.close()

    # -- queries --------------------------------------------------------------------------------
    def get(self, job_id: str) -> Job:
        try:
            return self._entries[job_id].job
        except KeyError:
            raise JobNotFound(job_id) from None

    def list(self, states: set[JobState] | None = None) -> list[Job]:
        return [e.job for e in self._entries.values() if not states or e.job.state in states]

    # -- commands -------------------------------------------------------------------------------
    async def submit(self, request: ShotRequest) -> tuple[Job, bool]:
        """Queues `request` unless its key already has a live or finished job; returns (job, created).

        A key stands for one set of settings: asked again with others it is a Conflict while its job is
        live or done; a failed or cancelled job asked again with others starts over."""
        existing = self._by_key.get(request.key)
        same = True
        if existing:
            job = self._entries[existing].job
            same = _settings(job.request) == _settings(request)
            if job.state in (JobState.QUEUED, JobState.RUNNING) or (job.state is JobState.DONE and job.result.path.exists()):
                if not same:
                    raise Conflict(f"idempotency_key {request.key!r} is job {job.id}, which renders other settings; "
                                   "use a new key for new settings.")
                if job.state is JobState.RUNNING and job.cancel_requested:  # asked for again while cancelling: withdrawn
                    self._entries[existing].cancel.clear()
                    self._update(existing, cancel_requested=False, message="asked for again: its cancel is withdrawn")
                else:
                    self._store.save(job)  # asked for again: the retention period counts from now
                return self._entries[existing].job, False
        self._check_output(request)
        if len(self._unfinished) >= self._max_queued:
            raise QueueFull(
                f"{len(self._unfinished)} jobs are waiting (limit {self._max_queued}); retry in {RETRY_AFTER_S} s.", RETRY_AFTER_S
            )
        if not same:
            self._discard_work(existing)  # its kept segments were rendered with the old settings
        job = Job(id=existing or uuid.uuid4().hex, request=request)
        self._store.save(job)  # first: a store that fails leaves no job that is known but never queued
        self._entries[job.id] = entry = _Entry(job, watchers=self._entries[existing].watchers if existing else [])
        self._by_key[request.key] = job.id
        self._by_stem[request.out_path_stem] = job.id
        self._note(job)
        self._tell(entry)
        await self._queue.put((-request.priority, next(self._order), job.id))
        return job, True

    def _check_output(self, request: ShotRequest) -> None:
        """A job's clip never replaces another job's, nor a file the engine did not write (source media)."""
        stem = request.out_path_stem
        claimed = self._entries.get(self._by_stem.get(stem, ""))
        other = claimed.job if claimed else None
        if (other and other.request.key != request.key and other.request.out_path_stem == stem  # (asked again with
                and other.state is not JobState.CANCELLED):  # other settings, a job may write elsewhere now)
            raise Conflict(f"output {stem}: job {other.id} writes its clip there; choose another output.name.")
        if self._results_root and stem.is_relative_to(self._results_root):
            return  # the engine's own folder: a clip there is one it wrote (a kill may come before the job says so)
        known = self._by_key.get(request.key)
        own = self._entries[known].job.result if known else None  # the clip this key's job wrote, if any
        for suffix in (".mp4", ".mov"):
            if (path := stem.with_name(stem.name + suffix)).exists() and not (own and own.path == path):
                raise Conflict(f"output {path} exists and this engine did not write it; choose another output.name "
                               "or directory (the engine never replaces a file it did not make).")

    async def cancel(self, job_id: str) -> Job:
        entry = self._entries.get(job_id)
        if entry is None:
            raise JobNotFound(job_id)
        if entry.job.state is JobState.QUEUED:
            entry.cancel.set()
            self._update(job_id, state=JobState.CANCELLED, message="cancelled before it started")
            self._discard_work(job_id)
        elif entry.job.state is JobState.RUNNING:
            self._update(job_id, cancel_requested=True, message="cancelling: the segment under way ends first")
            entry.cancel.set()
        return entry.job

    async def watch(self, job_id: str) -> AsyncIterator[Job]:
        """Yields the job now and after every change, until it reaches a final state."""
        entry = self._entries.get(job_id)
        if entry is None:
            raise JobNotFound(job_id)
        watcher = _Watcher()
        entry.watchers.append(watcher)
        try:
            job = entry.job
            yield job
            while not job.state.final:
                job = await watcher.get()
                yield job
        finally:
            entry.watchers.remove(watcher)

    # -- internals ------------------------------------------------------------------------------
    def _update(self, job_id: str, **changes: object) -> None:
        """Applies `changes`, stores the job, then tells its watchers."""
        entry = self._entries[job_id]
        job = replace(entry.job, **changes)
        self._store.save(job)  # first: a store that fails leaves the job as it was
        entry.job = job
        self._note(job)
        self._tell(entry)

    def _note(self, job: Job) -> None:
        """Keeps the set of unfinished jobs (the queue limit counts them at every submit)."""
        (self._unfinished.discard if job.state.final else self._unfinished.add)(job.id)

    @staticmethod
    def _tell(entry: _Entry) -> None:
        for watcher in entry.watchers:
            watcher.put(entry.job)

    def _update_threadsafe(self, job_id: str, **changes: object) -> None:
        if self._loop is not None and not self._stopping:
            self._loop.call_soon_threadsafe(lambda: self._update(job_id, **changes))

    def _discard_work(self, job_id: str) -> None:
        self._store.clear_segments(job_id)
        shutil.rmtree(self._work_root / job_id, ignore_errors=True)

    async def _work(self) -> None:
        while True:
            _, _, job_id = await self._queue.get()
            try:
                await self._run(job_id)
            except Exception as exc:  # the job store failed (disk full, locked by another program): this job
                message = str(exc) if isinstance(exc, StoreFailed) else (  # StoreFailed says what failed and what to do
                    f"the engine's job store failed ({exc}); submit the shot again to resume")
                self._fail_unsaved(job_id, message)

    async def _run(self, job_id: str) -> None:
        entry = self._entries.get(job_id)
        if entry is None or entry.job.state is not JobState.QUEUED:
            return
        entry.cancel.clear()
        self._update(job_id, state=JobState.RUNNING, message="", cancel_requested=False)
        changes = await asyncio.get_running_loop().run_in_executor(self._executor, self._render, entry)
        if changes is None:  # the engine is stopping: the job resumes on the next start
            return
        if changes["state"] is JobState.CANCELLED and not entry.job.cancel_requested:  # the cancel was withdrawn
            self._update(job_id, state=JobState.QUEUED, message="queued again: asked for again while cancelling")
            await self._queue.put((-entry.job.request.priority, next(self._order), job_id))
            return
        self._update(job_id, **changes)
        if changes["state"] in (JobState.DONE, JobState.CANCELLED):
            self._discard_work(job_id)

    def _fail_unsaved(self, job_id: str, error: str) -> None:
        """Tells the job's watchers it failed, storing that if the store takes it (else the stored job is
        unfinished and is queued again at the next start)."""
        entry = self._entries[job_id]
        entry.job = replace(entry.job, state=JobState.FAILED, error=error)
        self._note(entry.job)
        _log_failure(entry.job, error, trace=True)  # called while handling the store's exception
        try:
            self._store.save(entry.job)
        except Exception:
            log.warning("job %s: its failure could not be stored either", job_id, exc_info=True)
        self._tell(entry)

    def _render(self, entry: _Entry) -> dict[str, object] | None:
        job = entry.job

        def progress(done: SegmentDone) -> None:
            if done.kept:
                self._store.add_segment(job.id, done)
            self._update_threadsafe(job.id, segments_done=done.index + 1, segments_total=done.total, frames_done=done.frames_done)

        try:
            self._admit(job.request)
            self._claim_work(job)
            resume = self._store.resume_point(job.id)
            result = self._runner.render(job.request, self._work_root / job.id, resume, progress, entry.cancel.is_set)
        except Cancelled:
            return None if self._stopping else {"state": JobState.CANCELLED, "message": "cancelled"}
        except (RenderError, BackendError, OutsideRoots) as exc:
            return _failed(job, str(exc))
        except OSError as exc:  # a folder or disk of the engine's: say which file and why
            if self._stopping:
                return None
            where = f" {exc.filename}" if exc.filename else ""
            return _failed(job, f"shot {job.request.label}: the engine cannot write or read{where}: "
                           f"{exc.strerror or exc}; check that folder's permissions and free space")
        except Exception as exc:  # a backend bug must fail this shot, not the engine
            if self._stopping:
                return None
            return _failed(job, f"shot {job.request.label}: engine error: {exc!r}", trace=True)
        return {"state": JobState.DONE, "result": result, "frames_done": result.frames, "error": ""}

    def _claim_work(self, job: Job) -> None:
        """Drops a job's kept segments when another engine configuration made them (a model or adapter changed
        across a restart) or its files changed since (a media file replaced under the same path): a shot is
        never a mix of two looks or of two sources. A file that is gone leaves them be (the render says so)."""
        try:
            made_with = {".engine": self._engine_id, ".files": _files(job.request)}
        except OSError:
            return
        folder = self._work_root / job.id
        if any((folder / name).exists() and (folder / name).read_text() != text for name, text in made_with.items()):
            log.info("job %s: its kept segments were made with other models, options or files; rendering it anew", job.id)
            self._discard_work(job.id)
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in made_with.items():
            (folder / name).write_text(text)

    async def _retain(self) -> None:
        """Hourly: forgets finished jobs older than the retention period and removes their results
        from the engine's own result folder (clips written to a client's folder stay theirs), then the
        uploads older than that which no remaining job reads."""
        assert self._retention_s is not None
        while True:
            cutoff = time.time() - self._retention_s
            for job in self._store.finished_before(cutoff):
                path = job.result.path if job.result else None
                if path and self._results_root and path.is_relative_to(self._results_root):
                    path.unlink(missing_ok=True)
                self._discard_work(job.id)
                self._store.delete(job.id)
                self._entries.pop(job.id, None)
                if self._by_key.get(job.request.key) == job.id:
                    del self._by_key[job.request.key]
                if self._by_stem.get(job.request.out_path_stem) == job.id:
                    del self._by_stem[job.request.out_path_stem]
            self._forget_uploads(cutoff)
            await asyncio.sleep(3600)

    def _forget_uploads(self, cutoff: float) -> None:
        if self._uploads_root is None:
            return
        read = {path.parent for e in self._entries.values()
                for path in (e.job.request.media, e.job.request.style_image, e.job.request.first_frame) if path}
        for folder in self._uploads_root.iterdir():
            if folder.is_dir() and folder not in read and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
