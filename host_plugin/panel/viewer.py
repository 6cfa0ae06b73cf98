"""Before/after viewer for a finished shot: scrub its frames, split with a movable divider, or side by side.

Frames are decoded on the panel's worker threads (`run_task`), one read at a time: while a read runs, a
scrub only records the newest frame wanted, and a read that comes back for an older frame is dropped and
the newest one read instead, so fast scrubbing never queues up stale reads.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QComboBox, QDialog, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from dreamstyle.frames import MediaError, MediaInfo, display_rotation, iter_frames, probe
from host_plugin.errors import DreamStyleError
from host_plugin.pipeline import ShotResult

from .workers import run_task

__all__ = ["BeforeAfter", "read_pair"]

MAX_SIZE = (720, 720)  # the picture's box: wide, anamorphic and portrait shots all fit on the screen

Pair = tuple[np.ndarray, np.ndarray]


def shown_size(info: MediaInfo, box: tuple[int, int] = MAX_SIZE, rotation: int = 0) -> tuple[int, int]:
    """The picture's (width, height) as a player shows it: its pixel aspect applied, turned by `rotation` (a
    phone's 90 or 270 swaps its sides), fitted to `box`."""
    width, height = info.width * info.sample_aspect, Fraction(info.height)
    if rotation % 180:
        width, height = height, width
    scale = min(1, box[0] / width, box[1] / height)
    return max(2, round(width * scale) // 2 * 2), max(2, round(height * scale) // 2 * 2)


def shown_frame(path: Path, index: int, size: tuple[int, int], rotation: int) -> np.ndarray:
    """Frame `index` of `path` as a player shows it at `size` (width, height): decoded as stored, then turned."""
    width, height = (size[1], size[0]) if rotation % 180 else size
    frame = next(iter_frames(path, index, index + 1, width=width, height=height, damaged=True))
    return np.ascontiguousarray(np.rot90(frame, rotation // 90)) if rotation else frame


def read_pair(result: ShotResult, index: int, size: tuple[int, int] | None = None) -> Pair:
    """Frame `index` of the shot (0-based, handles excluded) from the source and the render (which carries the
    source's rotation), both as shown, at `size` (the source's `shown_size` when None). Blocking: call it on a
    worker."""
    shot = result.shot
    assert result.output is not None
    try:
        rotation = display_rotation(shot.media)
        size = size or shown_size(probe(shot.media), rotation=rotation)
        before = shown_frame(shot.media, shot.start + index, size, rotation)
        after = shown_frame(result.output, shot.head + index, size, rotation)
    except MediaError as exc:
        raise DreamStyleError(f"Cannot show frame {index + 1}: {exc}") from exc
    return before, after


class BeforeAfter(QDialog):
    """Shows the newest frame asked for; decoding happens off the GUI thread, errors show in the picture."""

    def __init__(self, result: ShotResult, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        assert result.output is not None
        self.result, self.output, shot = result, result.output, result.shot
        self.setWindowTitle(f"Before / after — {shot.name}")
        self.pair: Pair | None = None
        self.shown: int | None = None  # the frame index on screen, None before the first read arrives
        self._wanted = 0
        self._reading = False
        self.picture = QLabel(alignment=Qt.AlignCenter, wordWrap=True)
        self.frame = QSlider(Qt.Horizontal, maximum=shot.frames - 1)
        self.split = QSlider(Qt.Horizontal, maximum=100, value=50)
        self.mode = QComboBox()
        self.mode.addItems(["Split", "Side by side"])
        self.label = QLabel(objectName="hint")
        self.frame.valueChanged.connect(self.request)
        self.split.valueChanged.connect(self.refresh)
        self.mode.currentIndexChanged.connect(self.refresh)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Frame"))
        controls.addWidget(self.frame, 3)
        controls.addWidget(self.mode)
        controls.addWidget(QLabel("Divider"))
        controls.addWidget(self.split, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.picture, 1)
        layout.addLayout(controls)
        layout.addWidget(self.label)
        self.request(0)

    def request(self, index: int) -> None:
        """Asks for frame `index`; starts a read unless one is running (that one's result is then dropped)."""
        self._wanted = index
        if not self._reading:
            self._start(index)

    def _start(self, index: int) -> None:
        self._reading = True
        self.label.setText(f"{self.result.shot.name}: reading frame {index + 1}…")
        size = None if self.pair is None else (self.pair[0].shape[1], self.pair[0].shape[0])
        run_task(self, lambda emit: read_pair(self.result, index, size),
                 done=lambda pair: self._arrived(index, pair), failed=lambda message: self._arrived(index, message))

    def _arrived(self, index: int, value: Pair | str) -> None:
        self._reading = False
        if index != self._wanted:  # the user scrubbed on while this was read
            self._start(self._wanted)
            return
        if isinstance(value, str):
            self.pair, self.shown = None, None
            self.picture.setText(value)  # replaces the picture
            self.label.setText(f"{self.result.shot.name}: frame {index + 1} cannot be shown")
            return
        self.pair, self.shown = value, index
        self.refresh()

    def composite(self) -> np.ndarray:
        """The frame on screen as before|after: split at the divider, or side by side."""
        assert self.pair is not None
        before, after = self.pair
        if self.mode.currentIndex() == 1:
            return np.concatenate([before, np.full((before.shape[0], 4, 3), 30, np.uint8), after], axis=1)
        cut = round(before.shape[1] * self.split.value() / 100)
        out = np.concatenate([before[:, :cut], after[:, cut:]], axis=1)
        out[:, max(0, cut - 1) : cut + 1] = 255
        return out

    def refresh(self) -> None:
        """Redraws the frame on screen (cheap: no decoding) after a divider or mode change."""
        if self.pair is None or self.shown is None:
            return
        rgb = np.ascontiguousarray(self.composite())
        image = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format_RGB888).copy()
        self.picture.setPixmap(QPixmap.fromImage(image))
        shot = self.result.shot
        self.label.setText(f"{shot.name}: frame {self.shown + 1} of {shot.frames} · before (source) | after "
                           f"({self.output.name})")
