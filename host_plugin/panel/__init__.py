"""The editor's panel (PySide6): open a timeline or read Resolve's, pick shots, set a look, render on an
engine, compare before/after and write the result back. Business logic stays in `host_plugin.pipeline`."""

from __future__ import annotations

__all__ = ["MainWindow", "make_app", "make_window"]

from .app import MainWindow, make_app, make_window
