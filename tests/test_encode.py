"""Encoding keeps the exact rate, size, frame count and timecode, and writes atomically."""

from fractions import Fraction

import numpy as np
import pytest

from dreamstyle.frames import display_rotation, iter_frames, probe
from engine.backends.registry import create_backend
from engine.media import ClipWriter, concat_clips, output_suffix, remove_stale_partials
from engine.render import ShotRequest, render_shot
from mediagen import frame_number, scene_frame, stamp
from readonly import full_disk, read_only


@pytest.mark.parametrize(
    "codec,rate,timecode",
    [("h264", Fraction(24000, 1001), None), ("h264", Fraction(25), "10:00:00:00"), ("prores", Fraction(30000, 1001), "01:00:00:00")],
)
def test_exact_rate_size_count_and_timecode(tmp_path, codec, rate, timecode):
    path = tmp_path / f"out{output_suffix(codec, timecode)}"
    with ClipWriter(path, rate=rate, width=160, height=90, codec=codec, timecode=timecode) as writer:
        for i in range(29):
            frame = scene_frame(1, i, 160, 90)
            stamp(frame, i)
            writer.write(frame)
    info = probe(path)
    assert (info.rate, info.width, info.height, info.frames) == (rate, 160, 90, 29)
    assert info.codec == ("prores" if codec == "prores" else "h264")
    assert info.timecode == timecode
    assert [frame_number(f) for f in iter_frames(path)] == list(range(29))


@pytest.mark.parametrize("codec,width,height", [("h264", 161, 90), ("h264", 160, 91), ("prores", 161, 91)])
def test_odd_sizes_keep_their_exact_size_in_444(tmp_path, codec, width, height):
    path = tmp_path / f"odd{output_suffix(codec, None)}"
    frames = []
    with ClipWriter(path, rate=Fraction(25), width=width, height=height, codec=codec) as writer:
        for i in range(5):
            frames.append(scene_frame(2, i, width, height))
            stamp(frames[-1], i)
            writer.write(frames[-1])
    info = probe(path)
    assert (info.width, info.height, info.frames) == (width, height, 5)
    decoded = list(iter_frames(path))
    assert [frame_number(f) for f in decoded] == list(range(5))
    assert max(abs(a.astype(int) - b).mean() for a, b in zip(decoded, frames)) < 3


def test_a_phone_clip_renders_with_its_display_rotation(tmp_path):
    """Frames are decoded as stored; the render carries the source's display matrix, so it plays upright too."""
    source = tmp_path / "phone.mp4"
    with ClipWriter(source, rate=Fraction(30), width=160, height=90, rotation=90) as writer:
        for i in range(12):
            frame = scene_frame(3, i, 160, 90)
            stamp(frame, i)
            writer.write(frame)
    assert display_rotation(source) == 90
    request = ShotRequest(key="k", media=source, start=2, end=12, rate=None, label="phone", backend="passthrough",
                          out_path_stem=tmp_path / "out" / "phone")
    result = render_shot(request, create_backend("passthrough"))
    info = probe(result.path)
    assert (display_rotation(result.path), info.width, info.height, info.frames) == (90, 160, 90, 10)
    assert [frame_number(f) for f in iter_frames(result.path)] == list(range(2, 12))


def test_failure_leaves_no_file(tmp_path):
    path = tmp_path / "out.mp4"
    with pytest.raises(RuntimeError):
        with ClipWriter(path, rate=Fraction(24), width=64, height=64) as writer:
            writer.write(scene_frame(0, 0, 64, 64))
            raise RuntimeError("backend crashed")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("codec,timecode", [("h264", None), ("h264", "01:00:00:00"), ("prores", "10:00:00:00")])
def test_segments_join_into_one_frame_exact_clip(tmp_path, codec, timecode):
    rate, parts, number = Fraction(24000, 1001), [], 0
    for index, count in enumerate([17, 16, 1, 9]):  # chained segments' new frames, a one-frame tail too
        part = tmp_path / f"segment_{index}.mov"
        with ClipWriter(part, rate=rate, width=160, height=90, codec=codec) as writer:
            for _ in range(count):
                frame = scene_frame(2, number, 160, 90)
                stamp(frame, number)
                writer.write(frame)
                number += 1
        parts.append(part)
    joined = concat_clips(parts, tmp_path / "out" / f"clip{output_suffix(codec, timecode)}", timecode)
    info = probe(joined)
    assert (info.frames, info.rate, info.timecode) == (43, rate, timecode)
    assert [frame_number(f) for f in iter_frames(joined)] == list(range(43))
    assert [frame_number(f) for f in iter_frames(joined, 30, 36)] == list(range(30, 36))


def test_a_clip_that_cannot_be_written_is_named_not_its_hidden_partial_file(tmp_path):
    """A read-only (or full) output folder: the error names the clip the editor asked for."""
    part = tmp_path / "segment.mov"
    with ClipWriter(part, rate=Fraction(24), width=64, height=36) as writer:
        writer.write(scene_frame(0, 0, 64, 36))
    folder = tmp_path / "renders"
    folder.mkdir()
    with read_only(folder), pytest.raises(OSError) as refused:
        concat_clips([part], folder / "A001_s001.mp4")
    assert refused.value.filename == str(folder / "A001_s001.mp4") and list(folder.iterdir()) == []
    with pytest.raises(OSError) as missing:  # a part that is gone is named itself
        concat_clips([part, tmp_path / "segment_2.mov"], folder / "A001_s001.mp4")
    assert missing.value.filename == str(tmp_path / "segment_2.mov")


def test_a_clip_that_fills_the_disk_leaves_no_partial_file_and_is_named(tmp_path):
    """The disk fills up while the clip is joined (its close fails too): the space is given back."""
    parts, noise = [], np.random.default_rng(0)
    for index in range(2):  # noise: parts too large for the muxer's buffer, so a packet's write fails first
        parts.append(tmp_path / f"segment_{index}.mov")
        with ClipWriter(parts[-1], rate=Fraction(24), width=160, height=90) as writer:
            for _ in range(24):
                writer.write(noise.integers(0, 256, (90, 160, 3), np.uint8))
    folder = tmp_path / "renders"
    with full_disk(parts[0].stat().st_size), pytest.raises(OSError) as full:
        concat_clips(parts, folder / "A001_s001.mp4")
    assert full.value.filename == str(folder / "A001_s001.mp4") and list(folder.iterdir()) == []


@pytest.mark.parametrize("source_codec", ["h264", "prores"])
@pytest.mark.parametrize("codec", ["h264", "prores"])
def test_an_anamorphic_source_renders_with_its_pixel_aspect(tmp_path, source_codec, codec):
    """PAL 16:9 or anamorphic footage shows squeezed without its pixel aspect (ProRes keeps it only in the
    container, where a join must carry it too)."""
    source = tmp_path / f"anamorphic.{'mov' if source_codec == 'prores' else 'mp4'}"
    with ClipWriter(source, rate=Fraction(25), width=160, height=90, codec=source_codec, sample_aspect=Fraction(4, 3)) as writer:
        for i in range(12):
            writer.write(scene_frame(4, i, 160, 90))
    assert probe(source).sample_aspect == Fraction(4, 3)
    request = ShotRequest(key="k", media=source, start=1, end=11, rate=None, label="wide", backend="passthrough",
                          out_path_stem=tmp_path / "out" / "wide", codec=codec)
    result = render_shot(request, create_backend("passthrough"))
    assert probe(result.path).sample_aspect == Fraction(4, 3)


def test_stale_partials_of_a_clip_are_removed_and_no_other_clips(tmp_path):
    """Names hold dots: A001.v2's partial (another job's clip, being joined) is not A001's."""
    names = [".A001.4711.partial.mp4", ".A001.v2.4712.partial.mp4", ".A001.mp4.partial", ".A001.x.partial.mp4",
             ".[take].99.partial.mp4"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    remove_stale_partials(tmp_path / "A001.mp4")
    remove_stale_partials(tmp_path / "[take].mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[1:4])
