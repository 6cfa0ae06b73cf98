"""`dreamstyle engine ...`: run the engine, or list its backends and what each still needs."""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import math
import os
import re
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from dreamstyle import exits
from dreamstyle.arguments import Parser
from dreamstyle.heap import reuse_large_blocks
from dreamstyle.pathmap import PathMap
from dreamstyle.user_folders import user_data_folder

from .backends._diffusion import OPTION_KEYS
from .backends.base import BackendConfig
from .backends.registry import BACKENDS, backend_class
from .jobs import MAX_QUEUED
from .storage import MAX_UPLOAD_BYTES

if TYPE_CHECKING:
    from .server import EngineConfig

__all__ = ["default_state_dir", "main"]

log = logging.getLogger(__name__)


def default_state_dir() -> Path:
    """The user's data folder for the engine's jobs, uploads and results."""
    return user_data_folder() / "dreamstyle" / "engine"


def _port(text: str) -> int:
    """A TCP port: 0-65535, 0 for a free one."""
    port = int(text) if text.isascii() and text.isdigit() else -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: give 0-65535 (0 picks a free port)")
    return port


def _bounded(convert: type[int | float], low: float, *, above: bool = False, high: float = math.inf,
             give: str) -> Callable[[str], float]:
    """An argparse type: a finite `convert` number from `low` (over it when `above`) up to `high`; `give` says
    the allowed range in words."""
    def parse(text: str) -> float:
        try:
            value = convert(text)
        except ValueError:
            kind = "a whole number" if convert is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {kind}: give {give}") from None
        if not (math.isfinite(value) and (value > low if above else value >= low) and value <= high):
            raise argparse.ArgumentTypeError(f"{text!r} is out of range: give {give}")
        return value

    return parse


_COUNT = "a whole number, 1 or more"


def _path_map(text: str) -> PathMap:
    """FROM=TO: a client's folder and this engine's absolute folder for it."""
    source, equals, target = text.partition("=")
    if not equals or not source:
        raise argparse.ArgumentTypeError(f"{text!r} is not FROM=TO (e.g. /Volumes/Show=/mnt/show)")
    rule = PathMap.of(source, target)
    if not rule.target.is_absolute():  # "" or "mnt/show": the engine's current folder
        raise argparse.ArgumentTypeError(f"{text!r}: TO {target!r} is not an absolute folder on this engine; give one "
                                         "(e.g. /Volumes/Show=/mnt/show)")
    return rule


def _media_root(text: str) -> Path:
    """A folder, or a path where one may be made later (a client's output folder; `main` warns)."""
    root = Path(text)
    if root.exists() and not root.is_dir():
        raise argparse.ArgumentTypeError(f"{root} is not a folder; give a folder")
    return root


def _backend_option(text: str) -> tuple[str, str]:
    """KEY=VALUE with a KEY some backend reads."""
    key, equals, value = text.partition("=")
    if not equals:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE (e.g. dtype=bf16)")
    if key not in OPTION_KEYS:
        raise argparse.ArgumentTypeError(f"unknown key {key!r}; known keys: {', '.join(sorted(OPTION_KEYS))}")
    return key, value


def _state_problem(folder: Path) -> str | None:
    """Why the engine could not keep its state in `folder` (made when missing), or None."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            return None
    except FileExistsError:
        return "not a folder"
    except OSError as exc:
        return exc.strerror or str(exc)


def _backend_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-dir", type=Path, help="local folder of a Diffusers-format model")
    parser.add_argument("--adapter", type=Path, help="trained DreamStyle adapter (.safetensors)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: %(default)s)")
    parser.add_argument(
        "--backend-option", type=_backend_option, action="append", default=[], metavar="KEY=VALUE",
        help="backend option (repeatable)",
    )


def _farm(text: str) -> str:
    """argparse's reading of --farm: `local` or a Ray Client address (HEAD:PORT alone is Ray's other form)."""
    if text != "local" and not re.fullmatch(r"ray://(\[[0-9a-fA-F:.]+\]|[^\s/:\[\]]+):\d{1,5}", text):
        raise argparse.ArgumentTypeError(f"{text!r}: give local, or ray://HEAD:PORT (the Ray Client port, 10001 by default)")
    return text


def _backend_config(args: argparse.Namespace) -> BackendConfig:
    return BackendConfig(model_dir=args.model_dir, adapter=args.adapter, device=args.device,
                         options=dict(args.backend_option))


def _parser() -> argparse.ArgumentParser:
    parser = Parser(prog="dreamstyle engine", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gRPC engine until interrupted")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (IPv6 as ::1 or [::1]); off loopback needs TLS and a token (default: %(default)s)")
    serve.add_argument("--port", type=_port, default=50051, help="0 picks a free port, printed on start (default: %(default)s)")
    serve.add_argument("--state-dir", type=Path, default=None, help="jobs, uploads and results (default: user data folder)")
    serve.add_argument("--media-root", type=_media_root, action="append", default=[], help="folder the engine may read/write (repeatable)")
    serve.add_argument("--token-file", type=Path, help="file holding the bearer token clients must send")
    serve.add_argument("--tls-cert", type=Path, help="PEM certificate for TLS (with --tls-key)")
    serve.add_argument("--tls-key", type=Path, help="PEM private key for TLS")
    serve.add_argument("--insecure", action="store_true", help="serve off loopback without TLS or a token (not advised)")
    serve.add_argument("--path-map", type=_path_map, action="append", default=[], metavar="FROM=TO",
                       help="translate client paths starting with FROM to the absolute folder TO on this engine (repeatable)")
    serve.add_argument("--max-upload-mb", type=_bounded(float, 0, above=True, high=1e9, give="megabytes over 0, at most 1e9"),
                       default=MAX_UPLOAD_BYTES >> 20, help="largest upload accepted, over 0 (default: %(default)s)")
    serve.add_argument("--max-queued", type=_bounded(int, 1, give=_COUNT), default=MAX_QUEUED,
                       help="unfinished jobs before submits are refused, 1 or more (default: %(default)s)")
    serve.add_argument("--keep-days", type=_bounded(float, 0, give="days, 0 or more (0 keeps finished jobs forever)"),
                       help="forget finished jobs (and their results in the state folder) and unused uploads after N days; "
                            "0 or left out: keep them forever")
    serve.add_argument("--workers", type=_bounded(int, 1, give=_COUNT), default=1,
                       help="shots rendered at the same time without --farm, 1 or more (default: %(default)s)")
    serve.add_argument("--farm", type=_farm, metavar="ray://HEAD:PORT|local",
                       help="render on Ray actors (local: start a local Ray)")
    serve.add_argument("--farm-workers", type=_bounded(int, 1, give=_COUNT + " (leave it out for one per GPU)"),
                       help="Ray actors, 1 or more (default: one per GPU in the cluster)")
    serve.add_argument("--farm-gpus", type=_bounded(float, 0, give="GPUs, 0 or more (0 for CPU actors)"), default=1.0,
                       help="GPUs per Ray actor; 0 for CPU actors (default: 1)")
    serve.add_argument("--stop-with-stdin", action="store_true",
                       help="stop gracefully when standard input closes (a client's private engine: it ends with that "
                            "client, even a killed one)")
    _backend_args(serve)
    backends = sub.add_parser("backends", help="list backends, their guidances and what they still need here")
    _backend_args(backends)
    return parser


def _list_backends(config: BackendConfig) -> int:
    for name in sorted(BACKENDS):
        cls = backend_class(name)
        missing = cls.missing(config)
        status = "ready" if not missing else "needs " + "; ".join(missing)
        print(f"{name:12} {', '.join(sorted(cls.guidances)):36} {status}")
        print(f"{'':12} {cls.description}")
    return 0


def main(argv: list[str] | None = None) -> int:
    from .auth import read_token_file
    from .farm import FarmError
    from .server import EngineConfig, PortUnavailable, UnsafeConfig
    from .store import StateInUse, StateUnusable, StoreFailed

    args = _parser().parse_args(argv)
    if args.command == "backends":
        return _list_backends(_backend_config(args))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    reuse_large_blocks()  # uploads arrive as 1 MiB messages
    try:
        token = read_token_file(args.token_file) if args.token_file else None
    except UnsafeConfig as exc:
        print(f"dreamstyle engine: {exc}", file=sys.stderr)
        return 2
    if bool(args.tls_cert) != bool(args.tls_key):
        print("dreamstyle engine: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    for root in args.media_root:
        if not root.exists():
            print(f"dreamstyle engine: warning: --media-root {root} does not exist (yet); check the path", file=sys.stderr)
    for rule in args.path_map:
        if not Path(rule.target).exists():
            print(f"dreamstyle engine: warning: --path-map {rule.source}={rule.target}: {rule.target} does not exist "
                  "(yet: not mounted?); shots whose media it maps will fail until it does", file=sys.stderr)
    state_dir = args.state_dir or default_state_dir()
    if problem := _state_problem(state_dir):
        print(f"dreamstyle engine: state folder {state_dir}: {problem}; choose a writable --state-dir", file=sys.stderr)
        return 2
    config = EngineConfig(
        state_dir=state_dir,
        media_roots=args.media_root or [Path.cwd()],
        host=args.host,
        port=args.port,
        token=token,
        workers=args.workers,
        backend=_backend_config(args),
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        insecure=args.insecure,
        path_maps=args.path_map,
        max_upload_bytes=int(args.max_upload_mb * (1 << 20)),
        max_queued=args.max_queued,
        retention_days=args.keep_days,
        farm=args.farm,
        farm_workers=args.farm_workers,
        farm_gpus=args.farm_gpus,
    )
    try:
        asyncio.run(_serve_until_signalled(config, args.stop_with_stdin))
    except KeyboardInterrupt:  # where the event loop takes no signals (Windows): Python's Ctrl-C path
        pass
    except StateInUse as exc:
        print(f"dreamstyle engine: {exc}", file=sys.stderr)
        return exits.STATE_IN_USE
    except (UnsafeConfig, FarmError, PortUnavailable, StateUnusable, StoreFailed) as exc:
        print(f"dreamstyle engine: {exc}", file=sys.stderr)
        return 2
    return 0


async def _serve_until_signalled(config: EngineConfig, stop_with_stdin: bool) -> None:
    """Runs the engine until SIGTERM (a service manager's stop) or SIGINT (Ctrl-C), or with `stop_with_stdin`
    until standard input closes: each takes the graceful stop (RPCs, then the jobs, which resume at the next
    start, the job store, a local Ray farm)."""
    from .server import serve

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    undo = _stop_on_signals(loop, stop)
    if stop_with_stdin:
        def wait_for_eof() -> None:
            while os.read(sys.stdin.fileno(), 4096):  # not sys.stdin's reader: its lock would fail interpreter exit
                pass
            log.info("standard input closed (the client that started this engine is gone): stopping")
            try:
                loop.call_soon_threadsafe(stop.set)
            except RuntimeError:  # the engine stopped first (its loop is closed)
                pass

        threading.Thread(target=wait_for_eof, name="stdin", daemon=True).start()
    try:
        await serve(config, stop=stop)
    finally:
        for step in undo:
            step()


def _stop_on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> list[Callable[[], object]]:
    """Makes SIGTERM, SIGINT and SIGHUP (a closed terminal or ssh session) set `stop`; returns the steps that undo
    it. A SIGINT or SIGHUP ignored at start (a shell's background job, nohup) stays ignored. Where the loop takes
    no signals (Windows), SIGTERM raises KeyboardInterrupt as Ctrl-C does; off the main thread no signal is
    handled."""
    undo: list[Callable[[], object]] = []
    hangup = [signal.SIGHUP] if hasattr(signal, "SIGHUP") else []
    for number in (signal.SIGTERM, signal.SIGINT, *hangup):
        if number != signal.SIGTERM and signal.getsignal(number) is signal.SIG_IGN:
            continue
        try:
            loop.add_signal_handler(number, _stopping, undo, number, stop)
            undo.append(functools.partial(loop.remove_signal_handler, number))
        except NotImplementedError:
            if number == signal.SIGTERM and threading.current_thread() is threading.main_thread():
                undo.append(functools.partial(signal.signal, number, signal.signal(number, signal.default_int_handler)))
        except RuntimeError:  # not the main thread
            pass
    return undo


def _stopping(undo: list[Callable[[], object]], number: signal.Signals, stop: asyncio.Event) -> None:
    """The first signal stops gracefully; `undo` puts the signals back, so a second one stops at once."""
    log.info("%s: stopping; unfinished jobs resume at the next start (the same signal again stops at once)",
             number.name)
    for step in undo:
        step()
    stop.set()
