"""Runs a real engine on 127.0.0.1 in a background thread for tests."""

from __future__ import annotations

import asyncio
import threading
from contextlib import contextmanager
from pathlib import Path

from engine.server import EngineConfig, running_engine


@contextmanager
def engine_thread(state_dir: Path, roots: list[Path], **config):
    """Yields "127.0.0.1:PORT" of an engine served from its own event loop thread."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop = asyncio.Event()
    port: list[int] = []
    errors: list[BaseException] = []

    async def main():
        try:
            async with running_engine(EngineConfig(state_dir=state_dir, media_roots=roots, **config)) as bound:
                port.append(bound)
                started.set()
                await stop.wait()
        except BaseException as exc:
            errors.append(exc)
            started.set()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    # A farm engine starts its Ray actors first: over Ray Client on 2 busy cores that took over 30 s.
    if not started.wait(180):
        raise TimeoutError("the test engine did not start within 180 s")
    if errors:
        raise errors[0]
    try:
        yield f"127.0.0.1:{port[0]}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()
