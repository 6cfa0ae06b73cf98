"""Drift control for chained segments: overlap frames and colour matching to the shot's anchor.

Chaining by last frame drifts: every segment inherits, and adds to, its condition frame's colour
error. Two render params fight it (both off by default):
    overlap=N        segments share N frames (the chainer's `overlap`); the next segment is conditioned
                     on the output frame where it starts, N-1 frames before the previous one's end
    color_match=S    strength 0..1 of colour matching to the anchor segment (the shot's first)

Colour matching keeps the *style's colour transform* of the anchor segment rather than its colours:
the anchor's per-channel Lab shift and gain from source to output are measured once; every later
segment's output is moved (one affine map per channel for the whole segment, so motion within the
segment is kept) to the stats its own source would have under that transform. A shot that pans into
a darker room stays darker; only the drift goes. Reinhard-style transfer in Lab (the conversions of
`engine.look.paint`; its statistics are over all pixels here, not a downscaled image); the
`color-matcher` package would add a dependency for the same first-order statistics.
"""

from __future__ import annotations

import numpy as np

from .backends.base import BackendError
from .look.paint import from_lab, to_lab

__all__ = ["DRIFT_DEFAULTS", "ColorAnchor", "canonical_params", "drift_options", "lab_stats"]


def _frames(frames: np.ndarray) -> np.ndarray:
    """(..., H, W, 3) frames as (N, H, W, 3)."""
    return frames.reshape(-1, *frames.shape[-3:])


def lab_stats(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel Lab mean and std over all pixels of (..., H, W, 3) uint8 or uint16 frames, a frame at a time
    (a segment's float Lab copy would be 4 times its frames' size for 8-bit frames)."""
    total, squares, count = np.zeros(3), np.zeros(3), 0
    for frame in _frames(frames):
        lab = to_lab(frame).reshape(-1, 3).astype(np.float64)
        total += lab.sum(axis=0)
        squares += np.square(lab).sum(axis=0)
        count += len(lab)
    mean = total / count
    return mean, np.sqrt(np.maximum(squares / count - mean**2, 0.0)) + 1e-3


class ColorAnchor:
    """Call once per segment with (source, output): the first call sets the anchor, later ones correct."""

    def __init__(self, strength: float) -> None:
        self.strength = strength
        self.shift: np.ndarray | None = None
        self.gain: np.ndarray | None = None

    def __call__(self, source: np.ndarray, output: np.ndarray) -> np.ndarray:
        src_mean, src_std = lab_stats(source)
        out_mean, out_std = lab_stats(output)
        if self.shift is None or self.gain is None:
            self.shift, self.gain = out_mean - src_mean, out_std / src_std
            return output
        s = self.strength
        target_mean = (1 - s) * out_mean + s * (src_mean + self.shift)
        target_std = (1 - s) * out_std + s * (src_std * self.gain)
        ratio = target_std / out_std
        gain, offset = ratio.astype(np.float32), (target_mean - out_mean * ratio).astype(np.float32)
        corrected = np.empty(output.shape, output.dtype)
        for frame, fixed in zip(_frames(output), _frames(corrected)):
            lab = to_lab(frame) * gain + offset  # (lab - out_mean) * ratio + target_mean
            lab[..., 0] = np.clip(lab[..., 0], 0, 100)
            lab[..., 1:] = np.clip(lab[..., 1:], -127, 127)
            fixed[...] = from_lab(lab, output.dtype.type)
        return corrected


DRIFT_DEFAULTS: dict[str, float | int] = {"overlap": 1, "color_match": 0.0}


def drift_options(params: dict[str, str]) -> dict[str, float | int]:
    """`overlap` and `color_match` for the chainer from render params; BackendError if malformed."""
    try:
        overlap = int(params.get("overlap", DRIFT_DEFAULTS["overlap"]))
        color_match = float(params.get("color_match", DRIFT_DEFAULTS["color_match"]))
    except ValueError:
        raise BackendError("params overlap (an integer >= 1) and color_match (0..1) must be numbers") from None
    if overlap < 1 or not 0 <= color_match <= 1:
        raise BackendError(f"overlap={overlap} must be >= 1 and color_match={color_match} within 0..1")
    return {"overlap": overlap, "color_match": color_match}


def canonical_params(params: dict[str, str]) -> dict[str, str]:
    """`params` with overlap and color_match written one way and left out at their defaults, so a job reads
    the same whether its client spells a default out or not (`overlap=1`, `color_match=0.0`)."""
    drift = drift_options(params)
    kept = {key: value for key, value in params.items() if key not in drift}
    return kept | {key: str(value) for key, value in drift.items() if value != DRIFT_DEFAULTS[key]}
