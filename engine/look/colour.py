"""Colour/tone mapping between a source frame and its stylized version.

The map is a least-squares affine colour transform (3x3 matrix + offset, ridge-regularised toward the
identity so a flat or tiny source never makes it explode) followed by one monotone tone curve per output
channel, fitted on what the affine part leaves unexplained. Applying it costs one `cv2.transform` and
one `cv2.LUT` per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["ColourMap", "fit_colour_map"]

FIT_SIDE = 256  # the fit runs on frames downscaled to this long side
RIDGE = 1e-3  # pull of the affine matrix toward the identity, relative to the pixel count
CURVE_BINS = 32
CURVE_PRIOR = 50.0  # pixels a curve bin needs before its data outweighs the identity


@dataclass(frozen=True)
class ColourMap:
    """`affine` is 3x4 (RGB in 0..255 -> RGB), `curves` a 1x256x3 float32 table of output values."""

    affine: np.ndarray
    curves: np.ndarray

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """Maps an HxWx3 uint8 frame; returns float32 values in 0..255."""
        linear = cv2.transform(np.ascontiguousarray(frame), self.affine)  # uint8, saturated and rounded
        return cv2.LUT(linear, self.curves)


def _small(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    scale = FIT_SIDE / max(h, w)
    if scale >= 1:
        return image
    return cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def _fit_affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    x = np.concatenate([src, np.ones((len(src), 1))], axis=1)
    prior = np.vstack([np.eye(3), np.zeros((1, 3))])
    reg = RIDGE * len(src) * np.diag([1.0, 1.0, 1.0, 1e-6])
    solution = np.linalg.solve(x.T @ x + reg, x.T @ dst + reg @ prior)  # 4x3, values in 0..1
    affine = solution.T.copy()
    affine[:, 3] *= 255.0
    return affine


def _fit_curve(values: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """A monotone 256-entry curve through the per-bin means, shrunk toward identity where data is thin."""
    bins = np.minimum(values.astype(np.int64) * CURVE_BINS // 256, CURVE_BINS - 1)
    count = np.bincount(bins, minlength=CURVE_BINS).astype(np.float64)
    used = count > 0
    mean_x = np.bincount(bins, values, CURVE_BINS)[used] / count[used]
    mean_y = np.bincount(bins, targets, CURVE_BINS)[used] / count[used]
    weight = count[used] / (count[used] + CURVE_PRIOR)
    y = weight * mean_y + (1 - weight) * mean_x
    offsets = np.interp(np.arange(256.0), mean_x, y - mean_x)  # ends continue with slope one
    curve = np.clip(np.arange(256.0) + offsets, 0, 255)
    return (np.maximum.accumulate(curve) + np.minimum.accumulate(curve[::-1])[::-1]) / 2


def fit_colour_map(source: np.ndarray, target: np.ndarray) -> ColourMap:
    """Fits the map that turns `source` into (as nearly as colour alone can) `target`, same-size uint8."""
    src = _small(source).reshape(-1, 3).astype(np.float64)
    dst = _small(target).reshape(-1, 3).astype(np.float64)
    affine = _fit_affine(src / 255.0, dst / 255.0)
    linear = cv2.transform(_small(source), affine.astype(np.float32)).reshape(-1, 3)
    curves = np.stack([_fit_curve(linear[:, c].astype(np.float64), dst[:, c]) for c in range(3)], axis=-1)
    return ColourMap(affine.astype(np.float32), curves.reshape(1, 256, 3).astype(np.float32))
