"""PySceneDetect's Adaptive, Content, Threshold and Histogram detectors behind the seam.

They share one adapter (frame numbers -> FrameTimecode, RGB -> BGR), so they live in one module;
`scenedetect` (and OpenCV) are imported only when one is constructed.
"""

from __future__ import annotations

from abc import abstractmethod
from fractions import Fraction
from typing import Any

import numpy as np

from .base import Detection, Detector


class _SceneDetectAdapter(Detector):
    """Drives a `scenedetect.SceneDetector` frame by frame."""

    def __init__(self, rate: Fraction, min_shot: int, threshold: float | None = None) -> None:
        super().__init__(rate, min_shot, threshold)
        import cv2
        from scenedetect.common import FrameTimecode

        self._cv2 = cv2
        self._timecode = FrameTimecode
        self._last: Any = None
        self.inner = self._make()

    @abstractmethod
    def _make(self) -> Any:
        """Builds the wrapped PySceneDetect detector."""

    def push(self, index: int, frame: np.ndarray) -> None:
        self._last = self._timecode(index, fps=self.rate)
        bgr = self._cv2.cvtColor(frame, self._cv2.COLOR_RGB2BGR)
        self.cuts.extend(tc.frame_num for tc in self.inner.process_frame(self._last, bgr))

    def finish(self) -> Detection:
        if self._last is not None:
            self.cuts.extend(tc.frame_num for tc in self.inner.post_process(self._last))
        return super().finish()


class AdaptiveDetector(_SceneDetectAdapter):
    """Rolling-average content change (PySceneDetect's most accurate on BBC); threshold = ratio."""

    name = "adaptive"
    default_threshold = 3.0

    def _make(self) -> Any:
        from scenedetect.detectors import AdaptiveDetector as Inner

        return Inner(adaptive_threshold=self.threshold, min_scene_len=self.min_shot)


class ContentDetector(_SceneDetectAdapter):
    """HSV + edge change between consecutive frames; threshold on a 0-255 score."""

    name = "content"
    default_threshold = 27.0
    max_threshold = 255.0

    def _make(self) -> Any:
        from scenedetect.detectors import ContentDetector as Inner

        return Inner(threshold=self.threshold, min_scene_len=self.min_shot)


class ThresholdDetector(_SceneDetectAdapter):
    """Fades to/from black: mean intensity crossing a threshold (0-255)."""

    name = "threshold"
    default_threshold = 12.0
    max_threshold = 255.0
    finds = frozenset({"fade"})

    def _make(self) -> Any:
        from scenedetect.detectors import ThresholdDetector as Inner

        return Inner(threshold=self.threshold, min_scene_len=self.min_shot)


class HistogramDetector(_SceneDetectAdapter):
    """Luma histogram difference between consecutive frames; threshold 0-1."""

    name = "histogram"
    default_threshold = 0.20
    max_threshold = 1.0

    def _make(self) -> Any:
        from scenedetect.detectors import HistogramDetector as Inner

        return Inner(threshold=self.threshold, min_scene_len=self.min_shot)
