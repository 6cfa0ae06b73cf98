"""Shot-boundary detection inside a clip's source range: cuts and gradual transitions.

`detect(media, start, end, settings)` runs one registered detector (see `DETECTORS`) over media
frames [start, end) in a single decode pass.
"""

from .base import Detection, DetectionSettings, Detector, DetectorNotFound, ShotDetectionError, Transition
from .cache import default_cache_dir
from .detection import MediaUnreadable, detect
from .registry import DETECTORS

__all__ = [
    "DETECTORS",
    "Detection",
    "DetectionSettings",
    "Detector",
    "DetectorNotFound",
    "MediaUnreadable",
    "ShotDetectionError",
    "Transition",
    "default_cache_dir",
    "detect",
]
