"""render_shot's own checks of a request against its media, the resume points it accepts or drops, and the
files it leaves behind."""

from fractions import Fraction

import pytest
from mediagen import damage_frame, frame_number, write_video

from dreamstyle.frames import iter_frames
from engine.backends.passthrough import PassthroughBackend
from engine.chain import Cancelled, Resume, segment_bounds
from engine.render import RenderError, ShotRequest, part_path, render_shot


def short_passthrough(part_frames=0):
    backend = PassthroughBackend()
    backend.segment_frames, backend.part_frames = 8, part_frames
    return backend


def shot(media, tmp_path, start=0, end=30, **fields):
    return ShotRequest(key="k", media=media, start=start, end=end, rate=fields.pop("rate", None), label="s",
                       backend="passthrough", out_path_stem=tmp_path / "out" / "s", **fields)


@pytest.fixture
def media(tmp_path):
    return write_video(tmp_path / "src.mp4", [35], width=96, height=64, rate=Fraction(25))


@pytest.mark.parametrize(
    "fields, needle",
    [
        ({"rate": Fraction(24)}, "the timeline says src.mp4 runs at 24 fps but the file runs at 25"),
        ({"end": 36}, "frames [0, 36) fall outside src.mp4, which has 35 frames"),
        ({"timecode": "01:00:00:25"}, "output timecode 01:00:00:25 counts more frames than src.mp4 runs per second"),
    ],
)
def test_a_request_that_does_not_fit_its_media_fails_in_words(tmp_path, media, fields, needle):
    with pytest.raises(RenderError) as error:
        render_shot(shot(media, tmp_path, **fields), short_passthrough())
    assert needle in str(error.value)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_frames_taller_than_the_limit_fail_in_words(tmp_path):
    tall = write_video(tmp_path / "tall.mp4", [2], width=16, height=8200 + 56)
    with pytest.raises(RenderError, match="tall.mp4 is 16x8256; this engine renders frames up to 8192 pixels a side"):
        render_shot(shot(tall, tmp_path, end=2), short_passthrough())


def test_a_resume_after_the_last_segment_only_joins_the_kept_parts(tmp_path, media):
    request = shot(media, tmp_path)
    full = render_shot(request, short_passthrough(), work_dir=tmp_path / "w")
    data = full.path.read_bytes()
    full.path.unlink()
    done = []
    total = len(segment_bounds(30, 8))
    again = render_shot(request, short_passthrough(), work_dir=tmp_path / "w", resume=Resume(total, None),
                        on_segment=done.append)
    assert done == [], "no segment is rendered again"
    assert again.path.read_bytes() == data


def test_a_resume_whose_kept_parts_are_gone_renders_the_shot_from_its_start(tmp_path, media):
    done = []
    result = render_shot(shot(media, tmp_path), short_passthrough(), work_dir=tmp_path / "empty",
                         resume=Resume(2, None), on_segment=done.append)
    assert done[0].index == 0
    assert [frame_number(f) for f in iter_frames(result.path)] == list(range(30))


def test_a_cancelled_render_leaves_no_partial_part_in_its_work_folder(tmp_path, media):
    """ProRes writes each frame at once (H.264's lookahead may not have written the file yet)."""
    work, done = tmp_path / "w", []
    with pytest.raises(Cancelled):
        render_shot(shot(media, tmp_path, codec="prores"), short_passthrough(14), work_dir=work, on_segment=done.append,
                    cancelled=lambda: len(done) >= 1)
    assert not done[0].kept and list(work.iterdir()) == []


def test_a_damaged_frame_fails_the_shot_and_leaves_no_partial_part(tmp_path, media):
    damaged = damage_frame(media, 27)  # in segment (21, 29), while the part from segment 2 on is open
    work = tmp_path / "w"
    with pytest.raises(RenderError, match="damaged"):
        render_shot(shot(damaged, tmp_path, codec="prores"), short_passthrough(14), work_dir=work)
    assert sorted(p.name for p in work.iterdir()) == [part_path(work, 0).name]


def test_a_render_without_a_work_folder_can_be_cancelled(tmp_path, media):
    with pytest.raises(Cancelled):
        render_shot(shot(media, tmp_path), short_passthrough(), cancelled=lambda: True)


def test_a_render_removes_the_partial_files_a_killed_engine_left_beside_its_clip(tmp_path, media):
    (tmp_path / "out").mkdir()
    stale = tmp_path / "out" / ".s.4711.partial.mp4"
    stale.write_bytes(b"half a clip")
    result = render_shot(shot(media, tmp_path), short_passthrough())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [result.path.name]


def test_an_output_folder_swapped_for_a_symlink_while_the_shot_renders_fails_it(tmp_path, media):
    """The engine checks the output folder when a job starts; a render takes minutes, in which a client
    sharing the media root could swap the folder for a symlink leading out of the roots."""
    (tmp_path / "out").mkdir()
    (tmp_path / "elsewhere").mkdir()

    def swap(done):
        if done.index == 0:
            (tmp_path / "out").rmdir()
            (tmp_path / "out").symlink_to(tmp_path / "elsewhere")

    with pytest.raises(RenderError, match="a symlink changed while the shot rendered"):
        render_shot(shot(media, tmp_path), short_passthrough(), on_segment=swap)
    assert list((tmp_path / "elsewhere").iterdir()) == []
