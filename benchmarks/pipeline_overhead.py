"""Pipeline overhead and memory: the passthrough backend through a real engine vs PyAV alone.

1. A timeline of 1080p shots is rendered through `dreamstyle`'s real path (host planning -> gRPC ->
   engine decode -> chainer -> passthrough backend -> encoder) and compared with the floor: decoding
   and encoding the same frames with PyAV alone, same codec settings, in the same run. The two
   alternate `--repeat` times (a fresh engine each time, started outside the timing) and the ratio is
   of their medians, so a burst of load on the machine does not decide it. Target: ratio <= 1.15.
2. Peak memory of rendering one shot and the same shot ten times longer (child processes, ru_maxrss):
   decoding, stylizing and encoding stream segment by segment. Target: ratio <= 1.2.

Run: `.venv/bin/python benchmarks/pipeline_overhead.py [--frames 48] [--shots 3] [--repeat 3]`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
from opentimelineio.opentime import RationalTime, TimeRange

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from engine.media import ClipWriter  # noqa: E402
from footage import moving_texture  # noqa: E402
from dreamstyle.frames import iter_frames, probe  # noqa: E402
from host_plugin.client import EngineClient  # noqa: E402
from host_plugin.local_engine import LocalEngine  # noqa: E402
from host_plugin.pipeline import Renderer, StyleSettings, load_edit, plan_edit  # noqa: E402

RATE = Fraction(24000, 1001)
W, H = 1920, 1080


def floor_seconds(media: Path, ranges: list[tuple[int, int]], out: Path) -> float:
    """Decode + encode the same frames with PyAV alone (the encoder settings the engine uses)."""
    info = probe(media)
    start = time.perf_counter()
    for i, (a, b) in enumerate(ranges):
        with ClipWriter(out / f"floor_{i}.mp4", rate=info.rate, width=info.width, height=info.height) as writer:
            for frame in iter_frames(media, a, b):
                writer.write(frame)
    return time.perf_counter() - start


def pipeline_seconds(timeline: Path, out: Path) -> float:
    edit = load_edit(timeline)
    plan = plan_edit(edit, detection=None)
    with LocalEngine(out / "state", [timeline.parent, out]) as address, EngineClient(address) as client:
        client.wait_ready()
        start = time.perf_counter()
        results = Renderer(client, out).render(plan.shots, StyleSettings(backend="passthrough"))
        seconds = time.perf_counter() - start
    assert all(r.status == "done" for r in results), [r.error for r in results]
    return seconds


def peak_rss_mib(media: Path, frames: int, out: Path) -> float:
    """Peak RSS of a child process that renders `frames` frames of `media` through the chainer."""
    code = f"""
import resource, sys
sys.path.insert(0, {str(ROOT)!r})
from pathlib import Path
from engine.backends.registry import create_backend
from engine.render import ShotRequest, render_shot
request = ShotRequest(key="m", media=Path({str(media)!r}), start=0, end={frames}, rate=None, label="mem",
                      backend="passthrough", out_path_stem=Path({str(out / f"mem_{frames}")!r}))
render_shot(request, create_backend("passthrough"))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(result.stdout.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=48, help="frames per shot (memory: x1 and x10)")
    parser.add_argument("--shots", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3, help="floor/pipeline pairs; medians are compared")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        per_shot = args.frames
        media = moving_texture(tmp / "source.mp4", per_shot * args.shots + 10, W, H)
        rate = float(RATE)
        timeline = otio.schema.Timeline("bench")
        track = otio.schema.Track("V1")
        ranges = [(5 + i * per_shot, 5 + (i + 1) * per_shot) for i in range(args.shots)]
        for a, b in ranges:
            ref = otio.schema.ExternalReference(str(media))
            track.append(otio.schema.Clip(f"shot{a}", ref, TimeRange(RationalTime(a, rate), RationalTime(b - a, rate))))
        timeline.tracks.append(track)
        path = tmp / "bench.otio"
        otio.adapters.write_to_file(timeline, str(path))
        (tmp / "floor").mkdir()
        floors, pipes = [], []
        for run in range(args.repeat):
            floors.append(floor_seconds(media, ranges, tmp / "floor"))
            pipes.append(pipeline_seconds(path, tmp / f"pipe{run}"))
            print(f"run {run + 1}: floor {floors[-1]:.2f} s, pipeline {pipes[-1]:.2f} s ({pipes[-1] / floors[-1]:.3f})")
        floor, pipe = statistics.median(floors), statistics.median(pipes)
        frames = per_shot * args.shots
        long_media = moving_texture(tmp / "long.mp4", per_shot * 10, W, H)
        short_mem = peak_rss_mib(long_media, per_shot, tmp)
        long_mem = peak_rss_mib(long_media, per_shot * 10, tmp)
    figures = {
        "frames": frames,
        "resolution": f"{W}x{H}",
        "repeat": args.repeat,
        "floor_s": round(floor, 2),
        "pipeline_s": round(pipe, 2),
        "time_ratio": round(pipe / floor, 3),
        "peak_rss_mib_shot": round(short_mem, 1),
        "peak_rss_mib_shot_x10": round(long_mem, 1),
        "memory_ratio": round(long_mem / short_mem, 3),
    }
    print(f"PyAV decode+encode floor: {floor:.2f} s (median) for {frames} frames at {W}x{H} ({frames / floor:.1f} fps)")
    print(f"dreamstyle passthrough:   {pipe:.2f} s (median) ({frames / pipe:.1f} fps)  ratio {pipe / floor:.3f} (target <= 1.15)")
    print(f"peak memory: {short_mem:.0f} MiB for {per_shot} frames, {long_mem:.0f} MiB for {per_shot * 10} "
          f"frames  ratio {long_mem / short_mem:.3f} (target <= 1.2)")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
