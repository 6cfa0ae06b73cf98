"""Write-back: the rendered shots as a new version track, in a new file beside the original timeline.

Each source video track that has renders gets a track above it (and above its earlier versions) named for
the style and a version number; every rendered clip sits at exactly its shot's record range, its source range
excluding the handles so an editor can still trim. Transitions between rendered neighbours are kept, and a dissolve
detected inside a clip becomes a cross-dissolve of the source's duration between its two shots. The original
file is never touched: the result is written to `<stem>.dreamstyle-v<N><suffix>` atomically.
"""

from __future__ import annotations

import glob
import logging
import re
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import opentimelineio as otio
from opentimelineio.opentime import RationalTime, TimeRange

from dreamstyle.atomic import written_as
from dreamstyle.frames import probe

from ..errors import TimelineError
from ..hosts.premiere import prepare as prepare_fcp7
from ..plan import Shot
from .media import is_relative, url_to_path
from .reader import NAMESPACE, version_of
from .timecode import from_timecode, timecode_labels

__all__ = ["NAMESPACE", "Rendered", "next_version", "version_title", "write_version"]

log = logging.getLogger(__name__)

# Formats written back in kind, with adapter options; an EDL (one video track only) comes back as .otio.
# The AAF writer takes mob ids from AAF metadata, absent for clips born in OTIO: it makes empty ones.
_WRITERS = {".otio": ("otio_json", {}), ".xml": ("fcp_xml", {}), ".aaf": ("AAF", {"use_empty_mob_ids": True})}


class Rendered(Protocol):
    """What write-back needs of a finished shot: a `pipeline.ShotResult` with an output."""

    shot: Shot
    output: Path
    look: str  # the look it was rendered with ("": the version's label)


def next_version(timeline: otio.schema.Timeline) -> int:
    return max([0, *(version_of(t) for t in timeline.tracks if isinstance(t, otio.schema.Track))]) + 1


def _clip(result: Rendered, version: int, label: str) -> otio.schema.Clip:
    shot = result.shot
    rate = float(shot.rate)
    info = probe(result.output)
    first = _first_frame(info.timecode, rate)  # the render's own start timecode (the source's), as its file says
    labelled = shot.clip.source.start_time if shot.clip else None
    if labelled is not None and labelled.rate != rate and timecode_labels(labelled, shot.rate):
        # The source clip counts the media's frames at another spelling of its rate (23.976 for 24000/1001)
        # or at its NTSC twin (24 for 23.976 media), as some exporters write them: so does this one, the
        # render's frames too, frame for frame (through seconds each clip would lose a frame, and an AAF
        # writer refuses clips at another rate than the edit's).
        at = labelled.rate
        available = TimeRange(RationalTime(round(first.value), at), RationalTime(info.frames, at))
        source_range = TimeRange(available.start_time + RationalTime(shot.head, at), RationalTime(shot.frames, at))
    else:
        # As long as the shot on the record side: media at another rate than the timeline's would
        # otherwise drift by a fraction of a frame per clip (25 frames at 25 fps are 29.97 frames at 29.97).
        available = TimeRange(first, RationalTime(info.frames, rate))
        source_range = TimeRange(first + RationalTime(shot.head, rate), shot.record.duration.rescaled_to(rate))
    reference = otio.schema.ExternalReference(target_url=_url(result.output, shot.clip.media_url if shot.clip else None),
                                              available_range=available)
    if info.timecode and ";" in info.timecode:  # FCP7 XML's writer shows a file's timecode drop-frame only if told
        reference.metadata["fcp_xml"] = {"timecode": {"displayformat": "DF"}}
    clip = otio.schema.Clip(name=f"{shot.name} DreamStyle v{version}", media_reference=reference, source_range=source_range)
    look = result.look or label
    clip.metadata[NAMESPACE] = {"version": version, "style": look, "source": str(shot.media), "shot": shot.name}
    clip.markers.append(
        otio.schema.Marker(
            name=f"DreamStyle v{version}: {look}",
            marked_range=TimeRange(source_range.start_time, RationalTime(1, source_range.start_time.rate)),
            color=otio.schema.MarkerColor.PURPLE,
        )
    )
    return clip


def _first_frame(text: str | None, rate: float) -> RationalTime:
    """A render's first frame on its own timecode (0 without one, or with one that is not a timecode)."""
    try:
        return from_timecode(text, rate) if text else RationalTime(0, rate)
    except ValueError:
        return RationalTime(0, rate)


def _url(render: Path, source_url: str | None) -> str:
    """The render's reference in the form the source clip's takes: a raw absolute path where the NLE wrote
    one (Resolve's OTIO export does, and its import is only known to read that form), else a file:// URL."""
    path = render.resolve()
    if source_url and "://" not in source_url and not source_url.lower().startswith("file:"):
        return str(path)
    return path.as_uri()


def _transition_between(left: Shot, right: Shot) -> otio.schema.Transition | None:
    """The source track's transition between the clips of two shots that touch on the record side."""
    if left.clip is None or right.clip is None or left.clip.clip is right.clip.clip:
        return None
    track = left.clip.clip.parent()
    if track is not right.clip.clip.parent():
        return None
    _, after = track.neighbors_of(left.clip.clip)
    if isinstance(after, otio.schema.Transition) and track.neighbors_of(after)[1] is right.clip.clip:
        return after.deepcopy()
    return None


def _detected_transition(left: Shot, right: Shot) -> otio.schema.Transition | None:
    """A cross-dissolve for a dissolve/wipe detected inside one clip, as long as the source's: the
    left shot's tail and the right shot's head were rendered through its frames.
    """
    joined = right.transition_in
    if joined is None or left.clip is None or right.clip is None or left.clip.clip is not right.clip.clip:
        return None
    rate = float(right.rate)
    transition = otio.schema.Transition(
        name=f"{joined.kind} {right.name}",
        transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
        in_offset=RationalTime(right.start - joined.start_frame, rate),
        out_offset=RationalTime(joined.end_frame - right.start, rate),
    )
    transition.metadata[NAMESPACE] = {"detected": joined.kind}
    return transition


def _track(results: Sequence[Rendered], version: int, label: str, rate: float, source: otio.schema.Track) -> otio.schema.Track:
    """The version track of `source`'s rendered shots. It takes `source`'s own range (an EDL's record
    start is a track range starting at minus its timecode), so its clips sit where `source`'s do in any
    reader, whether it applies track ranges or lays children out from zero."""
    track = otio.schema.Track(name=f"DreamStyle v{version} - {label}", kind=otio.schema.TrackKind.Video)
    track.metadata[NAMESPACE] = {"version": version, "style": label}
    offset = RationalTime(0, rate)
    if source.source_range is not None:
        track.source_range = source.source_range
        offset = source.source_range.start_time  # a time on this track is the timeline time + offset

    def frame(time: RationalTime) -> int:  # in whole frames: 23.976 and 24000/1001 are one rate, spelled two ways
        return round(time.value_rescaled_to(rate))

    cursor = 0
    previous = None
    for result in sorted(results, key=lambda r: r.shot.record.start_time.to_seconds()):
        record = result.shot.record
        start = frame(record.start_time + offset)
        if start < cursor:
            continue  # shots of one track do not overlap (see timeline.nesting); never place one over another
        if start > cursor or previous is None:
            _append_fade(track, previous, head=False)
            if start > cursor:  # at the records' own spelling of the rate, as the NLE wrote it
                gap = RationalTime(start - cursor, record.duration.rate)
                track.append(otio.schema.Gap(source_range=TimeRange(RationalTime(0, gap.rate), gap)))
            _append_fade(track, result, head=True)
        elif transition := _transition_between(previous.shot, result.shot) or _detected_transition(previous.shot, result.shot):
            track.append(transition)
        track.append(_clip(result, version, label))
        cursor = start + frame(record.duration)
        previous = result
    _append_fade(track, previous, head=False)
    return track


def _append_fade(track: otio.schema.Track, result: Rendered | None, *, head: bool) -> None:
    """Appends the source's fade from black before (`head`) or to black after the shot's clip, when the
    shot starts or ends that clip and nothing is on the fade's other side: the opaque render above would
    hide the source's fade."""
    ref = result.shot.clip if result is not None else None
    if ref is None or not isinstance(source := ref.clip.parent(), otio.schema.Track):
        return
    side = 0 if head else 1
    fade = source.neighbors_of(ref.clip)[side]
    shot_edge, clip_edge = ((result.shot.record.start_time, ref.record.start_time) if head
                            else (result.shot.record.end_time_exclusive(), ref.record.end_time_exclusive()))
    rate = result.shot.record.duration.rate  # the timeline's: a clip of media at another rate may end between its frames
    at_edge = round(shot_edge.value_rescaled_to(rate)) == round(clip_edge.value_rescaled_to(rate))
    if isinstance(fade, otio.schema.Transition) and at_edge:
        beyond = source.neighbors_of(fade)[side]
        if beyond is None or isinstance(beyond, otio.schema.Gap):
            track.append(fade.deepcopy())


def _above(tracks: otio.schema.Stack, index: int) -> int:
    """Where track `index`'s new version goes: right above it and its earlier versions, which would hide it."""
    index += 1
    while index < len(tracks) and isinstance(tracks[index], otio.schema.Track) and version_of(tracks[index]):
        index += 1
    return index


def _as_fcp7(timeline: otio.schema.Timeline, version: int) -> otio.schema.Timeline:
    """A copy of `timeline` whose version `version` clips count their markers from their media's first frame, as
    FCP7 XML counts a clip's markers (and its <in>): OTIO's adapter writes a marker's time as it stands, and a
    render's media time starts at its timecode, so Premiere put the marker past the clip's end. A copy: the
    .otio written when the XML cannot be keeps OTIO's media time."""
    fcp7 = timeline.deepcopy()
    for track in fcp7.video_tracks():
        if track.metadata.get(NAMESPACE, {}).get("version") != version:
            continue
        for clip in track.find_clips():
            start = clip.media_reference.available_range.start_time
            for marker in clip.markers:
                marker.marked_range = TimeRange(marker.marked_range.start_time - start, marker.marked_range.duration)
    return fcp7


def _atomic_write(timeline: otio.schema.Timeline, path: Path) -> None:
    """Writes `path` whole or not at all, never over a file there (FileExistsError: another run took it)."""
    adapter, options = _WRITERS[path.suffix]
    with written_as(path, replace=False) as partial:
        otio.adapters.write_to_file(timeline, str(partial), adapter_name=adapter, **options)


def write_version(
    source_path: Path, timeline: otio.schema.Timeline, results: Sequence[Rendered], label: str, rate: Fraction
) -> Path:
    """Writes a copy of `timeline` with one new version track per rendered source track; returns its path.
    The version number is the next free one, also when another run writes a version at the same time."""
    version = next_version(timeline)
    while True:
        try:
            return _write_version(source_path, timeline, results, label, rate, version)
        except FileExistsError:  # another run took this number between our look and our write
            version += 1
        except OSError as exc:  # the folder cannot take it (permissions, a full disk): the renders stay
            raise TimelineError(f"version timeline beside {source_path}: {exc.strerror or exc}; the renders are "
                                "kept: make that folder writable (or free space) and write back again") from None


def _anchor_relative(timeline: otio.schema.Timeline, folder: Path) -> None:
    """Makes relative media paths absolute from `folder`: a version written beside a link to the timeline, in
    another folder, would read them from there."""
    for clip in timeline.find_clips():
        ref = clip.media_reference
        if isinstance(ref, otio.schema.ExternalReference) and ref.target_url and is_relative(url_to_path(ref.target_url)):
            ref.target_url = str(folder / url_to_path(ref.target_url))


_VERSION_STEM = re.compile(r"\.dreamstyle-v(\d+)$")
_VERSION_TITLE = re.compile(r" DreamStyle v\d+$")


def _edit_stem(source_path: Path) -> str:
    """The edit's own file name: a version's ("edit.dreamstyle-v1") is its edit's, whose next version it makes."""
    return _VERSION_STEM.sub("", source_path.stem)


def version_title(timeline: otio.schema.Timeline, source_path: Path, written: Path) -> str:
    """The name of the version timeline `write_version` wrote to `written`: "<timeline> DreamStyle vN"."""
    version = _VERSION_STEM.search(written.stem).group(1)
    return f"{_VERSION_TITLE.sub('', timeline.name) or _edit_stem(source_path)} DreamStyle v{version}"


def _write_version(source_path: Path, timeline: otio.schema.Timeline, results: Sequence[Rendered], label: str,
                   rate: Fraction, version: int) -> Path:
    suffix = source_path.suffix.lower() if source_path.suffix.lower() in _WRITERS else ".otio"

    stem = _edit_stem(source_path)

    def named(version: int, suffix: str) -> Path:
        return source_path.with_name(f"{stem}.dreamstyle-v{version}{suffix}")

    # A number is taken by any format's file of it: edit.xml's v1 and edit.otio's v1 would share a contact sheet.
    while any(source_path.parent.glob(f"{glob.escape(stem)}.dreamstyle-v{version}.*")):
        version += 1
    copy = timeline.deepcopy()
    target = named(version, suffix)
    by_track: dict[int, list[Rendered]] = {}
    for result in results:
        by_track.setdefault(result.shot.track_index, []).append(result)
    for track_index in sorted(by_track, reverse=True):
        track = _track(by_track[track_index], version, label, float(rate), copy.tracks[track_index])
        copy.tracks.insert(_above(copy.tracks, track_index), track)
    copy.name = version_title(timeline, source_path, target)
    folder = source_path.resolve().parent  # where relative media paths are read from (not a link's folder)
    if suffix == ".xml":
        prepare_fcp7(copy, folder)  # a filled <format>, Premiere-style URLs, track names
    elif folder != source_path.parent.resolve():
        _anchor_relative(copy, folder)
    try:
        _atomic_write(_as_fcp7(copy, version) if suffix == ".xml" else copy, target)
    except FileExistsError:
        raise
    except Exception as exc:  # noqa: BLE001 - adapters raise many types for what their format cannot hold
        if suffix == ".otio":
            raise
        # The renders are done: keep them reachable in OTIO (which every NLE here imports) rather than lose the run.
        fallback = named(version, ".otio")
        log.warning("%s cannot be written as %s (%s: %s); wrote %s instead", target.name, suffix, type(exc).__name__, exc,
                    fallback.name)
        _atomic_write(copy, fallback)
        return fallback
    return target
