"""Guidance made from renders: the look anchor (a hero shot rendered first, whose stylized still is the
style image of every other shot) and a first frame generated from a style image."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image

from dreamstyle.atomic import written_as
from dreamstyle.frames import iter_frames

from .errors import DreamStyleError
from .pipeline import Renderer, ShotResult, ShotUpdate, StyleSettings
from .plan import Shot

__all__ = ["render_anchored", "generate_first_frame", "still_of"]


def render_anchored(
    renderer: Renderer, hero: Shot, others: Sequence[Shot], style: StyleSettings, still: Path,
    on_update: Callable[[ShotUpdate], None] = lambda update: None,
) -> list[ShotResult]:
    """Renders `hero` with `style`, then `others` with the hero's stylized first frame (written to `still`) as
    their style image; results are named as `style`'s look. The others are not sent when the hero is
    cancelled or fails."""
    first = renderer.render([hero], style, on_update)
    if first[0].output is None:
        cancelled = first[0].status == "cancelled"
        status = "cancelled" if cancelled else "failed"
        error = f"not sent: the look anchor {hero.name} " + ("was cancelled" if cancelled else f"failed: {first[0].error}")
        for shot in others:  # each ends now, as a render would have said
            total = shot.frames + shot.head + shot.tail
            on_update(ShotUpdate(shot, status, 0, total, error))
        return first + [ShotResult(shot, status, error=error) for shot in others]
    look = dataclasses.replace(style, style_image=still_of(first[0], still), first_frame=None)
    rendered = renderer.render(others, look, on_update)  # those cancelled while the hero rendered are not sent
    return first + [dataclasses.replace(r, look=style.label) for r in rendered]


def generate_first_frame(renderer: Renderer, shot: Shot, style: StyleSettings, dest: Path) -> Path:
    """Stylizes `shot`'s first frame alone from `style`'s style image and writes it to `dest` as a PNG."""
    one = dataclasses.replace(shot, end=shot.start + 1, head=0, tail=0)
    result = renderer.render([one], dataclasses.replace(style, first_frame=None))[0]
    if result.output is None:
        raise DreamStyleError(f"first frame from the style image: {result.error}")
    return still_of(result, dest)


def still_of(result: ShotResult, dest: Path) -> Path:
    """Writes the rendered clip's first frame of the shot proper (after its handle) to `dest`, atomically."""
    assert result.output is not None
    frame = next(iter_frames(result.output, result.shot.head, result.shot.head + 1))
    dest.parent.mkdir(parents=True, exist_ok=True)
    with written_as(dest) as partial:
        Image.fromarray(frame).save(partial, format="PNG")
    return dest
