"""Overlapping two stages of a render: a producer thread (decode + stylize) feeds the caller (encode).

Both stages release the GIL in their heavy parts (FFmpeg, OpenCV, torch), so on two cores a shot takes
about as long as its slower stage instead of the sum of both.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

__all__ = ["in_background"]

_END = object()


class _Stopped(Exception):
    """The consumer went away; unwinds the producer."""


def in_background(produce: Callable[[Callable[[object], None]], None], depth: int = 8) -> Iterator[object]:
    """Runs `produce(emit)` on a thread and yields what it emits, in order, at most `depth` ahead.

    An exception in the producer is raised here; leaving the loop early stops the producer.
    """
    items: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def emit(item: object) -> None:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return
            except queue.Full:
                continue
        raise _Stopped

    def run() -> None:
        try:
            produce(emit)
            emit(_END)
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the consumer, raised there
            try:
                emit(exc)
            except _Stopped:
                pass

    thread = threading.Thread(target=run, name="render-producer", daemon=True)
    thread.start()
    try:
        while (item := items.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()
