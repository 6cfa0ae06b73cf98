"""Renders one shot: decode its source range, chain it through a backend, encode the result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from dreamstyle.frames import MediaError, iter_frames, probe

from .backends.base import Backend, BackendError, Guidance
from .chain import SegmentDone, stylize_shot
from .drift import drift_options
from .media import ClipWriter, output_suffix

__all__ = ["RenderError", "ShotRequest", "RenderResult", "load_image", "render_shot"]


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


def render_shot(
    request: ShotRequest,
    backend: Backend,
    *,
    on_segment: Callable[[SegmentDone], None] = lambda done: None,
    cancelled: Callable[[], bool] = lambda: False,
) -> RenderResult:
    """Renders `request` to `out_path_stem` + suffix, atomically. Raises RenderError or Cancelled."""
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
    path = request.out_path_stem.with_suffix(output_suffix(request.codec, request.timecode))
    writer = ClipWriter(
        path,
        rate=info.rate,
        width=info.width,
        height=info.height,
        codec=request.codec,
        timecode=request.timecode,
        sample_aspect=info.sample_aspect,
    )
    with writer:
        source = iter_frames(request.media, request.start, request.end)
        frames = stylize_shot(
            backend,
            source,
            request.frames,
            guidance,
            seed=request.seed,
            params=request.params,
            **drift,
            on_segment=on_segment,
            cancelled=cancelled,
        )
        try:
            for frame in frames:
                writer.write(frame)
        except MediaError as exc:
            raise RenderError(f"shot {label}: {exc}") from None
    return RenderResult(path, writer.frames, info.rate, info.width, info.height)
