"""Record timecode as the timeline shows it: drop-frame or not, as the NLE wrote it."""

from __future__ import annotations

import math
from fractions import Fraction

import opentimelineio as otio
from opentimelineio.opentime import RationalTime, TimeRange

__all__ = ["NTSC_RATES", "drop_frame_of", "exact_rate", "from_timecode", "parse_rate", "record_timecodes", "timecode", "timecode_labels"]

NTSC_RATES = {"23.976": 24000 / 1001, "29.97": 30000 / 1001, "47.952": 48000 / 1001, "59.94": 60000 / 1001}
"""NTSC rates by the names editors use for them."""


def exact_rate(rate: float) -> Fraction:
    """OTIO's float rates as exact fractions: 24000/1001 for 23.976..., also where a file rounded it
    (23.976, 23.98; a muxer's 2997/125)."""
    for ntsc in NTSC_RATES.values():
        if abs(rate - ntsc) < 0.005:
            return Fraction(ntsc).limit_denominator(1001)
    return Fraction(rate).limit_denominator(1001)


def drop_frame_of(timeline: otio.schema.Timeline) -> bool | None:
    """True/False when the timeline says (FCP7 XML's displayformat, an EDL's FCM as `read_timeline`
    keeps it, Resolve's setting as its host notes it in the OTIO export), None to infer from the rate."""
    noted = timeline.metadata.get("dreamstyle", {}).get("drop_frame")
    if isinstance(noted, bool):
        return noted
    display = timeline.metadata.get("fcp_xml", {}).get("timecode", {}).get("displayformat")
    fcm = timeline.metadata.get("cmx_3600", {}).get("fcm")
    return {"DF": True, "NDF": False, "DROP FRAME": True, "NON-DROP FRAME": False}.get(display or fcm)


def _base(rate: float) -> int:
    """Frames a timecode second counts at `rate` (120 at 119.88)."""
    return math.ceil(rate - 0.01)


def timecode(time: RationalTime, rate: float, drop_frame: bool | None = None) -> str:
    """HH:MM:SS:FF (or HH:MM:SS;FF for drop-frame) at `rate`; None infers DF from 29.97/59.94. Rates
    OTIO's SMPTE table lacks (12.5, 15, 100, 119.88, 120...) count non-drop."""
    try:
        if drop_frame is None:
            return otio.opentime.to_timecode(time, rate)
        return otio.opentime.to_timecode(time, rate, drop_frame)
    except ValueError:
        base, frames = _base(rate), round(time.value_rescaled_to(rate))
        seconds, frame = divmod(frames, base)
        return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}:{frame:02d}"


def record_timecodes(record: TimeRange, start: RationalTime | None, drop_frame: bool | None = None) -> tuple[str, str]:
    """A shot's record in and out (exclusive) as the timeline shows them: counted from the timeline's
    start timecode `start` (None: 00:00:00:00) at the record's own rate."""
    rate = record.start_time.rate
    if start is None:
        offset = RationalTime(0, rate)
    elif timecode_labels(start, exact_rate(rate)):  # also 01:00:00:00 at 24 for 23.976
        offset = RationalTime(start.value, rate)
    else:
        offset = start
    return (timecode(record.start_time + offset, rate, drop_frame),
            timecode(record.end_time_exclusive() + offset, rate, drop_frame))


def timecode_labels(time: RationalTime, rate: Fraction) -> bool:
    """Whether `time` is at `rate` or its NTSC twin (24 for 23.976 media): timecode labels, which NLEs
    count in frames whichever of the two they write (through seconds, 01:00:00:00 would be 86 frames off)."""
    ratio = Fraction(time.rate).limit_denominator(1001) / rate
    return any(abs(ratio - twin) < Fraction(1, 10**5) for twin in (1, Fraction(1001, 1000), Fraction(1000, 1001)))


def from_timecode(text: str, rate: float) -> RationalTime:
    """The time of a timecode at `rate` (ValueError when it is not one); non-drop where OTIO lacks the rate."""
    try:
        return otio.opentime.from_timecode(text, rate)
    except ValueError:
        parts = text.replace(";", ":").split(":")
        if len(parts) != 4 or not all(p.isdigit() for p in parts):
            raise
        hours, minutes, seconds, frame = map(int, parts)
        return RationalTime(((hours * 60 + minutes) * 60 + seconds) * _base(rate) + frame, rate)


def parse_rate(text: str) -> float:
    """A frame rate given as 25, 23.976 (an NTSC rate by its usual name) or 24000/1001; ValueError otherwise."""
    try:
        rate = NTSC_RATES.get(text.strip()) or float(Fraction(text.strip()))
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{text!r} is not a frame rate (give 25, 23.976 or 24000/1001)") from None
    if not 1 <= rate <= 1000:
        raise ValueError(f"{text!r} is not a frame rate between 1 and 1000 fps")
    return rate
