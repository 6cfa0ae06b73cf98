"""Frames per second of the classic backend's render_segment on one core, at 640x360 and 1920x1080.

    python benchmarks/classic_backend.py [--frames 49] [--threads 1]

Renders one segment of generated moving footage (tests/mediagen.py) conditioned on a stylized first
frame (teal-orange look), three times, and prints the best rate per size: by wall clock, and per CPU
second (steadier on a busy machine). Decode and encode are not included.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))

from mediagen import scene_frame  # noqa: E402

from engine.backends import Guidance, create_backend  # noqa: E402

SIZES = ((640, 360), (1920, 1080))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=49)
    parser.add_argument("--threads", type=int, default=1, help="OpenCV threads (1: one core)")
    args = parser.parse_args()
    cv2.setNumThreads(args.threads)
    backend = create_backend("classic")
    for width, height in SIZES:
        frames = np.stack([scene_frame(1, t, width, height) for t in range(args.frames)])
        condition = backend.first_condition(frames[0], Guidance(prompt="teal-orange"), 0)
        best = cpu_best = float("inf")
        for _ in range(3):
            start, cpu_start = time.perf_counter(), time.process_time()
            backend.render_segment(frames, condition, Guidance(prompt="teal-orange"), 0, {})
            best = min(best, time.perf_counter() - start)
            cpu_best = min(cpu_best, time.process_time() - cpu_start)
        print(
            f"{width}x{height}: {args.frames / best:.1f} frames/s wall, {args.frames / cpu_best:.1f} per CPU second "
            f"({args.threads} OpenCV thread(s))"
        )


if __name__ == "__main__":
    main()
