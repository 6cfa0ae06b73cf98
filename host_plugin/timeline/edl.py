"""What a CMX3600 EDL says that OTIO's reader drops: its frame count mode (FCM) and the speed of an event
whose source and record durations are equal (Avid's motion effects, in an M2 line only)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import opentimelineio as otio

__all__ = ["add_speed_changes", "edl_text", "frame_count_mode"]

_TC = r"\d\d:\d\d:\d\d[:;]\d\d"
_FCM = re.compile(r"^\s*FCM:\s*(NON[- ]?)?DROP[- ]?FRAME", re.IGNORECASE | re.MULTILINE)
_EVENT_TIMECODE = re.compile(r"\d\d:\d\d:\d\d([:;])\d\d\s*$", re.MULTILINE)
# 001  A001  V  C  [dissolve frames]  source in, source out, record in, record out
_EVENT = re.compile(rf"^(\d+)\s+\S+\s+(\S+)\s+\S+(?:\s+\d+)?\s+({_TC})\s+{_TC}\s+({_TC})\s+{_TC}\s*$")
_M2 = re.compile(rf"^M2\s+(.+?)\s+(-?[\d.]+)\s+({_TC})\s*$")
_SPEED_RESOLUTION = 0.1
"""An M2 speed is written in frames per second to a tenth: within it of the EDL's rate is 100% (024.0 in a
23.976 EDL, 029.9 in a 29.97 one)."""


@dataclass(frozen=True)
class _Line:
    """An event line: its event number, whether it carries picture (V, A/V, B), source in and record in."""

    event: str
    video: bool
    source: str
    record: str


def edl_text(path: Path) -> str:
    """An EDL's text: UTF-8 (a byte order mark, as Notepad writes one, dropped), else Windows' Western code
    page, in which Avid and Premiere on Windows write accented clip names (OTIO's reader takes UTF-8 only)."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def frame_count_mode(edl: str) -> str | None:
    """An EDL's timecode mode, "DROP FRAME" or "NON-DROP FRAME": its first FCM line says, else the separator
    of its first event's timecodes (";" counts drop-frame)."""
    if fcm := _FCM.search(edl):
        return "NON-DROP FRAME" if fcm[1] else "DROP FRAME"
    if event := _EVENT_TIMECODE.search(edl):
        return "DROP FRAME" if event[1] == ";" else "NON-DROP FRAME"
    return None


def add_speed_changes(timeline: otio.schema.Timeline, edl: str, rate: float) -> None:
    """A LinearTimeWarp on each video clip an M2 line names (by reel or clip name, and source in), unless the
    reader gave it one. Where several clips are so named (a take cut in twice), the one at the record position
    of the event line the M2 follows; an M2 following an audio line retimes no picture. A dissolve's M2 may
    repeat the outgoing clip's: it names that clip's own source in, so it finds that clip."""
    lines: list[_Line] = []
    retimes: list[tuple[str, float, str, list[_Line]]] = []  # name, speed, source in, the lines of its event
    for text in edl.splitlines():
        if event := _EVENT.match(text.strip()):
            lines.append(_Line(event[1], "V" in event[2] or event[2] == "B", event[3], event[4]))
        elif (m2 := _M2.match(text.strip())) and lines:
            retimes.append((m2[1], float(m2[2]), m2[3], [line for line in lines if line.event == lines[-1].event]))
    video = [line for line in lines if line.video]
    if not retimes or not video:
        return
    try:
        first = min(otio.opentime.from_timecode(line.record, rate) for line in video)  # where the picture starts
    except ValueError:  # not timecodes at this rate: the reader has refused the EDL already
        return
    clips = [clip for track in timeline.video_tracks() for clip in track.find_clips()]
    for name, speed, source, event in retimes:
        own = [line for line in event if line.source == source]
        if abs(speed - rate) < _SPEED_RESOLUTION + 1e-6 or (own and not any(line.video for line in own)):
            continue
        start = otio.opentime.from_timecode(source, rate)
        named = [c for c in clips if name in (c.name, c.metadata.get("cmx_3600", {}).get("reel"))
                 and c.source_range.start_time == start]
        if len(named) > 1 and own:
            at = [otio.opentime.from_timecode(line.record, rate) - first for line in own if line.video]
            named = [c for c in named if c.range_in_parent().start_time in at] or named  # else all: never one too few
        for clip in named:
            if not clip.effects:
                clip.effects.append(otio.schema.LinearTimeWarp(time_scalar=speed / rate))
