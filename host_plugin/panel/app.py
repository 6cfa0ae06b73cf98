"""Creating the application: organisation names for QSettings, the dark theme, the main window."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

from dreamstyle.user_folders import user_data_folder
from host_plugin.hosts import Host

from .theme import apply_dark_theme
from .window import MainWindow

__all__ = ["MainWindow", "make_app", "make_window"]

NAME = "DreamStyle"
"""The organisation and application names: QSettings and the panel's state folder are found by them."""


def make_app(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setOrganizationName(NAME)
    app.setApplicationName(NAME)
    apply_dark_theme(app)
    return app


def make_window(host_factory: Callable[[], Host] | None = None, settings: QSettings | None = None,
                state_dir: Path | None = None) -> MainWindow:
    """The main window with the user's persisted settings and data folder (or the ones given, for tests)."""
    if state_dir is None:
        state_dir = user_data_folder() / NAME / NAME / "panel"  # Qt's AppLocalDataLocation (on macOS while no $XDG_DATA_HOME is set)
    state_dir.mkdir(parents=True, exist_ok=True)
    return MainWindow(settings or QSettings(), state_dir, host_factory)
