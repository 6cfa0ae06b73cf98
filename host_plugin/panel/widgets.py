"""Small widgets: an image field that takes a drop or a pick and shows a preview, and a status dot."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QPainter, QPixmap
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

__all__ = ["ImageField", "StatusDot", "IMAGE_FILTER"]

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.tif *.tiff *.bmp *.webp)"


class ImageField(QWidget):
    """A path to an image: drop a file on it or pick one; shows a preview; Clear empties it."""

    def __init__(self, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self._path: Path | None = None
        self._placeholder = placeholder
        self.preview = QLabel(placeholder, objectName="preview", alignment=Qt.AlignCenter)
        self.preview.setFixedSize(128, 72)
        self.name = QLabel(objectName="hint")
        self.name.setWordWrap(True)
        pick = QPushButton("Choose…")
        pick.clicked.connect(self._pick)
        self.clear_button = QPushButton("Clear")
        self.clear_button.clicked.connect(lambda: self.set_path(None))
        self.extra = QHBoxLayout()
        buttons = QVBoxLayout()
        buttons.addWidget(pick)
        buttons.addWidget(self.clear_button)
        buttons.addLayout(self.extra)
        buttons.addStretch()
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        column = QVBoxLayout()
        column.addWidget(self.preview)
        column.addWidget(self.name)
        row.addLayout(column)
        row.addLayout(buttons)
        row.addStretch()
        self.set_path(None)

    def path(self) -> Path | None:
        return self._path

    def set_path(self, path: Path | None) -> None:
        self._path = Path(path) if path else None
        pixmap = QPixmap(str(self._path)) if self._path else QPixmap()
        if pixmap.isNull():
            self.preview.setPixmap(QPixmap())
            self.preview.setText(self._placeholder if not self._path else "unreadable")
        else:
            self.preview.setPixmap(pixmap.scaled(self.preview.size(), Qt.KeepAspectRatio, Qt.SmoothTransformation))
        self.name.setText(self._path.name if self._path else "drop an image here")
        self.clear_button.setEnabled(self._path is not None)

    def _pick(self) -> None:
        start = str(self._path.parent) if self._path else ""
        chosen, _ = QFileDialog.getOpenFileName(self, "Choose an image", start, IMAGE_FILTER)
        if chosen:
            self.set_path(Path(chosen))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt's name)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            self.set_path(Path(urls[0]))
            event.acceptProposedAction()


class StatusDot(QWidget):
    """A round indicator: grey (unknown), green (ok), amber (busy), red (down)."""

    COLOURS = {"unknown": "#6a6a6a", "ok": "#5cb85c", "busy": "#d9a440", "down": "#e05252"}

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = "unknown"
        self.setFixedSize(12, 12)

    def set_state(self, state: str, tip: str = "") -> None:
        self.state = state
        self.setToolTip(tip)
        self.update()

    def paintEvent(self, event: object) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        painter.setBrush(QColor(self.COLOURS[self.state]))
        painter.setPen(Qt.NoPen)
        painter.drawEllipse(1, 1, 10, 10)
