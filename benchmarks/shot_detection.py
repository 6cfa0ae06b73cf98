"""Shot-boundary accuracy and speed of every registered detector on an annotated set of real photos.

    python benchmarks/shot_detection.py [--shots 50] [--work DIR] [--detectors adaptive,combined]

Builds (or reuses, in --work) two edits over disjoint photo halves (see benchmarks/shotset.py): "tune"
(thresholds were chosen on it) and "held-out" (reported; its seed was drawn after tuning). A hard cut
matches a detected cut within +-2 frames; a gradual transition is found when a detected boundary falls
inside it; each detection matches at most one event, and unmatched cuts/transitions count against
cut/gradual precision. Then frames/s, decode included, on the same edit rendered at 720p and 1080p.
Needs scikit-image (its bundled photos); TransNetV2 over every frame dominates the run time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1] / "tests")]

from shotgen import Truth, write_edit
from shotset import HELD_OUT_PHOTOS, TUNE_PHOTOS, make_plan

from dreamstyle.frames import probe
from host_plugin.shots import DETECTORS, Detection, DetectionSettings, detect

TOLERANCE = 2


def build(path: Path, photos: list[str], shots: int, size: tuple[int, int], seed: int) -> tuple[Truth, list]:
    """Writes the edit once; its ground truth and hard negatives sit beside it as JSON."""
    meta = path.with_suffix(".json")
    if not meta.exists():
        plan = make_plan(photos, shots, size, seed)
        truth = write_edit(path, list(zip(plan.shots, plan.lengths)), plan.joins, crf=21)
        meta.write_text(json.dumps({**truth.__dict__, "negatives": plan.negatives}))
    data = json.loads(meta.read_text())
    negatives = data.pop("negatives")
    return Truth(**data), negatives


def score(truth: Truth, found: Detection) -> dict[str, tuple[int, int, int]]:
    """(matched events, matched events + false detections, events) for "cut" and "gradual".

    A false detection counts against the kind it claims to be (a cut, or a transition).
    """
    events = [("cut", c - TOLERANCE, c + TOLERANCE + 1) for c in truth.cuts]
    events += [("gradual", s, e) for _, s, e in truth.transitions]
    detections = [("cut", c, c + 1) for c in found.cuts]
    detections += [("gradual", t.start_frame, t.end_frame) for t in found.transitions]
    free = set(range(len(events)))
    hits = {"cut": 0, "gradual": 0}
    false = {"cut": 0, "gradual": 0}
    for kind, start, end in detections:
        near = sorted((events[i][0] != kind, i) for i in free if start < events[i][2] and events[i][1] < end)
        if near:
            free.discard(near[0][1])
            hits[events[near[0][1]][0]] += 1
        else:
            false[kind] += 1
    return {k: (hits[k], hits[k] + false[k], sum(1 for e in events if e[0] == k)) for k in hits}


def f1(tp: int, made: int, total: int) -> str:
    p = tp / made if made else 1.0
    r = tp / total if total else 1.0
    return f"{p:.3f} | {r:.3f} | {2 * p * r / (p + r) if p + r else 0:.3f}"


def speeds(media: Path, names: list[str], repeats: int = 3) -> dict[str, float]:
    """Frames/s of each detector over the whole file, decode included: the best of `repeats` runs,
    interleaved so that a burst of load from other jobs on the shared CPU hits every detector alike.
    """
    frames = probe(media).frames
    best = dict.fromkeys(names, float("inf"))
    for _ in range(repeats):
        for name in names:
            began = time.perf_counter()
            detect(media, 0, frames, DetectionSettings(detector=name))
            best[name] = min(best[name], time.perf_counter() - began)
    return {name: frames / seconds for name, seconds in best.items()}


def extent_error(truth: Truth, found: Detection) -> str:
    """Mean |start| + |end| error in frames of the reported transitions that overlap a true one."""
    errors = [
        abs(t.start_frame - s) + abs(t.end_frame - e)
        for t in found.transitions
        for _, s, e in truth.transitions
        if t.start_frame < e and s < t.end_frame
    ]
    return f"{sum(errors) / len(errors):.1f}" if errors else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shots", type=int, default=50, help="shots per half (default 50)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "dreamstyle-shot-bench")
    parser.add_argument("--detectors", default=",".join(DETECTORS))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    names = args.detectors.split(",")
    halves = {
        "tune": (args.work / f"tune-{args.shots}-s1.mp4", TUNE_PHOTOS, 1),
        "held-out": (args.work / f"held-out-{args.shots}-s3.mp4", HELD_OUT_PHOTOS, 3),
    }
    truths = {half: build(path, photos, args.shots, (512, 288), seed) for half, (path, photos, seed) in halves.items()}
    speed = {
        h: build(args.work / f"speed-{h}p-s3.mp4", HELD_OUT_PHOTOS, 8, (h * 16 // 9, h), 3)[0] for h in (720, 1080)
    }
    for half, (truth, negatives) in truths.items():
        print(
            f"\n{half}: {truth.frames} frames, {len(truth.cuts)} hard cuts, {len(truth.transitions)} gradual, "
            f"{sum(k == 'flash' for k, _ in negatives)} flashes, {sum(k == 'whip' for k, _ in negatives)} whip pans"
        )
        print("| detector | cut P | cut R | cut F1 | gradual P | gradual R | gradual F1 | extent error |")
        print("|---|---|---|---|---|---|---|---|")
        for name in names:
            found = detect(halves[half][0], 0, truth.frames, DetectionSettings(detector=name))
            result = score(truth, found)
            print(
                f"| {name} | {f1(*result['cut'])} | {f1(*result['gradual'])} | {extent_error(truth, found)} |",
                flush=True,
            )
    if "transnetv2" in names or "combined" in names:
        from host_plugin.shots.transnet import load_model

        load_model()  # once per process, as in the pipeline: not part of any file's time
    print(f"\nspeed ({speed[720].frames} frames, decode included, best of 3 interleaved runs):")
    print("| detector | 720p frames/s | 1080p frames/s |")
    print("|---|---|---|")
    rates = {h: speeds(args.work / f"speed-{h}p-s3.mp4", names) for h in (720, 1080)}
    for name in names:
        print(f"| {name} | {rates[720][name]:.0f} | {rates[1080][name]:.0f} |")


if __name__ == "__main__":
    main()
