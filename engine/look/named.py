"""Named looks: the text prompts the classic backend understands, each a deterministic image function.

| name          | what it does                                                              |
|---------------|---------------------------------------------------------------------------|
| noir          | black and white, hard S-curve contrast, dark vignette                     |
| sepia         | warm brown monochrome with lifted blacks                                  |
| teal-orange   | blockbuster split tone: teal shadows, orange highlights, a little punch   |
| bleach-bypass | silver retention: desaturated, contrasty, crushed blacks                  |
| pastel        | soft, bright, low-contrast, low-saturation pinkish tones                  |
| watercolor    | OpenCV's stylization filter, lightened and desaturated like wet paper     |
| comic         | flat posterized colours with black ink edges                              |
| cyberpunk     | cyan shadows, magenta highlights, high saturation and contrast            |

Prompts match case-insensitively, ignoring surrounding space and treating runs of spaces, hyphens and
underscores alike ("Teal Orange", "teal_orange", " TEAL-ORANGE " all name teal-orange).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import cv2
import numpy as np

__all__ = ["LOOKS", "apply_look", "find_look"]

RGB = tuple[float, float, float]
LUMA = np.array([[0.2126, 0.7152, 0.0722]], np.float32)  # Rec. 709


def _float(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) / 255.0


def _uint8(image: np.ndarray) -> np.ndarray:
    return cv2.convertScaleAbs(np.maximum(image, 0.0), alpha=255.0)  # cv2.max takes a 1x1 image for a scalar


def _luma(img: np.ndarray) -> np.ndarray:
    return cv2.transform(img, LUMA)[..., None]


def _saturate(img: np.ndarray, amount: float) -> np.ndarray:
    luma = _luma(img)
    return luma + (img - luma) * amount


def _contrast(img: np.ndarray, amount: float) -> np.ndarray:
    """An S-curve around mid-grey: 0 keeps the image, 1 is a full smoothstep."""
    x = np.clip(img, 0, 1)
    return x + amount * (x * x * (3 - 2 * x) - x)


def _vignette(img: np.ndarray, strength: float) -> np.ndarray:
    h, w = img.shape[:2]
    ys, xs = np.ogrid[-1 : 1 : h * 1j, -1 : 1 : w * 1j]
    falloff = 1 - strength * np.clip((xs * xs + ys * ys) / 2, 0, 1).astype(np.float32)
    return img * falloff[..., None]


def _split_tone(img: np.ndarray, shadows: RGB, highlights: RGB, amount: float) -> np.ndarray:
    """Tints shadows toward one RGB colour and highlights toward another."""
    luma = _luma(img)
    tint = (1 - luma) * np.float32(shadows) + luma * np.float32(highlights)
    return img + amount * (tint - 0.5)


def _sigma(img: np.ndarray, at_1920: float) -> float:
    """A filter's spatial sigma scaled with the long side, so a look is the same at any size."""
    return float(np.clip(at_1920 * max(img.shape[:2]) / 1920.0, 5.0, 200.0))


def noir(image: np.ndarray) -> np.ndarray:
    grey = np.repeat(_luma(_float(image)), 3, axis=2)
    return _uint8(_vignette(_contrast(_contrast(grey, 1.0), 0.6), 0.5))


def sepia(image: np.ndarray) -> np.ndarray:
    luma = _luma(_float(image))
    return _uint8(0.08 + 0.88 * luma * np.float32([1.07, 0.86, 0.62]))


def teal_orange(image: np.ndarray) -> np.ndarray:
    img = _split_tone(_float(image), (0.0, 0.55, 0.6), (1.0, 0.6, 0.3), 0.35)
    return _uint8(_contrast(_saturate(img, 1.2), 0.3))


def bleach_bypass(image: np.ndarray) -> np.ndarray:
    img = _float(image)
    return _uint8(_contrast(_saturate(img, 0.35), 0.8) * 0.95)


def pastel(image: np.ndarray) -> np.ndarray:
    img = _saturate(_float(image), 0.55)
    return _uint8(0.35 * np.float32([1.0, 0.93, 0.96]) + 0.62 * img)


def watercolor(image: np.ndarray) -> np.ndarray:
    painted = cv2.stylization(np.ascontiguousarray(image), sigma_s=_sigma(image, 100.0), sigma_r=0.45)
    return _uint8(0.15 + 0.85 * _saturate(_float(painted), 0.8))


def comic(image: np.ndarray) -> np.ndarray:
    sigma_s = _sigma(image, 70.0)
    flat = cv2.edgePreservingFilter(np.ascontiguousarray(image), flags=cv2.RECURS_FILTER, sigma_s=sigma_s, sigma_r=0.3)
    levels = np.round(_saturate(_float(flat), 1.4) * 5) / 5
    edges = cv2.Canny(cv2.cvtColor(flat, cv2.COLOR_RGB2GRAY), 40, 100)
    ink = cv2.dilate(edges, np.ones((2, 2), np.uint8)) > 0
    levels[ink] = 0.0
    return _uint8(levels)


def cyberpunk(image: np.ndarray) -> np.ndarray:
    img = _split_tone(_float(image), (0.0, 0.75, 0.9), (1.0, 0.2, 0.85), 0.45)
    return _uint8(_contrast(_saturate(img, 1.5), 0.5))


LOOKS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "noir": noir,
    "sepia": sepia,
    "teal-orange": teal_orange,
    "bleach-bypass": bleach_bypass,
    "pastel": pastel,
    "watercolor": watercolor,
    "comic": comic,
    "cyberpunk": cyberpunk,
}


_SPELLINGS = {"watercolour": "watercolor"}
"""British spellings of the looks' names: an editor's prompt is not refused for its spelling."""


def find_look(prompt: str) -> str | None:
    """The look a prompt names, or None."""
    key = re.sub(r"[\s_-]+", "-", prompt.strip().lower())
    key = _SPELLINGS.get(key, key)
    return key if key in LOOKS else None


def apply_look(name: str, image: np.ndarray) -> np.ndarray:
    """Applies the named look to an HxWx3 uint8 RGB image."""
    return LOOKS[name](image)
