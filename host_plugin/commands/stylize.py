"""`dreamstyle stylize TIMELINE`: render every shot and write a version timeline beside the original."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from opentimelineio.opentime import RationalTime

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from ..pipeline import ENDED, ShotResult, ShotUpdate
from ..plan import Plan
from ..stylize import Report, stylize
from ..timeline.timecode import drop_frame_of, record_timecodes
from . import options
from .console import console as rich_console

__all__ = ["add_parser", "run", "print_report", "report_json"]


def _labelled(label: str, style: str, message: str) -> Text:
    return Text.assemble((label, style), f" {message}")


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("stylize", help="stylize every shot of a timeline (.otio, .xml, .edl, .aaf)")
    parser.add_argument("timeline", type=Path)
    parser.add_argument("--out", type=Path,
                        help="folder for renders and contact sheets (default: TIMELINE_FOLDER/NAME_dreamstyle)")
    parser.add_argument("--handles", type=options.handles, default=0, help="extra frames rendered before/after each shot (default: %(default)s)")
    options.add_format_option(parser, "the summary on stdout: a table")
    parser.add_argument("--look-anchor", metavar="SHOT",
                        help="render SHOT (a shot's name as `dreamstyle shots` lists it, or a clip's for its first "
                             "shot) first, and give every other shot its stylized first frame as style image: one "
                             "look across the edit")
    options.add_style_options(parser)
    options.add_engine_options(parser)
    options.add_media_options(parser)
    options.add_detection_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    report = render_with_progress(args.timeline, args, args.out)
    if args.format == "json":
        print(json.dumps(report_json(report), indent=2))
    else:
        print_report(report)
    return 1 if report.failed or report.plan.problems else 0


def report_json(report: Report) -> dict[str, object]:
    """The run as data: each shot's status and render, what was not rendered and why, the files written."""
    start = report.edit.timeline.global_start_time
    drop = drop_frame_of(report.edit.timeline)
    return {
        "timeline": str(report.edit.path.absolute()),
        "shots": [_result_json(result, start, drop) for result in report.results],
        "problems": [{"clip": p.clip_name, "message": p.message} for p in report.plan.problems],
        "skipped": list(report.edit.skipped),
        "version_timeline": str(report.timeline_out.absolute()) if report.timeline_out else None,
        "contact_sheet": str(report.contact_sheet.absolute()) if report.contact_sheet else None,  # the first
        "contact_sheets": [str(sheet.absolute()) for sheet in report.contact_sheets],
    }


def render_with_progress(timeline: Path, args: argparse.Namespace, out: Path | None) -> Report:
    """Runs `stylize()` with an overall bar and a bar per shot in flight (a row per shot of a 2000-shot edit
    would be redrawn at every update), shown once the shots are found: an error before that is said alone."""
    console = rich_console(stderr=True)
    columns = (TextColumn("{task.description:<28}", markup=False), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[state]}", markup=False), TimeElapsedColumn())
    progress = Progress(*columns, console=console, transient=False)
    overall: TaskID | None = None
    tasks: dict[int, TaskID] = {}

    def on_plan(plan: Plan) -> None:
        nonlocal overall
        for problem in plan.problems:
            console.print(_labelled("skipped", "yellow", problem.message), soft_wrap=True)
        total = sum(s.frames + s.head + s.tail for s in plan.shots)
        overall = progress.add_task("all shots", total=total, state=f"{len(plan.shots)} shots")
        progress.start()

    def on_update(update: ShotUpdate) -> None:
        shot = update.shot
        if shot.number not in tasks:
            tasks[shot.number] = progress.add_task(shot.name, total=update.frames_total, state="")
        progress.update(tasks[shot.number], completed=update.frames_done, state=update.status)
        if update.status in ENDED and overall is not None:
            progress.remove_task(tasks.pop(shot.number))
            progress.advance(overall, update.frames_total)
            if update.status == "failed":
                console.print(_labelled("failed", "red", update.message), soft_wrap=True)

    try:
        return stylize(
            timeline,
            options.style_settings(args),
            engine=options.engine_settings(args),
            out_dir=out,
            media_dirs=args.media_dir,
            path_maps=options.path_maps(args),
            edl_rate=args.edl_rate,
            detection=options.detection_settings(args),
            handles=args.handles,
            look_anchor=args.look_anchor,
            on_plan=on_plan,
            on_update=on_update,
        )
    finally:
        if overall is not None:  # started (a progress never started would still print a blank line)
            progress.stop()


def _result_json(result: ShotResult, start: RationalTime | None, drop_frame: bool | None) -> dict[str, object]:
    record_in, record_out = record_timecodes(result.shot.record, start, drop_frame)
    return {"shot": result.shot.name, "clip": result.shot.clip_name, "record_in": record_in, "record_out": record_out,
            "frames": result.shot.frames, "status": result.status,
            "output": str(result.output.absolute()) if result.output else None, "error": result.error or None}


def print_report(report: Report) -> None:
    """The summary table, then where the results are."""
    console = rich_console()
    start = report.edit.timeline.global_start_time
    drop = drop_frame_of(report.edit.timeline)
    table = Table(title=f"DreamStyle: {report.edit.path.name}")
    for column in ("shot", "record in", "record out", "frames", "status"):
        table.add_column(column, no_wrap=True)
    table.add_column("output file", overflow="fold")
    for result in report.results:
        shot = result.shot
        table.add_row(shot.name, *record_timecodes(shot.record, start, drop), str(shot.frames), result.status,
                      result.output.name if result.output else "")
    console.print(table)
    for result in report.results:
        if result.error:
            console.print(_labelled(f"{result.status}:", "red", result.error), soft_wrap=True)
    for problem in report.plan.problems:
        console.print(_labelled("not rendered:", "yellow", problem.message), soft_wrap=True)
    for reason in report.edit.skipped:
        console.print(f"ignored: {reason}", soft_wrap=True)
    if any(r.output for r in report.results):
        console.print(f"renders:          {report.out_dir / 'renders'}", soft_wrap=True)
    if report.timeline_out:
        console.print(f"version timeline: {report.timeline_out}", soft_wrap=True)
    if report.contact_sheets:
        more = f" (and {len(report.contact_sheets) - 1} more, _2 on)" if len(report.contact_sheets) > 1 else ""
        console.print(f"contact sheet:    {report.contact_sheets[0]}{more}", soft_wrap=True)

