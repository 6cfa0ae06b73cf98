"""Record timecode as the timeline shows it: drop-frame or not, as the NLE wrote it."""

from __future__ import annotations

import opentimelineio as otio
from opentimelineio.opentime import RationalTime

__all__ = ["drop_frame_of", "timecode"]


def drop_frame_of(timeline: otio.schema.Timeline) -> bool | None:
    """True/False when the timeline says (FCP7 XML's displayformat), None to infer from the rate."""
    display = timeline.metadata.get("fcp_xml", {}).get("timecode", {}).get("displayformat")
    return {"DF": True, "NDF": False}.get(display)


def timecode(time: RationalTime, rate: float, drop_frame: bool | None = None) -> str:
    """HH:MM:SS:FF (or HH:MM:SS;FF for drop-frame) at `rate`; None infers DF from 29.97/59.94."""
    if drop_frame is None:
        return otio.opentime.to_timecode(time, rate)
    return otio.opentime.to_timecode(time, rate, drop_frame)
