"""Renders one shot: decode its source range, chain it through a backend, encode the result.

Each segment's new frames are encoded into their own file in the job's work folder
(`segment_NNNNN.mov`, renamed into place when the segment is complete), and the clip is those files
joined without re-encoding (`engine.media.concat_clips`). A resumed shot keeps its finished segment
files and renders the rest, so it writes exactly the clip an uninterrupted run writes (the encoder is
deterministic, see `engine.media`), at the cost of compressed intermediates instead of raw frames.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from dreamstyle.frames import MediaError, MediaInfo, iter_frames, probe

from .background import in_background
from .backends.base import Backend, BackendError, Guidance
from .chain import Cancelled, Resume, SegmentDone, segment_bounds, stylize_shot
from .drift import drift_options
from .media import ClipWriter, concat_clips, output_suffix

__all__ = ["RenderError", "RenderResult", "ShotRequest", "load_image", "render_shot", "segment_path"]


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
            return np.asarray(image.convert("RGB"))
    except FileNotFoundError:
        raise RenderError(f"{role} {path} was not found; check the path (or upload it to a remote engine).") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise RenderError(f"{role} {path} is not a readable image (PNG, JPEG or TIFF): {exc}") from None


def _guidance(request: ShotRequest) -> Guidance:
    return Guidance(
        prompt=request.prompt,
        style_image=load_image(request.style_image, "style image") if request.style_image else None,
        first_frame=load_image(request.first_frame, "first frame") if request.first_frame else None,
    )


def segment_path(work_dir: Path, index: int) -> Path:
    """Where segment `index`'s new frames are kept, encoded, until the clip is joined."""
    return work_dir / f"segment_{index:05d}.mov"


class _SegmentFiles:
    """Encodes each segment's new frames into its own file; a file appears only once complete."""

    def __init__(self, work_dir: Path, request: ShotRequest, info: MediaInfo, index: int) -> None:
        self.work_dir, self.request, self.info, self.index = work_dir, request, info, index
        self._writer: ClipWriter | None = None

    def write(self, frame: np.ndarray) -> None:
        if self._writer is None:
            self._writer = _clip_writer(segment_path(self.work_dir, self.index), self.request, self.info, None)
        self._writer.write(frame)

    def finish(self) -> None:
        """Closes the finished segment's file; the next frame opens the next one."""
        assert self._writer is not None
        self._writer.close()
        self._writer, self.index = None, self.index + 1

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.abort()


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

    Finished segments are kept in `work_dir` (a temporary folder when None); with `resume`, segments
    before `resume.segment` are taken from there. The caller removes `work_dir` when it is done with it.
    """
    if work_dir is None:
        with tempfile.TemporaryDirectory(prefix="dreamstyle-shot-") as tmp:
            return render_shot(request, backend, work_dir=Path(tmp), on_segment=on_segment, cancelled=cancelled)
    label = request.label or request.media.name
    try:
        info = probe(request.media)
    except MediaError as exc:
        raise RenderError(f"shot {label}: {exc}") from None
    if request.rate is not None and request.rate != info.rate:
        raise RenderError(
            f"shot {label}: the timeline says {request.media.name} runs at {request.rate} fps but the file "
            f"runs at {info.rate}; relink the clip to the right media or fix the clip's rate."
        )
    if not 0 <= request.start < request.end <= info.frames:
        raise RenderError(
            f"shot {label}: frames [{request.start}, {request.end}) fall outside {request.media.name}, "
            f"which has {info.frames} frames; relink the clip or trim it inside the media."
        )
    guidance = _guidance(request)
    try:
        backend.check(guidance, request.params)
        drift = drift_options(request.params)
    except BackendError as exc:
        raise RenderError(f"shot {label}: {exc}") from None
    bounds = segment_bounds(request.frames, backend.segment_frames, int(drift["overlap"]))
    if resume and not all(segment_path(work_dir, i).exists() for i in range(resume.segment)):
        resume = None  # the kept segments are gone: render the shot from its start
    first = resume.segment if resume else 0
    work_dir.mkdir(parents=True, exist_ok=True)
    if first < len(bounds):
        segments = _SegmentFiles(work_dir, request, info, first)

        def produce(emit: Callable[[object], None]) -> None:
            """Decodes and stylizes on the producer thread."""
            source = iter_frames(request.media, request.start + bounds[first][0], request.end)
            frames = stylize_shot(
                backend,
                source,
                request.frames,
                guidance,
                seed=request.seed,
                params=request.params,
                **drift,
                on_segment=emit,
                cancelled=cancelled,
                resume=resume,
            )
            for frame in frames:
                emit(frame)

        try:
            for item in in_background(produce):
                if isinstance(item, SegmentDone):
                    segments.finish()
                    on_segment(item)
                    if item.index + 1 < item.total and cancelled():  # the producer may be a segment ahead
                        raise Cancelled
                else:
                    segments.write(item)
        except MediaError as exc:
            segments.abort()
            raise RenderError(f"shot {label}: {exc}") from None
        except BaseException:
            segments.abort()
            raise
    path = request.out_path_stem.with_suffix(output_suffix(request.codec, request.timecode))
    for stale in path.parent.glob(f".{path.stem}.*.partial{path.suffix}"):  # left by a killed engine
        stale.unlink(missing_ok=True)
    concat_clips([segment_path(work_dir, i) for i in range(len(bounds))], path, request.timecode)
    return RenderResult(path, request.frames, info.rate, info.width, info.height)


def _clip_writer(path: Path, request: ShotRequest, info: MediaInfo, timecode: str | None) -> ClipWriter:
    return ClipWriter(
        path,
        rate=info.rate,
        width=info.width,
        height=info.height,
        codec=request.codec,
        timecode=timecode,
        sample_aspect=info.sample_aspect,
    )
