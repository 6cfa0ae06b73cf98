"""Before/after viewer for a finished shot: scrub its frames, split with a movable divider, or side by side."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QComboBox, QDialog, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from dreamstyle.frames import MediaError, iter_frames, probe
from host_plugin.pipeline import ShotResult

__all__ = ["BeforeAfter"]

MAX_WIDTH = 720


class BeforeAfter(QDialog):
    """Decodes single frames on demand (a short, local read) from the source range and the render."""

    def __init__(self, result: ShotResult, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        assert result.output is not None
        self.result, shot = result, result.shot
        self.setWindowTitle(f"Before / after — {shot.name}")
        info = probe(shot.media)
        scale = min(1.0, MAX_WIDTH / info.width)
        self.size_ = (max(2, round(info.width * scale) // 2 * 2), max(2, round(info.height * scale) // 2 * 2))
        self.picture = QLabel(alignment=Qt.AlignCenter)
        self.frame = QSlider(Qt.Horizontal, maximum=shot.frames - 1)
        self.split = QSlider(Qt.Horizontal, maximum=100, value=50)
        self.mode = QComboBox()
        self.mode.addItems(["Split", "Side by side"])
        self.label = QLabel(objectName="hint")
        self._timer = QTimer(self, singleShot=True, interval=30, timeout=self.refresh)
        for signal in (self.frame.valueChanged, self.split.valueChanged, self.mode.currentIndexChanged):
            signal.connect(lambda *_: self._timer.start())
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
        self.refresh()

    def _read(self, path, index: int) -> np.ndarray:
        width, height = self.size_
        try:
            return next(iter_frames(path, index, index + 1, width=width, height=height))
        except (MediaError, StopIteration) as exc:
            self.label.setText(f"cannot read frame {index} of {path}: {exc}")
            return np.zeros((height, width, 3), np.uint8)

    def composite(self, index: int) -> np.ndarray:
        """Frame `index` of the shot (0-based, handles excluded) as before|after."""
        shot = self.result.shot
        before = self._read(shot.media, shot.start + index)
        after = self._read(self.result.output, shot.head + index)
        if self.mode.currentIndex() == 1:
            return np.concatenate([before, np.full((before.shape[0], 4, 3), 30, np.uint8), after], axis=1)
        cut = round(before.shape[1] * self.split.value() / 100)
        out = np.concatenate([before[:, :cut], after[:, cut:]], axis=1)
        out[:, max(0, cut - 1) : cut + 1] = 255
        return out

    def refresh(self) -> None:
        index = self.frame.value()
        rgb = np.ascontiguousarray(self.composite(index))
        image = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format_RGB888).copy()
        self.picture.setPixmap(QPixmap.fromImage(image))
        shot = self.result.shot
        self.label.setText(f"{shot.name}: frame {index + 1} of {shot.frames} · before (source) | after "
                           f"({self.result.output.name})")
