"""Still frames the panel turns into guidance: a render's first shot frame as a PNG (the look anchor's style
reference, or a generated first frame), and the one-frame shot that generates it. Qt-free."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from PIL import Image

from dreamstyle.frames import iter_frames
from host_plugin.pipeline import ShotResult
from host_plugin.plan import Shot

__all__ = ["still_of", "one_frame"]


def still_of(result: ShotResult, dest: Path) -> Path:
    """Writes the rendered clip's first frame of the shot proper (after its handle) to `dest`, atomically."""
    assert result.output is not None
    frame = next(iter_frames(result.output, result.shot.head, result.shot.head + 1))
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(f".{dest.name}.partial.png")
    Image.fromarray(frame).save(partial)
    os.replace(partial, dest)
    return dest


def one_frame(shot: Shot) -> Shot:
    """The shot's first frame alone, to render a first frame from a style image cheaply."""
    return dataclasses.replace(shot, end=shot.start + 1, head=0, tail=0)
