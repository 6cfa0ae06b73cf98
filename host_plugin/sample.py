"""The bundled sample edit: two generated clips at 24000/1001 on a timeline starting at 01:00:00:00.

Clip A holds a hard cut inside it (two different scenes in one file); clip B is one scene. Both are real
H.264 files written with PyAV, so the sample exercises decoding, detection and chaining for real.
"""

from __future__ import annotations

from fractions import Fraction
from importlib import resources
from pathlib import Path

import av
import numpy as np
import opentimelineio as otio
from opentimelineio.opentime import RationalTime, TimeRange

from dreamstyle.atomic import written_as

from .errors import DreamStyleError
from .timeline.reader import NAMESPACE

__all__ = ["RATE", "STYLE_IMAGE", "make_sample", "landscape"]

RATE = Fraction(24000, 1001)
WIDTH, HEIGHT = 640, 360
STYLE_IMAGE = Path(str(resources.files("host_plugin") / "assets" / "style_night.png"))
"""The style image the sample is rendered with (`dreamstyle sample`, `dreamstyle panel --screenshot`)."""


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


MARK = "DreamStyle sample"
"""Carried by every file the sample writes (a clip's comment tag, the timeline's metadata): a second run keeps its
own files and never replaces anyone else's."""
_MADE_BY = {"made_by": MARK}  # the timeline's metadata under NAMESPACE

SCENES = {"clip_a": [(1, 60), (2, 72)], "clip_b": [(3, 96)]}
"""Each clip's scenes as (seed, frames): clip A holds a hard cut."""

USED = {"clip_a": (12, 108), "clip_b": (6, 84)}
"""The frames of each clip the timeline uses: (first, count)."""


def _is_sample_clip(path: Path, frames: int) -> bool:
    """Marked by the sample, or (written before the mark) the sample's size, rate and length."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            earlier = (stream.width, stream.height, stream.average_rate, stream.frames) == (WIDTH, HEIGHT, RATE, frames)
            return container.metadata.get("comment") == MARK or earlier
    except (av.FFmpegError, OSError, IndexError):
        return False


def _is_sample_timeline(path: Path) -> bool:
    """Marked by the sample, or (written before the mark) named as the sample names its timeline."""
    try:
        timeline = otio.adapters.read_from_file(str(path), adapter_name="otio_json")
    except (ValueError, OSError, otio.exceptions.OTIOError):
        return False
    return isinstance(timeline, otio.schema.Timeline) and (
        timeline.metadata.get(NAMESPACE) == _MADE_BY or timeline.name == "DreamStyle sample")


def _encode(path: Path, scenes: list[tuple[int, int]]) -> None:
    with av.open(str(path), "w", format="mp4") as container:
        container.metadata["comment"] = MARK
        stream = container.add_stream("libx264", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"g": "48", "crf": "20", "preset": "veryfast"}
        for scene, frames in scenes:
            for t in range(frames):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(landscape(scene, t), format="rgb24")))
        container.mux(stream.encode())


def _timeline(media: Path) -> otio.schema.Timeline:
    rate = float(RATE)
    start = otio.opentime.from_timecode("01:00:00:00", rate)
    timeline = otio.schema.Timeline("DreamStyle sample", global_start_time=start, metadata={NAMESPACE: _MADE_BY})
    track = otio.schema.Track("V1", kind=otio.schema.TrackKind.Video)
    for name, scenes in SCENES.items():
        reference = otio.schema.ExternalReference(
            target_url=str((media / f"{name}.mp4").resolve()),
            available_range=TimeRange(RationalTime(0, rate), RationalTime(sum(f for _, f in scenes), rate)),
        )
        first, count = USED[name]
        used = TimeRange(RationalTime(first, rate), RationalTime(count, rate))
        track.append(otio.schema.Clip(name, media_reference=reference, source_range=used))
    timeline.tracks.append(track)
    timeline.tracks.append(otio.schema.Track("A1", kind=otio.schema.TrackKind.Audio))
    return timeline


def make_sample(folder: Path) -> Path:
    """Writes media/clip_a.mp4, media/clip_b.mp4 and sample.otio into `folder`; returns the timeline.

    Files an earlier sample wrote are kept (a second run finds its renders; a sample timeline the editor changed
    stays as they left it). A file of those names that the sample did not write is refused, before anything is
    written."""
    media = folder / "media"
    clips = {media / f"{name}.mp4": scenes for name, scenes in SCENES.items()}
    timeline = folder / "sample.otio"
    ours = {path: _is_sample_clip(path, sum(f for _, f in scenes)) for path, scenes in clips.items() if path.exists()}
    if timeline.exists():
        ours[timeline] = _is_sample_timeline(timeline)
    for path, is_ours in ours.items():
        if not is_ours:
            raise DreamStyleError(f"{path} is not a file `dreamstyle sample` wrote, and it is left alone: choose an "
                                  "empty folder for the sample, or one an earlier sample made (--dir)")
    media.mkdir(parents=True, exist_ok=True)
    for path, scenes in clips.items():
        if not path.exists():
            with written_as(path) as partial:
                _encode(partial, scenes)
    if not timeline.exists():
        with written_as(timeline) as partial:
            otio.adapters.write_to_file(_timeline(media), str(partial), adapter_name="otio_json")
    return timeline
