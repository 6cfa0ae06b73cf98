"""Jobs: the store keyed by idempotency key, the priority queue, and the workers that render.

Rendering runs in worker threads; every state change is published to the job's watchers on the event
loop. The same idempotency key never renders twice: a queued, running or finished job is returned as
it is, and only a failed or cancelled one is queued again.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from .backends.base import Backend, BackendError
from .chain import Cancelled, SegmentDone, segment_bounds
from .render import RenderError, RenderResult, ShotRequest, render_shot

__all__ = ["JobState", "Job", "JobNotFound", "QueueFull", "JobManager"]

log = logging.getLogger(__name__)


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


class QueueFull(Exception):
    """The queue holds its limit of unfinished jobs; retry later."""


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


@dataclass
class _Entry:
    job: Job
    watchers: list[asyncio.Queue[Job]] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)


class JobManager:
    """Queues jobs by priority and renders them on `workers` threads with backends from `backend_for`."""

    def __init__(self, backend_for: Callable[[str], Backend], *, workers: int = 1, max_queued: int = 1000) -> None:
        self._backend_for = backend_for
        self._workers = workers
        self._max_queued = max_queued
        self._entries: dict[str, _Entry] = {}
        self._by_key: dict[str, str] = {}
        self._queue: asyncio.PriorityQueue[tuple[int, int, str]] = asyncio.PriorityQueue()
        self._order = itertools.count()
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="render")
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._tasks = [asyncio.create_task(self._work()) for _ in range(self._workers)]

    async def stop(self) -> None:
        for entry in self._entries.values():
            entry.cancel.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._executor.shutdown(wait=True, cancel_futures=True)

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
        """Queues `request` unless its key already has a live or finished job; returns (job, created)."""
        existing = self._by_key.get(request.key)
        if existing:
            job = self._entries[existing].job
            if job.state in (JobState.QUEUED, JobState.RUNNING) or (job.state is JobState.DONE and job.result.path.exists()):
                return job, False
        unfinished = sum(1 for e in self._entries.values() if not e.job.state.final)
        if unfinished >= self._max_queued:
            raise QueueFull(f"{unfinished} jobs are waiting (limit {self._max_queued}); retry in a minute.")
        job = Job(id=existing or uuid.uuid4().hex, request=request)
        self._entries[job.id] = _Entry(job, watchers=self._entries[existing].watchers if existing else [])
        self._by_key[request.key] = job.id
        self._publish(job)
        await self._queue.put((-request.priority, next(self._order), job.id))
        return job, True

    async def cancel(self, job_id: str) -> Job:
        entry = self._entries.get(job_id)
        if entry is None:
            raise JobNotFound(job_id)
        entry.cancel.set()
        if entry.job.state is JobState.QUEUED:
            self._update(job_id, state=JobState.CANCELLED, message="cancelled before it started")
        return entry.job

    async def watch(self, job_id: str) -> AsyncIterator[Job]:
        """Yields the job now and after every change, until it reaches a final state."""
        entry = self._entries.get(job_id)
        if entry is None:
            raise JobNotFound(job_id)
        queue: asyncio.Queue[Job] = asyncio.Queue()
        entry.watchers.append(queue)
        try:
            job = entry.job
            yield job
            while not job.state.final:
                job = await queue.get()
                yield job
        finally:
            entry.watchers.remove(queue)

    # -- internals ------------------------------------------------------------------------------
    def _publish(self, job: Job) -> None:
        for queue in self._entries[job.id].watchers:
            queue.put_nowait(job)

    def _update(self, job_id: str, **changes: object) -> None:
        entry = self._entries[job_id]
        entry.job = replace(entry.job, **changes)
        self._publish(entry.job)

    def _update_threadsafe(self, job_id: str, **changes: object) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(lambda: self._update(job_id, **changes))

    async def _work(self) -> None:
        while True:
            _, _, job_id = await self._queue.get()
            entry = self._entries[job_id]
            if entry.job.state is not JobState.QUEUED:
                continue
            entry.cancel.clear()
            self._update(job_id, state=JobState.RUNNING)
            changes = await asyncio.get_running_loop().run_in_executor(self._executor, self._render, entry)
            self._update(job_id, **changes)

    def _render(self, entry: _Entry) -> dict[str, object]:
        job = entry.job

        def progress(done: SegmentDone) -> None:
            self._update_threadsafe(job.id, segments_done=done.index + 1, frames_done=done.frames_done)

        try:
            backend = self._backend_for(job.request.backend)
            total = len(segment_bounds(job.request.frames, backend.segment_frames))
            self._update_threadsafe(job.id, segments_total=total)
            result = render_shot(job.request, backend, on_segment=progress, cancelled=entry.cancel.is_set)
        except Cancelled:
            return {"state": JobState.CANCELLED, "message": "cancelled"}
        except (RenderError, BackendError) as exc:
            return {"state": JobState.FAILED, "error": str(exc)}
        except Exception as exc:  # a backend bug must fail this shot, not the engine
            log.warning("shot %s failed unexpectedly", job.request.label, exc_info=True)
            return {"state": JobState.FAILED, "error": f"shot {job.request.label}: engine error: {exc!r}"}
        return {"state": JobState.DONE, "result": result, "frames_done": result.frames}
