"""The seam between the product and an NLE: one small protocol, one module per host.

A host hands the product its current timeline as a file (OTIO where it can) and takes results back,
either as a new timeline version or as clips placed on a new track of the open timeline. Hosts without a
live scripting bridge (Premiere Pro) are served through files instead: see `hosts.premiere`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from host_plugin.errors import DreamStyleError

__all__ = ["HostError", "HostUnavailable", "Placement", "Host", "placements_for"]


class HostError(DreamStyleError):
    """A host refused or failed an operation; the message names the step, the clip and what to do."""


class HostUnavailable(HostError):
    """The host, or its scripting library, cannot be reached from here; says why and how to fix it."""


@dataclass(frozen=True)
class Placement:
    """One rendered clip to lay on a version track.

    `record_frame` is absolute on the timeline at the timeline's rate (it includes the timeline's start,
    e.g. 86400 for 01:00:00:00 at 24 fps). `source_in`/`source_out` are frames of the rendered media at
    its own rate, end exclusive: with handles they skip the handle frames so the editor can still trim.
    `record_frames` is the clip's length on the timeline (it differs from the media's frame count when
    the rates differ; 0: the same). `track` is the index of the source track the shot came from: each
    source track gets its own version track, so clips that overlap in the edit never share one.
    """

    media: Path
    record_frame: int
    source_in: int
    source_out: int
    name: str
    record_frames: int = 0
    track: int = 0

    def __post_init__(self) -> None:
        if self.source_out <= self.source_in:
            raise ValueError(f"{self.name}: empty source range {self.source_in}..{self.source_out}")

    @property
    def frames(self) -> int:
        return self.source_out - self.source_in

    @property
    def duration(self) -> int:
        """Frames on the timeline."""
        return self.record_frames or self.frames


def placements_for(results: Sequence[Any], start_frame: int) -> list[Placement]:
    """Placements for the rendered `pipeline.ShotResult`s of a timeline starting at `start_frame`: each clip at
    its shot's record start, its source range skipping the rendered handles."""
    return [
        Placement(r.output, start_frame + r.shot.record.start_time.to_frames(), r.shot.head,
                  r.shot.head + r.shot.frames, f"{r.shot.name} DreamStyle", r.shot.record.duration.to_frames(),
                  r.shot.track_index)
        for r in results if r.output is not None
    ]


@runtime_checkable
class Host(Protocol):
    """A running NLE the panel can read from and write back into."""

    name: str

    def timeline_name(self) -> str:
        """The name of the timeline the editor has open."""
        ...

    def export_timeline(self, dest: Path) -> Path:
        """Writes the open timeline to `dest` (or a sibling with the host's extension); returns the file."""
        ...

    def import_new_version(self, timeline_path: Path, name: str, renders: Sequence[Path] = ()) -> str:
        """Imports a written timeline file as a new timeline called `name`; returns its final name.
        `renders` are the rendered clips in it, which may need the host's clip attributes set."""
        ...

    def add_version_track(self, placements: Sequence[Placement], track_name: str) -> list[int]:
        """Adds new video tracks above the others, one per source track, to the timeline last exported
        (not whichever is open now), places every clip at its absolute record frame and returns the new
        tracks' indices (1-based, as hosts count). When anything fails, what it added is removed."""
        ...
