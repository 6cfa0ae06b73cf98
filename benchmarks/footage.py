"""Benchmark footage: H.264 of a moving random texture, so decoders and encoders do real work."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

__all__ = ["moving_texture"]


def moving_texture(path: Path, frames: int, width: int, height: int, rate: Fraction = Fraction(24000, 1001)) -> Path:
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=rate)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.options = {"preset": "ultrafast", "crf": "18", "g": "48"}
    rng = np.random.default_rng(0)
    tile = max(2, height // 45)
    base = rng.integers(0, 255, (height // tile + 1, width // tile + 1, 3), dtype=np.uint8)
    base = base.repeat(tile, 0).repeat(tile, 1)[:height, :width]
    for t in range(frames):
        frame = np.ascontiguousarray(np.roll(base, shift=(t * 3, t * 5), axis=(0, 1)))
        for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path
