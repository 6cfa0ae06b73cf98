"""An annotated shot-boundary set built from real photographs (scikit-image's bundled sample images).

Each shot is a virtual camera moving over one photograph: a slow pan/zoom with hand-held shake, sensor
noise, and, as hard negatives, camera flashes and whip pans with motion blur. Shots are joined by hard
cuts, dissolves (8-30 frames) and fades through black at known frames (tests/shotgen.py composes and
encodes them). The photos are split in two disjoint halves: one to tune on, one held out.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

TUNE_PHOTOS = [
    "astronaut.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "camera.png",
    "coins.png",
    "moon.png",
    "brick.png",
    "grass.png",
    "text.png",
]
HELD_OUT_PHOTOS = [
    "chelsea.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "retina.jpg",
    "motorcycle_right.png",
    "page.png",
    "gravel.png",
    "cell.png",
    "clock_motion.png",
]


def load_photo(name: str) -> np.ndarray:
    """A bundled scikit-image sample photograph as float32 RGB."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the shot benchmark reads scikit-image's sample photos: pip install scikit-image")
    path = Path(spec.submodule_search_locations[0]) / "data" / name
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)  # grey photos come back as 3 equal channels
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(np.float32)


@dataclass
class PhotoShot:
    """Frame t of a camera move over `photo`; defined for any t (the move extrapolates)."""

    photo: np.ndarray
    size: tuple[int, int]  # output (width, height)
    start: tuple[float, float, float]  # centre x, centre y (0-1 of the photo), zoom (crop height / photo height)
    velocity: tuple[float, float, float]  # per frame
    seed: int
    flashes: list[int] = field(default_factory=list)  # shot-local frames that flash (2 frames each)
    whip: tuple[int, int, float] | None = None  # (first frame, frames, x speed per frame)
    noise: float = 3.0

    def _matrix(self, t: float) -> np.ndarray:
        h, w = self.photo.shape[:2]
        cx, cy, zoom = (s + v * t for s, v in zip(self.start, self.velocity))
        if self.whip:
            first, frames, speed = self.whip
            cx += speed * min(max(t - first, 0.0), frames)
        rng = np.random.default_rng(self.seed + int(np.floor(t)) * 7919)
        shake = rng.normal(0, 1.2, 2)
        crop_h = zoom * h
        scale = self.size[1] / crop_h
        x0 = cx * w - self.size[0] / scale / 2
        y0 = cy * h - crop_h / 2
        return np.array([[scale, 0, -x0 * scale + shake[0]], [0, scale, -y0 * scale + shake[1]]], np.float32)

    def _render(self, t: float) -> np.ndarray:
        return cv2.warpAffine(
            self.photo, self._matrix(t), self.size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )

    def __call__(self, t: int) -> np.ndarray:
        if self.whip and self.whip[0] <= t < self.whip[0] + self.whip[1]:
            frame = np.mean([self._render(t + k / 6) for k in range(6)], axis=0)  # motion blur
        else:
            frame = self._render(t)
        if any(f <= t < f + 2 for f in self.flashes):
            frame = frame + (255 - frame) * (0.75 if t in self.flashes else 0.4)
        rng = np.random.default_rng(self.seed * 31 + t)
        frame = frame + rng.normal(0, self.noise, frame.shape[:2])[..., None]
        return np.clip(frame, 0, 255).astype(np.uint8)


@dataclass
class Plan:
    shots: list[PhotoShot]
    lengths: list[int]
    joins: list[tuple[str, int]]
    negatives: list[tuple[str, int]]  # ("flash" | "whip", edit frame) for reporting


def make_plan(photos: list[str], count: int, size: tuple[int, int], seed: int) -> Plan:
    """`count` shots over `photos`, joined by cuts (60%), dissolves (25%) and fades (15%)."""
    rng = np.random.default_rng(seed)
    images = {name: load_photo(name) for name in photos}
    shots, lengths, joins, negatives = [], [], [], []
    name = photos[0]
    position = 0
    for i in range(count):
        if rng.random() > 0.3 or i == 0:  # 30% of cuts stay on the same photo: a new angle, same scene
            name = rng.choice([p for p in photos if p != name])
        length = int(rng.integers(24, 73))
        zoom = rng.uniform(0.35, 0.9)
        start = (rng.uniform(0.35, 0.65), rng.uniform(0.4, 0.6), zoom)
        velocity = (rng.uniform(-0.002, 0.002), rng.uniform(-0.001, 0.001), rng.uniform(-0.002, 0.002))
        shot = PhotoShot(images[name], size, start, velocity, seed=int(rng.integers(1 << 30)))
        roll = rng.random()
        if roll < 0.2:
            shot.flashes = [int(rng.integers(6, length - 6))]
            negatives.append(("flash", position + shot.flashes[0]))
        elif roll < 0.4:
            first = int(rng.integers(6, max(7, length - 16)))
            shot.whip = (first, int(rng.integers(6, 12)), float(rng.choice([-1, 1]) * rng.uniform(0.02, 0.05)))
            negatives.append(("whip", position + first))
        shots.append(shot)
        lengths.append(length)
        position += length
        if i < count - 1:
            kind = rng.choice(["cut", "dissolve", "fade"], p=[0.6, 0.25, 0.15])
            join = (str(kind), 0 if kind == "cut" else int(rng.integers(8, 31)))
            joins.append(join)
            position += join[1]
    return Plan(shots, lengths, joins, negatives)
