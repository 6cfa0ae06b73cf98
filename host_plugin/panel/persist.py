"""What the panel remembers between runs (QSettings): window layout, the look, the engine, the write-back mode,
the renders folder and the EDL rate. The engine token is not stored."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QSettings

if TYPE_CHECKING:
    from .window import MainWindow

__all__ = ["restore", "save"]


def restore(window: MainWindow, settings: QSettings) -> None:
    geometry = settings.value("geometry")
    if isinstance(geometry, QByteArray):
        window.restoreGeometry(geometry)
    else:
        window.resize(1440, 860)
    splitter = settings.value("splitter")
    if isinstance(splitter, QByteArray):
        window.splitter.restoreState(splitter)
    look = settings.value("look")
    if isinstance(look, dict):
        window.style_form.from_dict(look)
    window.engine.mode.setCurrentIndex(int(settings.value("engine/mode", 0)))
    window.engine.address.setText(str(settings.value("engine/address", "")))
    window.engine.tls_ca.setText(str(settings.value("engine/tls_ca", "")))
    window.writeback.choose(int(settings.value("writeback", 0)))
    window.writeback.folder.setText(str(settings.value("renders", "")))
    window.edl_rate.setCurrentText(str(settings.value("edl_rate", "auto")))


def save(window: MainWindow, settings: QSettings) -> None:
    settings.setValue("geometry", window.saveGeometry())
    settings.setValue("splitter", window.splitter.saveState())
    settings.setValue("look", window.style_form.to_dict())
    settings.setValue("engine/mode", window.engine.mode.currentIndex())
    settings.setValue("engine/address", window.engine.address.text())
    settings.setValue("engine/tls_ca", window.engine.tls_ca.text())
    settings.setValue("writeback", window.writeback.chosen)
    settings.setValue("renders", window.writeback.folder.text())
    settings.setValue("edl_rate", window.edl_rate.currentText())
    settings.sync()
