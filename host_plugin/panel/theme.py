"""A dark theme in the greys of Resolve's and Premiere's panels, with one blue accent."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

__all__ = ["apply_dark_theme", "STATUS_COLOURS", "ACCENT"]

ACCENT = "#4a90d9"
STATUS_COLOURS = {"ready": "#8a8a8a", "queued": "#b0b0b0", "running": ACCENT, "done": "#5cb85c",
                  "cached": "#5cb85c", "failed": "#e05252", "cancelled": "#d9a440", "offline": "#e05252"}

_STYLE = f"""
QWidget {{ font-size: 12px; }}
QMainWindow, QDialog {{ background: #1f1f1f; }}
QGroupBox {{ border: 1px solid #333; border-radius: 4px; margin-top: 14px; padding: 8px 6px 6px 6px; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; padding: 0 4px; color: #9a9a9a;
                    font-size: 11px; font-weight: 600; }}
QLineEdit, QPlainTextEdit, QSpinBox, QDoubleSpinBox, QComboBox {{
    background: #151515; border: 1px solid #3a3a3a; border-radius: 3px; padding: 3px 5px; color: #ddd; }}
QLineEdit:focus, QPlainTextEdit:focus, QSpinBox:focus, QComboBox:focus {{ border-color: {ACCENT}; }}
QPushButton, QToolButton {{ background: #333; border: 1px solid #444; border-radius: 3px; padding: 4px 12px;
                            color: #ddd; }}
QPushButton:hover, QToolButton:hover {{ background: #3c3c3c; }}
QPushButton:disabled, QToolButton:disabled {{ color: #666; background: #2a2a2a; }}
QPushButton#primary {{ background: {ACCENT}; border-color: {ACCENT}; color: white; font-weight: 600; }}
QPushButton#primary:disabled {{ background: #2f4d6b; border-color: #2f4d6b; color: #9ab; }}
QTableWidget {{ background: #181818; alternate-background-color: #1c1c1c; gridline-color: #2a2a2a;
               selection-background-color: #2d4a66; border: 1px solid #333; }}
QHeaderView::section {{ background: #262626; color: #9a9a9a; border: none; border-right: 1px solid #333;
                        padding: 4px 6px; font-size: 11px; }}
QProgressBar {{ background: #151515; border: 1px solid #333; border-radius: 3px; text-align: center;
               color: #ccc; height: 14px; font-size: 10px; }}
QProgressBar::chunk {{ background: {ACCENT}; border-radius: 2px; }}
QStatusBar {{ background: #181818; color: #9a9a9a; }}
QToolBar {{ background: #262626; border-bottom: 1px solid #333; spacing: 6px; padding: 4px; }}
QListWidget {{ background: #151515; border: 1px solid #3a3a3a; color: #e0a0a0; }}
QLabel#hint {{ color: #8a8a8a; font-size: 11px; }}
QLabel#preview {{ background: #151515; border: 1px dashed #444; border-radius: 3px; color: #777; }}
QSplitter::handle {{ background: #262626; }}
"""


def apply_dark_theme(app: QApplication) -> None:
    """Fusion style, a dark palette and the stylesheet above."""
    app.setStyle("Fusion")
    palette = QPalette()
    for role, colour in {
        QPalette.Window: "#1f1f1f", QPalette.WindowText: "#d6d6d6", QPalette.Base: "#151515",
        QPalette.AlternateBase: "#1c1c1c", QPalette.ToolTipBase: "#2a2a2a", QPalette.ToolTipText: "#e0e0e0",
        QPalette.Text: "#d6d6d6", QPalette.Button: "#2d2d2d", QPalette.ButtonText: "#d6d6d6",
        QPalette.BrightText: "#ffffff", QPalette.Highlight: ACCENT, QPalette.HighlightedText: "#ffffff",
        QPalette.PlaceholderText: "#6a6a6a", QPalette.Link: ACCENT,
    }.items():
        palette.setColor(role, QColor(colour))
    palette.setColor(QPalette.Disabled, QPalette.Text, QColor("#666"))
    palette.setColor(QPalette.Disabled, QPalette.ButtonText, QColor("#666"))
    app.setPalette(palette)
    app.setStyleSheet(_STYLE)
