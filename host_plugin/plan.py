"""Splitting a timeline into shots: its own edit points, plus boundaries detected inside each clip."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

from opentimelineio.opentime import RationalTime, TimeRange

from dreamstyle.frames import MediaError, MediaInfo, probe

from .errors import MediaNotFound
from .shots import DetectionSettings, ShotDetectionError, Transition, detect
from .timeline.media import Relinker, url_to_path
from .timeline.reader import ClipRef
from .timeline.timecode import exact_rate, from_timecode, timecode_labels

__all__ = ["ClipProblem", "Plan", "Shot", "plan_media", "plan_shots"]


@dataclass(frozen=True)
class Shot:
    """One shot to render: a range of one media file, and where it sits on the timeline."""

    number: int
    clip_name: str
    track_index: int
    media: Path
    rate: Fraction
    start: int
    end: int
    head: int
    tail: int
    record: TimeRange
    """Relative to the timeline's start, at the timeline's rate."""
    clip: ClipRef | None = field(default=None, compare=False, repr=False)
    transition_in: Transition | None = None
    """A dissolve or wipe detected in the source between the previous shot and this one: both are
    rendered through its frames (this shot's head, the previous shot's tail) and cross-dissolved."""
    media_timecode: str | None = None
    """The media file's start timecode, when it has one (read once, at planning)."""

    @property
    def frames(self) -> int:
        return self.end - self.start

    @property
    def name(self) -> str:
        return f"{self.clip_name}_s{self.number:03d}"


@dataclass(frozen=True)
class ClipProblem:
    clip_name: str
    message: str
    offline: bool = False
    """Its media was not found: a search folder or path map may find it (not so a variable frame rate...)."""


@dataclass
class Plan:
    shots: list[Shot]
    problems: list[ClipProblem]
    transitions: list[Transition]
    rate: Fraction


def _media_offset(clip: ClipRef, info: MediaInfo) -> RationalTime:
    """Source time of the media's first frame (its start timecode, as the NLE wrote it)."""
    if clip.available is not None:
        return clip.available.start_time
    rate = float(exact_rate(float(info.rate)))  # OTIO reads timecode at 24000/1001, not at 23.976
    if info.timecode:
        try:
            start = from_timecode(info.timecode, rate)
        except ValueError:  # a file's timecode that is not one
            return RationalTime(0, rate)
        source = clip.source.start_time  # timecode labels count in frames (see timecode_labels)
        if (source.value >= start.value) if timecode_labels(source, info.rate) else (source >= start):
            return start
    return RationalTime(0, rate)


def _frames(time: RationalTime, rate: Fraction) -> int:
    return round(Fraction(time.to_seconds()).limit_denominator(10**9) * rate)


def _source_frames(source: TimeRange, offset: RationalTime, rate: Fraction) -> tuple[int, int]:
    """The media frames [start, end) a clip's source range uses, `offset` being the media's first frame."""
    if timecode_labels(source.start_time, rate) and timecode_labels(offset, rate):
        start = round(source.start_time.value) - round(offset.value)
        return start, start + round(source.duration.value_rescaled_to(source.start_time.rate))
    start = _frames(source.start_time - offset, rate)
    return start, start + _frames(source.duration, rate)


def _split(
    start: int, end: int, settings: DetectionSettings | None, media: Path
) -> tuple[list[int], dict[int, Transition], list[Transition]]:
    """Shot bounds (cuts, and the middle of each detected transition), the dissolves/wipes by the bound
    they straddle, and every transition found. A fade is split at its middle and rendered as it is.
    """
    if settings is None:
        return [start, end], {}, []
    found = detect(media, start, end, settings)
    middles = {(t.start_frame + t.end_frame) // 2: t for t in found.transitions}
    blends = {bound: t for bound, t in middles.items() if t.kind != "fade"}
    return sorted({start, *found.cuts, *middles, end}), blends, list(found.transitions)


def _blend_handles(first: int, last: int, blends: dict[int, Transition]) -> tuple[int, int]:
    """Frames a shot is rendered beyond its bounds to run through a detected dissolve on either side."""
    head = first - blends[first].start_frame if first in blends else 0
    tail = blends[last].end_frame - last if last in blends else 0
    return head, tail


def _fits(clip: ClipRef, media: Path) -> bool:
    """Whether `media` holds the frames `clip` uses: same-named files told apart by start timecode and length."""
    try:
        info = probe(media)
    except MediaError:
        return False
    start, end = _source_frames(clip.source, _media_offset(clip, info), info.rate)
    return start >= 0 and end <= info.frames


def _find_media(clip: ClipRef, relinker: Relinker) -> Path:
    """The clip's media file, searched by path, then by an EDL's SOURCE FILE comment, reel and clip name."""
    path = url_to_path(clip.media_url) if clip.media_url else None
    names = [n for n in (clip.source_file, clip.reel, clip.name) if n]
    media = relinker.find(path, names, fits=lambda candidate: _fits(clip, candidate))
    if media is None and not (clip.media_url or clip.source_file or clip.reel):
        by_name = (f", or give --media-dir FOLDER (in the panel: Add search folder) holding a file named "
                   f"{clip.clip.name}") if clip.clip.name else ""
        raise MediaNotFound("the timeline names no media file for this clip (offline in the NLE when exported); "
                            f"relink it in the NLE and export again{by_name}.")
    if media is None:
        raise MediaNotFound(
            f"media {path or clip.source_file or clip.reel} not found (offline); relink with --media-dir "
            "FOLDER or --path-map FROM=TO (in the panel: Add search folder, Add path mapping)."
        )
    return media


def _probe(media: Path) -> MediaInfo:
    """`probe`, its error saying what to do: the clip is linked to a file that is no video (audio, text, empty)."""
    try:
        return probe(media)
    except MediaError as exc:
        raise MediaError(f"{exc} Relink the clip to its video file in the NLE and export the timeline again.") from exc


def _check_constant_rate(media: Path, info: MediaInfo) -> None:
    """MediaError, with what to do, for media of a variable frame rate: its frames have no fixed numbering."""
    if info.variable_rate:
        raise MediaError(
            f"{media.name} has a variable frame rate (a phone or screen recording?): an NLE conforms it to a "
            "constant rate, so its frames cannot be matched to the edit here; transcode it to a constant rate "
            "(e.g. `ffmpeg -i IN -fps_mode cfr -r 30 OUT.mov` at the rate it was shot at, or HandBrake's "
            "Constant Framerate), relink the clip and export again."
        )


def _clip_frames(clip: ClipRef, media: Path, info: MediaInfo) -> tuple[int, int]:
    """The media frames [start, end) the clip uses; MediaError when they cannot be rendered as the edit shows them."""
    if info.frames == 1 and clip.source.duration.to_frames() > 1:
        raise MediaError(
            f"{media.name} is a still image held for {clip.source.duration.to_frames()} frames; DreamStyle "
            "stylizes moving footage: render the still to a movie of that length (or restyle it as an image), "
            "relink the clip and export the timeline again."
        )
    _check_constant_rate(media, info)
    start, end = _source_frames(clip.source, _media_offset(clip, info), info.rate)
    if start < 0 or end > info.frames:
        raise MediaError(f"uses frames [{start}, {end}) but {media.name} has {info.frames}; relink it to the full-length media.")
    return start, end


def _record_bounds(clip: ClipRef, bounds: list[int], timeline_rate: float) -> list[int]:
    """The record frame of each shot bound: the clip's own record in and out at its first and last (its media
    may run at another rate), detected cuts between them placed in proportion."""
    record_in = round(clip.record.start_time.value_rescaled_to(timeline_rate))
    record_out = round(clip.record.end_time_exclusive().value_rescaled_to(timeline_rate))
    start, end = bounds[0], bounds[-1]
    inner = [record_in + round(Fraction((bound - start) * (record_out - record_in), end - start)) for bound in bounds[1:-1]]
    return [record_in, *inner, record_out]


def plan_shots(
    clips: list[ClipRef],
    relinker: Relinker,
    timeline_rate: float,
    detection: DetectionSettings | None,
    handles: int = 0,
) -> Plan:
    """Shots of every clip in timeline order; a clip whose media fails is a problem, not a crash."""
    shots: list[Shot] = []
    problems: list[ClipProblem] = []
    transitions: list[Transition] = []
    ordered = sorted(clips, key=lambda c: (c.record.start_time.to_seconds(), c.track_index))
    for clip in ordered:
        try:
            media = _find_media(clip, relinker)
            info = _probe(media)
            start, end = _clip_frames(clip, media, info)
            bounds, blends, found = _split(start, end, detection, media)
        except (MediaNotFound, MediaError, ShotDetectionError) as exc:
            problems.append(ClipProblem(clip.name, f"clip {clip.name}: {exc}", isinstance(exc, MediaNotFound)))
            continue
        transitions.extend(found)
        head_room = handles + _frames(clip.transition_in, info.rate)
        tail_room = handles + _frames(clip.transition_out, info.rate)
        records = _record_bounds(clip, bounds, timeline_rate)
        for (first, last), (record_in, record_out) in zip(pairwise(bounds), pairwise(records)):
            blend_head, blend_tail = _blend_handles(first, last, blends)
            record = TimeRange(RationalTime(record_in, timeline_rate), RationalTime(record_out - record_in, timeline_rate))
            shots.append(
                Shot(
                    number=len(shots) + 1,
                    clip_name=clip.name,
                    track_index=clip.track_index,
                    media=media,
                    rate=info.rate,
                    start=first,
                    end=last,
                    head=min(head_room, first) if first == start else blend_head,
                    tail=min(tail_room, info.frames - last) if last == end else blend_tail,
                    record=record,
                    clip=clip,
                    transition_in=blends.get(first),
                    media_timecode=info.timecode,
                )
            )
    return Plan(shots, problems, transitions, exact_rate(timeline_rate))


def plan_media(media: Path, detection: DetectionSettings | None) -> Plan:
    """The shots found inside a plain media file (no timeline); MediaError names it when it cannot be read through."""
    info = probe(media)
    _check_constant_rate(media, info)
    try:
        bounds, blends, found = _split(0, info.frames, detection, media)
    except ShotDetectionError as exc:  # a truncated or damaged file, a variable frame rate: said, not a traceback
        raise MediaError(str(exc)) from exc
    rate = float(info.rate)
    shots = [
        Shot(
            number=i + 1,
            clip_name=media.stem,
            track_index=0,
            media=media,
            rate=info.rate,
            start=a,
            end=b,
            head=_blend_handles(a, b, blends)[0],
            tail=_blend_handles(a, b, blends)[1],
            record=TimeRange(RationalTime(a, rate), RationalTime(b - a, rate)),
            transition_in=blends.get(a),
            media_timecode=info.timecode,
        )
        for i, (a, b) in enumerate(pairwise(bounds))
    ]
    return Plan(shots, [], found, info.rate)
