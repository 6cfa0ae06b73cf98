"""Where shots render: the `Runner` seam, and the runner that renders in this process.

The job manager hands a runner one shot at a time per slot; `engine.farm.RayRunner` implements the same
seam on Ray actors. A runner blocks in the calling (worker) thread until the shot is rendered.
"""

from __future__ import annotations

import functools
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .backends.base import Backend, BackendConfig
from .backends.registry import create_backend
from .chain import Resume, SegmentDone
from .render import RenderResult, ShotRequest, render_shot

__all__ = ["Backends", "LocalRunner", "Runner", "WorkerStatus", "gpu_count"]


@dataclass(frozen=True)
class WorkerStatus:
    name: str
    node: str
    gpus: float
    state: str  # idle | busy | restarting
    shot: str = ""


class Runner(Protocol):
    """Renders shots for the job manager; `slots` shots at the same time."""

    slots: int

    def render(
        self,
        request: ShotRequest,
        work_dir: Path,
        resume: Resume | None,
        on_segment: Callable[[SegmentDone], None],
        cancelled: Callable[[], bool],
    ) -> RenderResult: ...

    def workers(self) -> list[WorkerStatus]: ...

    def close(self) -> None: ...


@functools.cache
def gpu_count() -> int:
    """CUDA devices visible here, without importing torch when it is not installed."""
    try:
        import torch
    except ImportError:
        return 0
    return torch.cuda.device_count()


class Backends:
    """One loaded backend per name, created on first use and kept (models stay loaded)."""

    def __init__(self, config: BackendConfig) -> None:
        self.config = config
        self._loaded: dict[str, Backend] = {}
        self._lock = threading.Lock()

    def __call__(self, name: str) -> Backend:
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = create_backend(name, self.config)
            return self._loaded[name]


class LocalRunner:
    """Renders in the engine's own worker threads, `slots` shots at a time."""

    def __init__(self, backends: Backends, slots: int = 1) -> None:
        self.backends = backends
        self.slots = slots
        self._busy: dict[int, str] = {}
        self._lock = threading.Lock()

    def render(
        self,
        request: ShotRequest,
        work_dir: Path,
        resume: Resume | None,
        on_segment: Callable[[SegmentDone], None],
        cancelled: Callable[[], bool],
    ) -> RenderResult:
        with self._lock:
            slot = next(i for i in range(self.slots) if i not in self._busy)
            self._busy[slot] = request.label
        try:
            backend = self.backends(request.backend)
            return render_shot(request, backend, work_dir=work_dir, resume=resume, on_segment=on_segment, cancelled=cancelled)
        finally:
            with self._lock:
                del self._busy[slot]

    def workers(self) -> list[WorkerStatus]:
        gpus = float(gpu_count())
        with self._lock:
            busy = dict(self._busy)
        return [
            WorkerStatus(f"local-{i}", socket.gethostname(), gpus, "busy" if i in busy else "idle", busy.get(i, ""))
            for i in range(self.slots)
        ]

    def close(self) -> None:
        """Nothing to release: backends go with the process."""
