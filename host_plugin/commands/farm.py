"""`dreamstyle farm status`: the engine's workers, their GPUs, and the shots running and queued.

A host command, not an engine one: it asks the engine (the farm's one front door) over gRPC, so it
runs on any workstation with the same --engine/--token-file/--tls-ca as `stylize`, without Ray.
"""

from __future__ import annotations

import argparse
import json

from rich.table import Table

from dreamstyle.v1 import engine_pb2 as pb

from ..client import EngineClient, read_token_file
from . import options
from .console import console as rich_console

__all__ = ["add_parser", "run"]

UNREACHABLE = ("start the engine that runs the farm (`dreamstyle engine serve --farm local` or "
               "`--farm ray://HEAD:PORT`), or give --engine its HOST:PORT")
"""What to do when no engine answers, in farm status's words (there is no local engine to fall back on)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("farm", help="show the engine's render workers and queue (dreamstyle farm status)")
    actions = parser.add_subparsers(dest="farm_command", required=True)
    status = actions.add_parser("status", help="workers, GPUs, running and queued shots")
    status.add_argument("--engine", default="127.0.0.1:50051", type=options.engine_address, metavar="HOST:PORT",
                        help="the engine (default: %(default)s)")
    options.add_connection_options(status)
    options.add_format_option(status, "a table")
    status.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    token = read_token_file(args.token_file) if args.token_file else None
    with EngineClient(args.engine, token=token, tls_ca=args.tls_ca, unreachable_hint=UNREACHABLE) as client:
        status = client.farm_status()
    if args.format == "json":
        print(json.dumps(_status_json(args.engine, status), indent=2))
        return 0
    console = rich_console()
    table = Table(title=f"{args.engine}: farm {status.farm}")
    for column in ("worker", "node", "GPUs", "state", "shot"):
        table.add_column(column)
    for worker in status.workers:
        table.add_row(worker.name, worker.node, f"{worker.gpus:g}", worker.state, worker.shot)
    console.print(table)
    for job in status.running:
        console.print(f"running  {job.label}: {job.frames_done}/{job.frames_total} frames ({job.backend})")
    console.print(f"queued   {status.queued} shot(s)")
    return 0


def _status_json(engine: str, status: pb.FarmStatus) -> dict[str, object]:
    """What the table shows, for scripts."""
    return {
        "engine": engine,
        "farm": status.farm,
        "workers": [{"name": w.name, "node": w.node, "gpus": w.gpus, "state": w.state, "shot": w.shot}
                    for w in status.workers],
        "running": [{"shot": job.label, "frames_done": job.frames_done, "frames_total": job.frames_total,
                     "backend": job.backend} for job in status.running],
        "queued": status.queued,
    }
