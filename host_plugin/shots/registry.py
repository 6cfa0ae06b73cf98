"""The registry of detectors by name. Modules here are light: heavy imports happen in constructors."""

from __future__ import annotations

from .base import Detector, DetectorNotFound
from .combined import CombinedDetector
from .pyscenedetect import AdaptiveDetector, ContentDetector, HistogramDetector, ThresholdDetector
from .transnet import TransNetV2Detector

DETECTORS: dict[str, type[Detector]] = {
    cls.name: cls
    for cls in (
        CombinedDetector,
        AdaptiveDetector,
        ContentDetector,
        ThresholdDetector,
        HistogramDetector,
        TransNetV2Detector,
    )
}


def get_detector(name: str) -> type[Detector]:
    """The detector class registered as `name`."""
    try:
        return DETECTORS[name]
    except KeyError:
        raise DetectorNotFound(f"unknown shot detector {name!r}; choose one of: {', '.join(DETECTORS)}") from None
