"""The backend seam: a backend stylizes one segment of a shot at a time.

The segment chainer (`engine.chain`) cuts a shot into segments of `segment_frames` frames that overlap
by `overlap` frames, and passes each segment's stylized first frame as its condition: the user's (or
generated) first frame for the first segment, then the previous segment's output at the frame where it
starts (with the default overlap of one, the previous segment's last output frame). Backends never see
whole shots, so memory does not grow with shot length.
"""

from __future__ import annotations

import hashlib
import json
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

__all__ = ["TEXT", "STYLE_IMAGE", "FIRST_FRAME", "Guidance", "BackendConfig", "BackendError", "Backend"]

TEXT = "text"
STYLE_IMAGE = "style_image"
FIRST_FRAME = "first_frame"


class BackendError(Exception):
    """A request this backend cannot serve, or a backend that cannot run here; says what to do."""


@dataclass(frozen=True)
class Guidance:
    """What the user asked for. Images are HxWx3 uint8 RGB arrays."""

    prompt: str = ""
    style_image: np.ndarray | None = None
    first_frame: np.ndarray | None = None

    @property
    def kinds(self) -> frozenset[str]:
        kinds = {TEXT} if self.prompt.strip() else set()
        if self.style_image is not None:
            kinds.add(STYLE_IMAGE)
        if self.first_frame is not None:
            kinds.add(FIRST_FRAME)
        return frozenset(kinds)


@dataclass(frozen=True)
class BackendConfig:
    """Engine-side settings a backend may need (from `dreamstyle engine serve` flags)."""

    model_dir: Path | None = None
    adapter: Path | None = None
    device: str = "auto"
    options: dict[str, str] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """Names what renders come out of: folders, device, options, and the size and time of every file of the
        model folder, the adapter and a path an option names (weights replaced in place count as others)."""
        named = [Path(value) for value in self.options.values() if "/" in value or os.sep in value]  # not "bf16"
        paths = [path for path in (self.model_dir, self.adapter, *named) if path and path.exists()]
        parts = [str(self.model_dir), str(self.adapter), self.device, json.dumps(self.options, sort_keys=True),
                 *map(_stamp, paths)]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _stamp(path: Path) -> str:
    """The size and time of `path`, or of each file in the folder `path` (a Diffusers model's weights)."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return " ".join(f"{file.relative_to(path)}:{file.stat().st_size}:{file.stat().st_mtime_ns}" for file in files)


class Backend(ABC):
    """One way of stylizing frames. Subclasses live one per module and are listed in the registry."""

    name: ClassVar[str]
    description: ClassVar[str]
    guidances: ClassVar[frozenset[str]]
    named_looks: ClassVar[tuple[str, ...]] = ()
    params: ClassVar[frozenset[str]] = frozenset()
    """The job params it reads (besides the chainer's overlap and color_match): others are refused at submit."""
    segment_frames: int = 33
    part_frames: int = 0
    """Frames an encoded part of a shot holds at least (whole segments): each part costs an encoder start
    and a crash re-renders up to one part, so a backend whose segments are cheap raises it; 0 encodes
    every segment on its own."""
    deep: ClassVar[bool] = False
    """Takes 16-bit frames (uint16, 0..65535) from a source of more than 8 bits rendered to a codec that keeps
    them (ProRes), and returns them so: the render keeps the source's precision. Others get 8-bit frames."""

    def __init__(self, config: BackendConfig | None = None) -> None:
        self.config = config or BackendConfig()

    @classmethod
    def missing(cls, config: BackendConfig) -> list[str]:
        """What this backend still needs on this machine (model folder, GPU...); empty when ready."""
        return []

    def check(self, guidance: Guidance, params: dict[str, str]) -> None:
        """Raises BackendError before any heavy work when the guidance or params cannot be served."""
        if not guidance.kinds:
            raise BackendError(f"backend {self.name!r} needs a guidance: a prompt, a style image or a first frame.")
        unsupported = guidance.kinds - self.guidances
        if unsupported:
            raise BackendError(
                f"backend {self.name!r} does not support {', '.join(sorted(unsupported))} guidance "
                f"(it supports {', '.join(sorted(self.guidances))})."
            )

    @abstractmethod
    def first_condition(self, source_first: np.ndarray, guidance: Guidance, seed: int) -> np.ndarray | None:
        """The stylized first frame that conditions the shot's first segment, at the source's size.

        `source_first` is the shot's first source frame. Returns None for a backend that uses none.
        """

    @abstractmethod
    def render_segment(
        self,
        frames: np.ndarray,
        condition: np.ndarray | None,
        guidance: Guidance,
        seed: int,
        params: dict[str, str],
    ) -> np.ndarray:
        """Stylizes a (T, H, W, 3) uint8 segment (uint16 for a `deep` backend on a deep source) whose frame 0 is
        conditioned on `condition` (either depth: the user's first frame is 8-bit, a chained one the segment's).

        `frames` is read-only (the chainer refills it for the next segment): return a new array, or
        `frames` itself when nothing changes.

        Returns an array of the same shape and dtype.
        """
