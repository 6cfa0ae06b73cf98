"""`dreamstyle doctor`: what is installed, whether Resolve's scripting library and an engine answer, GPUs and
model folders. Every line says what to do when something is missing; nothing is changed."""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from . import options

__all__ = ["Check", "diagnose", "add_parser"]

OK, WARN, MISSING = "ok", "warn", "missing"


@dataclass(frozen=True)
class Check:
    area: str
    status: str  # ok | warn | missing
    detail: str


def _installed() -> Iterator[Check]:
    try:
        version = importlib.metadata.version("dreamstyle")
    except importlib.metadata.PackageNotFoundError:
        version = "not installed as a package (running from a source tree)"
    yield Check("dreamstyle", OK, f"{version}; Python {sys.version.split()[0]} at {sys.executable}")
    parts = {"opentimelineio": "timelines", "PySide6": "the panel", "grpc": "engine connection",
             "av": "media", "torch": "diffusion backends (engine machines only)"}
    for module, role in parts.items():
        found = importlib.util.find_spec(module) is not None
        status = OK if found else (WARN if module == "torch" else MISSING)
        yield Check(f"package {module}", status, f"{'found' if found else 'not installed'}: {role}")
    if importlib.util.find_spec("opentimelineio"):
        import opentimelineio as otio

        names = set(otio.adapters.available_adapter_names())
        for adapter, package in {"fcp_xml": "otio-fcp-adapter", "cmx_3600": "otio-cmx3600-adapter",
                                 "AAF": "otio-aaf-adapter"}.items():
            yield Check(f"adapter {adapter}", OK if adapter in names else MISSING,
                        "available" if adapter in names else f"pip install {package}")


def _resolve(home: Path | None) -> Iterator[Check]:
    from host_plugin.hosts.resolve import scripting_paths, utility_scripts_dir

    api, lib = scripting_paths()
    module = api / "Modules" / "DaVinciResolveScript.py"
    if module.is_file() and lib.is_file():
        yield Check("Resolve scripting", OK, f"{module} and {lib}")
    else:
        yield Check("Resolve scripting", WARN, f"not found ({module}, {lib}): install DaVinci Resolve Studio 18.5+ "
                    "or set RESOLVE_SCRIPT_API/RESOLVE_SCRIPT_LIB; files and Premiere still work")
    launcher = utility_scripts_dir(home) / "DreamStyle.py"
    yield Check("Resolve launcher", OK if launcher.is_file() else WARN,
                str(launcher) if launcher.is_file() else f"not in {launcher.parent}: run installer/install.sh")


def _engine(address: str | None, token_file: Path | None, tls_ca: Path | None = None) -> Iterator[Check]:
    if not address:
        yield Check("engine", WARN, "not checked: give --engine HOST:PORT (the panel and stylize start a local one)")
        return
    from host_plugin.client import EngineClient, read_token_file
    from host_plugin.errors import DreamStyleError

    try:
        token = read_token_file(token_file) if token_file else None
        client = EngineClient(address, token=token, tls_ca=tls_ca)
    except DreamStyleError as exc:  # e.g. an engine off this machine without --tls-ca
        yield Check("engine", MISSING, f"{address}: {exc}")
        return
    with client:
        try:  # the client's own words: no engine there, or which TLS check failed (a certificate naming another host)
            client.wait_ready(timeout=2)
        except DreamStyleError as exc:
            yield Check("engine", MISSING, str(exc))
            return
        try:
            caps = client.capabilities()
        except DreamStyleError as exc:
            yield Check("engine", WARN, f"{address} is up but refused capabilities (--token-file?): {exc}")
            return
    yield Check("engine", OK, f"{address}: engine {caps.engine_version}, {caps.gpus} GPU(s)")
    for backend in caps.backends:
        status = OK if not backend.missing else WARN
        yield Check(f"backend {backend.name}", status, "ready" if not backend.missing else "; ".join(backend.missing))


def _gpus() -> Iterator[Check]:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        yield Check("GPUs here", WARN, "no nvidia-smi: the classic CPU backend runs; diffusion needs a CUDA engine")
        return
    listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10).stdout.strip()
    yield Check("GPUs here", OK if listed else WARN, listed.replace("\n", "; ") or "nvidia-smi lists none")


def _models(model_dirs: Sequence[Path]) -> Iterator[Check]:
    for folder in model_dirs:
        if not folder.is_dir():
            problem = "is not a folder" if folder.exists() else "does not exist"
            yield Check("model folder", MISSING,
                        f"{folder} {problem}: give --model-dir the folder a model was downloaded to")
        elif (folder / "model_index.json").is_file():
            yield Check("model folder", OK, f"{folder} (Diffusers format)")
        else:
            yield Check("model folder", MISSING, f"{folder}: no model_index.json; download a Diffusers-format model")
    hub = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub"
    cached = sorted(p.name for p in hub.glob("models--*") if any(k in p.name.lower() for k in ("wan", "dreamstyle")))
    yield Check("model cache", OK if cached else WARN,
                f"{hub}: {', '.join(cached)}" if cached else f"no Wan/DreamStyle models in {hub}")


def diagnose(engine: str | None = None, token_file: Path | None = None, model_dirs: Sequence[Path] = (),
             home: Path | None = None, tls_ca: Path | None = None) -> list[Check]:
    """Every check, in the order printed."""
    return [*_installed(), *_resolve(home), *_engine(engine, token_file, tls_ca), *_gpus(), *_models(model_dirs)]


def _run(args: argparse.Namespace) -> int:
    checks = diagnose(args.engine, args.token_file, args.model_dir, tls_ca=args.tls_ca)
    if args.format == "json":
        print(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        marks = {OK: "ok  ", WARN: "warn", MISSING: "MISS"}
        for check in checks:
            print(f"[{marks[check.status]}] {check.area:24} {check.detail}")
    return 1 if any(c.status == MISSING for c in checks) else 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("doctor", help="check the installation, Resolve, the engine, GPUs and models")
    parser.add_argument("--engine", type=options.engine_address, metavar="HOST:PORT",
                        help="an engine to check (health, backends, GPUs)")
    options.add_connection_options(parser)
    parser.add_argument("--model-dir", type=Path, action="append", default=[], metavar="DIR",
                        help="a model folder to check (repeatable)")
    options.add_format_option(parser, "a line per check")
    parser.set_defaults(func=_run)
