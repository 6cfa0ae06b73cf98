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

from dreamstyle.arguments import Parser
from dreamstyle.frames import MediaError
from dreamstyle.heap import reuse_large_blocks

from .errors import DreamStyleError

__all__ = ["main", "COMMANDS"]

COMMANDS = ["stylize", "shots", "sample", "doctor", "panel", "farm"]
RENDERING = {"stylize", "sample"}
"""The commands that render shots: stopped, they keep those finished."""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="dreamstyle", description="Restyle the shots of an edit with a DreamStyle engine.")
    parser.add_argument("--version", action="version", version=f"dreamstyle {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("engine", help="run the engine or list its backends (dreamstyle engine --help)")
    for name in COMMANDS:
        importlib.import_module(f"host_plugin.commands.{name}").add_parser(sub)
    return parser


def _version() -> str:
    """The installed package's version; "0+unknown" (as the engine says) run from a source tree never installed."""
    try:
        return metadata.version("dreamstyle")
    except metadata.PackageNotFoundError:
        return "0+unknown"


class _Interrupts:
    """While entered, takes Ctrl-C (SIGINT), SIGTERM and SIGHUP (a farm scheduler's or `timeout`'s stop, a closed
    ssh session) as one clean stop: KeyboardInterrupt, noted first, so that code catching it half-way (an import
    cut short) and failing with another exception is known to be the signal's doing. A signal ignored (a
    background job, nohup) or handled by someone else is left alone."""

    _DEFAULTS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL,
                 **({signal.SIGHUP: signal.SIG_DFL} if hasattr(signal, "SIGHUP") else {})}

    def __init__(self) -> None:
        self.received: int | None = None
        self._taken: list[int] = []

    def __enter__(self) -> _Interrupts:
        if threading.current_thread() is threading.main_thread():  # only it may set handlers
            self._taken = [n for n, default in self._DEFAULTS.items() if signal.getsignal(n) is default]
            for number in self._taken:
                signal.signal(number, self._note)
        return self

    def __exit__(self, *exc: object) -> None:
        for number in self._taken:
            signal.signal(number, self._DEFAULTS[number])

    def _note(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum
        raise KeyboardInterrupt

    def exit_code(self) -> int:
        """128 + the signal's number, as a shell reports it (130 for Ctrl-C)."""
        return 128 + (self.received or signal.SIGINT)


def main(argv: list[str] | None = None) -> int:
    args: argparse.Namespace | None = None
    with _Interrupts() as interrupts:
        try:
            args = build_parser().parse_args(argv)
            reuse_large_blocks()  # rendered clips stream back as 1 MiB messages
            return args.func(args)
        except KeyboardInterrupt:
            return _interrupted(interrupts.exit_code(), args)
        except Exception as exc:
            if interrupts.received:
                return _interrupted(interrupts.exit_code(), args)
            if not isinstance(exc, (DreamStyleError, MediaError, OSError)):
                raise  # a bug: its traceback is the report
            print(f"dreamstyle: error: {_described(exc)}", file=sys.stderr)
            return 2


def _described(exc: Exception) -> str:
    if isinstance(exc, OSError):  # a file named on the command line: token, output folder
        return f"{exc.filename or ''}: {exc.strerror or exc}"
    return str(exc)


def _interrupted(code: int, args: argparse.Namespace | None) -> int:
    """Says so, and for a command that renders what becomes of its shots."""
    renders = args is not None and args.command in RENDERING
    print("dreamstyle: interrupted." + (" Finished shots are kept: run the same command again to render the rest "
          "(on a shared engine the jobs keep running)." if renders else ""), file=sys.stderr)
    return code
