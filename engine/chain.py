"""The segment chainer: a shot is stylized segment by segment, streaming.

Segments are `backend.segment_frames` long and overlap by `overlap` frames. The first segment is
conditioned on the shot's stylized first frame; every later one on the previous segment's output at
the frame where it starts (with the default overlap of one, that is the previous segment's last output
frame), so a long shot keeps one look. Only one segment of frames is held in memory at a time.

A shot can resume at segment k: the source then starts at that segment's first frame, and the stored
condition and colour anchor of segment k-1 (`SegmentDone.condition`, `.anchor`) replace the chained
ones, so a deterministic backend yields exactly the frames an uninterrupted run would from there on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice

import numpy as np

from .backends.base import Backend, Guidance
from .drift import ColorAnchor

__all__ = ["Cancelled", "Resume", "SegmentDone", "segment_bounds", "stylize_shot"]


class Cancelled(Exception):
    """The job was cancelled between two segments."""


@dataclass(frozen=True)
class SegmentDone:
    index: int
    total: int
    frames_done: int
    frames_total: int
    condition: np.ndarray | None = None
    """What conditions the next segment (None after the last): keep it to resume there."""
    anchor: tuple[np.ndarray, np.ndarray] | None = None
    """The colour anchor's (shift, gain) when colour matching is on: keep it to resume."""
    kept: bool = True
    """This segment's frames and all before them are stored, so a render can resume after it (False
    while the encoded part that holds them is still open)."""


@dataclass(frozen=True)
class Resume:
    """Where a shot restarts: the next segment to render, its condition frame and colour anchor."""

    segment: int
    condition: np.ndarray | None
    anchor: tuple[np.ndarray, np.ndarray] | None = None


def segment_bounds(frames: int, length: int, overlap: int = 1) -> list[tuple[int, int]]:
    """[start, end) of each segment; consecutive segments share `overlap` frames."""
    if frames <= 0:
        raise ValueError("a shot needs at least one frame")
    if length < 2 or not 1 <= overlap < length:
        raise ValueError(f"segment length {length} and overlap {overlap}: need length >= 2 and 1 <= overlap < length")
    bounds = [(0, min(length, frames))]
    while bounds[-1][1] < frames:
        start = bounds[-1][1] - overlap
        bounds.append((start, min(start + length, frames)))
    return bounds


def stylize_shot(
    backend: Backend,
    source: Iterable[np.ndarray],
    frames: int,
    guidance: Guidance,
    *,
    seed: int,
    params: dict[str, str],
    overlap: int = 1,
    color_match: float = 0.0,
    on_segment: Callable[[SegmentDone], None] = lambda done: None,
    cancelled: Callable[[], bool] = lambda: False,
    resume: Resume | None = None,
) -> Iterator[np.ndarray]:
    """Yields the stylized frames of a shot in order, exactly `frames` of them; the caller may keep them.

    `color_match` > 0 matches each later segment's colours to the first's (see `engine.drift`).
    With `resume`, `source` starts at the first frame of segment `resume.segment` and only the frames
    after the previous segment's end are yielded.
    """
    anchor = ColorAnchor(color_match) if color_match else None
    bounds = segment_bounds(frames, backend.segment_frames, overlap)
    first = resume.segment if resume else 0
    if anchor is not None and resume is not None and resume.anchor is not None:
        anchor.shift, anchor.gain = resume.anchor
    source_iter = iter(source)
    window: list[np.ndarray] = []
    buffer: np.ndarray | None = None  # reused for every segment: no fresh pages to fault in each time
    condition = resume.condition if resume else None
    emitted = bounds[first - 1][1] if first else 0
    for index, (start, end) in enumerate(bounds[first:], first):
        if cancelled():
            raise Cancelled
        window = window[len(window) - overlap :] if index > first else []
        window.extend(islice(source_iter, end - start - len(window)))
        if len(window) != end - start:
            raise ValueError(f"the source ended after {start + len(window)} of {frames} frames")
        if buffer is None:
            buffer = np.empty((backend.segment_frames, *window[0].shape), window[0].dtype)
        segment = buffer[: len(window)]
        for slot, frame in zip(segment, window):
            slot[...] = frame
        segment.flags.writeable = False  # backends read their frames; the buffer is refilled next segment
        if index == 0:
            condition = backend.first_condition(segment[0], guidance, seed)
        output = backend.render_segment(segment, condition, guidance, seed, params)
        if output.shape != segment.shape or output.dtype != segment.dtype:
            raise ValueError(f"backend {backend.name!r} returned {output.shape} {output.dtype} for a segment of "
                             f"{segment.shape} {segment.dtype}")
        if anchor is not None:
            output = anchor(segment, output)
        # Copies: `output` may be the reused buffer, which the next segment overwrites.
        condition = output[bounds[index + 1][0] - start].copy() if index + 1 < len(bounds) else None
        # Yielded frames may outlive this segment (a consumer on another thread): never views of the
        # reused buffer. An identity backend's frames are the source's own arrays.
        if output is segment:
            fresh = window[emitted - start :]
        elif np.shares_memory(output, buffer):
            fresh = [frame.copy() for frame in output[emitted - start :]]
        else:
            fresh = output[emitted - start :]
        yield from fresh
        emitted = end
        colours = (anchor.shift, anchor.gain) if anchor is not None and anchor.shift is not None else None
        on_segment(SegmentDone(index, len(bounds), emitted, frames, condition, colours))
