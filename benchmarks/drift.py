"""Drift over many chained segments, with and without the drift controls (overlap, color_match).

Metric, per segment: how far the segment's style colour transform has moved from the anchor's, i.e.
|(mean Lab of output - mean Lab of source) - the same for the first segment| in Delta E (CIE76). A
segment that keeps the shot's look scores 0 however its content changes; visible drift starts near 2-3.

By default the backend is a synthetic chained model that shows the colour part of chaining drift: it
grades the source, follows its condition frame's colours (as a first-frame-guided model does) and
adds a small colour error on every render, so errors pile up through the conditions exactly as in
chained Wan I2V/VACE runs (detail loss is not modelled). `--backend NAME --source VIDEO` measures a
real registered backend instead (on a GPU for the diffusion ones). Writes a table; `--json` the numbers.

    python benchmarks/drift.py [--segments 24] [--json out.json]
    python benchmarks/drift.py --backend vace --source shot.mp4 --model-dir M --backend-option depth_model=D
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.backends.base import FIRST_FRAME, STYLE_IMAGE, TEXT, Backend, BackendConfig, Guidance
from engine.chain import segment_bounds, stylize_shot
from engine.drift import lab_stats

SETTINGS = [(1, 0.0), (4, 0.0), (1, 1.0), (4, 1.0)]  # (overlap, color_match)


def shift_lab(frames: np.ndarray, shift: np.ndarray) -> np.ndarray:
    flat = frames.reshape(-1, frames.shape[-2], 3).astype(np.float32) / 255.0
    lab = cv2.cvtColor(flat, cv2.COLOR_RGB2LAB) + shift.astype(np.float32)
    rgb = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB).reshape(frames.shape)
    return (np.clip(rgb, 0, 1) * 255).round().astype(np.uint8)


class DriftingBackend(Backend):
    """Synthetic chained model: a warm grade, the condition's colours, and a per-render colour error."""

    name = "drifting"
    description = "Synthetic chained model with a small colour error per render (for drift benchmarks)."
    guidances = frozenset({TEXT, STYLE_IMAGE, FIRST_FRAME})
    segment_frames = 17
    error = np.array([-0.5, 0.4, 1.0])  # Delta L, a, b added by every render: darker, redder, yellower
    grade = np.array([0.0, 4.0, 10.0])

    def first_condition(self, source_first: np.ndarray, guidance: Guidance, seed: int) -> np.ndarray:
        return shift_lab(source_first[None], self.grade)[0]

    def render_segment(self, frames, condition, guidance, seed, params) -> np.ndarray:
        styled = shift_lab(frames, self.grade)
        follow = lab_stats(condition[None])[0] - lab_stats(styled[:1])[0]
        return shift_lab(styled, follow + self.error)


def panning_shot(frames: int, height: int = 72, width: int = 128, seed: int = 0) -> np.ndarray:
    """A camera panning over a random colourful scene: content (and its mean colour) keeps changing."""
    rng = np.random.default_rng(seed)
    scene = cv2.GaussianBlur(rng.integers(0, 256, (height, width * 4, 3), dtype=np.uint8), (0, 0), 6)
    scene = cv2.normalize(scene, None, 0, 255, cv2.NORM_MINMAX)
    steps = np.linspace(0, width * 3, frames).astype(int)
    return np.stack([scene[:, x : x + width] for x in steps])


def measure(backend: Backend, source: np.ndarray, guidance: Guidance, overlap: int, color_match: float) -> dict:
    out = np.stack(list(stylize_shot(backend, iter(source), len(source), guidance, seed=0, params={},
                                     overlap=overlap, color_match=color_match)))
    bounds = segment_bounds(len(source), backend.segment_frames, overlap)
    transforms = [lab_stats(out[s:e])[0] - lab_stats(source[s:e])[0] for s, e in bounds]
    drift = [float(np.linalg.norm(t - transforms[0])) for t in transforms]
    rendered = sum(e - s for s, e in bounds)
    return {"overlap": overlap, "color_match": color_match, "segments": len(bounds), "drift": drift,
            "rendered_per_frame": rendered / len(source)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--segments", type=int, default=24, help="segments of the synthetic shot at overlap 1")
    parser.add_argument("--backend", help="a registered backend instead of the synthetic one")
    parser.add_argument("--source", type=Path, help="a video file for --backend")
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--adapter", type=Path)
    parser.add_argument("--prompt", default="oil painting")
    parser.add_argument("--backend-option", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.backend:
        from dreamstyle.frames import iter_frames, probe
        from engine.backends.registry import create_backend

        options = dict(item.split("=", 1) for item in args.backend_option)
        backend = create_backend(args.backend, BackendConfig(args.model_dir, args.adapter, "auto", options))
        source = np.stack(list(iter_frames(args.source, 0, probe(args.source).frames)))
    else:
        backend = DriftingBackend()
        source = panning_shot(args.segments * (backend.segment_frames - 1) + 1)
    guidance = Guidance(prompt=args.prompt)
    print(f"{backend.name}: {len(source)} frames, segments of {backend.segment_frames}")
    print("overlap  color_match  segments  render/frame  drift at segment 2 / middle / last (Delta E)")
    rows = []
    for overlap, color_match in SETTINGS:
        row = measure(backend, source, guidance, overlap, color_match)
        rows.append(row)
        d = row["drift"]
        print(f"{overlap:7d}  {color_match:11.1f}  {row['segments']:8d}  {row['rendered_per_frame']:12.2f}  "
              f"{d[min(1, len(d) - 1)]:6.2f} / {d[len(d) // 2]:6.2f} / {d[-1]:6.2f}")
    if args.json:
        args.json.write_text(json.dumps({"backend": backend.name, "frames": len(source), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
