"""Long edits: the host and engine bookkeeping that runs once per shot, at a short and a feature-length edit.

Each step runs on a small edit (the baseline, measured in the same run) and on one 8x longer, and the script
prints the cost per shot of each and their ratio: about 1 means the step grows linearly with the edit, 8
would mean quadratically. Target: every ratio <= 2. The steps:

- plan: reading an .otio of N clips (one shared media file, as an EDL of a flattened master) and planning it;
- progress: `dreamstyle stylize`'s progress display driven through a queued -> running -> done update per shot;
- shot list: the panel's shot table (offscreen) loading the plan, then a progress message and a result per shot;
- detection cache: storing, then loading, a detection result per shot's range of the one media file;
- job store: an engine's job store and manager holding N finished jobs, timing 200 saves and 200 submit checks.

Run: `.venv/bin/python benchmarks/long_edit.py [--shots 250]` (needs the panel extra for the shot list).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import io
import os
import sys
import tempfile
import time
import types
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
from opentimelineio.opentime import RationalTime, TimeRange

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from mediagen import write_video

from engine.jobs import Job, JobManager, JobState
from engine.render import RenderResult, ShotRequest
from engine.store import JobStore
from host_plugin.commands import stylize as stylize_command
from host_plugin.pipeline import ShotResult, ShotUpdate, load_edit, plan_edit
from host_plugin.plan import Plan
from host_plugin.shots import cache
from host_plugin.shots.base import Detection

R = 24000 / 1001


def edit_of(folder: Path, media: Path, clips: int) -> Path:
    track = otio.schema.Track("V1")
    for index in range(clips):
        track.append(otio.schema.Clip(f"c{index:05d}", otio.schema.ExternalReference(str(media)),
                                      TimeRange(RationalTime(index % 40, R), RationalTime(8, R))))
    timeline = otio.schema.Timeline(f"edit{clips}", global_start_time=RationalTime(86400, R))
    timeline.tracks.append(track)
    path = folder / f"edit{clips}.otio"
    otio.adapters.write_to_file(timeline, str(path))
    return path


def progress(plan: Plan) -> None:
    def run(timeline, style, *, on_plan, on_update, **settings):
        on_plan(plan)
        for shot in plan.shots:
            for state, done in (("queued", 0), ("running", 4), ("done", 8)):
                on_update(ShotUpdate(shot, state, done, 8))

    parser = argparse.ArgumentParser()
    stylize_command.add_parser(parser.add_subparsers())
    args = parser.parse_args(["stylize", "edit.otio", "--no-detect"])
    stylize_command.stylize, original = run, stylize_command.stylize  # the engine's part is not measured here
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            stylize_command.render_with_progress(Path("edit.otio"), args, None)
    finally:
        stylize_command.stylize = original


def shot_list(plan: Plan, timeline: otio.schema.Timeline) -> None:
    from PySide6.QtWidgets import QApplication

    from host_plugin.panel.shot_table import ShotTable

    app = QApplication.instance() or QApplication([])
    table = ShotTable()
    table.resize(1200, 800)
    table.show()
    table.set_plan(plan, timeline.global_start_time, None)
    for shot in plan.shots:
        table.update_shot(ShotUpdate(shot, "running", 4, 8, "segment 1 of 2"))
    for shot in plan.shots:
        table.set_result(ShotResult(shot, "done", Path("/renders") / f"{shot.name}.mp4"))
    app.processEvents()
    table.deleteLater()


def detection_cache(folder: Path, clips: int) -> None:
    for step in (cache.store, lambda *a: cache.load(*a[:3])):
        for index in range(clips):
            step(folder / "cache", "master", cache.key("combined", None, 10, index * 8, index * 8 + 8), Detection((4,)))


def job_store(folder: Path, jobs: int) -> float:
    """Seconds per save and submit check with `jobs` kept."""
    store = JobStore(folder / "state" / "jobs.sqlite3")
    manager = JobManager(store, types.SimpleNamespace(slots=1), folder / "state" / "work")

    def request(index: int) -> ShotRequest:
        return ShotRequest(key=f"k{index}", media=folder / "m.mp4", start=0, end=8, rate=Fraction(24), label=f"s{index}",
                           backend="passthrough", out_path_stem=folder / "out" / f"s{index}")

    for index in range(jobs):
        result = RenderResult(folder / "out" / f"s{index}.mp4", 8, Fraction(24), 160, 90)
        store.save(Job(f"j{index}", request(index), JobState.DONE, 1, 1, 8, result=result))
    asyncio.run(manager.start())  # loads them, as an engine restarted on this state folder
    start = time.perf_counter()
    for index in range(200):
        store.save(manager.get(f"j{index}"))
        manager._check_output(request(jobs + index))
    seconds = (time.perf_counter() - start) / 200
    store.close()
    return seconds


def timed(step: Callable[..., object], *args: object) -> float:
    gc.collect()  # not the garbage of the step before
    start = time.perf_counter()
    step(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shots", type=int, default=250, help="the short edit's shots (the long one has 8x)")
    args = parser.parse_args()
    sizes = (args.shots, 8 * args.shots)
    with tempfile.TemporaryDirectory(prefix="dreamstyle-long-") as scratch:
        folder = Path(scratch)
        media = write_video(folder / "master.mp4", [48], width=160, height=90)
        rows = {}
        for clips in sizes:
            run = folder / str(clips)
            run.mkdir()
            path = edit_of(run, media, clips)
            start = time.perf_counter()
            edit = load_edit(path)
            plan = plan_edit(edit, detection=None)
            rows[clips] = {  # milliseconds per shot (the job store: per save and submit check)
                "plan": (time.perf_counter() - start) / clips * 1e3,
                "progress": timed(progress, plan) / clips * 1e3,
                "shot list": timed(shot_list, plan, edit.timeline) / clips * 1e3,
                "detection cache": timed(detection_cache, run, clips) / clips * 1e3,
                "job store": job_store(run, clips) * 1e3,
            }
    small, large = sizes
    print(f"{'step':<16} {'ms at ' + str(small):>12} {'ms at ' + str(large):>12} {'ratio':>7}   (target: ratio <= 2)")
    for step, cost in rows[small].items():
        print(f"{step:<16} {cost:>12.3f} {rows[large][step]:>12.3f} {rows[large][step] / cost:>7.2f}")


if __name__ == "__main__":
    main()
