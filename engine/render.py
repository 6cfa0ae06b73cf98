"""Renders one shot: decode its source range, chain it through a backend, encode the result.

The shot's frames are encoded in parts of whole segments (at least `backend.part_frames` frames each)
into the job's work folder (`part_NNNNN.mov`, numbered by the part's first segment, renamed into place
when complete), and the clip is those files joined without re-encoding (`engine.media.concat_clips`).
A resumed shot keeps its finished parts and renders the rest, so it writes exactly the clip an
uninterrupted run writes (the encoder is deterministic, see `engine.media`).
"""

from __future__ import annotations

import math
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from dreamstyle.frames import MediaError, MediaInfo, display_rotation, iter_frames, probe

from .backends.base import Backend, BackendError, Guidance
from .background import in_background
from .chain import Cancelled, Resume, SegmentDone, segment_bounds, stylize_shot
from .drift import drift_options
from .media import ClipWriter, concat_clips, output_suffix, remove_stale_partials

__all__ = ["MAX_SIDE", "MediaMismatch", "RenderError", "RenderResult", "ShotRequest", "check_image", "check_media",
           "load_image", "part_path", "part_starts", "render_shot"]

MAX_SIDE = 8192
"""The widest and tallest frame the engine renders (announced in its limits)."""


class RenderError(Exception):
    """A shot cannot be rendered as asked; the message names the shot or file and what to do."""


@dataclass(frozen=True)
class ShotRequest:
    """One shot to stylize, with paths already resolved inside the engine's media roots."""

    key: str
    media: Path
    start: int
    end: int
    rate: Fraction | None
    label: str
    backend: str
    out_path_stem: Path
    prompt: str = ""
    style_image: Path | None = None
    first_frame: Path | None = None
    seed: int = 0
    params: dict[str, str] = field(default_factory=dict)
    codec: str = "h264"
    timecode: str | None = None
    priority: int = 0

    @property
    def frames(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class RenderResult:
    path: Path
    frames: int
    rate: Fraction
    width: int
    height: int


def load_image(path: Path, role: str) -> np.ndarray:
    """Reads an image as HxWx3 uint8 RGB; RenderError says which file and role failed."""
    try:
        with Image.open(path) as image:
            if image.mode.startswith("I"):  # 16-bit greyscale, which convert("RGB") would clip to white
                grey = np.clip(np.asarray(image, np.float32) / 257, 0, 255).round().astype(np.uint8)
                return np.repeat(grey[..., None], 3, axis=2)
            return np.asarray(image.convert("RGB"))
    except FileNotFoundError:
        raise RenderError(f"{role} {path} was not found; check the path (or upload it to a remote engine).") from None
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError) as exc:
        raise _unreadable(path, role, exc) from None


def _unreadable(path: Path, role: str, exc: Exception) -> RenderError:
    if isinstance(exc, Image.DecompressionBombError):
        return RenderError(f"{role} {path} has more pixels than the engine decodes ({exc}); scale it down (the "
                           "models need no more than 4K)")
    return RenderError(f"{role} {path} is not a readable image (PNG, JPEG or TIFF): {exc}")


def _guidance(request: ShotRequest) -> Guidance:
    return Guidance(
        prompt=request.prompt,
        style_image=load_image(request.style_image, "style image") if request.style_image else None,
        first_frame=load_image(request.first_frame, "first frame") if request.first_frame else None,
    )


def part_path(work_dir: Path, first_segment: int) -> Path:
    """Where the part that starts at `first_segment` is kept, encoded, until the clip is joined."""
    return work_dir / f"part_{first_segment:05d}.mov"


def part_starts(bounds: list[tuple[int, int]], part_frames: int) -> list[int]:
    """The first segment of each part: whole segments, at least `part_frames` new frames (the last
    part may hold fewer)."""
    starts, held, emitted = [0], 0, 0
    for index, (_, end) in enumerate(bounds[:-1]):
        held, emitted = held + end - emitted, end
        if held >= part_frames:
            starts.append(index + 1)
            held = 0
    return starts


class _Parts:
    """Encodes a shot's new frames into part files; a file appears only once complete.

    A source with an alpha channel keeps it: its alpha is read alongside, from the first frame written,
    and joined to each stylized frame, and the parts are ProRes 4444 (`codec` says so). `deep` frames are
    16-bit, and so is the alpha read for them.
    """

    def __init__(self, work_dir: Path, request: ShotRequest, info: MediaInfo, codec: str, starts: list[int], total: int,
                 first_frame: int, *, deep: bool) -> None:
        self.work_dir, self.request, self.info, self.codec = work_dir, request, info, codec
        self.rotation = display_rotation(request.media)  # a phone clip's render plays upright like its source
        self._ends = {start - 1 for start in starts[1:]} | {total - 1}
        self._writer: ClipWriter | None = None
        rgba = "rgba64le" if deep else "rgba"
        self._alpha = (
            (frame[..., 3] for frame in iter_frames(request.media, request.start + first_frame, request.end, fmt=rgba))
            if info.alpha
            else None
        )

    def write(self, frame: np.ndarray, segment: int) -> None:
        if self._writer is None:
            info = self.info
            self._writer = ClipWriter(
                part_path(self.work_dir, segment),
                rate=info.rate,
                width=info.width,
                height=info.height,
                codec=self.codec,
                sample_aspect=info.sample_aspect,
                rotation=self.rotation,
                colour=info.colour,
                alpha=info.alpha,
            )
        self._writer.write(frame if self._alpha is None else np.dstack((frame, next(self._alpha))))

    def finish(self, segment: int) -> bool:
        """Called after each segment; closes the part it ends. True when the segment's frames are kept."""
        if segment not in self._ends:
            return False
        assert self._writer is not None
        self._writer.close()
        self._writer = None
        return True

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.abort()

    def close(self) -> None:
        """Closes the alpha reader (its file stays open until then)."""
        if self._alpha is not None:
            self._alpha.close()


def render_shot(
    request: ShotRequest,
    backend: Backend,
    *,
    work_dir: Path | None = None,
    resume: Resume | None = None,
    on_segment: Callable[[SegmentDone], None] = lambda done: None,
    cancelled: Callable[[], bool] = lambda: False,
) -> RenderResult:
    """Renders `request` to `out_path_stem` + suffix, atomically. Raises RenderError or Cancelled.

    Encoded parts are kept in `work_dir` (a temporary folder when None); with `resume`, the parts before
    `resume.segment` are taken from there. The caller removes `work_dir` when it is done with it.
    """
    if work_dir is None:
        with tempfile.TemporaryDirectory(prefix="dreamstyle-shot-") as tmp:
            return render_shot(request, backend, work_dir=Path(tmp), on_segment=on_segment, cancelled=cancelled)
    label = request.label or request.media.name
    folder = request.out_path_stem.parent.resolve()  # as the job's start checked it (`Storage.recheck`)
    info = _probe(request, label)
    guidance = _guidance(request)
    try:
        backend.check(guidance, request.params)
        drift = drift_options(request.params)
    except BackendError as exc:
        raise RenderError(f"shot {label}: {exc}") from None
    bounds = segment_bounds(request.frames, backend.segment_frames, int(drift["overlap"]))
    starts = part_starts(bounds, backend.part_frames)
    if resume and (
        resume.segment not in [*starts, len(bounds)]
        or not all(part_path(work_dir, s).exists() for s in starts if s < resume.segment)
    ):
        resume = None  # the kept parts are gone: render the shot from its start
    first = resume.segment if resume else 0
    codec = "prores" if info.alpha else request.codec  # ProRes 4444 keeps the alpha that H.264 cannot
    deep = backend.deep and info.bit_depth > 8 and codec == "prores"  # 10-bit out: stylize at 16 bits, not 8
    work_dir.mkdir(parents=True, exist_ok=True)
    if first < len(bounds):
        start = bounds[first - 1][1] if first else 0  # the first frame no kept part holds
        parts = _Parts(work_dir, request, info, codec, starts, len(bounds), start, deep=deep)

        def produce(emit: Callable[[object], None]) -> None:
            """Decodes and stylizes on the producer thread, emitting each frame and each SegmentDone."""
            source = iter_frames(request.media, request.start + bounds[first][0], request.end,
                                 fmt="rgb48le" if deep else "rgb24")
            frames = stylize_shot(backend, source, request.frames, guidance, seed=request.seed, params=request.params,
                                  **drift, on_segment=emit, cancelled=cancelled, resume=resume)
            for frame in frames:
                emit(frame)

        _encode(produce, parts, first, on_segment, cancelled, label)
    stem = request.out_path_stem  # names hold dots (A001.mov_s001): the suffix is added, not swapped in
    path = stem.with_name(stem.name + output_suffix(codec, request.timecode))
    if (now := path.parent.resolve()) != folder:  # a render takes minutes: a symlink may have been swapped in
        raise RenderError(f"shot {label}: the output folder {path.parent} now leads to {now}, not {folder} (a symlink "
                          "changed while the shot rendered); submit the shot again")
    remove_stale_partials(path)
    concat_clips([part_path(work_dir, s) for s in starts], path, request.timecode)
    return RenderResult(path, request.frames, info.rate, info.width, info.height)


class MediaMismatch(Exception):
    """The shot's media cannot render as the request asks; `field` names the request's field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def check_media(request: ShotRequest, *, count: bool = True) -> MediaInfo:
    """The shot's media, checked against the request (a video, its rate, size, timecode and range): at
    submit and again when the job runs (the file may have changed while it was queued). Without `count`,
    the range is checked only where the header states the frame count (counting reads the whole file)."""
    media = request.media.name
    try:
        info = probe(request.media, count=count)
    except MediaError as exc:
        raise MediaMismatch("shot.media", str(exc)) from None
    if request.rate is not None and request.rate != info.rate:
        raise MediaMismatch("shot.rate", f"the timeline says {media} runs at {request.rate} fps but the file runs "
                            f"at {info.rate}; relink the clip to the right media or fix the clip's rate.")
    if max(info.width, info.height) > MAX_SIDE:
        raise MediaMismatch("shot.media", f"{media} is {info.width}x{info.height}; this engine renders frames up "
                            f"to {MAX_SIDE} pixels a side: render a proxy of the shot at a smaller size.")
    if request.timecode and int(re.split("[:;]", request.timecode)[-1]) >= math.ceil(info.rate):
        raise MediaMismatch("output.timecode", f"output timecode {request.timecode} counts more frames than {media} "
                            f"runs per second ({float(info.rate):g} fps); send the timecode at the media's rate.")
    if info.frames and not 0 <= request.start < request.end <= info.frames:
        raise MediaMismatch("shot.end_frame", f"frames [{request.start}, {request.end}) fall outside {media}, which "
                            f"has {info.frames} frames; relink the clip or trim it inside the media.")
    return info


def check_image(path: Path, role: str) -> None:
    """That `path` is an image PIL can read, from its header alone (`load_image` decodes it when the job runs)."""
    try:
        with Image.open(path):
            pass
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError) as exc:
        raise _unreadable(path, role, exc) from None


def _probe(request: ShotRequest, label: str) -> MediaInfo:
    """`check_media` when the job runs, its problem as the shot's RenderError."""
    try:
        return check_media(request)
    except MediaMismatch as exc:
        raise RenderError(f"shot {label}: {exc}") from None


def _encode(produce: Callable[[Callable[[object], None]], None], parts: _Parts, segment: int,
            on_segment: Callable[[SegmentDone], None], cancelled: Callable[[], bool], label: str) -> None:
    """Runs `produce` on a thread and writes its frames into `parts` from `segment` on, reporting each segment
    (kept when its part closed); a failure or a cancel aborts the open part."""
    try:
        for item in in_background(produce):
            if isinstance(item, SegmentDone):
                on_segment(replace(item, kept=parts.finish(item.index)))
                segment = item.index + 1
                if segment < item.total and cancelled():  # the producer may be a segment ahead
                    raise Cancelled
            else:
                parts.write(item, segment)
    except MediaError as exc:
        parts.abort()
        raise RenderError(f"shot {label}: {exc}") from None
    except BaseException:
        parts.abort()
        raise
    finally:
        parts.close()
