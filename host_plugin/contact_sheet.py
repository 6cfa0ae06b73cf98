"""Before/after contact sheets: one row per shot, source beside render at the shot's middle frame."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

from dreamstyle.atomic import written_as
from dreamstyle.frames import MediaError, iter_frames

from .timeline.writeback import Rendered

__all__ = ["ROWS_PER_SHEET", "write_contact_sheets"]

THUMB_W, THUMB_H, LABEL_H, PAD = 320, 180, 22, 8
ROWS_PER_SHEET = 100
"""A sheet's shots: a feature's 2000 in one image took 1.2 GB to draw, and image viewers refuse such a PNG."""


def _frame(path: Path, index: int) -> Image.Image:
    array = next(iter_frames(path, index, index + 1, width=THUMB_W, height=THUMB_H, damaged=True))
    return Image.fromarray(array)


def write_contact_sheets(results: Sequence[Rendered], path: Path) -> list[Path]:
    """Writes PNGs with a before | after row per rendered shot, ROWS_PER_SHEET to a sheet (atomically): `path`,
    then `<stem>_2.png`, `<stem>_3.png`...; returns their paths."""
    rows = [r for r in results if r.output is not None]
    pages = [rows[first:first + ROWS_PER_SHEET] for first in range(0, max(1, len(rows)), ROWS_PER_SHEET)]
    return [_write_sheet(page, path if number == 1 else path.with_name(f"{path.stem}_{number}{path.suffix}"))
            for number, page in enumerate(pages, 1)]


def _write_sheet(rows: Sequence[Rendered], path: Path) -> Path:
    width = 2 * THUMB_W + 3 * PAD
    sheet = Image.new("RGB", (width, PAD + max(1, len(rows)) * (THUMB_H + LABEL_H + PAD)), (24, 24, 28))
    draw = ImageDraw.Draw(sheet)
    for row, result in enumerate(rows):
        shot = result.shot
        top = PAD + row * (THUMB_H + LABEL_H + PAD)
        middle = shot.frames // 2
        draw.text((PAD, top + 4), f"{shot.name}  before | after  (frame {shot.start + middle})", fill=(220, 220, 220))
        try:
            sheet.paste(_frame(shot.media, shot.start + middle), (PAD, top + LABEL_H))
            sheet.paste(_frame(result.output, shot.head + middle), (2 * PAD + THUMB_W, top + LABEL_H))
        except MediaError as exc:
            draw.text((PAD, top + LABEL_H + 8), f"cannot read: {exc}"[:90], fill=(255, 120, 120))
    path.parent.mkdir(parents=True, exist_ok=True)
    with written_as(path) as partial:
        sheet.save(partial, format="PNG")
    return path
