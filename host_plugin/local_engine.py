"""Starts a private engine on 127.0.0.1 for one run (or for the panel), as a child process."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from dreamstyle import exits

from .errors import EngineUnavailable

__all__ = ["LocalEngine", "StateFolderInUse"]

_LISTENING = re.compile(r"listening on (\S+:\d+)")


class StateFolderInUse(EngineUnavailable):
    """Another engine, most likely another run's local one, holds the state folder."""


class LocalEngine:
    """`with LocalEngine(state_dir, roots) as address:` runs `python -m engine serve --port 0`."""

    def __init__(self, state_dir: Path, media_roots: Sequence[Path], extra_args: Sequence[str] = (), timeout: float = 60) -> None:
        self.state_dir = state_dir
        self.media_roots = list(media_roots)
        self.extra_args = list(extra_args)
        self.timeout = timeout
        self._process: subprocess.Popen[str] | None = None
        self.address: str | None = None

    def start(self) -> str:
        command = [sys.executable, "-m", "engine", "serve", "--port", "0", "--state-dir", str(self.state_dir),
                   "--stop-with-stdin"]
        for root in self.media_roots:
            command += ["--media-root", str(root)]
        command += self.extra_args
        # Its own process group: a terminal's Ctrl-C is the client's to handle, which then stops this
        # engine cleanly (SIGTERM; unfinished jobs resume at the next run) instead of both dying mid-job. Its
        # standard input is a pipe only this process holds: when this process ends, however (killed, crashed),
        # the engine sees it close and stops the same way, never left running on its own.
        group = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP} if sys.platform == "win32" else {"start_new_session": True}
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                         text=True, **group)
        found = threading.Event()
        lines: list[str] = []

        def read() -> None:
            assert self._process and self._process.stdout
            for line in self._process.stdout:
                if not found.is_set():
                    lines.append(line)
                    match = _LISTENING.search(line)
                    if match:
                        self.address = match.group(1)
                        found.set()
            found.set()

        threading.Thread(target=read, daemon=True).start()
        found.wait(self.timeout)
        if self.address is None:
            try:
                code = self._process.wait(5)  # the output ended: the engine is exiting, its code says why
            except subprocess.TimeoutExpired:
                code = None
            self.stop()
            if code == exits.STATE_IN_USE:
                raise StateFolderInUse(f"another DreamStyle engine is using {self.state_dir}; wait for it to finish")
            raise EngineUnavailable("the local engine did not start:\n" + "".join(lines[-20:]))
        return self.address

    def alive(self) -> bool:
        """True while the engine process started by `start` runs."""
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Closes the engine's standard input, which stops it gracefully on every system (Windows' terminate
        would kill it mid-write); one that has not stopped in 10 s is terminated, then killed."""
        if self._process and self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            for step in (lambda: None, self._process.terminate, self._process.kill):
                step()
                try:
                    self._process.wait(10)
                    break
                except subprocess.TimeoutExpired:
                    continue
        self._process = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
