"""Frame-accurate reading of video files with PyAV, shared by the host (detection, previews) and the
engine (rendering).

Frames are numbered at the stream's own rate from its first presented frame, end exclusive. Seeking
lands on the keyframe at or before the target, so frames are decoded forward and those before the
target are dropped: this stays exact on long-GOP H.264 with B-frames.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.filter
import numpy as np
from av.video.reformatter import Interpolation

__all__ = ["FULL_RANGE", "Colour", "MediaError", "MediaInfo", "display_rotation", "iter_frames", "not_found", "probe"]


class MediaError(Exception):
    """A media file is missing, unreadable, truncated or in a form the product cannot decode."""


# YUV<->RGB matrices swscale converts with (H.273 code points), and the code it knows each one by.
_MATRICES = {1: 1, 4: 4, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9}  # 709, FCC, 470BG/170M (601), 240M, 2020 (NCL)
_BT709, _BT601, UNSPECIFIED = 1, 5, 2
FULL_RANGE = 2
# swscale's default YUV->RGB rounds down (about 2 levels on 10-bit 4:2:x, 1 on 8-bit): frames at their own
# size take exact rounding and full-resolution chroma (twice the time of a 1080p conversion); scaled ones, for
# analysis and thumbnails, the default.
_EXACT = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
# 16-bit RGB is converted to as planar RGB, which `to_ndarray` returns in the same RGB(A) order: swscale's exact
# conversion of 4:2:0 (10-bit HEVC or H.264, HDR) to packed 16-bit RGB loses green and blue; its planar one is sound.
_PLANAR = {"rgb48le": "gbrp16le", "rgba64le": "gbrap16le"}


@dataclass(frozen=True)
class Colour:
    """A stream's colour tags as H.273 code points (what FFmpeg reports; 2 = unspecified) and its range
    (0 unspecified, 1 limited, 2 full). Renders carry them and convert with the same matrix, so the
    version track shows the colours of its source in any NLE."""

    matrix: int = UNSPECIFIED
    primaries: int = UNSPECIFIED
    transfer: int = UNSPECIFIED
    range: int = 0

    def conversion_matrix(self, height: int) -> int:
        """The matrix to convert YUV and RGB with: the tagged one, else what players assume for an
        untagged picture of `height` lines (BT.709 above 576, BT.601 up to it)."""
        return _MATRICES.get(self.matrix, _BT709 if height > 576 else _BT601)

    def yuv_matrix_tag(self, height: int) -> int:
        """The matrix a YUV render of this source is tagged with: the source's own; the one converted
        with where the source's is not a YUV matrix (RGB, YCgCo); unspecified where the source says none."""
        if self.matrix == UNSPECIFIED or self.matrix in _MATRICES:
            return self.matrix
        return self.conversion_matrix(height)

    @classmethod
    def of(cls, ctx: av.video.codeccontext.VideoCodecContext) -> Colour:
        full = (ctx.pix_fmt or "").startswith("yuvj")  # JPEG-range formats say it without a tag
        return cls(ctx.colorspace, ctx.color_primaries, ctx.color_trc, FULL_RANGE if full else ctx.color_range)


@dataclass(frozen=True)
class MediaInfo:
    path: Path
    width: int
    height: int
    rate: Fraction
    frames: int
    """0 only from `probe(count=False)`, for a stream whose header does not say."""
    codec: str
    pix_fmt: str
    sample_aspect: Fraction
    timecode: str | None
    colour: Colour = Colour()
    alpha: bool = False
    bit_depth: int = 8
    """Bits per component as stored (10 for ProRes 422 and most HDR): above 8, renders that keep it can too."""
    variable_rate: bool = False
    """Frames come at varying intervals (see `_variable_rate`): `rate` is then only their average."""


def not_found(path: Path) -> MediaError:
    """The error for media that is not where the timeline says (moved, or on a drive no longer mounted)."""
    return MediaError(f"{path}: file not found (offline media?). Relink it with --media-dir or a path map (in the "
                      "panel: Add search folder, Add path mapping).")


def _open(path: Path) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    """The opened file and its picture: the first video stream that is not an attached picture (cover art,
    which a tagger can put before it), as NLEs take it."""
    if not path.exists():
        raise not_found(path)
    if not path.is_file():
        raise MediaError(f"{path}: not a file.")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise MediaError(f"{path}: cannot be opened as media ({exc}). Is it a video file, and complete?") from exc
    attached = av.stream.Disposition.attached_pic
    stream = next((video for video in container.streams.video if not video.disposition & attached), None)
    if stream is None:
        cover = " (only cover art)" if container.streams.video else ""  # an audio file's, say
        container.close()
        raise MediaError(f"{path}: has no video stream{cover}.")
    return container, stream


_STANDARD_RATES = [Fraction(n, d) for n, d in ((24000, 1001), (30000, 1001), (48000, 1001), (60000, 1001), (120000, 1001))]


_FIELD_AND_PULLDOWN = (Fraction(1, 2), Fraction(2), Fraction(4, 5), Fraction(5, 4),
                       Fraction(4000, 5005), Fraction(5005, 4000))  # interlaced (59.94 tbr for 29.97), telecine


def _rate_tolerance(stream: av.video.stream.VideoStream) -> float:
    """How far FFmpeg's average rate may stray from the base rate by timestamp rounding alone: two
    milliseconds (timestamps an OBS recording or a remux rounded) over the stream's duration, at least 2e-4."""
    seconds = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else 0
    return max(2e-4, 0.002 / seconds) if seconds else 2e-4


def _average_rate(stream: av.video.stream.VideoStream) -> Fraction | None:
    """FFmpeg's average frame rate; none for DV, whose system fixes its rate (the base rate): raw DV's
    demuxer gives its 1/60000 clock as the average, 60000 frames a second."""
    return None if stream.codec_context.name == "dvvideo" else stream.average_rate


def _rate(stream: av.video.stream.VideoStream, path: Path) -> Fraction:
    """The stream's frame rate: the base rate its timestamps are built on when the average agrees with it
    (timestamps rounded to milliseconds put the average off), else the average; a muxer's rounding of an
    NTSC rate (19001/317 for 59.94) is taken as the NTSC rate it stands for."""
    average, base = _average_rate(stream), stream.base_rate
    if average and base and abs(average / base - 1) <= _rate_tolerance(stream):
        rate = base
    else:
        rate = average or base or stream.guessed_rate
    if not rate:
        raise MediaError(f"{path}: the video stream has no frame rate.")
    rate = Fraction(rate.numerator, rate.denominator)
    return next((ntsc for ntsc in _STANDARD_RATES if abs(rate / ntsc - 1) < 1e-4), rate)


def _variable_rate(stream: av.video.stream.VideoStream) -> bool:
    """Whether frames come at varying intervals (phones, screen recorders): FFmpeg's average rate (frames
    over duration) then differs from the base rate its timestamps are built on by more than timestamp
    rounding explains, or that base rate is no camera's. Constant-rate files agree, edit lists and
    B-frame delays included; interlaced and telecined ones differ by a field or pulldown ratio."""
    average, base = _average_rate(stream), stream.base_rate
    if not (average and base):
        return False
    ratio, tolerance = Fraction(average) / Fraction(base), _rate_tolerance(stream)
    if abs(ratio - 1) <= tolerance:  # they agree, up to rounding: odd when the base is no camera's (89/3)
        return abs(ratio - 1) > 2e-4 and not _nominal(Fraction(base))
    fields = _nominal(Fraction(average)) and any(abs(ratio / known - 1) <= 2e-3 for known in _FIELD_AND_PULLDOWN)
    return not fields  # interlaced or telecined at a camera's rate: constant


def _nominal(rate: Fraction) -> bool:
    """Whether `rate` is one a camera or encoder runs at: whole, halves or quarters (12.5), or NTSC's
    n*1000/1001; FFmpeg guesses odd ones (89/3, 359/12) from irregular timestamps."""
    return any(abs(x - round(x)) < 1e-3 for x in (rate, rate * 2, rate * 4, rate * Fraction(1001, 1000)))


def _presented_frames(stream: av.video.stream.VideoStream) -> int:
    """The header's frame count, less the frames an edit list hides (a file trimmed by stream copy
    keeps them coded): the stream's duration holds only the presented ones."""
    frames = stream.frames
    if frames and stream.duration and stream.average_rate:
        frames = min(frames, round(stream.duration * stream.time_base * stream.average_rate))
    return frames


def _start_pts(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> int:
    """The pts of the first presented frame. AVI has no presentation times: with B-frames its first
    frame decodes one tick after the stream's start, so there the first frame is decoded to learn it."""
    start = stream.start_time if stream.start_time is not None else 0
    if container.format.name != "avi":
        return start
    first = next(container.decode(stream), None)
    container.seek(start, stream=stream, backward=True, any_frame=False)
    return first.pts if first is not None and first.pts is not None else start


def _decoded(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, lost: list[int] | None
) -> Iterator[av.VideoFrame]:
    """The stream's frames. With `lost`, decoding goes on past a packet the decoder refuses (a damaged
    H.264 slice), as players do: its frame is left out and `lost` counts it (the frames that refer to
    it may decode wrong, unflagged, so a render refuses them: without `lost` the error is raised)."""
    for packet in container.demux(stream):
        try:
            yield from packet.decode()
        except av.error.InvalidDataError:
            if lost is None:
                raise
            lost.append(packet.pts)


def _frames_from(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, start: int, start_pts: int,
    time_base: Fraction, rate: Fraction, lost: list[int] | None, lead_in: bool,
) -> Iterator[av.VideoFrame]:
    """Decoded frames (`_decoded`) from frame `start` or earlier, and with `lead_in` from the frame before it
    when they are interlaced: the deinterlacer (`_progressive`) draws on each frame's neighbours, so a frame
    comes out the same wherever decoding starts (a resumed render writes the clip an uninterrupted one writes)."""
    frames = _seek(container, stream, start, start_pts, time_base, rate, lost)
    first = next(frames, None)
    if lead_in and first is not None and first.interlaced_frame and first.pts is not None and start > 0 and \
            frame_index(first.pts, start_pts, time_base, rate) == start:
        if start == 1:  # back to the file's start, which a seek for frame 0 would not decode from
            container.seek(_file_start(container))
            frames = _decoded(container, stream, lost)
        else:
            frames = _seek(container, stream, start - 1, start_pts, time_base, rate, lost)
        first = next(frames, None)
    return itertools.chain([first] if first is not None else [], frames)


def _seek(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, start: int, start_pts: int,
    time_base: Fraction, rate: Fraction, lost: list[int] | None,
) -> Iterator[av.VideoFrame]:
    """Decoded frames from frame `start` or earlier. The seek asks for `start`'s own time first, so a shot
    starting on a keyframe (encoders put them at cuts) decodes nothing of the GOP before it. Some demuxers
    (MPEG-TS) land after the time a seek asks for, so the seek backs off (a second, then four times more)
    until the first frame decoded is at or before `start`; at worst it goes back to the file's start."""
    if start <= 0:
        return _decoded(container, stream, lost)
    target = start_pts + int((start + Fraction(1, 2)) / rate / time_base)  # mid-frame: found if a muxer rounded
    back = 0
    while target - back > start_pts:
        container.seek(target - back, stream=stream, backward=True, any_frame=False)
        frames = _decoded(container, stream, lost)
        first = next(frames, None)
        if first is not None and (first.pts is None or frame_index(first.pts, start_pts, time_base, rate) <= start):
            return itertools.chain([first], frames)
        back = max(4 * back, round(1 / time_base))
    container.seek(_file_start(container))
    return _decoded(container, stream, lost)


def _progressive(frames: Iterator[av.VideoFrame], time_base: Fraction) -> Iterator[av.VideoFrame]:
    """`frames`, those flagged interlaced deinterlaced by FFmpeg's bwdif, one frame per frame (a frame later,
    pts, damage flag, colour and range kept): a model then stylizes pictures, not two woven fields that comb
    wherever anything moves. Progressive frames pass as they are (mixed in PAFF broadcast and spliced recordings):
    each run of interlaced frames is deinterlaced on its own, so a run comes out the same wherever decoding starts."""
    graph, picture = None, None
    for frame in frames:
        if not frame.interlaced_frame:  # a progressive one ends a run (whose deinterlacing it must not inform)
            if graph is not None:
                yield from _flushed(graph, time_base)
                graph = picture = None
            yield frame
            continue
        if _picture(frame) != picture:  # the first interlaced frame of a run, or a new size, format or colour
            if graph is not None:
                yield from _flushed(graph, time_base)
            graph, picture = _deinterlacer(frame, time_base), _picture(frame)
        graph.push(frame)
        yield from _pulled(graph, time_base)
    if graph is not None:
        yield from _flushed(graph, time_base)


def _picture(frame: av.VideoFrame) -> tuple[int, int, str, int, int]:
    """What a deinterlacer is built for."""
    return frame.width, frame.height, frame.format.name, frame.colorspace, frame.color_range


def _deinterlacer(frame: av.VideoFrame, time_base: Fraction) -> av.filter.Graph:
    graph = av.filter.Graph()
    source = graph.add("buffer", f"video_size={frame.width}x{frame.height}:pix_fmt={frame.format.name}:time_base="
                                 f"{time_base.numerator}/{time_base.denominator}:colorspace={frame.colorspace}:"
                                 f"range={frame.color_range}")
    deinterlace = graph.add("bwdif", "mode=send_frame:parity=auto:deint=interlaced")
    source.link_to(deinterlace)
    deinterlace.link_to(graph.add("buffersink"))
    graph.configure()
    return graph


def _flushed(graph: av.filter.Graph, time_base: Fraction) -> Iterator[av.VideoFrame]:
    graph.push(None)  # the last frame, held for a next one that does not come
    yield from _pulled(graph, time_base)


def _pulled(graph: av.filter.Graph, time_base: Fraction) -> Iterator[av.VideoFrame]:
    """The frames `graph` has ready, their pts back in `time_base` (bwdif halves its output's, for fields)."""
    while True:
        try:
            frame = graph.pull()
        except (av.error.BlockingIOError, av.error.EOFError):
            return
        if frame.pts is not None and frame.time_base is not None:
            frame.pts = round(frame.pts * Fraction(frame.time_base) / time_base)
            frame.time_base = time_base
        yield frame


def _file_start(container: av.container.InputContainer) -> int:
    """Where to seek (in FFmpeg's own time base) to reach the file's first frame: 0, or where timestamps
    are negative (MPEG-TS starting shortly before its 33-bit wrap) a second before the first one, as a TS
    seek lands on the keyframe after the time it asks for. Not below 0 otherwise: AVI refuses that."""
    start = container.start_time or 0
    return start - av.time_base if start < 0 else 0


def frame_index(pts: int, start_pts: int, time_base: Fraction, rate: Fraction) -> int:
    """The frame number of a presentation timestamp at the stream's rate."""
    return round((pts - start_pts) * time_base * rate)


def _count_frames(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> int:
    """Counts frames by demuxing packets (no decoding) when the header does not say."""
    return sum(1 for packet in container.demux(stream) if packet.size and packet.pts is not None)


def probe(path: str | Path, *, count: bool = True) -> MediaInfo:
    """Reads a video file's geometry, rate, frame count and timecode without decoding it. Remembered per
    file version (size and time): a timeline's clips often share a file, and counting the frames of a
    stream whose header does not say (MPEG-TS, MKV) reads all of it, which `count=False` leaves out (its
    `frames` is then 0 for such a stream)."""
    path = Path(path)
    version = _version(path)
    return _probe(path, count) if version is None else _probe_version(path, version, count)


def _version(path: Path) -> tuple[int, int, int] | None:
    """A file's version: its inode, size and modification time (a file replaced by rename is another); None
    when it cannot be looked up (`_open` then says what is wrong with it)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


@functools.lru_cache(maxsize=512)
def _probe_version(path: Path, version: tuple[int, int, int], count: bool) -> MediaInfo:
    return _probe(path, count)


def _probe(path: Path, count: bool) -> MediaInfo:
    container, stream = _open(path)
    try:
        ctx = stream.codec_context
        if ctx is None or not stream.codec_context.name:
            raise MediaError(f"{path}: the video codec is not supported by this build of FFmpeg: transcode it (to ProRes, "
                             "DNxHR or H.264) in the NLE or the camera's software and relink.")
        rate = _rate(stream, path)
        frames = _presented_frames(stream) or (_count_frames(container, stream) if count else 0)
        if frames <= 0 and count:
            raise MediaError(f"{path}: the video stream holds no frames (truncated or empty file).")
        timecode = stream.metadata.get("timecode") or container.metadata.get("timecode")
        sar = stream.sample_aspect_ratio or ctx.sample_aspect_ratio  # ProRes says it in the container only
        components = av.VideoFormat(ctx.pix_fmt).components if ctx.pix_fmt else ()
        return MediaInfo(
            path=path,
            width=ctx.width,
            height=ctx.height,
            rate=rate,
            frames=frames,
            codec=ctx.name,
            pix_fmt=ctx.pix_fmt or "",
            sample_aspect=Fraction(sar.numerator, sar.denominator) if sar else Fraction(1),
            timecode=timecode,
            colour=Colour.of(ctx),
            alpha=any(c.is_alpha for c in components),
            bit_depth=max((c.bits for c in components), default=8),
            variable_rate=_variable_rate(stream),
        )
    finally:
        container.close()


def display_rotation(path: str | Path) -> int:
    """Degrees counter-clockwise a player turns the picture (a phone's display matrix; frames decode as
    stored). PyAV shows it on decoded frames only, so this decodes the first one, once per file version (the
    panel asks at every frame it shows); 0 when it cannot."""
    path = Path(path)
    version = _version(path)
    return _rotation(path) if version is None else _rotation_version(path, version)


@functools.lru_cache(maxsize=512)
def _rotation_version(path: Path, version: tuple[int, int, int]) -> int:
    return _rotation(path)


def _rotation(path: Path) -> int:
    container, stream = _open(path)
    try:
        return next(container.decode(stream)).rotation
    except (StopIteration, av.error.FFmpegError):
        return 0  # iter_frames reports an undecodable file where it matters
    finally:
        container.close()


def iter_frames(
    path: str | Path,
    start: int = 0,
    end: int | None = None,
    *,
    width: int | None = None,
    height: int | None = None,
    fmt: str = "rgb24",
    damaged: bool = False,
) -> Iterator[np.ndarray]:
    """Yields frames [start, end) as HxWxC arrays of `fmt` (rgb24: C=3), optionally scaled inside
    swscale, converted to RGB with the stream's own matrix (`Colour.conversion_matrix`).

    Raises MediaError naming the file when it ends before `end`, cannot be decoded, changes size (read at its
    own size), or a frame in [start, end) decodes damaged (frames decoded only to reach `start` after a seek
    are not checked); with `damaged`, such frames are yielded as the decoder concealed them, and one it could
    not decode at all as the frame before it (the next at the range's start: previews, cut detection).
    Interlaced frames are deinterlaced (`_progressive`) unless scaled to half their height or less, which
    blends the fields.
    """
    path = Path(path)
    container, stream = _open(path)
    try:
        stream.thread_type = "AUTO"
        rate = _rate(stream, path)
        time_base = Fraction(stream.time_base.numerator, stream.time_base.denominator)
        matrix = Colour.of(stream.codec_context).conversion_matrix(stream.codec_context.height)
        size = (stream.codec_context.width, stream.codec_context.height)
        own_size = (width or size[0], height or size[1]) == size
        deinterlace = (height or stream.codec_context.height) * 2 > stream.codec_context.height
        expected, previous, lost = start, None, [] if damaged else None
        try:
            start_pts = _start_pts(container, stream)
            frames = _frames_from(container, stream, start, start_pts, time_base, rate, lost, deinterlace)
            for frame in _progressive(frames, time_base) if deinterlace else frames:
                if end is not None and expected >= end:
                    break
                index = expected if frame.pts is None else frame_index(frame.pts, start_pts, time_base, rate)
                if index < expected:
                    continue
                if index > expected and not lost:
                    raise MediaError(
                        f"{path}: frame {expected} is missing from the stream (found {index}): a damaged or cut short "
                        "file (copy it again from the card or the backup), or a variable frame rate (phones, screen "
                        "recordings: transcode it to a constant rate); then relink."
                    )
                if frame.is_corrupt and not damaged:
                    raise MediaError(
                        f"{path}: frame {index} is damaged (the decoder had to conceal errors in it): copy the file "
                        "again from the camera card or the backup, or export it again, and relink."
                    )
                if width is None and height is None and (frame.width, frame.height) != size:
                    raise MediaError(
                        f"{path}: frame {index} is {frame.width}x{frame.height} where the stream starts at "
                        f"{size[0]}x{size[1]} (a recording that changed format): transcode it to one size and relink."
                    )
                array = frame.to_ndarray(format=_PLANAR.get(fmt, fmt), width=width, height=height, src_colorspace=matrix,
                                         interpolation=_EXACT if own_size else None)
                for _ in range(expected, index if end is None else min(index, end)):  # undecodable frames, concealed
                    yield array if previous is None else previous
                if end is not None and index >= end:
                    expected = end
                    break
                expected, previous = index + 1, array
                yield array
                if end is not None and expected >= end:  # not a frame more: what lies past the range is not its
                    break
        except av.error.FFmpegError as exc:
            raise MediaError(
                f"{path}: decoding failed near frame {expected} ({exc}); the file may be damaged: copy it again from "
                "the camera card or the backup, or export it again, and relink."
            ) from exc
        if end is not None and expected < end and lost and previous is not None and end <= _presented_frames(stream):
            yield from itertools.repeat(previous, end - expected)  # undecodable to the end (which the file holds)
        elif end is not None and expected < end:
            raise MediaError(
                f"{path}: ends at frame {expected}, before the requested frame {end} "
                "(truncated file, or a timeline that points past the media's end)."
            )
    finally:
        container.close()
