"""Reading timelines through OTIO and its adapters, and listing the video clips an editor sees."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

import opentimelineio as otio
from opentimelineio.opentime import RationalTime, TimeRange

from ..errors import TimelineError
from .edl import add_speed_changes, edl_text, frame_count_mode
from .media import url_to_path
from .nesting import layers, visible_parts

__all__ = ["ADAPTERS", "NAMESPACE", "ClipRef", "read_timeline", "version_of", "video_clips"]

# Suffix -> OTIO adapter; each non-core format comes from its own adapter package.
ADAPTERS = {".otio": "otio_json", ".xml": "fcp_xml", ".edl": "cmx_3600", ".aaf": "AAF"}


@dataclass(frozen=True)
class ClipRef:
    """A visible video clip: where its media is, which part is used, and where it sits on the timeline."""

    clip: otio.schema.Clip
    track_index: int
    track_name: str
    """The track as the NLE shows it: its own name, else V1, V2... counting video tracks from the bottom."""
    name: str
    media_url: str | None
    reel: str | None
    source_file: str | None
    """The file an Avid EDL names in a `* SOURCE FILE:` comment."""
    source: TimeRange
    available: TimeRange | None
    record: TimeRange
    """Record range relative to the timeline's start (add `global_start_time` for timecode)."""
    transition_in: RationalTime
    transition_out: RationalTime
    """Extra source time the neighbouring transitions show before and after the cut."""


NAMESPACE = "dreamstyle"
"""Metadata key of what DreamStyle writes into timelines (its version tracks and clips)."""
_VERSION_TRACK = re.compile(r"DreamStyle(?: v(\d+))? - ")  # its name, where an NLE dropped the metadata
_SOURCE_FILE = re.compile(r"SOURCE FILE:(.+)", re.IGNORECASE)


def version_of(track: otio.schema.Track) -> int:
    """The DreamStyle version a track holds (0: not a version track), by metadata or, after a round
    trip through an NLE or FCP7 XML (Premiere's name is an attribute), by name: "DreamStyle vN - look",
    or "DreamStyle - look" for a track the panel added in the NLE (counted as 1)."""
    if NAMESPACE in track.metadata:
        return int(track.metadata[NAMESPACE].get("version", 0)) or 1
    name = track.name or track.metadata.get("fcp_xml", {}).get("@MZ.TrackName", "")
    match = _VERSION_TRACK.match(name)
    return int(match[1] or 1) if match else 0


DEFAULT_EDL_RATE = 24000 / 1001
"""The rate an EDL's timecodes are read at unless told otherwise: EDLs do not say."""


def _edl_hint(exc: Exception, rate: float) -> str:
    """What to do about an EDL OTIO's reader refused: an event it does not take (its EDLParseError names the
    line), else timecodes that are none at `rate` (a 25 fps EDL's frame 24 read at 23.976); nothing for a file
    the system refuses to read, which its error says."""
    if isinstance(exc, OSError):
        return ""
    if isinstance(exc, otio.adapters.from_name("cmx_3600").module().EDLParseError):  # the module as OTIO loads it
        return (" OTIO's EDL reader takes a CMX3600 EDL's cuts, dissolves and wipes, in record order (A-mode) on one "
                "day's timecode (none past midnight): export the EDL again so, or the timeline as FCP7 XML, AAF or OTIO.")
    return (f" An EDL does not say its frame rate and this one was read at {rate:.6g} fps: if that is not its "
            "rate, give it (--edl-rate, or EDL fps in the panel; e.g. 25, 24 or 29.97).")


def read_timeline(path: Path, edl_rate: float = DEFAULT_EDL_RATE) -> otio.schema.Timeline:
    """Reads an .otio, FCP7 .xml, CMX3600 .edl or .aaf file; TimelineError says what is wrong."""
    adapter = ADAPTERS.get(path.suffix.lower())
    if adapter is None:
        raise TimelineError(f"{path}: unsupported timeline format; use one of {', '.join(sorted(ADAPTERS))}.")
    if not path.is_file():
        raise TimelineError(f"{path}: timeline file not found.")
    text = ""
    try:
        if adapter == "cmx_3600":
            text = edl_text(path)
            result = otio.adapters.read_from_string(text, adapter_name=adapter, rate=edl_rate)
        else:
            result = otio.adapters.read_from_file(str(path), adapter_name=adapter)
    except Exception as exc:  # adapters raise many unrelated types for a malformed file
        hint = _edl_hint(exc, edl_rate) if adapter == "cmx_3600" else ""
        raise TimelineError(f"{path}: cannot be read as {adapter} ({type(exc).__name__}: {exc}).{hint}") from exc
    if isinstance(result, otio.schema.SerializableCollection):
        timelines = list(result.find_children(descended_from_type=otio.schema.Timeline))
        if not timelines:
            raise TimelineError(f"{path}: holds no sequence/timeline.")
        result = timelines[0]
    if not isinstance(result, otio.schema.Timeline):
        raise TimelineError(f"{path}: holds a {type(result).__name__}, not a timeline.")
    if adapter == "cmx_3600":
        if fcm := frame_count_mode(text):
            result.metadata.setdefault("cmx_3600", {})  # the adapter drops the FCM line
            result.metadata["cmx_3600"]["fcm"] = fcm
        add_speed_changes(result, text, edl_rate)
    return result


def _transition_offsets(clip: otio.schema.Clip) -> tuple[RationalTime, RationalTime]:
    """Source time shown before the clip's head and after its tail: a transition's `in_offset` is the
    incoming (next) clip's, its `out_offset` the outgoing (previous) clip's, as `Item.visible_range`; a
    negative offset (OTIO does not refuse one) shows none."""
    zero = RationalTime(0, clip.trimmed_range().duration.rate)
    before, after = clip.parent().neighbors_of(clip)
    incoming = max(before.in_offset, zero) if isinstance(before, otio.schema.Transition) else zero
    outgoing = max(after.out_offset, zero) if isinstance(after, otio.schema.Transition) else zero
    return incoming, outgoing


def _enabled(item: otio.core.Item) -> bool:
    """Whether the NLE shows `item`: OTIO's flag, and FCP7 XML's <enabled>, which the adapter keeps only
    in metadata (Premiere's hidden tracks and disabled clips)."""
    return item.enabled and str(item.metadata.get("fcp_xml", {}).get("enabled", "TRUE")).upper() != "FALSE"


def _fcp_time_remap(effect: otio.schema.Effect) -> str:
    """What an FCP7 XML "timeremap" filter (Premiere's and Resolve's speed changes; the adapter keeps it
    as a plain effect) does to its clip, or "" at 100% forward."""
    fcp = effect.metadata.get("fcp_xml", {})
    if fcp.get("effectid") != "timeremap":
        return ""
    params = fcp.get("parameter", [])
    params = [params] if hasattr(params, "keys") else list(params)  # one <parameter> reads as a mapping
    values = {p.get("parameterid"): str(p.get("value", "")) for p in params}
    if values.get("variablespeed") == "1":
        return "time remapping (variable speed)"
    if values.get("reverse", "").upper() == "TRUE":
        return "a reversed clip"
    speed = float(values.get("speed") or 100)
    if speed == 0:
        return "a freeze frame"
    return f"a speed change to {speed / 100:.0%}" if speed != 100 else ""


def _retime(item: otio.core.Item) -> str:
    """What retimes `item` (a speed change or a freeze frame), or "" when it plays at its own speed."""
    for effect in item.effects:
        if remap := _fcp_time_remap(effect):
            return remap
        if isinstance(effect, otio.schema.LinearTimeWarp):  # FreezeFrame is one with a scalar of 0
            if effect.time_scalar == 0:
                return "a freeze frame"
            if effect.time_scalar != 1:
                return f"a speed change to {effect.time_scalar:.0%}"
        elif isinstance(effect, otio.schema.TimeEffect):
            return f"a time effect ({effect.effect_name or type(effect).__name__})"
    return ""


def _retimed(clip: otio.schema.Clip) -> str:
    """What retimes `clip`: its own time effects, or those of a nested sequence or track it plays in (OTIO's
    AAF reader puts an Avid motion effect over several clips on the stack it makes of them)."""
    item = clip
    while item is not None:
        if retime := _retime(item):
            kind = "nested sequence" if isinstance(item, otio.schema.Stack) else "track"
            return retime if item is clip else f"{retime} on its {kind} {item.name or '(unnamed)'}"
        item = item.parent()
    return ""


def _not_renderable(clip: otio.schema.Clip) -> str:
    """Why `clip` cannot be rendered as it stands (a retime, a generator, an image sequence), or ""."""
    retime = _retimed(clip)
    if retime:
        return (f"{retime}; a styled clip plays its media at its own speed, so it would not match. Render the "
                "retime first (Resolve: Render in Place; Premiere: Render and Replace) and stylize that clip.")
    ref = clip.media_reference
    if isinstance(ref, otio.schema.GeneratorReference):
        return f"a generator ({ref.generator_kind}), not media"
    if isinstance(ref, otio.schema.ImageSequenceReference):
        pattern = ref.abstract_target_url("#" * max(1, ref.frame_zero_padding))
        return (f"an image sequence ({pattern}); DreamStyle reads movie files, so render it to a movie (e.g. "
                "ProRes 4444), relink the clip to that and export the timeline again.")
    return ""


def _source_file(clip: otio.schema.Clip) -> str | None:
    """The media file an Avid EDL names in a `* SOURCE FILE:` comment (the cmx adapter keeps it as a comment)."""
    for comment in clip.metadata.get("cmx_3600", {}).get("comments", []):
        if match := _SOURCE_FILE.match(comment):  # a name, or a path on the editing machine (any OS)
            return PurePosixPath(match[1].strip().replace("\\", "/")).name
    return None


def _clip_refs(clip: otio.schema.Clip, track: otio.schema.Track, track_index: int, track_name: str,
               top: otio.schema.Stack) -> list[ClipRef]:
    """A ClipRef per part of `clip` the timeline shows; OTIOError when its range cannot be computed."""
    ref = clip.media_reference
    incoming, outgoing = _transition_offsets(clip) if clip.parent() is track else (RationalTime(), RationalTime())
    url = ref.target_url if isinstance(ref, otio.schema.ExternalReference) else None
    return [
        ClipRef(
            clip=clip,
            track_index=track_index,
            track_name=track_name,
            name=clip.name or (PureWindowsPath(url_to_path(url)).stem if url else "clip"),  # either OS's path
            media_url=url,
            reel=clip.metadata.get("cmx_3600", {}).get("reel"),
            source_file=_source_file(clip),
            source=source,
            available=ref.available_range if ref is not None else None,
            record=record,
            transition_in=incoming,
            transition_out=outgoing,
        )
        for source, record in visible_parts(clip, top)
    ]


def video_clips(timeline: otio.schema.Timeline) -> tuple[list[ClipRef], list[str]]:
    """Every visible clip on enabled video tracks, and why other items were skipped."""
    clips: list[ClipRef] = []
    skipped: list[str] = []
    top = timeline.tracks
    video_tracks = 0
    for index, track in enumerate(top):
        if not isinstance(track, otio.schema.Track) or track.kind != otio.schema.TrackKind.Video:
            continue
        video_tracks += 1
        track_name = track.name or f"V{video_tracks}"
        if not _enabled(track):
            skipped.append(f"track {track_name}: disabled")
            continue
        if version_of(track):
            skipped.append(f"track {track_name}: DreamStyle version {version_of(track)} (its source track is restyled instead)")
            continue
        for nest in track.find_children(descended_from_type=otio.schema.Stack):
            if _enabled(nest) and not any(isinstance(t, otio.schema.Track) and t.kind == otio.schema.TrackKind.Video for t in nest):
                skipped.append(f"nested sequence {nest.name or '(unnamed)'}: read with no video inside (OTIO's FCP7 XML "
                               "reader leaves nested sequences empty); flatten or render it in the NLE and export again")
        for clip in layers(track):
            if not _enabled(clip):
                skipped.append(f"clip {clip.name}: disabled")
                continue
            reason = _not_renderable(clip)
            if reason:
                skipped.append(f"clip {clip.name}: {reason}")
                continue
            try:
                refs = _clip_refs(clip, track, index, track_name, top)
            except otio.exceptions.OTIOError as exc:  # this clip, or one before it on its track, has no length
                skipped.append(f"clip {clip.name}: cannot be placed on the timeline ({exc}); a clip with neither a source "
                               "range nor media of a known length has no length: relink or trim it in the NLE and "
                               "export the timeline again")
                continue
            if not refs:
                skipped.append(f"clip {clip.name}: not seen on the timeline (zero length, or covered by an upper "
                               "layer of its compound clip)")
            clips.extend(refs)
    if not clips and not any(t.kind == otio.schema.TrackKind.Video for t in top if isinstance(t, otio.schema.Track)):
        raise TimelineError(f"timeline {timeline.name!r} has no video track.")
    return clips, skipped
