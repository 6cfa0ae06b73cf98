"""Renders keep their source's picture: the source's colour tags are carried and RGB is converted with
the source's matrix and range, so an NLE reading the tags shows the render like its source; an alpha
channel is kept."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from dreamstyle.frames import Colour, iter_frames, probe
from engine.backends.registry import create_backend
from engine.chain import Cancelled, Resume
from engine.media import output_suffix
from engine.render import ShotRequest, render_shot

BARS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (220, 200, 40), (90, 60, 160), (128, 128, 128)]


def bars(width: int, height: int) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    for index, colour in enumerate(BARS):
        image[:, index * width // len(BARS) : (index + 1) * width // len(BARS)] = colour
    return image


def write_source(path: Path, width: int, height: int, codec: str, pix_fmt: str, colour: Colour, frames: int = 6) -> None:
    """A camera-like source: RGB bars converted with `colour`'s matrix and range, stored with its tags."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        ctx = stream.codec_context
        ctx.colorspace, ctx.color_primaries, ctx.color_trc, ctx.color_range = colour.matrix, colour.primaries, colour.transfer, colour.range
        stream.options = {"qp": "2"} if codec == "libx264" else {}
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(bars(width, height), format="rgb24").reformat(
                format=pix_fmt, dst_colorspace=colour.conversion_matrix(height),
                dst_color_range="JPEG" if colour.range == 2 or pix_fmt.startswith("yuvj") else "MPEG",
            )
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def sample(frame: np.ndarray) -> np.ndarray:
    """Each bar's colour at its centre."""
    height, width = frame.shape[:2]
    return np.array([frame[height // 2, (2 * i + 1) * width // (2 * len(BARS))] for i in range(len(BARS))], int)


CASES = {
    # name: (width, height, codec, pix_fmt, tags (matrix, primaries, transfer, range))
    "HD BT.709": (1280, 720, "libx264", "yuv420p", Colour(1, 1, 1, 1)),
    "SD BT.601 PAL": (720, 576, "libx264", "yuv420p", Colour(5, 5, 6, 1)),
    "SD BT.601 NTSC": (720, 480, "libx264", "yuv420p", Colour(6, 6, 6, 1)),
    "HD full range": (1280, 720, "libx264", "yuv420p", Colour(1, 1, 1, 2)),
    "HD untagged": (1280, 720, "libx264", "yuv420p", Colour()),
    "BT.2020 HLG 10-bit": (1280, 720, "prores_ks", "yuv422p10le", Colour(9, 9, 18, 1)),
    "BT.2020 PQ 10-bit 4:2:0": (1280, 720, "libx264", "yuv420p10le", Colour(9, 9, 16, 1)),  # a camera's HEVC/H.264
}


@pytest.mark.parametrize("out_codec", ["h264", "prores"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_render_keeps_its_sources_colours(tmp_path, case, out_codec):
    width, height, codec, pix_fmt, colour = CASES[case]
    source = tmp_path / "source.mov"
    write_source(source, width, height, codec, pix_fmt, colour)
    assert probe(source).colour == colour
    request = ShotRequest(key="k", media=source, start=1, end=5, rate=None, label=case, backend="passthrough",
                          out_path_stem=tmp_path / "out" / "render", codec=out_codec)
    result = render_shot(request, create_backend("passthrough"))
    assert result.path.suffix == output_suffix(out_codec, None)
    expected = colour
    if out_codec == "prores":  # ProRes is limited range, and FFmpeg states the matrix of untagged ProRes
        expected = Colour(colour.yuv_matrix_tag(height) if colour.matrix != 2 else colour.conversion_matrix(height),
                          colour.primaries, colour.transfer, 1)
    assert probe(result.path).colour == expected
    with av.open(str(result.path)) as container:  # the tags in the frames themselves (ProRes: each frame's header)
        decoded = next(container.decode(video=0))
    assert (decoded.color_primaries, decoded.color_trc) == (expected.primaries, expected.transfer)
    source_bars = sample(next(iter_frames(source, 1, 2)))
    assert np.abs(source_bars - np.array(BARS)).max() <= 3  # the source itself decodes to its bars
    for frame in iter_frames(result.path):
        assert np.abs(sample(frame) - source_bars).max() <= 3, case


def test_a_source_without_a_yuv_matrix_is_tagged_with_the_one_converted_with():
    """RGB-coded sources (matrix 0) and YCgCo cannot say how to convert a YUV render: it says its own."""
    assert Colour(0, 1, 1, 2).yuv_matrix_tag(1080) == 1 and Colour(8, 1, 1, 1).yuv_matrix_tag(480) == 5
    assert Colour().yuv_matrix_tag(1080) == 2 and Colour().conversion_matrix(1080) == 1
    assert Colour(6, 6, 6, 1).conversion_matrix(1080) == 5  # a tagged matrix wins over the picture size


def write_graphic(path: Path, codec: str, pix_fmt: str, frames: int, width: int = 192, height: int = 108) -> list[np.ndarray]:
    """A graphic whose alpha ramp moves a little every frame; returns its RGBA frames."""
    ramp = np.tile(np.linspace(0, 255, width).astype(np.uint8), (height, 1))
    written = [np.dstack((bars(width, height), np.roll(ramp, 7 * index, axis=1))) for index in range(frames)]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if codec == "prores_ks":
            stream.options = {"profile": "4", "alpha_bits": "16"}
        for index, rgba in enumerate(written):
            frame = av.VideoFrame.from_ndarray(rgba, format="rgba").reformat(format=pix_fmt)
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return written


@pytest.mark.parametrize("codec,pix_fmt", [("prores_ks", "yuva444p10le"), ("png", "rgba"), ("qtrle", "argb")])
def test_a_source_with_alpha_keeps_it_in_a_prores_4444_render(tmp_path, codec, pix_fmt):
    """A graphic with an alpha channel (a lower third on V2) must not turn opaque on its version track,
    also when the render resumes in a later part."""
    source = tmp_path / "graphic.mov"
    write_graphic(source, codec, pix_fmt, 20)
    assert probe(source).alpha
    request = ShotRequest(key="k", media=source, start=1, end=20, rate=None, label="graphic", backend="passthrough",
                          out_path_stem=tmp_path / "out" / "graphic")
    backend = create_backend("passthrough")
    backend.segment_frames, backend.part_frames = 8, 0  # a part per segment
    done = []
    with pytest.raises(Cancelled):
        render_shot(request, backend, work_dir=tmp_path / "w", on_segment=done.append, cancelled=lambda: len(done) >= 1)
    result = render_shot(request, backend, work_dir=tmp_path / "w", resume=Resume(1, done[0].condition))
    info = probe(result.path)
    assert result.path.suffix == ".mov" and info.codec == "prores" and info.alpha and info.frames == 19
    for rendered, original in zip(iter_frames(result.path, fmt="rgba"), iter_frames(source, 1, 20, fmt="rgba"), strict=True):
        assert np.abs(rendered[..., 3].astype(int) - original[..., 3]).max() <= 1
        visible = original[..., 3] > 32
        assert np.abs(rendered[..., :3].astype(int) - original[..., :3])[visible].max() <= 4


@pytest.mark.parametrize("suffix", [".png", ".tif"])
@pytest.mark.parametrize("channels", [1, 3])
def test_16_bit_guidance_images_read_at_their_own_brightness(tmp_path, suffix, channels):
    """Finishing tools export stills (a stylized first frame, a style reference) at 16 bits a channel."""
    import cv2

    from engine.render import load_image

    bgr16 = np.zeros((20, 30, 3), np.uint16)
    bgr16[..., 0], bgr16[..., 1], bgr16[..., 2] = 10000, 20000, 40000
    image = bgr16 if channels == 3 else bgr16[..., 1]
    path = tmp_path / f"still{suffix}"
    cv2.imwrite(str(path), image)
    rgb = load_image(path, "style image")
    expected = [155, 78, 39] if channels == 3 else [78, 78, 78]  # value / 257, as 8 bits
    assert rgb.dtype == np.uint8 and rgb.shape == (20, 30, 3)
    assert np.abs(rgb[0, 0].astype(int) - expected).max() <= 1


@pytest.mark.parametrize("width,height", [(200, 120), (322, 182), (321, 181), (720, 576)])
def test_prores_renders_keep_every_rows_colour(tmp_path, width, height):
    """swscale's threaded RGB->YUV conversion lost a row's chroma at such sizes in 10-bit 4:2:2/4:4:4."""
    from engine.media import ClipWriter

    rows = np.mgrid[0:height, 0:width][0]
    frame = np.stack([np.full((height, width), 250), rows * 255 // height, np.full((height, width), 20)], -1).astype(np.uint8)
    path = tmp_path / "gradient.mov"
    with ClipWriter(path, rate=Fraction(25), width=width, height=height, codec="prores") as writer:
        for _ in range(3):
            writer.write(frame)
    for decoded in iter_frames(path):
        assert np.abs(decoded.astype(int) - frame).max() <= 6


@pytest.mark.parametrize(("codec", "pix_fmt", "codes"), [
    ("libx264", "yuv420p", (150, 110, 150)),  # 8-bit 4:2:0, stored losslessly
    ("prores_ks", "yuv422p10le", (600, 440, 600)),  # 10-bit 4:2:2, a flat field ProRes keeps exactly
])
def test_frames_decode_to_their_exact_rgb_and_a_render_keeps_it(tmp_path, codec, pix_fmt, codes):
    """swscale's default conversion came out 1 (8-bit) to 2 (10-bit) levels dark on every channel: a one-sided
    loss each round trip adds to."""
    bits = 10 if pix_fmt.endswith("10le") else 8
    source = tmp_path / "flat.mov"
    with av.open(str(source), "w") as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 32, pix_fmt
        ctx = stream.codec_context
        ctx.colorspace, ctx.color_primaries, ctx.color_trc, ctx.color_range = 1, 1, 1, 1  # BT.709, limited range
        stream.options = {"qp": "0"} if codec == "libx264" else {}
        dtype = np.uint16 if bits > 8 else np.uint8
        for index in range(3):
            frame = av.VideoFrame(64, 32, pix_fmt)
            for plane, code in zip(frame.planes, codes, strict=True):
                plane.update(np.full(plane.buffer_size // dtype().itemsize, code, dtype).tobytes())
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    scale = 2 ** (bits - 8)
    y, cb, cr = codes[0] / scale - 16, codes[1] / scale - 128, codes[2] / scale - 128
    exact = np.array([1.164384 * y + 1.792741 * cr, 1.164384 * y - 0.213249 * cb - 0.532909 * cr, 1.164384 * y + 2.112402 * cb])
    decoded = next(iter_frames(source, 0, 1)).reshape(-1, 3).mean(0)
    assert np.abs(decoded - exact).max() <= 0.5, (decoded, exact)
    request = ShotRequest(key="k", media=source, start=0, end=3, rate=None, label="flat", backend="passthrough",
                          out_path_stem=tmp_path / "out" / "render", codec="prores")
    rendered = next(iter_frames(render_shot(request, create_backend("passthrough")).path)).reshape(-1, 3).mean(0)
    assert np.abs(rendered - exact).max() <= 0.75, (rendered, exact)


def _ramp(path: Path, height: int = 448) -> Path:
    """A 10-bit ProRes grey ramp climbing one luma code a row (64 to 64 + height - 1): what a sky in log
    footage holds, and what 8 bits band."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("prores_ks", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, height, "yuv422p10le"
        ctx = stream.codec_context
        ctx.colorspace, ctx.color_primaries, ctx.color_trc, ctx.color_range = 1, 1, 1, 1
        luma = np.repeat(np.arange(64, 64 + height, dtype=np.uint16)[:, None], 32, axis=1)
        for index in range(3):
            frame = av.VideoFrame(32, height, "yuv422p10le")
            for plane, values in zip(frame.planes, (luma, np.full((height, 16), 512, np.uint16), np.full((height, 16), 512, np.uint16)), strict=True):
                rows = np.zeros((height, plane.line_size // 2), np.uint16)
                rows[:, : values.shape[1]] = values
                plane.update(rows.tobytes())
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def test_a_10_bit_source_renders_to_prores_at_10_bit_precision_with_a_deep_backend(tmp_path):
    """A deep backend (passthrough, the diffusion ones) gets 16-bit frames from a 10-bit source rendered to ProRes,
    so a ramp keeps its every level instead of stepping every 4 codes as 8-bit frames would."""
    source = _ramp(tmp_path / "ramp.mov")
    assert probe(source).bit_depth == 10
    request = ShotRequest(key="k", media=source, start=0, end=3, rate=None, label="ramp", backend="passthrough",
                          out_path_stem=tmp_path / "out" / "render", codec="prores")
    rendered = next(iter_frames(render_shot(request, create_backend("passthrough")).path, fmt="rgb48le"))[:, 16, 1]
    original = next(iter_frames(source, fmt="rgb48le"))[:, 16, 1]
    assert np.abs(rendered.astype(int) - original).max() <= 64, "within a 10-bit code of the source"
    assert len(np.unique(rendered // 64)) >= 0.9 * len(np.unique(original // 64))
