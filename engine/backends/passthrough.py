"""Returns the source frames unchanged: measures the pipeline's own overhead."""

from __future__ import annotations

import numpy as np

from .base import FIRST_FRAME, STYLE_IMAGE, TEXT, Backend, Guidance

__all__ = ["PassthroughBackend"]


class PassthroughBackend(Backend):
    name = "passthrough"
    description = "Returns the source frames unchanged (for measuring pipeline overhead)."
    guidances = frozenset({TEXT, STYLE_IMAGE, FIRST_FRAME})
    deep = True
    segment_frames = 5  # the shortest Wan-shaped segment (4k+1): chaining and its bookkeeping run often
    part_frames = 48  # ~12 segments; an encoder start every 17 frames (measured) cost ~10% of a 1080p encode

    def check(self, guidance: Guidance, params: dict[str, str]) -> None:
        """Accepts any guidance, including none."""

    def first_condition(self, source_first: np.ndarray, guidance: Guidance, seed: int) -> None:
        return None

    def render_segment(self, frames: np.ndarray, condition: np.ndarray | None, guidance: Guidance, seed: int,
                       params: dict[str, str]) -> np.ndarray:
        return frames
