"""`detect()`: one PyAV decode pass over [start, end) feeding a detector at the size it asks for."""

from __future__ import annotations

import logging
from pathlib import Path

from dreamstyle.frames import MediaError, iter_frames, probe

from . import cache
from .base import Detection, DetectionSettings, Detector, ShotDetectionError, clean
from .registry import get_detector

__all__ = ["MediaUnreadable", "detect"]

log = logging.getLogger(__name__)


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
    if settings.cache_dir is not None:
        digest = cache.content_hash(media)
        entry = cache.key(f"{cls.name} {cls.variant()}".strip(), settings.threshold, min_shot, start, end)
        if (hit := cache.load(settings.cache_dir, digest, entry)) is not None:
            return hit
    detector = cls(info.rate, min_shot, settings.threshold)
    try:
        _run(media, start, end, detector, info.width, info.height)
    except MediaError as exc:
        raise MediaUnreadable(str(exc)) from exc
    found = clean(detector.finish(), start, end, min_shot)
    if settings.cache_dir is not None:
        try:
            cache.store(settings.cache_dir, digest, entry, found)
        except OSError as exc:
            log.warning("shot detection cache %s not written: %s", settings.cache_dir, exc)
    return found


def _run(media: Path, start: int, end: int, detector: Detector, width: int, height: int) -> None:
    """One decode pass, scaled inside swscale to the size the detector asks for."""
    size = detector.frame_size(width, height)
    for index, frame in enumerate(iter_frames(media, start, end, width=size[0], height=size[1], damaged=True), start):
        detector.push(index, frame)
