"""The `dreamstyle` command on the editor's machine: a thin layer over the pipeline.

Each subcommand is a module in `host_plugin.commands` with `add_parser(subparsers)`; the parser it
adds sets `func`. `dreamstyle engine ...` is dispatched to the engine by `dreamstyle.cli`.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from importlib import metadata
from types import FrameType

from dreamstyle.frames import MediaError
from dreamstyle.heap import reuse_large_blocks

from .errors import DreamStyleError

__all__ = ["main", "COMMANDS"]

COMMANDS = ["stylize", "shots", "sample", "doctor", "panel", "farm"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dreamstyle", description="Restyle the shots of an edit with a DreamStyle engine.")
    parser.add_argument("--version", action="version", version=f"dreamstyle {metadata.version('dreamstyle')}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("engine", help="run the engine or list its backends (dreamstyle engine --help)")
    for name in COMMANDS:
        importlib.import_module(f"host_plugin.commands.{name}").add_parser(sub)
    return parser


class _Sigint:
    """While entered, notes a Ctrl-C (SIGINT) before raising KeyboardInterrupt as Python does: code that catches
    the interrupt half-way (an import cut short) can fail with another exception, which is then known to be the
    interrupt's doing. Left alone where SIGINT is ignored (a background job) or handled by someone else."""

    def __init__(self) -> None:
        self.received = False

    def __enter__(self) -> _Sigint:
        main_thread = threading.current_thread() is threading.main_thread()  # only it may set handlers
        self._previous = signal.getsignal(signal.SIGINT) if main_thread else None
        if self._previous is signal.default_int_handler:
            signal.signal(signal.SIGINT, self._note)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is signal.default_int_handler:
            signal.signal(signal.SIGINT, self._previous)

    def _note(self, signum: int, frame: FrameType | None) -> None:
        self.received = True
        signal.default_int_handler(signum, frame)


def main(argv: list[str] | None = None) -> int:
    with _Sigint() as sigint:
        try:
            args = build_parser().parse_args(argv)
            reuse_large_blocks()  # rendered clips stream back as 1 MiB messages
            return args.func(args)
        except KeyboardInterrupt:
            return _interrupted()
        except Exception as exc:
            if sigint.received:
                return _interrupted()
            if not isinstance(exc, (DreamStyleError, MediaError, OSError)):
                raise  # a bug: its traceback is the report
            print(f"dreamstyle: error: {_described(exc)}", file=sys.stderr)
            return 2


def _described(exc: Exception) -> str:
    if isinstance(exc, OSError):  # a file named on the command line: token, output folder
        return f"{exc.filename or ''}: {exc.strerror or exc}"
    return str(exc)


def _interrupted() -> int:
    print("dreamstyle: interrupted. Finished shots are kept: run the same command again to render the rest "
          "(on a shared engine the jobs keep running).", file=sys.stderr)
    return 130
