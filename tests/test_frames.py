"""Frame-accurate decoding on long-GOP H.264 with B-frames, and clear errors for bad media."""

import os
from fractions import Fraction

import av
import numpy as np
import pytest

from dreamstyle.frames import FULL_RANGE, Colour, MediaError, display_rotation, iter_frames, probe
from mediagen import damage_frame, frame_number, with_cover_art_first, write_frames, write_video


@pytest.fixture(scope="module")
def long_gop(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("media") / "gop.mp4", [150, 90], gop=120)


def test_probe_reads_rate_size_and_count(long_gop):
    info = probe(long_gop)
    assert (info.width, info.height, info.frames) == (320, 180, 240)
    assert info.rate == Fraction(24000, 1001)


@pytest.mark.parametrize("start,end", [(0, 4), (1, 3), (119, 125), (131, 149), (200, 240), (239, 240)])
def test_ranges_are_frame_exact(long_gop, start, end):
    assert [frame_number(f) for f in iter_frames(long_gop, start, end)] == list(range(start, end))


def test_scaled_decode(long_gop):
    frame = next(iter_frames(long_gop, 10, 11, width=48, height=27))
    assert frame.shape == (27, 48, 3)


def test_reading_past_the_end_names_the_file(long_gop):
    with pytest.raises(MediaError, match="gop.mp4.*before the requested frame 250"):
        list(iter_frames(long_gop, 230, 250))


def test_missing_and_corrupt_files(tmp_path, long_gop):
    with pytest.raises(MediaError, match="not found"):
        probe(tmp_path / "nope.mov")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(MediaError, match="junk.mp4"):
        probe(junk)
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(long_gop.read_bytes()[:5000])
    with pytest.raises(MediaError, match="cut.mp4"):
        list(iter_frames(truncated, 0, 240))
    recording = write_video(tmp_path / "rec.ts", [100], width=64, height=36)
    recording.write_bytes(recording.read_bytes()[: recording.stat().st_size * 6 // 10])  # an interrupted recording
    with pytest.raises(MediaError, match="rec.ts: .*(cut short|truncated)"):
        list(iter_frames(recording, 0, probe(recording).frames))


def test_a_codec_ffmpeg_cannot_decode_says_to_transcode(tmp_path):
    """An AVI whose codec tag no decoder knows (a proprietary capture codec, say)."""
    png = write_frames(tmp_path / "a.avi", [np.zeros((36, 64, 3), np.uint8)] * 3)
    unknown = tmp_path / "capture.avi"
    unknown.write_bytes(png.read_bytes().replace(b"MPNG", b"ZQZQ"))
    with pytest.raises(MediaError, match=r"capture.avi: the video codec is not supported .* transcode it"):
        probe(unknown)


def test_a_damaged_frame_is_an_error_naming_the_file_the_frame_and_what_to_do(tmp_path):
    """A bad copy: noise over frame 5 of a ProRes clip, which FFmpeg decodes with its errors concealed."""
    clip = damage_frame(write_video(tmp_path / "A001.mov", [10], width=64, height=32, codec="prores_ks"), 5)
    with pytest.raises(MediaError, match=r"A001\.mov: frame 5 is damaged.*camera card or the backup, or export it"):
        list(iter_frames(clip, 2, 8))
    assert [frame_number(f) for f in iter_frames(clip, 0, 5)] == list(range(5))
    assert [frame_number(f) for f in iter_frames(clip, 6, 10)] == list(range(6, 10))


def test_a_damaged_frame_decoded_only_to_reach_the_start_is_no_error(tmp_path):
    """Long-GOP H.264: a range starting after a damaged frame of its GOP decodes that frame on the way."""
    clip = damage_frame(write_video(tmp_path / "gop.mp4", [12], width=128, height=72, gop=12), 5)
    with pytest.raises(MediaError, match="frame 5 is damaged"):  # FFmpeg notices this damage
        list(iter_frames(clip, 0, 12))
    assert [frame_number(f) for f in iter_frames(clip, 6, 12)] == list(range(6, 12))


def test_cut_detection_reads_a_clip_whose_last_frame_cannot_be_decoded(tmp_path):
    """The frame the decoder refuses is the clip's last: with `damaged` it is the frame before it, not the end
    of a truncated file (which would fail the whole clip's detection)."""
    clip = damage_frame(write_video(tmp_path / "end.mov", [24, 24], width=320, height=180, gop=24), 47)
    frames = list(iter_frames(clip, 0, 48, damaged=True))
    assert len(frames) == 48 and frame_number(frames[30]) == 30
    with pytest.raises(MediaError, match="ends at frame 4.*before the requested frame 200"):  # past its end: not filled
        list(iter_frames(clip, 0, 200, damaged=True))


def test_a_range_starting_on_a_keyframe_decodes_nothing_of_the_gop_before_it(tmp_path):
    """Encoders put keyframes at cuts, where shots start: the seek lands on the shot's own keyframe, so damage
    (or decoding time) in the GOP before it is not the shot's."""
    clip = damage_frame(write_video(tmp_path / "gop.mov", [24, 24], width=320, height=180, gop=24), 5)
    assert [frame_number(f) for f in iter_frames(clip, 24, 48)] == list(range(24, 48))


def _interlaced(path, sizes, intra=False):
    """Stamped frames woven from two fields 1/50 s apart (the bottom one first), coded interlaced as MPEG-2, 12
    at each of `sizes` in turn (MPEG-TS parts joined, as broadcast switches between SD and HD); and the woven
    frames."""
    from mediagen import scene_frame, stamp

    woven, parts = [], []
    for width, height in sizes:
        part = path.with_name(f"{path.stem}_{width}{path.suffix}")
        with av.open(str(part), "w", format="mpegts" if len(sizes) > 1 else None) as container:
            stream = container.add_stream("mpeg2video", rate=25)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"flags": "+ildct+ilme", "b": "8M", **({"g": "1"} if intra else {})}
            for index in range(len(woven), len(woven) + 12):
                frame = scene_frame(0, 2 * index + 1, width, height)
                frame[1::2] = scene_frame(0, 2 * index, width, height)[1::2]
                stamp(frame, index)
                woven.append(frame)
                picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
                picture.pts, picture.time_base = index, Fraction(1, 25)  # one clock across the parts
                container.mux(stream.encode(picture))
            container.mux(stream.encode())
        parts.append(part.read_bytes())
    path.write_bytes(b"".join(parts))
    return path, woven


@pytest.mark.parametrize("intra", [True, False])  # intra-coded: a seek lands on the range's first frame
def test_interlaced_frames_are_deinterlaced_one_frame_per_frame(tmp_path, intra):
    """Broadcast footage weaves two fields taken 1/50 s apart: where anything moves, rows alternate between
    them (combing), which a model would stylize as texture. Frames come out whole, one per frame, in order,
    and the same wherever decoding starts and ends (a resumed render writes the clip an uninterrupted one
    writes)."""
    def comb(frame):  # how far each row is from the mean of its neighbours
        grey = frame.astype(np.float32).mean(axis=2)
        return float(np.abs(grey[1:-1] - (grey[:-2] + grey[2:]) / 2).mean())

    path, woven = _interlaced(tmp_path / "1080i.mov", [(160, 96)], intra=intra)
    frames = list(iter_frames(path))
    assert [frame_number(f) for f in frames] == list(range(12))
    assert np.mean([comb(f) for f in frames]) < 0.5 * np.mean([comb(f) for f in woven])
    for start, end in ((5, 8), (1, 3), (9, 12), (11, 12)):
        assert all(np.array_equal(f, frames[start + i]) for i, f in enumerate(iter_frames(path, start, end))), (start, end)


def test_runs_of_interlaced_frames_among_progressive_ones_deinterlace_the_same_wherever_decoding_starts():
    """PAFF broadcast and spliced recordings flag frames interlaced or progressive one by one: a resume that
    starts after a progressive frame deinterlaces the next run as an uninterrupted decode does."""
    import av.filter

    from dreamstyle.frames import _progressive
    from mediagen import scene_frame

    def flagged(index: int, interlaced: bool) -> av.VideoFrame:
        woven = scene_frame(0, 2 * index + 1, 160, 96)
        woven[1::2] = scene_frame(0, 2 * index, 160, 96)[1::2]
        graph = av.filter.Graph()
        source = graph.add("buffer", "video_size=160x96:pix_fmt=yuv420p:time_base=1/25")
        field = graph.add("setfield", "mode=tff" if interlaced else "mode=prog")
        source.link_to(field)
        field.link_to(graph.add("buffersink"))
        graph.configure()
        frame = av.VideoFrame.from_ndarray(woven, format="rgb24").reformat(format="yuv420p")
        frame.pts, frame.time_base = index, Fraction(1, 25)
        graph.push(frame)
        return graph.pull()

    flags = [True, True, False, True, True, False, True]

    def decoded(first: int) -> dict[int, np.ndarray]:
        frames = (flagged(i, flags[i]) for i in range(first, len(flags)))
        return {f.pts: f.to_ndarray(format="rgb24") for f in _progressive(frames, Fraction(1, 25))}

    whole = decoded(0)
    assert sorted(whole) == list(range(len(flags)))
    for first in (2, 5):  # a resume's lead-in frame is progressive
        assert all(np.array_equal(frame, whole[pts]) for pts, frame in decoded(first).items()), first


def test_interlaced_frames_scaled_to_half_their_height_are_not_deinterlaced(tmp_path, monkeypatch):
    """Cut detection and thumbnails: scaling blends the two fields, so deinterlacing first, or decoding the
    frame before a range for it, is wasted work."""
    import dreamstyle.frames

    path, _ = _interlaced(tmp_path / "1080i.mov", [(160, 96)], intra=True)
    built, seeks = [], []
    deinterlacer, seek = dreamstyle.frames._deinterlacer, dreamstyle.frames._seek
    monkeypatch.setattr(dreamstyle.frames, "_deinterlacer", lambda *a: built.append(a) or deinterlacer(*a))
    monkeypatch.setattr(dreamstyle.frames, "_seek", lambda *a: seeks.append(a[2]) or seek(*a))
    assert len(list(iter_frames(path, 5, 12, width=80, height=48))) == 7 and built == [] and seeks == [5]
    assert len(list(iter_frames(path, 5, 12, width=80, height=50))) == 7 and len(built) == 1 and seeks == [5, 5, 4]


def test_interlaced_frames_that_change_size_midstream_come_out_whole(tmp_path):
    """A broadcast recording switching from SD to HD: the deinterlacer starts again at the new size. At its own
    size (a render) the other size is refused in words, not left to break the encoder."""
    path, _ = _interlaced(tmp_path / "recording.ts", [(160, 96), (320, 192)])
    frames = list(iter_frames(path, width=160, height=96))  # (the joined parts lose a frame at the join)
    assert [frame_number(frames[0]), frame_number(frames[-1])] == [0, 23] and {f.shape for f in frames} == {(96, 160, 3)}
    with pytest.raises(MediaError, match=r"recording\.ts: frame 1\d is 320x192 where the stream starts at 160x96.*one size"):
        list(iter_frames(path, 8))  # at its own size (a render), the other size cannot be written


def _camera_file(path, codec, options, frames=60, rate=Fraction(25)):
    """Stamped frames in a container the tests' H.264 .mp4 files do not exercise."""
    import av

    from mediagen import scene_frame, stamp

    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height, stream.pix_fmt, stream.options = 320, 180, "yuv420p", options
        for index in range(frames):
            frame = scene_frame(index // 20, index % 20, 320, 180)
            stamp(frame, index)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.mark.parametrize("name,codec,options", [
    ("camcorder.mts", "libx264", {"g": "12", "bf": "3", "crf": "12"}),  # AVCHD: seeks land late
    ("broadcast.ts", "mpeg2video", {"g": "15", "bf": "2", "qscale": "2"}),
    ("capture.avi", "mpeg4", {"g": "10", "bf": "2", "qscale": "2"}),  # first frame stamped one tick late
])
@pytest.mark.parametrize("start", [0, 1, 5, 20, 33])  # 1: the seek goes back to the file's start
def test_transport_streams_and_avi_are_frame_exact(tmp_path_factory, name, codec, options, start):
    folder = tmp_path_factory.getbasetemp() / "containers"
    folder.mkdir(exist_ok=True)
    path = folder / name
    if not path.exists():
        _camera_file(path, codec, options)
    assert probe(path).frames == 60
    assert [frame_number(f) for f in iter_frames(path, start, start + 12)] == list(range(start, start + 12))


@pytest.mark.parametrize("size,pix_fmt,rate", [((720, 576), "yuv420p", Fraction(25)), ((720, 480), "yuv411p", Fraction(30000, 1001))])
def test_a_dv_tape_capture_runs_at_its_systems_rate(tmp_path, size, pix_fmt, rate):
    """Raw DV (.dv, a tape captured): FFmpeg's demuxer gives its 1/60000 clock as the average rate, 60000 fps."""
    from mediagen import stamp

    path = tmp_path / "tape.dv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("dvvideo", rate=rate)
        (stream.width, stream.height), stream.pix_fmt = size, pix_fmt
        for index in range(10):
            frame = np.zeros((size[1], size[0], 3), np.uint8)
            stamp(frame, index)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format=pix_fmt)))
        container.mux(stream.encode())
    info = probe(path)
    assert (info.rate, info.frames, info.variable_rate) == (rate, 10, False)
    assert [frame_number(f) for f in iter_frames(path, 3, 7)] == [3, 4, 5, 6]


def _timed(path, pts, time_base, rate, fmt=None):
    """A numbered H.264 clip whose frame i has presentation time pts[i] (in `time_base`)."""
    import av
    import numpy as np

    from mediagen import stamp

    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = 64, 36, "yuv420p"
        stream.codec_context.time_base = time_base
        stream.options = {"bf": "0", "preset": "ultrafast"}
        for index, value in enumerate(pts):
            frame = np.zeros((36, 64, 3), np.uint8)
            stamp(frame, index)
            video = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video.pts, video.time_base = value, time_base
            for packet in stream.encode(video):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.mark.parametrize("before_wrap", [100, 12])  # every frame before the wrap; the wrap at frame 12
def test_a_transport_stream_starting_just_before_its_clock_wraps(tmp_path, before_wrap):
    """MPEG-TS times are 33 bits of 90 kHz: FFmpeg gives a recording started less than a minute before
    they wrap a negative start time."""
    import av

    first = 2**33 // 3750 - before_wrap  # in frames of 1/24 s, 3750 ticks each
    clip = _timed(tmp_path / "rec.ts", [first + i for i in range(30)], Fraction(1, 24), Fraction(24), fmt="mpegts")
    with av.open(str(clip)) as container:
        assert container.start_time < 0
    assert probe(clip).frames == 30
    assert [frame_number(f) for f in iter_frames(clip, 12, 16)] == [12, 13, 14, 15]


def test_variable_frame_rate_is_told_from_constant(tmp_path):
    """A phone's clip: a 1/600 time base, frames 19 to 21 ticks apart (nominally 30 fps)."""
    jitter = [0]
    for step in [20, 19, 21, 20, 21, 19, 20, 21, 21] * 8:
        jitter.append(jitter[-1] + step)
    phone = probe(_timed(tmp_path / "phone.mov", jitter, Fraction(1, 600), Fraction(30)))
    steady = probe(_timed(tmp_path / "steady.mov", [20 * i for i in range(73)], Fraction(1, 600), Fraction(30)))
    assert phone.variable_rate and not steady.variable_rate and steady.rate == 30


def test_a_clip_of_variable_frame_rate_is_a_problem_with_what_to_do(tmp_path):
    import opentimelineio as otio

    from host_plugin.pipeline import load_edit, plan_edit

    jitter = [0]
    for step in [20, 19, 21, 20, 21, 19, 20, 21, 21] * 8:
        jitter.append(jitter[-1] + step)
    phone = _timed(tmp_path / "phone.mov", jitter, Fraction(1, 600), Fraction(30))
    track = otio.schema.Track("V1")
    for name, media in (("phone", phone), ("steady", write_video(tmp_path / "steady.mp4", [40], rate=Fraction(30)))):
        track.append(otio.schema.Clip(name, otio.schema.ExternalReference(str(media)),
                                      otio.opentime.TimeRange(otio.opentime.RationalTime(10, 30), otio.opentime.RationalTime(20, 30))))
    timeline = otio.schema.Timeline("edit")
    timeline.tracks.append(track)
    otio.adapters.write_to_file(timeline, str(tmp_path / "edit.otio"))
    plan = plan_edit(load_edit(tmp_path / "edit.otio"), None)
    assert [s.clip_name for s in plan.shots] == ["steady"]
    assert [p.clip_name for p in plan.problems] == ["phone"] and "variable frame rate" in plan.problems[0].message
    assert "transcode it to a constant rate" in plan.problems[0].message


def test_frames_an_edit_list_hides_are_not_counted(tmp_path):
    """Trimmed by stream copy: 30 frames coded, the first 5 hidden by the edit list, 25 presented."""
    clip = _timed(tmp_path / "trimmed.mov", [i - 5 for i in range(30)], Fraction(1, 24), Fraction(24), fmt="mov")
    info = probe(clip)
    assert info.frames == 25
    assert [frame_number(f) for f in iter_frames(clip, 20, 25)] == [25, 26, 27, 28, 29]


def test_a_millisecond_time_base_keeps_ntsc_rates(tmp_path):
    """Matroska rounds 59.94 to 19001/317 in its 1 ms time base."""
    clip = _timed(tmp_path / "obs.mkv", [round(i * 1001 / 60) for i in range(30)], Fraction(1, 1000),
                  Fraction(60000, 1001))
    info = probe(clip)
    assert info.rate == Fraction(60000, 1001) and not info.variable_rate
    assert [frame_number(f) for f in iter_frames(clip, 10, 13)] == [10, 11, 12]
    # an OBS recording remuxed to MP4: a second of 29.97 in millisecond steps is constant, not variable
    remux = probe(_timed(tmp_path / "remux.mp4", [round(i * 1001 / 30) for i in range(30)], Fraction(1, 1000),
                         Fraction(30000, 1001)))
    assert remux.rate == Fraction(30000, 1001) and not remux.variable_rate
    # frames a whole, odd number of ticks apart (3754/90000 s: 23.976 rounded) are constant too
    ticks = probe(_timed(tmp_path / "ticks.mp4", [3754 * i for i in range(60)], Fraction(1, 90000), Fraction(45000, 1877)))
    assert not ticks.variable_rate


def test_a_file_is_probed_once_per_version(tmp_path, monkeypatch):
    """Clips sharing a file probe it once; a file written again (a re-render, a relink) is read again."""
    from dreamstyle import frames

    clip = write_video(tmp_path / "a.mp4", [10], width=64, height=32)
    opened = []
    monkeypatch.setattr(frames, "_open", lambda path, real=frames._open: (opened.append(path), real(path))[1])
    assert probe(clip).frames == 10 and probe(clip).frames == 10 and len(opened) == 1
    write_video(clip, [14], width=64, height=32)
    assert probe(clip).frames == 14 and len(opened) == 2
    stat = clip.stat()  # rewritten in place (same inode and size): its time tells
    os.utime(clip, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert probe(clip).frames == 14 and len(opened) == 3


def test_untagged_pal_is_bt601_and_hd_bt709():
    """What players assume for an untagged picture: BT.601 up to 576 lines (PAL SD), BT.709 above."""
    assert (Colour().conversion_matrix(576), Colour().conversion_matrix(577), Colour().conversion_matrix(1080)) == (5, 1, 1)


def test_motion_jpeg_is_full_range(tmp_path):
    """Motion JPEG (a camera's or a webcam's) says full range by its pixel format, yuvj420p, and its tag."""
    path = tmp_path / "mjpeg.avi"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mjpeg", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 32, "yuvj420p"
        for index in range(2):
            frame = av.VideoFrame.from_ndarray(np.full((32, 64, 3), 128, np.uint8), format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame.reformat(format="yuvj420p")))
        container.mux(stream.encode())
    assert probe(path).colour.range == FULL_RANGE


def test_shots_of_a_media_file_that_cannot_be_read_through_name_it(tmp_path, capsys):
    """A copy cut short (its header, written first, still counts every frame) and a phone clip whose
    frames drift off the rate are refused naming the file, exit 2, not with a traceback."""
    from host_plugin.cli import main

    whole = write_video(tmp_path / "whole.mp4", [48])
    with av.open(str(whole)) as source, av.open(str(tmp_path / "start.mp4"), "w", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(video=0):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    data = (tmp_path / "start.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) * 2 // 3])
    jitter = [0]
    for step in [20, 19, 21, 20, 21, 19, 20, 21, 21] * 8:
        jitter.append(jitter[-1] + step)
    phone = _timed(tmp_path / "phone.mov", jitter, Fraction(1, 600), Fraction(30))
    for media, said in ((tmp_path / "cut.mp4", "truncated file"), (phone, "variable frame rate")):
        assert main(["shots", str(media), "--format", "json"]) == 2
        err = capsys.readouterr().err
        assert media.name in err and said in err and "Traceback" not in err


def test_cover_art_before_the_picture_is_not_the_picture(tmp_path):
    """A tagged MP4 whose first video stream is its cover (an attached picture): probe, decoding, the
    display rotation and cut detection all read the picture stream after it; a file holding only a cover has none."""
    from host_plugin.shots import detect

    clip = with_cover_art_first(tmp_path / "tagged.mp4", 12, rotation=90)
    with av.open(str(clip)) as container:
        assert container.streams.video[0].disposition & av.stream.Disposition.attached_pic
    info = probe(clip)
    assert (info.width, info.height, info.frames, info.rate, info.codec) == (64, 32, 12, 24, "h264")
    assert [frame_number(f) for f in iter_frames(clip, 3, 12)] == list(range(3, 12))
    assert display_rotation(clip) == 90
    assert detect(clip, 0, 12).cuts == ()
    with pytest.raises(MediaError, match=r"song\.m4a: has no video stream \(only cover art\)"):  # an audio file
        probe(with_cover_art_first(tmp_path / "song.m4a", 0))
