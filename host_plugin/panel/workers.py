"""Runs blocking work (engine calls, decoding, planning) on Qt's thread pool, reporting back through signals
delivered on the GUI thread, so the window never freezes."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from host_plugin.errors import DreamStyleError

__all__ = ["Task", "run_task"]

log = logging.getLogger(__name__)


class Task(QObject):
    """`fn(emit)` runs off the GUI thread; `emit(obj)` sends progress; the return value or error comes back."""

    progress = Signal(object)
    done = Signal(object)
    failed = Signal(str)

    def __init__(self, fn: Callable[[Callable[[Any], None]], Any]) -> None:
        super().__init__()
        self.fn = fn

    def run(self) -> None:
        try:
            result = self.fn(self.progress.emit)
        except DreamStyleError as exc:
            self.failed.emit(str(exc))
        except Exception as exc:  # a bug must reach the user as a message, not kill the worker silently
            log.warning("panel task failed:\n%s", traceback.format_exc())
            self.failed.emit(f"{type(exc).__name__}: {exc}")
        else:
            self.done.emit(result)


class _Runnable(QRunnable):
    def __init__(self, task: Task) -> None:
        super().__init__()
        self.task = task

    def run(self) -> None:
        self.task.run()


_live: set[Task] = set()  # keeps each task (and its signals) alive until it has reported


def run_task(owner: QObject, fn: Callable[[Callable[[Any], None]], Any], *,
             done: Callable[[Any], None] = lambda r: None, failed: Callable[[str], None] = lambda m: None,
             progress: Callable[[Any], None] | None = None) -> Task:
    """Starts `fn` on the global thread pool; the callbacks run on the GUI thread while `owner` lives.

    Every task not yet reported gets a thread of its own: a render holds its thread until its batch ends, and
    a cancel, a health poll or a viewer frame queued behind batches (as many as the cores) would wait for them.
    """
    task = Task(fn)
    _live.add(task)
    pool = QThreadPool.globalInstance()
    pool.setMaxThreadCount(max(pool.maxThreadCount(), len(_live)))

    def guarded(callback: Callable[[Any], None]) -> Callable[[Any], None]:
        return lambda value: callback(value) if shiboken6.isValid(owner) else None

    task.done.connect(guarded(done))
    task.failed.connect(guarded(failed))
    if progress is not None:
        task.progress.connect(guarded(progress))
    task.done.connect(lambda _r: _live.discard(task))
    task.failed.connect(lambda _m: _live.discard(task))
    QThreadPool.globalInstance().start(_Runnable(task))
    return task
