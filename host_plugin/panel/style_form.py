"""The look: prompt, style image, first frame, backend and its parameters, handles, look anchor, presets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QDoubleSpinBox, QFileDialog,
                               QFormLayout, QHBoxLayout, QLabel, QMessageBox, QPushButton, QSpinBox, QVBoxLayout,
                               QWidget)

from dreamstyle.v1 import engine_pb2 as pb
from host_plugin.errors import SettingsError
from host_plugin.pipeline import StyleSettings

from .widgets import ImageField

__all__ = ["StyleForm", "PRESET_FILTER", "ask_style"]

PRESET_FILTER = "DreamStyle look (*.dslook.json *.json)"
_PLAIN_BACKENDS = {"classic", "passthrough"}  # no diffusion steps; only classic blends by a strength


class StyleForm(QWidget):
    """Edits one look; `settings()` turns it into the pipeline's `StyleSettings`."""

    generate_first_frame = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.prompt = QComboBox(editable=True, insertPolicy=QComboBox.NoInsert)  # its list: the engine's looks
        self.prompt.lineEdit().setPlaceholderText("a named look (classic) or any text (diffusion backends)")
        self.style_image = ImageField("style image")
        self.first_frame = ImageField("first frame")
        self.generate = QPushButton("Generate")
        self.generate.setToolTip("Stylize the first frame of the selected shot from the style image, on the engine")
        self.generate.clicked.connect(self.generate_first_frame)
        self.first_frame.extra.addWidget(self.generate)
        self.backend = QComboBox()
        self.backend.addItem("classic", "classic")
        self.backend.currentTextChanged.connect(self._backend_changed)
        self.seed = QSpinBox(maximum=2**31 - 1)
        self.strength = QDoubleSpinBox(minimum=0.0, maximum=1.0, singleStep=0.05, value=1.0,
                                       toolTip="1: the full look; lower blends the source back in")
        self.steps = QSpinBox(minimum=1, maximum=100, value=4)
        self.handles = QSpinBox(maximum=96, suffix=" frames")
        self.handles.setToolTip("Extra frames rendered before and after each shot, so the edit can still be trimmed")
        self.anchor = QCheckBox("Look anchor")
        self.anchor.setToolTip("Render the hero shot first; its stylized first frame becomes the style reference "
                               "of every other shot, so the whole sequence shares one look")
        self.anchor_shot = QLabel("hero: first selected shot", objectName="hint")
        save, load = QPushButton("Save look…"), QPushButton("Load look…")
        save.clicked.connect(self._save_preset)
        load.clicked.connect(self._load_preset)

        self.form = form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Prompt", self.prompt)
        form.addRow("Style image", self.style_image)
        form.addRow("First frame", self.first_frame)
        form.addRow("Backend", self.backend)
        form.addRow("Seed", self.seed)
        form.addRow("Strength", self.strength)
        form.addRow("Steps", self.steps)
        form.addRow("Handles", self.handles)
        anchor_row = QHBoxLayout()
        anchor_row.addWidget(self.anchor)
        anchor_row.addWidget(self.anchor_shot, 1)
        form.addRow("", anchor_row)
        presets = QHBoxLayout()
        presets.addWidget(save)
        presets.addWidget(load)
        form.addRow("", presets)
        self._caps: dict[str, pb.BackendInfo] = {}
        self._backend_changed("classic")

    def set_capabilities(self, caps: pb.Capabilities) -> None:
        """Backends and named looks from the engine."""
        current = self.backend.currentText()
        self._caps = {b.name: b for b in caps.backends}
        self.backend.blockSignals(True)
        self.backend.clear()
        for info in caps.backends:
            self.backend.addItem(info.name + ("" if not info.missing else "  (not ready)"), info.name)
        self.backend.blockSignals(False)
        index = self.backend.findData(current if current in self._caps else caps.default_backend)
        self.backend.setCurrentIndex(max(0, index))
        self._backend_changed(self.backend_name())

    def backend_name(self) -> str:
        return str(self.backend.currentData() or "classic")

    def _backend_changed(self, _text: str) -> None:
        name = self.backend_name()
        info = self._caps.get(name)
        for field, shown in ((self.strength, name == "classic"), (self.steps, name not in _PLAIN_BACKENDS)):
            field.setEnabled(shown)
            self.form.setRowVisible(field, shown)
        text = self.prompt.currentText()
        self.prompt.clear()
        self.prompt.addItems(list(info.named_looks) if info else [])
        self.prompt.setEditText(text)
        if info and info.missing:
            self.backend.setToolTip("Needs: " + "; ".join(info.missing))
        else:
            self.backend.setToolTip(info.description if info else "")

    def settings(self) -> StyleSettings:
        params = {}
        if self.strength.isEnabled() and self.strength.value() < 1.0:
            params["strength"] = f"{self.strength.value():g}"
        if self.steps.isEnabled():
            params["steps"] = str(self.steps.value())
        return StyleSettings(prompt=self.prompt.currentText().strip(), style_image=self.style_image.path(),
                             first_frame=self.first_frame.path(), backend=self.backend_name(),
                             seed=self.seed.value(), params=params)

    def to_dict(self) -> dict[str, Any]:
        style = self.settings()
        return {"prompt": style.prompt, "style_image": str(style.style_image or ""),
                "first_frame": str(style.first_frame or ""), "backend": style.backend, "seed": style.seed,
                "strength": self.strength.value(), "steps": self.steps.value(), "handles": self.handles.value(),
                "anchor": self.anchor.isChecked()}

    def from_dict(self, data: dict[str, Any]) -> None:
        self.prompt.setEditText(str(data.get("prompt", "")))
        self.style_image.set_path(Path(data["style_image"]) if data.get("style_image") else None)
        self.first_frame.set_path(Path(data["first_frame"]) if data.get("first_frame") else None)
        backend = str(data.get("backend", "classic"))
        if self.backend.findData(backend) < 0:  # not offered by the engine (yet): keep the choice
            self.backend.addItem(backend, backend)
        self.backend.setCurrentIndex(self.backend.findData(backend))
        self.seed.setValue(int(data.get("seed", 0)))
        self.strength.setValue(float(data.get("strength", 1.0)))
        self.steps.setValue(int(data.get("steps", 4)))
        self.handles.setValue(int(data.get("handles", 0)))
        self.anchor.setChecked(bool(data.get("anchor", False)))

    def save_preset(self, path: Path) -> None:
        path.write_text(json.dumps({"dreamstyle_look": 1, **self.to_dict()}, indent=2))

    def load_preset(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise SettingsError(f"look {path}: cannot be read ({exc})") from None
        if not isinstance(data, dict) or data.get("dreamstyle_look") != 1:
            raise SettingsError(f"look {path}: not a DreamStyle look file")
        self.from_dict(data)

    def _save_preset(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save look", "look.dslook.json", PRESET_FILTER)
        if path:
            self.save_preset(Path(path))

    def _load_preset(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load look", "", PRESET_FILTER)
        if path:
            try:
                self.load_preset(Path(path))
            except SettingsError as exc:
                QMessageBox.warning(self, "DreamStyle", str(exc))


def ask_style(parent: QWidget, title: str, base: dict[str, Any]) -> StyleSettings | None:
    """A modal copy of the look, starting from `base`; None when the editor cancels."""
    dialog = QDialog(parent)
    dialog.setWindowTitle(title)
    form = StyleForm()
    form.from_dict(base)
    buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addWidget(form)
    layout.addWidget(buttons)
    return form.settings() if dialog.exec() == QDialog.Accepted else None
