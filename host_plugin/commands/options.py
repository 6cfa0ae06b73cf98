"""Options shared by several commands, and their conversion to pipeline settings."""

from __future__ import annotations

import argparse
import ipaddress
import math
import re
from pathlib import Path

from ..errors import SettingsError
from ..pipeline import StyleSettings
from ..shots import DETECTORS, DetectionSettings, ShotDetectionError, default_cache_dir
from ..stylize import EngineSettings
from ..timeline.media import PathMap
from ..timeline.timecode import parse_rate

__all__ = ["add_media_options", "add_detection_options", "add_style_options", "add_engine_options",
           "add_connection_options", "detection_settings", "edl_rate", "engine_address", "folder", "handles",
           "style_settings", "engine_settings", "path_maps"]

_ADDRESS = re.compile(r"(?P<host>\[[^\]]*\]|[^\s:\[\]/]+):(?P<port>[0-9]{1,5})")


def add_media_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--media-dir", type=folder, action="append", default=[], metavar="DIR",
                        help="folder to search for offline media by file or reel name (repeatable)")
    parser.add_argument("--path-map", action="append", default=[], metavar="FROM=TO",
                        help="rewrite media paths that start with FROM (repeatable)")
    parser.add_argument("--edl-rate", type=edl_rate, metavar="FPS",
                        help="frame rate of an EDL's timecodes, which EDLs do not state: 24, 25, 30, "
                             "23.976 or 24000/1001, 29.97 or 30000/1001... (default: 23.976, checked against "
                             "the media)")


def add_detection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--detector", default=DetectionSettings().detector, choices=sorted(DETECTORS),
                        help="shot-boundary detector inside clips (default: %(default)s)")
    parser.add_argument("--threshold", type=threshold, help="detector threshold, over 0 (default: the detector's own)")
    parser.add_argument("--min-shot", default=None, metavar="N|Ns",
                        help="minimum shot length in frames (e.g. 15) or seconds (e.g. 0.6s) "
                             f"(default: {DetectionSettings().min_shot_frames} frames)")
    parser.add_argument("--no-detect", action="store_true", help="split only at the timeline's own edit points")


def add_style_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prompt", default="", help="text guidance (classic backend: a named look)")
    parser.add_argument("--style-image", type=Path, help="style reference image")
    parser.add_argument("--first-frame", type=Path, help="a stylized first frame to carry through each shot")
    parser.add_argument("--backend", default="classic", help="engine backend (default: %(default)s)")
    parser.add_argument("--seed", type=_bounded(0, 2**64 - 1), default=0,
                        help="noise seed of the diffusion backends, 0 or more (default: %(default)s)")
    parser.add_argument("--codec", choices=["h264", "prores"], default="h264", help="render codec (default: %(default)s)")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="backend parameter such as strength=0.8 or steps=4 (repeatable)")


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", type=engine_address, metavar="HOST:PORT",
                        help="a running engine (default: start a local one)")
    add_connection_options(parser)
    parser.add_argument("--transfer", choices=["auto", "path", "stream"], default="auto",
                        help="send media by path (shared storage) or stream it (default: path on loopback)")
    parser.add_argument("--priority", type=_bounded(-1000, 1000), default=0,
                        help="higher renders first on a shared engine, -1000..1000 (default: %(default)s)")


def add_format_option(parser: argparse.ArgumentParser, text: str) -> None:
    """`--format text|json`, as every command that reports takes it: `text` for people, JSON for scripts."""
    parser.add_argument("--format", choices=["text", "json"], default="text",
                        help=f"{text}, or JSON for scripts (default: %(default)s)")


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """What every command that talks to an engine needs besides its address: the token and the TLS CA."""
    parser.add_argument("--token-file", type=Path, help="file holding the engine's bearer token")
    parser.add_argument("--tls-ca", type=Path, help="CA certificate to verify the engine's TLS certificate")


def _bounded(low: int, high: int):
    """argparse's reading of a whole number within [low, high]."""

    def read(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is outside {low}..{high}")
        return value

    return read


handles = _bounded(0, 10_000)
"""argparse's reading of --handles: frames, never negative."""


def engine_address(text: str) -> str:
    """argparse's reading of --engine: HOST:PORT with a port 1-65535, an IPv6 address in brackets ([::1]:50051)."""
    match = _ADDRESS.fullmatch(text)
    if not match or not 1 <= int(match["port"]) <= 65535 or not _valid_host(match["host"]):
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT with a port 1-65535 (e.g. gpu-box:50051, "
                                         "127.0.0.1:50051, [::1]:50051)")
    return text


def _valid_host(text: str) -> bool:
    """True for a host name or IPv4 address (as `_ADDRESS` took it) and for an IPv6 address in brackets."""
    if not text.startswith("["):
        return True
    try:
        ipaddress.IPv6Address(text[1:-1])
    except ValueError:
        return False
    return True


def folder(text: str) -> Path:
    """argparse's reading of a folder that must exist (--media-dir)."""
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text}: {'a file, not a folder' if path.exists() else 'no such folder'}")
    return path


def edl_rate(text: str) -> float:
    """argparse's reading of --edl-rate (see `parse_rate`)."""
    try:
        return parse_rate(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def threshold(text: str) -> float:
    """argparse's reading of --threshold: a finite number over 0 (each detector has its own scale)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number over 0 (the detector's own scale)")
    return value


def detection_settings(args: argparse.Namespace) -> DetectionSettings | None:
    if args.no_detect:
        return None
    minimum: dict[str, float | int] = {}
    if args.min_shot:
        text = args.min_shot.strip().lower()
        try:
            minimum = {"min_shot_seconds": float(text[:-1])} if text.endswith("s") else {"min_shot_frames": int(text)}
        except ValueError:
            minimum = {}
        if not minimum or not 0 < next(iter(minimum.values())) < math.inf:
            raise SettingsError(f"--min-shot {args.min_shot!r}: give frames (15) or seconds (0.6s), over 0")
    try:
        DETECTORS[args.detector].check_threshold(args.threshold)
    except ShotDetectionError as exc:
        raise SettingsError(f"--{exc}") from None  # "--threshold 3 is off the ... scale"
    return DetectionSettings(detector=args.detector, threshold=args.threshold, cache_dir=default_cache_dir(), **minimum)


def style_settings(args: argparse.Namespace) -> StyleSettings:
    params = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SettingsError(f"--param {item!r} must look like KEY=VALUE")
        params[key] = value
    return StyleSettings(prompt=args.prompt, style_image=args.style_image, first_frame=args.first_frame,
                         backend=args.backend, seed=args.seed, codec=args.codec, params=params)


def engine_settings(args: argparse.Namespace) -> EngineSettings:
    stream = {"auto": None, "path": False, "stream": True}[args.transfer]
    return EngineSettings(address=args.engine, token_file=args.token_file, tls_ca=args.tls_ca, stream_media=stream,
                          priority=args.priority)


def path_maps(args: argparse.Namespace) -> list[PathMap]:
    try:
        return [PathMap.parse(rule) for rule in args.path_map]
    except ValueError as exc:
        raise SettingsError(str(exc)) from None
