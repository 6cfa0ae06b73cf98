"""The detector seam: result types, settings, errors and the abstract detector.

A detector is pushed decoded frames in order (media frame number + an RGB array at the size it asked
for) and reports cuts (the first frame of each new shot) and gradual transitions, in media frames.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import ClassVar

import numpy as np

__all__ = [
    "Detection",
    "DetectionSettings",
    "Detector",
    "DetectorNotFound",
    "ShotDetectionError",
    "Transition",
]

DEFAULT_DETECTOR = "combined"
ANALYSIS_WIDTH = 256  # PySceneDetect's own auto-downscale target: enough for colour/edge statistics


class ShotDetectionError(Exception):
    """Root of every error raised by `host_plugin.shots`."""


class DetectorNotFound(ShotDetectionError):
    """The settings name a detector that is not registered."""


@dataclass(frozen=True)
class Transition:
    """A gradual transition over media frames [start_frame, end_frame)."""

    kind: str  # "dissolve" | "fade" | "wipe"
    start_frame: int
    end_frame: int


@dataclass(frozen=True)
class Detection:
    """Cuts (first frame of each new shot, strictly inside the range) and gradual transitions."""

    cuts: tuple[int, ...] = ()
    transitions: tuple[Transition, ...] = ()


@dataclass(frozen=True)
class DetectionSettings:
    """Which detector runs and how; `threshold=None` keeps the detector's own default.

    `min_shot_seconds`, when set, overrides `min_shot_frames` at each media file's own rate.
    """

    detector: str = DEFAULT_DETECTOR
    threshold: float | None = None
    min_shot_frames: int = 10
    cache_dir: Path | None = None
    min_shot_seconds: float | None = None

    def min_shot(self, rate: Fraction) -> int:
        """The minimum shot length in frames at `rate`."""
        if self.min_shot_seconds is not None:
            return max(1, round(self.min_shot_seconds * rate))
        return max(1, self.min_shot_frames)


class Detector(ABC):
    """Frames pushed in, boundaries out. Subclasses record into `cuts`/`transitions` as they go."""

    name: ClassVar[str]
    default_threshold: ClassVar[float]
    max_threshold: ClassVar[float | None] = None  # the top of the threshold's scale, when it has one
    finds: ClassVar[frozenset[str]] = frozenset({"cut"})  # boundary kinds it is built to find

    def __init__(self, rate: Fraction, min_shot: int, threshold: float | None = None) -> None:
        self.rate = rate
        self.min_shot = min_shot
        self.check_threshold(threshold)
        self.threshold = self.default_threshold if threshold is None else threshold
        self.cuts: list[int] = []
        self.transitions: list[Transition] = []

    @classmethod
    def check_threshold(cls, threshold: float | None) -> None:
        """Refuses a threshold beyond the top of the detector's scale (nothing could ever pass it)."""
        if threshold is not None and cls.max_threshold is not None and threshold > cls.max_threshold:
            raise ShotDetectionError(
                f"threshold {threshold:g} is off the {cls.name} detector's scale: give one over 0 and at most "
                f"{cls.max_threshold:g} (default {cls.default_threshold:g})"
            )

    @classmethod
    def variant(cls) -> str:
        """What, besides the settings, changes this detector's results here (part of the cache key)."""
        return ""

    def frame_size(self, width: int, height: int) -> tuple[int, int]:
        """The (width, height) this detector wants for media of the given size."""
        scale = min(1.0, ANALYSIS_WIDTH / width)
        return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)

    @abstractmethod
    def push(self, index: int, frame: np.ndarray) -> None:
        """Takes media frame `index` as an HxWx3 RGB uint8 array at `frame_size`."""

    def finish(self) -> Detection:
        """Called once after the last frame; returns everything found."""
        return Detection(tuple(self.cuts), tuple(self.transitions))


def clean(detection: Detection, start: int, end: int, min_shot: int) -> Detection:
    """Keeps boundaries inside (start, end), sorted, and drops cuts that would leave a shot shorter
    than `min_shot` frames (the earlier cut wins); cuts inside a transition are dropped.
    """
    transitions = sorted(
        (t for t in detection.transitions if start <= t.start_frame < t.end_frame <= end),
        key=lambda t: t.start_frame,
    )
    cuts: list[int] = []
    last = start
    for cut in sorted(set(detection.cuts)):
        inside = any(t.start_frame <= cut < t.end_frame for t in transitions)
        if start < cut < end and not inside and cut - last >= min_shot and end - cut >= min_shot:
            cuts.append(cut)
            last = cut
    return Detection(tuple(cuts), tuple(transitions))
