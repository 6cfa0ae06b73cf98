"""Encoding rendered shots with PyAV: exact rate, size and frame count, written atomically.

H.264 (libx264, yuv420p) is the default; ProRes 422 HQ (prores_ks profile 3, yuv422p10le) is for
finishing. A size that chroma subsampling cannot hold keeps its exact size in 4:4:4 instead: H.264 at
an odd width or height is yuv444p (High 4:4:4), ProRes at an odd width is ProRes 4444 (profile 4).
A start timecode is kept as a QuickTime timecode track, so such outputs are .mov files. A display
rotation (phone footage) is written as the stream's display matrix, which the join keeps. The source's
colour tags are written and RGB is converted with the source's matrix and range (`Colour`), so a render
shows its source's colours where the NLE reads the tags; ProRes is always limited range. A clip with
an alpha channel is written as ProRes 4444 with 16-bit alpha, from RGBA frames.
"""

from __future__ import annotations

import glob
import os
import re
from contextlib import suppress
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np
from numpy._core._multiarray_umath import __cpu_features__  # private, but numpy's only CPU-feature table (AVX-512)

from dreamstyle.frames import FULL_RANGE, Colour

__all__ = ["CODECS", "ClipWriter", "concat_clips", "output_suffix", "remove_stale_partials"]

CODECS = ("h264", "prores")
# x264's AVX-512 routines gave different bitstreams for identical frames (3 of 16 runs at 320x180 here);
# without them it is deterministic, which resumed renders rely on, and 1080p encodes no slower.
_X264_NO_AVX512 = (
    {"x264-params": "asm=MMX2,SSE,SSE2,SSE3,SSSE3,SSE4.1,SSE4.2,AVX,FMA3,BMI1,BMI2,AVX2"}
    if __cpu_features__.get("AVX512F") and __cpu_features__.get("AVX2")
    else {}
)

_LAYOUTS = {(np.uint8, 3): "rgb24", (np.uint8, 4): "rgba", (np.uint16, 3): "rgb48le", (np.uint16, 4): "rgba64le"}
"""PyAV's pixel format of frames by component type and count."""


def output_suffix(codec: str, timecode: str | None) -> str:
    """The container a codec is written in: ProRes and anything with a timecode go in .mov."""
    return ".mov" if codec == "prores" or timecode else ".mp4"


class ClipWriter:
    """Writes RGB frames (RGBA with `alpha`; 8 or 16 bits a component) to `path` through a temporary file
    that is renamed into place on success."""

    def __init__(
        self,
        path: Path,
        *,
        rate: Fraction,
        width: int,
        height: int,
        codec: str = "h264",
        timecode: str | None = None,
        sample_aspect: Fraction = Fraction(1),
        rotation: int = 0,
        colour: Colour = Colour(),
        alpha: bool = False,
    ) -> None:
        if codec not in CODECS:
            raise ValueError(f"unknown codec {codec!r}; choose one of {', '.join(CODECS)}")
        if alpha and codec != "prores":
            raise ValueError("only ProRes (4444) keeps an alpha channel")
        self.path = path
        self.frames = 0
        self._tmp = _partial(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(self._tmp), "w", format="mov" if path.suffix == ".mov" else "mp4")
        if codec == "h264":
            stream = self._container.add_stream("libx264", rate=rate)
            stream.pix_fmt = "yuv444p" if width % 2 or height % 2 else "yuv420p"
            stream.options = {"crf": "16", "preset": "veryfast", "bf": "0", **_X264_NO_AVX512}
        elif alpha:
            stream = self._container.add_stream("prores_ks", rate=rate)
            stream.pix_fmt = "yuva444p10le"
            stream.options = {"profile": "4", "vendor": "apl0", "alpha_bits": "16"}
        else:
            stream = self._container.add_stream("prores_ks", rate=rate)
            stream.pix_fmt = "yuv444p10le" if width % 2 else "yuv422p10le"
            stream.options = {"profile": "4" if width % 2 else "3", "vendor": "apl0"}
        stream.width, stream.height = width, height
        stream.codec_context.time_base = Fraction(rate.denominator, rate.numerator)
        stream.codec_context.sample_aspect_ratio = sample_aspect
        full = colour.range == FULL_RANGE and codec == "h264"
        ctx = stream.codec_context
        ctx.colorspace, ctx.color_primaries, ctx.color_trc = colour.yuv_matrix_tag(height), colour.primaries, colour.transfer
        ctx.color_range = FULL_RANGE if full else min(colour.range, 1)
        # ProRes converts in one swscale thread: sliced RGB->YUV conversion drops the chroma of a row at
        # some heights in 10-bit 4:2:2/4:4:4 (720x576 with 4 threads, 200x120 with 2); 8-bit 4:2:0 is sound.
        self._convert = {"format": stream.pix_fmt, "dst_colorspace": colour.conversion_matrix(height),
                         "dst_color_range": "JPEG" if full else "MPEG", "threads": 1 if codec == "prores" else 0}
        if timecode:
            stream.metadata["timecode"] = timecode
        if rotation:
            stream.set_display_rotation(rotation)
        self._stream = stream

    def write(self, frame: np.ndarray) -> None:
        """Encodes one HxWx3 RGB frame (HxWx4 RGBA with `alpha`), 8 bits a component (uint8) or 16 (uint16)."""
        layout = _LAYOUTS[frame.dtype.type, frame.shape[-1]]
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format=layout).reformat(**self._convert)
        ctx = self._stream.codec_context  # ProRes writes the frame's tags into each frame's header, not the stream's
        video_frame.color_primaries, video_frame.color_trc = ctx.color_primaries, ctx.color_trc  # (the matrix: reformat's)
        video_frame.pts = self.frames
        video_frame.time_base = self._stream.codec_context.time_base
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> Path:
        """Flushes the encoder and moves the finished file into place."""
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        os.replace(self._tmp, self.path)
        return self.path

    def abort(self) -> None:
        """Drops the partial file; nothing at `path` is touched."""
        try:
            self._container.close()
        finally:
            with suppress(OSError):  # as in concat_clips
                self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> ClipWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _partial(path: Path) -> Path:
    """Where this process writes `path` before moving it into place: hidden, beside it."""
    return path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")


def remove_stale_partials(path: Path) -> None:
    """Removes the partial files of `path` that killed engines left (any process id), and no other
    file's: `.A001.v2.<pid>.partial.mp4` belongs to A001.v2.mp4, not to A001.mp4."""
    own = re.compile(rf"\.{re.escape(path.stem)}\.\d+\.partial{re.escape(path.suffix)}")
    for stale in path.parent.glob(f".{glob.escape(path.stem)}.*.partial{glob.escape(path.suffix)}"):
        if own.fullmatch(stale.name):
            stale.unlink(missing_ok=True)


def concat_clips(parts: list[Path], path: Path, timecode: str | None = None) -> Path:
    """Joins clips written by ClipWriter with the same settings into `path`, atomically, without
    re-encoding: packets are copied and their timestamps shifted by the frames before them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial(path)
    output, stream = None, None
    try:
        output = av.open(str(partial), "w", format="mov" if path.suffix == ".mov" else "mp4")
        offset = 0
        for part in parts:  # each opened once: opening an H.264 file decodes its first frames (~17 ms at 1080p)
            with av.open(str(part)) as source:
                video = source.streams.video[0]
                if stream is None:
                    stream = output.add_stream_from_template(video)
                    stream.codec_context.framerate = video.average_rate  # the timecode track needs it (ProRes)
                    # ProRes keeps its pixel aspect in the container alone, which the template leaves out.
                    stream.codec_context.sample_aspect_ratio = video.sample_aspect_ratio or video.codec_context.sample_aspect_ratio
                    if timecode:
                        stream.metadata["timecode"] = timecode
                ticks = round(1 / (video.average_rate * video.time_base))
                count = 0
                for packet in source.demux(video):
                    if packet.dts is None:  # the demuxer's end-of-stream marker
                        continue
                    packet.pts += offset
                    packet.dts += offset
                    packet.stream = stream
                    output.mux(packet)
                    count += 1
                offset += count * ticks
        output.close()
    except BaseException as exc:
        if output is not None:
            with suppress(OSError):  # a full disk fails the close too: the first error says why
                output.close()
        with suppress(OSError):  # a read-only folder refuses even the unlink of a file never made
            partial.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename in (None, str(partial)):  # the clip, not its hidden partial
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise
    os.replace(partial, path)
    return path
