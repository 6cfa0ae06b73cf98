"""The `dreamstyle` command on the editor's machine: a thin layer over the pipeline.

Each subcommand is a module in `host_plugin.commands` with `add_parser(subparsers)`; the parser it
adds sets `func`. `dreamstyle engine ...` is dispatched to the engine by `dreamstyle.cli`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from importlib import metadata

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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    reuse_large_blocks()  # rendered clips stream back as 1 MiB messages
    try:
        return args.func(args)
    except (DreamStyleError, MediaError) as exc:
        print(f"dreamstyle: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file named on the command line: token, certificate, output folder
        print(f"dreamstyle: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dreamstyle: interrupted. Finished shots are kept: run the same command again to render the rest "
              "(on a shared engine the jobs keep running).", file=sys.stderr)
        return 130
