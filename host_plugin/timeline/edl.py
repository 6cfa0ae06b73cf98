"""What a CMX3600 EDL says that OTIO's reader drops: its frame count mode (FCM) and the speed of an event
whose source and record durations are equal (Avid's motion effects, in an M2 line only)."""

from __future__ import annotations

import re

import opentimelineio as otio

__all__ = ["add_speed_changes", "frame_count_mode"]

_TC = r"\d\d:\d\d:\d\d[:;]\d\d"
_FCM = re.compile(r"^\s*FCM:\s*(NON[- ]?)?DROP[- ]?FRAME", re.IGNORECASE | re.MULTILINE)
_EVENT_TIMECODE = re.compile(r"\d\d:\d\d:\d\d([:;])\d\d\s*$", re.MULTILINE)
# 001  A001  V  C  [dissolve frames]  source in, source out, record in, record out
_EVENT = re.compile(rf"^\d+\s+(\S+)\s+\S+\s+\S+(?:\s+\d+)?\s+({_TC})\s+{_TC}\s+({_TC})\s+{_TC}\s*$")
_M2 = re.compile(rf"^M2\s+.+?\s+(-?[\d.]+)\s+{_TC}\s*$")
_SPEED_RESOLUTION = 0.1
"""An M2 speed is written in frames per second to a tenth: within it of the EDL's rate is 100% (024.0 in a
23.976 EDL, 029.9 in a 29.97 one)."""


def frame_count_mode(edl: str) -> str | None:
    """An EDL's timecode mode, "DROP FRAME" or "NON-DROP FRAME": its first FCM line says, else the separator
    of its first event's timecodes (";" counts drop-frame)."""
    if fcm := _FCM.search(edl):
        return "NON-DROP FRAME" if fcm[1] else "DROP FRAME"
    if event := _EVENT_TIMECODE.search(edl):
        return "DROP FRAME" if event[1] == ";" else "NON-DROP FRAME"
    return None


def add_speed_changes(timeline: otio.schema.Timeline, edl: str, rate: float) -> None:
    """A LinearTimeWarp on the clip of each event an M2 line follows, unless the reader gave it one: the clip
    of that reel (or name) and source in, at that event's record position where several are."""
    events: list[tuple[str, str, str]] = []  # reel, source in, record in
    retimed: list[tuple[tuple[str, str, str], float]] = []
    for line in edl.splitlines():
        if event := _EVENT.match(line.strip()):
            events.append(event.groups())
        elif (m2 := _M2.match(line.strip())) and events:
            retimed.append((events[-1], float(m2[1])))
    try:
        first = min(otio.opentime.from_timecode(record, rate) for _, _, record in events) if retimed else None
    except ValueError:  # not timecodes at this rate: the reader has refused the EDL already
        return
    for (reel, source, record), speed in retimed:
        if abs(speed - rate) < _SPEED_RESOLUTION:
            continue
        start = otio.opentime.from_timecode(source, rate)
        same = [c for c in timeline.find_clips() if reel in (c.name, c.metadata.get("cmx_3600", {}).get("reel"))
                and c.source_range.start_time == start]
        at = otio.opentime.from_timecode(record, rate) - first
        for clip in same if len(same) == 1 else [c for c in same if c.range_in_parent().start_time == at]:
            if not clip.effects:
                clip.effects.append(otio.schema.LinearTimeWarp(time_scalar=speed / rate))
