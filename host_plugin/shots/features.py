"""Cheap per-frame signals on 48x27 RGB thumbnails, used by the combined detector.

All functions take a T x 27 x 48 x 3 array and return per-frame arrays indexed like it.
"""

from __future__ import annotations

import numpy as np

CHUNK = 1024  # frames worked on at once: wider temporaries than the uint8 thumbnails stay this size


def _chunks(start: int, n: int) -> list[slice]:
    """Slices of up to CHUNK frames covering [start, n)."""
    return [slice(lo, min(lo + CHUNK, n)) for lo in range(start, n, CHUNK)]


def step_difference(thumbs: np.ndarray) -> np.ndarray:
    """Mean absolute RGB difference between each frame and the one before (0 for the first)."""
    out = np.zeros(len(thumbs), np.float32)
    for part in _chunks(1, len(thumbs)):
        before = thumbs[part.start - 1 : part.stop - 1]
        out[part] = np.abs(thumbs[part].astype(np.int16) - before).mean(axis=(1, 2, 3))
    return out


def adaptive_ratio(step: np.ndarray, width: int = 2) -> np.ndarray:
    """Each step over the mean of its `width` neighbours on each side (AdaptiveDetector's ratio)."""
    padded = np.pad(step, width, mode="edge")
    window = np.lib.stride_tricks.sliding_window_view(padded, 2 * width + 1)
    neighbours = (window.sum(axis=1) - step) / (2 * width)
    return step / np.maximum(neighbours, 0.5)


def returns_to(thumbs: np.ndarray, at: int, reach: int = 4) -> float:
    """The smallest difference between a frame just before `at` and one at or just after it.

    Small for a flash or a one-off glitch (the picture comes back), as large as the step for a cut.
    """
    before = thumbs[max(0, at - reach) : at].astype(np.int16)
    after = thumbs[at : at + reach + 1].astype(np.int16)
    if not len(before) or not len(after):
        return float("inf")
    return float(np.abs(before[:, None] - after[None, :]).mean(axis=(2, 3, 4)).min())


def excursion(thumbs: np.ndarray, step: np.ndarray, at: int, shorter_than: int, share: float) -> bool:
    """Whether the step at `at` starts or ends an excursion shorter than `shorter_than` frames (a flash, a
    blink): another step at least half as large that close, with the picture before the first of the two
    seen again right after the second. "Seen again": differing by under `share` of this step, and by no more
    than the shot itself moves in that time (twice its usual frame-to-frame change a frame, plus noise), so
    two pictures of a like brightness either side of a black slug are not one. The frames in between are not
    compared: flashes on both sides of a cut are no excursion either.
    """
    for other in range(max(1, at - shorter_than + 1), min(len(step), at + shorter_than)):
        if other == at or step[other] < 0.5 * step[at]:
            continue
        first, last = min(at, other), max(at, other)
        around = np.concatenate([step[max(1, first - 3) : first], step[last + 1 : last + 4]])
        usual = float(np.median(around)) if len(around) else 0.0
        allowed = min(share * step[at], 3.0 + 2.0 * (last - first + 1) * usual)
        if np.abs(thumbs[first - 1].astype(np.int16) - thumbs[last]).mean() < allowed:
            return True
    return False


def histograms(thumbs: np.ndarray) -> np.ndarray:
    """Normalised 512-bin (8 levels per channel) colour histograms."""
    out = np.zeros((len(thumbs), 512), np.float32)
    for part in _chunks(0, len(thumbs)):
        levels = (thumbs[part] // 32).astype(np.int32)
        index = (levels[..., 0] * 64 + levels[..., 1] * 8 + levels[..., 2]).reshape(len(levels), -1)
        offsets = (np.arange(len(levels)) * 512)[:, None]
        counts = np.bincount((index + offsets).ravel(), minlength=512 * len(levels))
        out[part] = counts.reshape(len(levels), 512) / index.shape[1]
    return out


def gradualness(hist: np.ndarray, reach: int = 8) -> np.ndarray:
    """How much the colour distribution changes over 2*reach frames beyond its largest single step.

    High inside dissolves and fades; near zero at cuts (one big step) and over pans of one scene.
    """
    n = len(hist)
    lo, hi = np.clip(np.arange(n) - reach, 0, n - 1), np.clip(np.arange(n) + reach, 0, n - 1)
    span = 0.5 * np.abs(hist[hi] - hist[lo]).sum(axis=1)
    step = np.zeros(n, np.float32)
    step[1:] = 0.5 * np.abs(np.diff(hist, axis=0)).sum(axis=1)
    largest = np.lib.stride_tricks.sliding_window_view(np.pad(step, reach, mode="edge"), 2 * reach + 1).max(axis=1)
    return span - largest


def blend_extent(
    hist: np.ndarray, lo: int, hi: int, share: float = 0.15, apart_min: float = 0.2
) -> tuple[int, int] | None:
    """[start, end) of the frames in [lo, hi) that are like neither frame lo nor frame hi - 1
    (further than `share` of their distance from both), or None when there are none or when those two
    frames' colours are less than `apart_min` apart (not two different shots).
    """
    first, last = hist[lo], hist[hi - 1]
    apart = 0.5 * np.abs(first - last).sum()
    if apart < apart_min:
        return None
    span = hist[lo:hi]
    away = (0.5 * np.abs(span - first).sum(axis=1) > share * apart) & (
        0.5 * np.abs(span - last).sum(axis=1) > share * apart
    )
    inside = np.flatnonzero(away)
    return (lo + int(inside[0]), lo + int(inside[-1]) + 1) if len(inside) else None


def blend_fit(thumbs: np.ndarray, start: int, end: int) -> tuple[float, float]:
    """How well frames [start, end) fit a dissolve from frame start - 1 to frame end: each frame is
    a + alpha * (b - a) plus a residual. Returns the median residual relative to |b - a| (0 for a pure
    mix; near 1 when the picture moved or changed some other way) and the mean distance of the alphas
    from a steady ramp (0 to 1 across the frames: small for a dissolve, large for a hold then a cut).
    """
    a, b = thumbs[max(0, start - 1)].astype(np.float32), thumbs[min(len(thumbs) - 1, end)].astype(np.float32)
    direction = (b - a).ravel()
    norm = float(direction @ direction)
    if norm == 0:
        return float("inf"), float("inf")
    frames = thumbs[start:end].astype(np.float32).reshape(end - start, -1) - a.ravel()
    alpha = np.clip(frames @ direction / norm, 0, 1)
    residual = np.linalg.norm(frames - alpha[:, None] * direction, axis=1) / np.sqrt(norm)
    ramp = np.arange(1, end - start + 1) / (end - start + 1)
    return float(np.median(residual)), float(np.abs(alpha - ramp).mean())


def same_picture(a: np.ndarray, b: np.ndarray, correlation: float = 0.9) -> bool:
    """Whether two thumbnails show one picture at another exposure or gain: their grey levels correlate
    this well (a dissolve joins two different pictures; an exposure ramp inside a shot mixes one with itself)."""
    x, y = a.astype(np.float32).mean(axis=2).ravel(), b.astype(np.float32).mean(axis=2).ravel()
    if x.std() < 1 or y.std() < 1:  # a flat frame (black, white) is no picture to compare
        return False
    return float(np.corrcoef(x, y)[0, 1]) >= correlation


def abrupt_edges(luma: np.ndarray, start: int, end: int, share: float = 0.6) -> tuple[bool, bool]:
    """Whether the dip [start, end) of `luma` is entered and left in one frame (a cut, not a fade): the
    step at each edge makes up `share` of the dip's depth on that side. The clip's own first and last
    frames count as abrupt: a fade there is known only by its gradual side."""
    deepest = float(luma[start:end].min())
    enter = start == 0 or luma[start - 1] - luma[start] >= share * (luma[start - 1] - deepest) > 0
    leave = end == len(luma) or luma[end] - luma[end - 1] >= share * (luma[end] - deepest) > 0
    return bool(enter), bool(leave)


def wipe_fit(thumbs: np.ndarray, start: int, end: int) -> float:
    """The median share, over frames [start, end), of the pixels that change between frame start - 1 and
    frame end which are still like the first or already like the last (within a quarter of their change):
    near 1 for a wipe, whose edge sweeps one picture off for the other; low for a zoom or a skewed pan,
    whose pixels pass through values of neither."""
    a, b = (thumbs[i].astype(np.float32).mean(axis=2) for i in (max(0, start - 1), min(len(thumbs) - 1, end)))
    change = np.abs(b - a)
    moving = change > 24
    if not moving.any() or end <= start:
        return 0.0
    frames = thumbs[start:end].astype(np.float32).mean(axis=3)
    near = (np.abs(frames - a) < 0.25 * change) | (np.abs(frames - b) < 0.25 * change)
    return float(np.median(near[:, moving].mean(axis=1)))


def dark_dips(luma: np.ndarray, black: float = 40.0, around: int = 24) -> list[tuple[int, int]]:
    """[start, end) of each fade through black: a dip below `black` and a quarter of the local level,
    widened to the frames as dark as its edges (a long dark stretch lowers its own local level) and to
    those that still darken before it and brighten after it.
    """
    n = len(luma)
    level = np.array([np.median(luma[max(0, t - around) : t + around + 1]) for t in range(n)])
    dark = (luma < black) & (luma < 0.25 * np.maximum(level, 1.0))
    dips: list[tuple[int, int]] = []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], dark.astype(np.int8), [0]])))
    for start, end in zip(edges[::2], edges[1::2]):
        slope = max(1.0, 0.03 * level[start])  # a fade's frames darken faster than a shot drifts
        while start > 0 and luma[start - 1] < black and luma[start - 1] <= luma[start] + slope:
            start -= 1
        while end < n and luma[end] < black and luma[end] <= luma[end - 1] + slope:
            end += 1
        while start > 1 and luma[start - 2] > luma[start - 1] + slope:
            start -= 1
        while end + 1 < n and luma[end + 1] > luma[end] + slope:
            end += 1
        if dips and start <= dips[-1][1]:
            start = dips.pop()[0]
        dips.append((int(start), int(end)))
    return dips


def transition_kind(thumbs: np.ndarray) -> str:
    """ "fade", "wipe" or "dissolve" for the frames of a transition plus one frame on each side.

    A fade dips to black from both ends. In a wipe each pixel changes in one step as a moving edge
    passes, so the frame of each pixel's largest step is a plane over the image (not one frame for all,
    as in a whip pan, nor random, as in a dissolve).
    """
    luma = thumbs.mean(axis=(1, 2, 3))
    if luma.min() < min(40.0, 0.25 * min(luma[0], luma[-1])):
        return "fade"
    grey = thumbs.astype(np.float32).mean(axis=3)
    moving = np.abs(grey[-1] - grey[0]) > 24
    if len(thumbs) < 5 or moving.mean() < 0.1:
        return "dissolve"
    when = np.abs(np.diff(grey, axis=0)).argmax(axis=0)[moving].astype(np.float32)
    ys, xs = np.nonzero(moving)
    design = np.stack([xs, ys, np.ones_like(xs)], axis=1).astype(np.float32)
    fit = design @ np.linalg.lstsq(design, when, rcond=None)[0]
    spread = float(when.var())
    explained = 1 - float(((when - fit) ** 2).mean()) / spread if spread else 0.0
    return "wipe" if explained > 0.7 and np.sqrt(spread) > len(thumbs) / 8 else "dissolve"
