"""The bundled sample edit: two generated clips at 24000/1001 on a timeline starting at 01:00:00:00.

Clip A holds a hard cut inside it (two different scenes in one file); clip B is one scene. Both are real
H.264 files written with PyAV, so the sample exercises decoding, detection and chaining for real.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import opentimelineio as otio
from opentimelineio.opentime import RationalTime, TimeRange

from dreamstyle.frames import MediaError, probe

__all__ = ["RATE", "make_sample", "landscape"]

RATE = Fraction(24000, 1001)
WIDTH, HEIGHT = 640, 360


def landscape(scene: int, t: int, width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    """Frame t of a moving landscape: sky, sun, layered hills with parallax, a drifting object."""
    rng = np.random.default_rng(scene)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    sky_top, sky_low = rng.integers(40, 255, 3), rng.integers(120, 255, 3)
    mix = (yy / height)[..., None]
    img = sky_top * (1 - mix) + sky_low * mix
    sun_x, sun_y = width * (0.2 + 0.6 * rng.random()) + t * 0.6, height * 0.25
    sun = ((xx - sun_x) ** 2 + (yy - sun_y) ** 2) < (height * 0.08) ** 2
    img[sun] = (255, 230, 150)
    for layer in range(3):
        colour = rng.integers(20, 200, 3) * (0.6 + 0.2 * layer)
        speed = (layer + 1) * 1.5
        freq = rng.uniform(0.005, 0.02)
        ridge = height * (0.55 + 0.12 * layer) + height * 0.08 * np.sin((xx[0] + t * speed) * freq + layer)
        img[yy > ridge[None, :]] = colour
    texture = rng.normal(0, 6, (height, width, 1)).astype(np.float32)
    box_x = int((t * 4 + scene * 90) % (width + 80)) - 40
    img[int(height * 0.45) : int(height * 0.55), max(0, box_x) : max(0, box_x + 60)] = rng.integers(0, 255, 3)
    return np.clip(img + texture, 0, 255).astype(np.uint8)


def _write(path: Path, scenes: list[tuple[int, int]]) -> int:
    """Writes the clip unless a complete one is there already (so a second sample run finds its renders)."""
    expected = sum(frames for _, frames in scenes)
    try:
        if probe(path).frames == expected:
            return expected
    except MediaError:
        pass
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=RATE)
    stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    stream.options = {"g": "48", "crf": "20", "preset": "veryfast"}
    count = 0
    for scene, frames in scenes:
        for t in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(landscape(scene, t), format="rgb24")):
                container.mux(packet)
            count += 1
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return count


def make_sample(folder: Path) -> Path:
    """Writes media/clip_a.mp4, media/clip_b.mp4 and sample.otio into `folder`; returns the timeline."""
    media = folder / "media"
    media.mkdir(parents=True, exist_ok=True)
    rate = float(RATE)
    clips = [
        ("clip_a", _write(media / "clip_a.mp4", [(1, 60), (2, 72)]), TimeRange(RationalTime(12, rate), RationalTime(108, rate))),
        ("clip_b", _write(media / "clip_b.mp4", [(3, 96)]), TimeRange(RationalTime(6, rate), RationalTime(84, rate))),
    ]
    timeline = otio.schema.Timeline("DreamStyle sample", global_start_time=otio.opentime.from_timecode("01:00:00:00", rate))
    track = otio.schema.Track("V1", kind=otio.schema.TrackKind.Video)
    for name, frames, used in clips:
        reference = otio.schema.ExternalReference(
            target_url=str((media / f"{name}.mp4").resolve()),
            available_range=TimeRange(RationalTime(0, rate), RationalTime(frames, rate)),
        )
        track.append(otio.schema.Clip(name, media_reference=reference, source_range=used))
    timeline.tracks.append(track)
    timeline.tracks.append(otio.schema.Track("A1", kind=otio.schema.TrackKind.Audio))
    path = folder / "sample.otio"
    if not path.exists():  # a sample timeline the editor changed stays as they left it
        otio.adapters.write_to_file(timeline, str(path))
    return path
