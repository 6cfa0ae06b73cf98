"""`detect()`: one PyAV decode pass over [start, end) feeding a detector at the sizes it needs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dreamstyle.frames import MediaError, iter_frames, probe

from .base import Detection, DetectionSettings, Detector, ShotDetectionError, clean
from .registry import get_detector

__all__ = ["detect", "MediaUnreadable"]


class MediaUnreadable(ShotDetectionError):
    """The media cannot be probed or decoded over the requested range."""


def detect(media: Path, start: int, end: int, settings: DetectionSettings = DetectionSettings()) -> Detection:
    """Cuts and gradual transitions in media frames [start, end) of `media` (frames at its own rate)."""
    media = Path(media)
    cls = get_detector(settings.detector)
    try:
        info = probe(media)
    except MediaError as exc:
        raise MediaUnreadable(str(exc)) from exc
    if not 0 <= start < end <= info.frames:
        raise ShotDetectionError(f"{media}: range [{start}, {end}) is outside its {info.frames} frames.")
    min_shot = settings.min_shot(info.rate)
    detector = cls(info.rate, min_shot, settings.threshold)
    try:
        _run(media, start, end, detector, info.width, info.height)
    except MediaError as exc:
        raise MediaUnreadable(str(exc)) from exc
    return clean(detector.finish(), start, end, min_shot)


def _run(media: Path, start: int, end: int, detector: Detector, width: int, height: int) -> None:
    """Decodes once at the largest size any leaf wants (scaled in swscale), area-resizes for the rest."""
    import cv2

    leaves = detector.leaves()
    sizes = [leaf.frame_size(width, height) for leaf in leaves]
    big = max(sizes, key=lambda s: s[0] * s[1])
    for index, frame in enumerate(iter_frames(media, start, end, width=big[0], height=big[1]), start):
        scaled: dict[tuple[int, int], np.ndarray] = {big: frame}
        for leaf, size in zip(leaves, sizes):
            if size not in scaled:
                scaled[size] = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            leaf.push(index, scaled[size])
