"""The segment chainer: bounds, streaming, and the last frame of a segment conditioning the next."""

import numpy as np
import pytest

from engine.backends.base import FIRST_FRAME, Backend, Guidance
from engine.chain import Cancelled, segment_bounds, stylize_shot


class Recorder(Backend):
    """Adds 1 to every frame and records each segment's condition and length."""

    name = "recorder"
    description = "test"
    guidances = frozenset({FIRST_FRAME})
    segment_frames = 5

    def __init__(self):
        super().__init__()
        self.conditions = []
        self.lengths = []

    def first_condition(self, source_first, guidance, seed):
        return guidance.first_frame

    def render_segment(self, frames, condition, guidance, seed, params):
        self.conditions.append(condition.copy())
        self.lengths.append(len(frames))
        out = frames.astype(np.int32) + 1
        out[0] = condition
        return out.astype(np.uint8)


def frames(n):
    return [np.full((4, 6, 3), i, np.uint8) for i in range(n)]


@pytest.mark.parametrize(
    "n,length,overlap,expected",
    [
        (5, 5, 1, [(0, 5)]),
        (6, 5, 1, [(0, 5), (4, 6)]),
        (13, 5, 1, [(0, 5), (4, 9), (8, 13)]),
        (13, 5, 2, [(0, 5), (3, 8), (6, 11), (9, 13)]),
        (1, 5, 1, [(0, 1)]),
    ],
)
def test_segment_bounds(n, length, overlap, expected):
    assert segment_bounds(n, length, overlap) == expected


def test_last_output_frame_conditions_the_next_segment():
    backend = Recorder()
    first = np.full((4, 6, 3), 200, np.uint8)
    out = list(stylize_shot(backend, frames(13), 13, Guidance(first_frame=first), seed=0, params={}))
    assert len(out) == 13
    assert backend.lengths == [5, 5, 5]
    assert (backend.conditions[0] == 200).all()
    # Segment 2 starts at source frame 4, whose output in segment 1 was 4 + 1.
    assert (backend.conditions[1] == 5).all() and (backend.conditions[2] == 9).all()
    assert [int(f[0, 0, 0]) for f in out] == [200, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]


def test_streams_without_holding_the_shot():
    consumed = []

    def source():
        for i, f in enumerate(frames(40)):
            consumed.append(i)
            yield f

    backend = Recorder()
    stream = stylize_shot(backend, source(), 40, Guidance(first_frame=frames(1)[0]), seed=0, params={})
    next(stream)
    assert len(consumed) == 5  # only the first segment was read


def test_cancel_between_segments_and_short_source():
    backend = Recorder()
    guidance = Guidance(first_frame=frames(1)[0])
    with pytest.raises(Cancelled):
        list(stylize_shot(backend, frames(20), 20, guidance, seed=0, params={}, cancelled=lambda: len(backend.lengths) >= 2))
    assert backend.lengths == [5, 5]
    with pytest.raises(ValueError, match="ended after 8 of 20"):
        list(stylize_shot(Recorder(), frames(8), 20, guidance, seed=0, params={}))


class Flip(Recorder):
    """Returns a view of the frames it was given (a channel flip), as a cheap colour-swap backend would."""

    def render_segment(self, frames, condition, guidance, seed, params):
        self.conditions.append(condition.copy())
        return frames[..., ::-1]


class Cropper(Recorder):
    def render_segment(self, frames, condition, guidance, seed, params):
        return frames[:, :2]


@pytest.mark.parametrize("n,length,overlap", [(0, 5, 1), (5, 1, 1), (5, 5, 0), (5, 5, 5)])
def test_segment_bounds_refuses_impossible_segments(n, length, overlap):
    with pytest.raises(ValueError):
        segment_bounds(n, length, overlap)


def test_with_overlap_the_next_segment_is_conditioned_where_it_starts():
    backend = Recorder()
    out = list(stylize_shot(backend, frames(13), 13, Guidance(first_frame=frames(1)[0]), seed=0, params={}, overlap=2))
    assert len(out) == 13
    # Bounds (0, 5), (3, 8), (6, 11), (9, 13): segment 2 starts at source frame 3, output 3 + 1 of segment 1.
    assert [int(c[0, 0, 0]) for c in backend.conditions] == [0, 4, 7, 10]


def test_frames_and_conditions_from_a_backend_returning_views_are_kept():
    """The chainer refills one buffer each segment: views of it must be copied before they are kept."""
    backend = Flip()
    out = list(stylize_shot(backend, frames(13), 13, Guidance(first_frame=frames(1)[0]), seed=0, params={}))
    assert [int(f[0, 0, 0]) for f in out] == list(range(13))
    assert [int(c[0, 0, 0]) for c in backend.conditions] == [0, 4, 8]


@pytest.mark.parametrize("shape", ["size", "depth"])
def test_frames_of_another_size_or_depth_from_a_backend_are_refused(shape, monkeypatch):
    backend = Cropper()
    if shape == "depth":
        monkeypatch.setattr(backend, "render_segment", lambda frames, *args: frames.astype(np.uint16))
    with pytest.raises(ValueError, match="'recorder' returned"):
        list(stylize_shot(backend, frames(5), 5, Guidance(first_frame=frames(1)[0]), seed=0, params={}))
