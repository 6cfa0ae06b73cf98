"""Timelines for end-to-end tests: clips on one video track, and the small edit most of them render."""

from __future__ import annotations

from pathlib import Path

import opentimelineio as otio
from opentimelineio.opentime import RationalTime, TimeRange

from mediagen import write_video

R = 24000 / 1001


def clip_of(name: str, path: Path, start: int, duration: int, frames: int) -> otio.schema.Clip:
    """A clip of `duration` frames from frame `start` of `path`, media of `frames` frames at 23.976."""
    ref = otio.schema.ExternalReference(str(path), TimeRange(RationalTime(0, R), RationalTime(frames, R)))
    return otio.schema.Clip(name, media_reference=ref, source_range=TimeRange(RationalTime(start, R), RationalTime(duration, R)))


def cut_of(path: Path, clips: list[otio.schema.Clip]) -> Path:
    """Writes `clips` on one video track as the .otio timeline `path`."""
    timeline = otio.schema.Timeline(path.stem)
    timeline.tracks.append(otio.schema.Track("V1", children=clips))
    otio.adapters.write_to_file(timeline, str(path))
    return path


def write_edit(root: Path) -> Path:
    """An .otio edit in `root`: clip A holds a hard cut at media frame 50; a gap; clip B; an audio track."""
    a = write_video(root / "media" / "a.mp4", [50, 70])
    b = write_video(root / "media" / "b.mp4", [90])
    timeline = otio.schema.Timeline("edit", global_start_time=otio.opentime.from_timecode("01:00:00:00", R))
    video = otio.schema.Track("V1")
    video.append(clip_of("A", a, 10, 100, 120))
    video.append(otio.schema.Gap(source_range=TimeRange(RationalTime(0, R), RationalTime(12, R))))
    video.append(clip_of("B", b, 5, 60, 90))
    audio = otio.schema.Track("A1", kind=otio.schema.TrackKind.Audio)
    audio.append(clip_of("A audio", a, 10, 100, 120))
    timeline.tracks.extend([video, audio])
    path = root / "edit.otio"
    otio.adapters.write_to_file(timeline, str(path))
    return path
