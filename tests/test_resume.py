"""Resuming a shot at a finished segment gives the frames and the file of an uninterrupted run."""

from dataclasses import replace

import numpy as np
import pytest
from chainedbackend import ChainedBackend
from mediagen import write_video

from dreamstyle.frames import iter_frames
from engine.backends.passthrough import PassthroughBackend
from engine.chain import Cancelled, Resume, stylize_shot
from engine.render import ShotRequest, part_path, part_starts, render_shot


def frames(n):
    rng = np.random.default_rng(3)
    return [rng.integers(0, 255, (8, 10, 3), np.uint8) for _ in range(n)]


@pytest.mark.parametrize("params", [{}, {"overlap": "2"}, {"color_match": "0.7"}])
def test_chain_resumes_at_any_segment(params):
    source = frames(23)
    kwargs = {"overlap": int(params.get("overlap", 1)), "color_match": float(params.get("color_match", 0))}
    done = []
    full = list(stylize_shot(ChainedBackend(), source, 23, None, seed=1, params={}, on_segment=done.append, **kwargs))
    starts = [0] + [d.frames_done - kwargs["overlap"] + 1 for d in done]
    for k in range(1, len(done)):
        resume = Resume(k, done[k - 1].condition, done[k - 1].anchor)
        begin = starts[k] - 1 if kwargs["overlap"] == 1 else done[k - 1].frames_done - kwargs["overlap"]
        tail = list(stylize_shot(ChainedBackend(), source[begin:], 23, None, seed=1, params={}, resume=resume, **kwargs))
        emitted = done[k - 1].frames_done
        assert len(tail) == 23 - emitted
        assert all((a == b).all() for a, b in zip(tail, full[emitted:]))


def short_passthrough(part_frames=0):
    backend = PassthroughBackend()
    backend.segment_frames, backend.part_frames = 8, part_frames
    return backend


def test_parts_hold_whole_segments_and_at_least_part_frames():
    bounds = [(0, 8), (7, 15), (14, 22), (21, 29), (28, 30)]  # 8, 7, 7, 7, 1 new frames
    assert part_starts(bounds, 0) == [0, 1, 2, 3, 4]
    assert part_starts(bounds, 14) == [0, 2, 4]
    assert part_starts(bounds, 100) == [0]


@pytest.mark.parametrize(
    "make, flags",
    [(ChainedBackend, [True, True]), (short_passthrough, [True, True]), (lambda: short_passthrough(14), [False, True, False])],
    ids=["chained", "passthrough", "passthrough-parts"],
)
def test_render_resumed_after_cancel_equals_uninterrupted(tmp_path, make, flags):
    """Cancelled after len(flags) segments; `flags` says which were kept (their part closed)."""
    media = write_video(tmp_path / "src.mp4", [20, 15])
    request = ShotRequest(key="k", media=media, start=3, end=33, rate=None, label="s", backend="x",
                          out_path_stem=tmp_path / "full", seed=2)
    full = render_shot(request, make(), work_dir=tmp_path / "w1")
    done = []
    work = tmp_path / "w2"
    resumed_request = replace(request, out_path_stem=tmp_path / "resumed")
    with pytest.raises(Cancelled):
        render_shot(resumed_request, make(), work_dir=work, on_segment=done.append, cancelled=lambda: len(done) >= len(flags))
    assert [d.kept for d in done] == flags
    last = max(d.index for d in done if d.kept)
    kept = last + 1
    assert part_path(work, 0).exists() and not part_path(work, kept).exists()
    again = []
    resume = Resume(kept, done[last].condition, done[last].anchor)
    result = render_shot(resumed_request, make(), work_dir=work, resume=resume, on_segment=again.append)
    assert again[0].index == kept and again[-1].index == again[-1].total - 1 and again[-1].kept
    assert result.frames == full.frames == 30
    a, b = iter_frames(full.path, 0, 30), iter_frames(result.path, 0, 30)
    assert all((x == y).all() for x, y in zip(a, b, strict=True))
    assert full.path.read_bytes() == result.path.read_bytes()


def test_a_resume_inside_an_open_part_starts_over(tmp_path):
    media = write_video(tmp_path / "src.mp4", [35])
    request = ShotRequest(key="k", media=media, start=0, end=30, rate=None, label="s", backend="x",
                          out_path_stem=tmp_path / "out")
    done = []
    result = render_shot(request, short_passthrough(14), work_dir=tmp_path / "w", resume=Resume(1, None),
                         on_segment=done.append)
    assert done[0].index == 0 and result.frames == 30
