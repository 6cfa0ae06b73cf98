"""Composes annotated edits (hard cuts, dissolves, wipes, fades through black) from per-shot frame sources.

`write_edit` returns the ground truth: the frame where each hard cut's new shot starts and each gradual
transition's [start, end) frames, all at the file's own frame numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from mediagen import scene_frame

FrameSource = Callable[[int], np.ndarray]  # frame t of one shot, HxWx3 uint8 RGB


@dataclass
class Truth:
    cuts: list[int] = field(default_factory=list)
    transitions: list[tuple[str, int, int]] = field(default_factory=list)  # (kind, start, end)
    frames: int = 0


def _mix(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    return (a.astype(np.float32) * (1 - alpha) + b.astype(np.float32) * alpha).round().astype(np.uint8)


def edit_frames(sources: Sequence[tuple[FrameSource, int]], joins: Sequence[tuple[str, int]], truth: Truth):
    """Yields the edit's frames: shot i (source, own frames) joined to shot i+1 by joins[i] = (kind, length),
    kind one of "cut", "dissolve", "wipe", "fade"."""
    index = 0
    for i, (source, count) in enumerate(sources):
        yield from (source(t) for t in range(count))
        index += count
        if i == len(joins):
            break
        kind, length = joins[i]
        nxt = sources[i + 1][0]
        if kind == "cut":
            truth.cuts.append(index)
            continue
        truth.transitions.append((kind, index, index + length))
        for k in range(length):
            alpha = (k + 1) / (length + 1)
            a, b = source(count + k), nxt(k - length)
            if kind == "dissolve":
                yield _mix(a, b, alpha)
            elif kind == "wipe":
                edge = round(a.shape[1] * alpha)
                yield np.concatenate([b[:, :edge], a[:, edge:]], axis=1)
            else:
                yield (
                    _mix(a, np.zeros_like(a), min(1.0, 2 * alpha))
                    if alpha < 0.5
                    else _mix(np.zeros_like(b), b, 2 * alpha - 1)
                )
        index += length


def write_edit(
    path: Path,
    sources: Sequence[tuple[FrameSource, int]],
    joins: Sequence[tuple[str, int]],
    *,
    rate: Fraction = Fraction(24000, 1001),
    crf: int = 20,
) -> Truth:
    """Encodes the edit as long-GOP H.264 and returns its ground truth."""
    truth = Truth()
    container = av.open(str(path), "w")
    first = sources[0][0](0)
    stream = container.add_stream("libx264", rate=rate)
    stream.height, stream.width = first.shape[:2]
    stream.pix_fmt = "yuv420p"
    stream.options = {"g": "48", "bf": "2", "crf": str(crf), "preset": "ultrafast"}
    for frame in edit_frames(sources, joins, truth):
        for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
            container.mux(packet)
        truth.frames += 1
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return truth


def synthetic(scene: int, width: int = 320, height: int = 180) -> FrameSource:
    """A slow pan (1 pixel a frame, for t in [-width/2, width/2)) over a still of tests/mediagen.py's
    synthetic scene `scene`: moving content with no jump inside the shot.
    """
    still = scene_frame(scene, 0, 2 * width, height)
    return lambda t: np.ascontiguousarray(still[:, width // 2 + t : width // 2 + t + width])
