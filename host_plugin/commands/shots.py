"""`dreamstyle shots TIMELINE_OR_MEDIA [--format json]`: the shots that would be sent to the engine."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from opentimelineio.opentime import RationalTime

from ..pipeline import load_edit, plan_edit
from ..plan import Plan, Shot, plan_media
from ..timeline.reader import ADAPTERS
from ..timeline.timecode import drop_frame_of, record_timecodes
from . import options

__all__ = ["add_parser", "run", "plan_json"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("shots", help="list the shots of a timeline or a media file")
    parser.add_argument("source", type=Path, help="a timeline (.otio, .xml, .edl, .aaf) or a video file")
    options.add_format_option(parser, "a line per shot")
    parser.add_argument("--handles", type=options.handles, default=0, help="extra frames rendered before/after each shot (default: %(default)s)")
    options.add_media_options(parser)
    options.add_detection_options(parser)
    parser.set_defaults(func=run)


def plan_json(
    plan: Plan, start: RationalTime | None, drop_frame: bool | None = None, skipped: Sequence[str] = ()
) -> dict:
    """The JSON shape: frames in the media's own numbering, end exclusive; record timecodes absolute; media paths
    absolute; `skipped` says why timeline items (disabled, generators, retimed clips...) send no shot."""
    return {
        "fps": f"{plan.rate.numerator}/{plan.rate.denominator}",
        "shots": [_shot_json(shot, start, drop_frame) for shot in plan.shots],
        "transitions": [
            {"kind": t.kind, "start_frame": t.start_frame, "end_frame": t.end_frame} for t in plan.transitions
        ],
        "problems": [{"clip": p.clip_name, "message": p.message} for p in plan.problems],
        "skipped": list(skipped),
    }


def _shot_json(shot: Shot, start: RationalTime | None, drop_frame: bool | None) -> dict:
    record_start, record_end = record_timecodes(shot.record, start, drop_frame)
    return {
        "shot": shot.name,
        "clip": shot.clip_name,
        "media": str(shot.media.resolve()),  # absolute and without `..`: the path sent to the engine
        "start_frame": shot.start,
        "end_frame": shot.end,
        "frames": shot.frames,
        "handles": [shot.head, shot.tail],
        "media_fps": f"{shot.rate.numerator}/{shot.rate.denominator}",
        "record_start": record_start,  # the names the JSON shape was specified with (stylize's report says in/out)
        "record_end": record_end,
    }


def run(args: argparse.Namespace) -> int:
    detection = options.detection_settings(args)
    if args.source.suffix.lower() in ADAPTERS:
        edit = load_edit(args.source, args.media_dir, options.path_maps(args), args.edl_rate)
        plan, start = plan_edit(edit, detection, args.handles), edit.timeline.global_start_time
        data = plan_json(plan, start, drop_frame_of(edit.timeline), edit.skipped)
    else:
        data = plan_json(plan_media(args.source, detection), None)
    if args.format == "json":
        print(json.dumps(data, indent=2))
    else:
        for shot in data["shots"]:
            print(f"{shot['shot']:<24} {shot['record_start']} - {shot['record_end']}  "
                  f"{shot['media']} [{shot['start_frame']}, {shot['end_frame']})")
        for problem in data["problems"]:
            print(f"problem: {problem['message']}")
        for reason in data["skipped"]:
            print(f"skipped: {reason}")
    return 1 if data["problems"] else 0
