"""A deterministic test backend whose output depends on the chained condition, optionally slow.

`python tests/chainedbackend.py serve ...` runs `dreamstyle engine serve` with it registered as
"chained", so a subprocess engine (killed with SIGKILL in tests) can render with it too.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.backends.base import FIRST_FRAME, STYLE_IMAGE, TEXT, Backend
from engine.backends.registry import BACKENDS

SEGMENT_DELAY = "DREAMSTYLE_TEST_SEGMENT_DELAY"
SEGMENT_LOG = "DREAMSTYLE_TEST_SEGMENT_LOG"
FAIL_ONCE = "DREAMSTYLE_TEST_FAIL_ONCE"
PART_FRAMES = "DREAMSTYLE_TEST_PART_FRAMES"


class ChainedBackend(Backend):
    """Blends every frame with the condition's mean colour: a segment's output depends on its chain."""

    name = "chained"
    description = "test: output depends on the condition frame"
    guidances = frozenset({TEXT, STYLE_IMAGE, FIRST_FRAME})
    segment_frames = 6
    part_frames = int(os.environ.get(PART_FRAMES, "0"))  # for a subprocess engine; tests here monkeypatch it

    def check(self, guidance, params):
        """Accepts any guidance."""

    def first_condition(self, source_first, guidance, seed):
        return (255 - source_first).astype(np.uint8)

    calls = 0

    def render_segment(self, frames, condition, guidance, seed, params):
        """Sleeps $DREAMSTYLE_TEST_SEGMENT_DELAY s; logs the first frame's stamp to $DREAMSTYLE_TEST_SEGMENT_LOG;
        fails once when the file $DREAMSTYLE_TEST_FAIL_ONCE names exists (and removes it)."""
        ChainedBackend.calls += 1
        marker = Path(os.environ.get(FAIL_ONCE, "/nonexistent"))
        if ChainedBackend.calls > 3 and marker.exists():
            marker.unlink()
            raise RuntimeError("the GPU fell off the bus")
        time.sleep(float(os.environ.get(SEGMENT_DELAY, "0")))
        if os.environ.get(SEGMENT_LOG):
            from mediagen import frame_number

            with open(os.environ[SEGMENT_LOG], "a") as log:
                log.write(f"{os.getpid()} {frame_number(frames[0])}\n")
        tint = condition.reshape(-1, 3).mean(axis=0)
        out = frames.astype(np.float32) * 0.6 + tint * 0.4 + (seed % 7)
        return np.clip(out, 0, 255).astype(np.uint8)


def register() -> None:
    BACKENDS["chained"] = "chainedbackend:ChainedBackend"


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    register()
    from engine.cli import main

    sys.exit(main(sys.argv[1:]))
