"""Frame-accurate decoding on long-GOP H.264 with B-frames, and clear errors for bad media."""

from fractions import Fraction

import pytest

from dreamstyle.frames import MediaError, iter_frames, probe
from mediagen import frame_number, write_video


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
@pytest.mark.parametrize("start", [0, 5, 20, 33])
def test_transport_streams_and_avi_are_frame_exact(tmp_path_factory, name, codec, options, start):
    folder = tmp_path_factory.getbasetemp() / "containers"
    folder.mkdir(exist_ok=True)
    path = folder / name
    if not path.exists():
        _camera_file(path, codec, options)
    assert probe(path).frames == 60
    assert [frame_number(f) for f in iter_frames(path, start, start + 12)] == list(range(start, start + 12))
