"""`dreamstyle engine ...`: run the engine, or list its backends and what each still needs."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from .backends.base import BackendConfig
from .backends.registry import BACKENDS, backend_class

__all__ = ["main", "default_state_dir"]


def default_state_dir() -> Path:
    """The user's data folder for the engine's jobs, uploads and results."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "dreamstyle" / "engine"


def _backend_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model-dir", type=Path, help="local folder of a Diffusers-format model")
    parser.add_argument("--adapter", type=Path, help="trained DreamStyle adapter (.safetensors)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    parser.add_argument(
        "--backend-option", action="append", default=[], metavar="KEY=VALUE", help="backend option (repeatable)"
    )


def _backend_config(args: argparse.Namespace) -> BackendConfig:
    options = dict(item.split("=", 1) for item in args.backend_option if "=" in item)
    return BackendConfig(model_dir=args.model_dir, adapter=args.adapter, device=args.device, options=options)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dreamstyle engine", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gRPC engine until interrupted")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=50051, help="0 picks a free port (printed on start)")
    serve.add_argument("--state-dir", type=Path, default=None, help="jobs, uploads and results (default: user data folder)")
    serve.add_argument("--media-root", type=Path, action="append", default=[], help="folder the engine may read/write (repeatable)")
    serve.add_argument("--token-file", type=Path, help="file holding the bearer token clients must send")
    serve.add_argument("--workers", type=int, default=1, help="shots rendered at the same time")
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
    from .server import EngineConfig, serve

    args = _parser().parse_args(argv)
    if args.command == "backends":
        return _list_backends(_backend_config(args))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = args.token_file.read_text().strip() if args.token_file else None
    config = EngineConfig(
        state_dir=args.state_dir or default_state_dir(),
        media_roots=args.media_root or [Path.cwd()],
        host=args.host,
        port=args.port,
        token=token,
        workers=args.workers,
        backend=_backend_config(args),
    )
    try:
        asyncio.run(serve(config))
    except KeyboardInterrupt:
        pass
    return 0
