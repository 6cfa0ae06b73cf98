"""Render-farm offload on Ray: long-lived actors keep the backends loaded and render whole shots.

`RayRunner` is a `Runner` (see `engine.workers`): the job manager's worker threads each borrow an idle
actor, which renders one shot segment by segment (chaining stays in order inside the actor) and hands
back each finished segment with what the next one needs (long polls, which work over `ray://` too). Encoded parts and the clip go to the job's
folders, which must be shared storage (the same paths on every node, or path-mapped by the operator).
When an actor dies mid-shot Ray restarts it, and the shot resumes on the next idle actor after its last
kept segment (see `SegmentDone.kept`). On a cluster without GPUs a GPU-reserving actor would wait forever, so the runner
checks the cluster's resources first and refuses with what to do instead.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .backends.base import BackendConfig
from .chain import Resume, SegmentDone
from .render import RenderResult, ShotRequest, render_shot
from .workers import Backends, WorkerStatus

__all__ = ["FarmError", "RayRunner"]

log = logging.getLogger(__name__)
ATTEMPTS = 3


class FarmError(Exception):
    """The farm cannot run as configured; the message says what to change."""


def _ray() -> Any:
    # Ray's crash handler would take SIGTERM and SIGINT from the engine and abort its graceful stop when it takes
    # over 3 s (ray-project/ray#64830); the engine handles those signals itself. Read when Ray is imported, so
    # unset again after: the worker processes Ray starts keep their crash reports.
    ours = "RAY_DISABLE_FAILURE_SIGNAL_HANDLER" not in os.environ
    os.environ.setdefault("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", "1")
    try:
        import ray
    except ImportError:
        raise FarmError("--farm needs Ray on the engine and every node: pip install 'dreamstyle[farm]'") from None
    finally:
        if ours:
            os.environ.pop("RAY_DISABLE_FAILURE_SIGNAL_HANDLER", None)
    return ray


def _connect(ray: Any, address: str) -> None:
    """`ray.init`, retried over Ray Client: its server forks a process per client, which now and then
    dies as it starts ("Starting Ray client server failed", ray-project/ray#63202)."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
            return
        except (ConnectionError, RuntimeError) as exc:
            started_badly = isinstance(exc, (ConnectionAbortedError, RuntimeError)) and address.startswith("ray://")
            if not started_badly or attempt == ATTEMPTS:
                raise FarmError(f"cannot reach the Ray cluster at {address}: {exc}. Is its head running?") from None
            log.warning("Ray Client connection to %s failed (%s); trying again", address, exc)
            ray.shutdown()
            time.sleep(attempt)


class ShotWorker:
    """The actor: renders one shot at a time with backends it keeps loaded; `cancel` stops it."""

    def __init__(self, config: BackendConfig, cpu_threads: int) -> None:
        if cpu_threads:
            import cv2

            cv2.setNumThreads(cpu_threads)
        self.backends = Backends(config)
        self._cancel = threading.Event()
        self._events: queue.Queue[tuple[str, Any]] = queue.Queue()

    def where(self) -> tuple[str, int]:
        return socket.gethostname(), os.getpid()

    def cancel(self) -> None:
        self._cancel.set()

    def start(self, request: ShotRequest, work_dir: Path, resume: Resume | None) -> None:
        """Starts rendering a shot on a thread; `events` reports ("segment", SegmentDone) per finished
        segment, then ("result", RenderResult) or ("error", exception)."""
        self._cancel.clear()
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._events = events

        def run() -> None:
            try:
                backend = self.backends(request.backend)
                done = render_shot(
                    request,
                    backend,
                    work_dir=work_dir,
                    resume=resume,
                    on_segment=lambda seg: events.put(("segment", seg)),
                    cancelled=self._cancel.is_set,
                )
                events.put(("result", done))
            except Exception as exc:  # noqa: BLE001 - travels back to the engine, which maps it to the job's state
                events.put(("error", exc))

        threading.Thread(target=run, daemon=True).start()

    def events(self, wait: float) -> list[tuple[str, Any]]:
        """The started shot's events since the last call, waiting up to `wait` seconds for the first.

        A long poll rather than a streaming generator: Ray Client (`ray://`) cannot carry those."""
        try:
            found = [self._events.get(timeout=wait)]
        except queue.Empty:
            return []
        while not self._events.empty():
            found.append(self._events.get_nowait())
        return found


class RayRunner:
    """Dispatches shots to `workers` Ray actors reserving `gpus` GPUs each (0: CPU actors)."""

    def __init__(self, address: str, config: BackendConfig, *, workers: int | None = None, gpus: float = 1.0) -> None:
        ray = self._ray = _ray()
        self._started_ray = not ray.is_initialized()
        if self._started_ray:
            _connect(ray, address)
        resources = ray.cluster_resources()
        cluster_gpus, cluster_cpus = resources.get("GPU", 0.0), resources.get("CPU", 0.0)
        if gpus > 0:
            if cluster_gpus < gpus:
                self.close()
                raise FarmError(
                    f"the Ray cluster ({address}) has {cluster_gpus:g} GPUs but each worker asks for {gpus:g}: its shots "
                    "would wait forever. Run CPU workers with --farm-gpus 0 --farm-workers N, or add GPU nodes."
                )
            workers = workers or int(cluster_gpus // gpus)
        workers = workers or max(1, int(cluster_cpus))
        if workers * gpus > cluster_gpus or workers > cluster_cpus:
            self.close()
            raise FarmError(
                f"{workers} workers need {workers * gpus:g} GPUs and {workers} CPUs; the Ray cluster ({address}) has "
                f"{cluster_gpus:g} GPUs and {cluster_cpus:g} CPUs. Lower --farm-workers or --farm-gpus."
            )
        actor = ray.remote(num_cpus=1, num_gpus=gpus, max_restarts=-1, max_task_retries=0, max_concurrency=3)(ShotWorker)
        self.slots = workers
        self.gpus = gpus
        self._actors = [actor.remote(config, 0 if gpus else 1) for _ in range(workers)]
        self._idle: queue.Queue[int] = queue.Queue()
        for index in range(workers):
            self._idle.put(index)
        self._busy: dict[int, str] = {}
        self._last: dict[str, Resume] = {}
        self._lock = threading.Lock()
        ray.get([a.where.remote() for a in self._actors])  # fail now, not at the first shot

    def render(
        self,
        request: ShotRequest,
        work_dir: Path,
        resume: Resume | None,
        on_segment: Callable[[SegmentDone], None],
        cancelled: Callable[[], bool],
    ) -> RenderResult:
        """Renders on an idle actor; an actor that dies costs only the segment it was rendering."""
        ray = self._ray
        attempt = 1
        index = self._idle.get()
        try:
            while True:
                with self._lock:
                    self._busy[index] = request.label
                try:
                    return self._run(self._actors[index], request, work_dir, resume, on_segment, cancelled)
                except ray.exceptions.RayActorError as exc:
                    if attempt == ATTEMPTS:
                        raise RuntimeError(f"Ray workers died {ATTEMPTS} times on this shot: {exc}") from None
                    log.warning("Ray worker %d died on shot %s; resuming it on the next idle worker", index, request.label)
                attempt += 1
                resume = self._last.get(request.key, resume)
                with self._lock:
                    del self._busy[index]
                self._idle.put(index)  # Ray restarts it; an idle worker goes first
                index = self._idle.get()
        finally:
            with self._lock:
                self._busy.pop(index, None)
                self._last.pop(request.key, None)
            self._idle.put(index)

    def _run(
        self,
        actor: Any,
        request: ShotRequest,
        work_dir: Path,
        resume: Resume | None,
        on_segment: Callable[[SegmentDone], None],
        cancelled: Callable[[], bool],
    ) -> RenderResult:
        ray = self._ray
        ray.get(actor.start.remote(request, work_dir, resume))
        asked = False
        while True:
            if cancelled() and not asked:
                actor.cancel.remote()
                asked = True
            for kind, payload in ray.get(actor.events.remote(0.5)):
                if kind == "error":
                    raise payload
                if kind == "result":
                    return payload
                done: SegmentDone = payload
                if done.kept:
                    with self._lock:
                        self._last[request.key] = Resume(done.index + 1, done.condition, done.anchor)
                on_segment(done)

    def workers(self) -> list[WorkerStatus]:
        ray = self._ray
        statuses = []
        for index, actor in enumerate(self._actors):
            with self._lock:
                shot = self._busy.get(index, "")
            try:
                node, pid = ray.get(actor.where.remote(), timeout=2)
                state = "busy" if shot else "idle"
            except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
                node, pid, state = "", 0, "restarting"
            statuses.append(WorkerStatus(f"ray-{index} (pid {pid})", node, self.gpus, state, shot))
        return statuses

    def close(self) -> None:
        for actor in getattr(self, "_actors", []):
            self._ray.kill(actor)
        if self._started_ray:
            self._ray.shutdown()

