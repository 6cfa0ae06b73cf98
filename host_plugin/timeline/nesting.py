"""What a timeline shows of each clip, through nested stacks (compound clips, nested sequences).

A nested stack shows the enabled video tracks inside it, upper tracks over lower ones, within its own
trimmed range. DreamStyle does not composite layers: where a clip of an upper layer covers one of a
lower layer, only the upper one is rendered there. Generator clips (titles, mostly, over picture) do
not count as covering.
"""

from __future__ import annotations

from collections.abc import Iterator

import opentimelineio as otio
from opentimelineio.opentime import RationalTime, TimeRange

__all__ = ["layers", "visible_parts"]

_Span = tuple[RationalTime, RationalTime]


def layers(track: otio.schema.Track) -> Iterator[otio.schema.Clip]:
    """The clips of `track`, of the enabled video tracks nested in it (a sequence in a sequence, as OTIO's AAF
    reader writes one) and of those of the stacks nested in it, lower layers first."""
    for child in track:
        if isinstance(child, otio.schema.Clip):
            yield child
        elif isinstance(child, otio.schema.Track) and child.kind == otio.schema.TrackKind.Video and child.enabled:
            yield from layers(child)
        elif isinstance(child, otio.schema.Stack) and child.enabled:
            for inner in child:
                if isinstance(inner, otio.schema.Track) and inner.kind == otio.schema.TrackKind.Video and inner.enabled:
                    yield from layers(inner)


def _placed(item: otio.core.Item, top: otio.schema.Stack) -> TimeRange:
    """`item.transformed_time_range(item.trimmed_range(), top)` for an item inside a track of `top`, through
    that track's own range: OTIO would take the track's start from its whole length, which one clip with no
    length anywhere on the track (no source range, no media range) makes fail for every clip on it."""
    track = item.parent()
    while track.parent() is not top:
        track = track.parent()
    inside = item.transformed_time_range(item.trimmed_range(), track)
    if track.source_range is None:
        return inside
    return TimeRange(inside.start_time - track.source_range.start_time, inside.duration)


def _window(clip: otio.schema.Clip, top: otio.schema.Stack) -> _Span | None:
    """[start, end) of `clip` on the timeline, trimmed by the ranges of the stacks and tracks around it."""
    full = _placed(clip, top)
    start, end = full.start_time, full.end_time_exclusive()
    parent = clip.parent()
    while parent is not None and parent is not top:
        if parent.parent() is not None and parent.parent() is not top:
            window = _placed(parent, top)
            start, end = max(start, window.start_time), min(end, window.end_time_exclusive())
        parent = parent.parent()
    return (start, end) if end > start else None


def _covers(clip: otio.schema.Clip, top: otio.schema.Stack) -> Iterator[_Span]:
    """Where clips on upper layers of the stacks around `clip` cover it."""
    item, parent = clip, clip.parent()
    while parent is not None and parent is not top:
        if isinstance(parent, otio.schema.Stack):
            above = list(parent)[next(i for i, child in enumerate(parent) if child is item) + 1 :]
            for track in above:
                if isinstance(track, otio.schema.Track) and track.kind == otio.schema.TrackKind.Video and track.enabled:
                    for other in layers(track):
                        if other.enabled and not isinstance(other.media_reference, otio.schema.GeneratorReference):
                            if span := _window(other, top):
                                yield span
        item, parent = parent, parent.parent()


def _minus(span: _Span, cover: _Span) -> list[_Span]:
    (start, end), (cut_start, cut_end) = span, cover
    if cut_end <= start or cut_start >= end:
        return [span]
    return [s for s in ((start, cut_start), (cut_end, end)) if s[1] > s[0]]


def visible_parts(clip: otio.schema.Clip, top: otio.schema.Stack) -> list[tuple[TimeRange, TimeRange]]:
    """(source, record) of each part of `clip` the timeline shows; record is relative to its start."""
    window = _window(clip, top)
    if window is None:
        return []
    parts = [window]
    for cover in _covers(clip, top):
        parts = [part for span in parts for part in _minus(span, cover)]
    begin = _placed(clip, top).start_time
    source_start = clip.trimmed_range().start_time
    return [
        (TimeRange(source_start + (start - begin), end - start), TimeRange.range_from_start_end_time(start, end))
        for start, end in parts
    ]
