"""Stylizing a frame from a style image: colour statistics transfer plus a painterly filter.

The painterly filter is OpenCV's recursive edge-preserving filter (Gastal & Oliveira's domain transform:
flattens texture, keeps edges; deterministic) followed by a soft quantisation of lightness into bands,
the flat tones of paint. The colour transfer is Reinhard et al.'s: each CIELAB channel is shifted and
scaled to the style image's mean and standard deviation (the scale clamped so a flat image never
explodes). Filtering first, then transferring, leaves the result with the style image's statistics.
"""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["from_lab", "painterly", "stylize", "to_lab", "transfer_colour"]

STATS_SIDE = 256  # statistics are taken on images downscaled to this long side
SCALE_LIMITS = (0.2, 5.0)
BANDS = 12  # lightness bands of the painterly quantisation
BAND_PULL = 0.5  # 0 keeps lightness, 1 snaps it to its band


def to_lab(image: np.ndarray) -> np.ndarray:
    """uint8 (or uint16) RGB -> float32 CIELAB (L 0..100)."""
    return cv2.cvtColor(image.astype(np.float32) / np.iinfo(image.dtype).max, cv2.COLOR_RGB2Lab)


def from_lab(lab: np.ndarray, dtype: type[np.integer] = np.uint8) -> np.ndarray:
    """float32 CIELAB -> uint8 (or uint16) RGB, rounded and saturated."""
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    if dtype == np.uint16:
        return (np.clip(rgb, 0.0, 1.0) * 65535.0).round().astype(np.uint16)
    return cv2.convertScaleAbs(np.maximum(rgb, 0.0), alpha=255.0)  # cv2.max takes a 1x1 image for a scalar


def _stats(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = image.shape[:2]
    scale = min(1.0, STATS_SIDE / max(h, w))
    small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    lab = to_lab(small).reshape(-1, 3).astype(np.float64)
    return lab.mean(axis=0), lab.std(axis=0)


def transfer_colour(image: np.ndarray, style: np.ndarray) -> np.ndarray:
    """`image` with the CIELAB mean and standard deviation of `style` (Reinhard transfer)."""
    mean, std = _stats(image)
    style_mean, style_std = _stats(style)
    gain = np.clip(style_std / np.maximum(std, 1e-6), *SCALE_LIMITS)
    lab = (to_lab(image) - mean.astype(np.float32)) * gain.astype(np.float32) + style_mean.astype(np.float32)
    return from_lab(lab)


def painterly(image: np.ndarray) -> np.ndarray:
    """Flattens texture while keeping edges, then pulls lightness toward a few bands."""
    sigma_s = float(np.clip(60.0 * max(image.shape[:2]) / 1920.0, 10.0, 200.0))  # same look at any size
    image = np.ascontiguousarray(image)
    smooth = cv2.edgePreservingFilter(image, flags=cv2.RECURS_FILTER, sigma_s=sigma_s, sigma_r=0.4)
    lab = to_lab(smooth)
    step = 100.0 / BANDS
    lightness = lab[..., 0]
    lab[..., 0] = lightness + BAND_PULL * (np.round(lightness / step) * step - lightness)
    return from_lab(lab)


def stylize(image: np.ndarray, style: np.ndarray) -> np.ndarray:
    """The first frame of a shot painted in the colours of a style image."""
    return transfer_colour(painterly(image), style)
