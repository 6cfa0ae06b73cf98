"""The shot list: thumbnail, clip, track, record timecode in/out, duration, transitions, a progress bar per shot,
the output file or the error in words. Right-click for per-shot actions."""

from __future__ import annotations

import numpy as np
import opentimelineio as otio
from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QHeaderView, QMenu, QProgressBar, QTableWidget, QTableWidgetItem,
                               QVBoxLayout, QWidget)

from host_plugin.pipeline import ENDED, RENDERED, ShotResult, ShotUpdate
from host_plugin.plan import Plan, Shot
from host_plugin.timeline.timecode import record_timecodes

from .theme import STATUS_COLOURS

__all__ = ["ShotTable", "THUMB"]

THUMB = (96, 54)
FIT_MAX = 320  # a column fitted to its text stops here (long clip names are elided; their tooltip is whole)
COLUMNS = ["", "Clip", "Track", "Record in", "Record out", "Duration", "Transitions", "Status", "Output / message"]
DURATION, STATUS, MESSAGE = (COLUMNS.index(name) for name in ("Duration", "Status", "Output / message"))


def transitions_of(shot: Shot, plan: Plan) -> str:
    """The shot's cuts and transitions in words: the timeline's own dissolves and those detected inside."""
    clip = shot.clip
    siblings = [s for s in plan.shots if clip is not None and s.clip is clip] or [shot]
    first, last = shot.start == min(s.start for s in siblings), shot.end == max(s.end for s in siblings)
    words = []
    if clip is not None and first and clip.transition_in.value > 0:
        words.append(f"dissolve in {clip.transition_in.to_frames()}f")
    if not first:
        words.append("cut (detected)")
    words += [f"{t.kind} {t.end_frame - t.start_frame}f (detected)" for t in plan.transitions
              if shot.start <= t.start_frame < shot.end]
    if clip is not None and last and clip.transition_out.value > 0:
        words.append(f"dissolve out {clip.transition_out.to_frames()}f")
    return ", ".join(words) or "—"


class ShotTable(QTableWidget):
    """One row per shot, keyed by shot number."""

    restyle_requested = Signal(object)  # Shot
    view_requested = Signal(object)  # Shot
    anchor_requested = Signal(object)  # Shot
    render_requested = Signal(list)  # [Shot]
    cancel_requested = Signal(list)  # [Shot]

    def __init__(self) -> None:
        super().__init__(0, len(COLUMNS))
        self.setHorizontalHeaderLabels(COLUMNS)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setTabKeyNavigation(False)  # rows are chosen whole: Tab moves on to the next control, not cell
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(THUMB[1] + 8)
        self.setIconSize(QPixmap(*THUMB).size())
        header = self.horizontalHeader()
        # Sized to their contents once per plan (`set_plan`), then the editor's: ResizeToContents measured every
        # row again at each progress message, a minute per pass over a 2000-shot edit.
        header.setSectionResizeMode(QHeaderView.Interactive)
        header.setSectionResizeMode(MESSAGE, QHeaderView.Stretch)
        for column, width in ((0, THUMB[0] + 12), (STATUS, 150)):
            header.setSectionResizeMode(column, QHeaderView.Fixed)
            self.setColumnWidth(column, width)
        self.setContextMenuPolicy(Qt.CustomContextMenu)
        self.customContextMenuRequested.connect(self._menu)
        self.doubleClicked.connect(lambda index: self.view_requested.emit(self.shots[index.row()]))
        self.shots: list[Shot] = []
        self._rows: dict[int, int] = {}
        self._bars: dict[int, QProgressBar] = {}
        self.results: dict[int, ShotResult] = {}

    def set_plan(self, plan: Plan, start: otio.opentime.RationalTime | None, drop_frame: bool | None) -> None:
        """One row per shot; record timecodes from `start`, drop-frame as the timeline says (None: by rate)."""
        self.setRowCount(0)
        self.shots, self.results = list(plan.shots), {}
        self._rows = {shot.number: row for row, shot in enumerate(self.shots)}
        self._bars = {}
        self.setRowCount(len(self.shots))
        for row, shot in enumerate(self.shots):
            track = shot.clip.track_name if shot.clip is not None else ""
            cells = ["", shot.clip_name, track, *record_timecodes(shot.record, start, drop_frame), f"{shot.frames} fr",
                     transitions_of(shot, plan), "", ""]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)  # whole, where the column elides it
                item.setTextAlignment(Qt.AlignVCenter | (Qt.AlignRight if column == DURATION else Qt.AlignLeft))
                self.setItem(row, column, item)
            self.item(row, 1).setToolTip(f"{shot.name}\n{shot.media}\nmedia frames {shot.start}–{shot.end}")
            bar = QProgressBar(maximum=max(1, shot.frames + shot.head + shot.tail), value=0, format="ready")
            cell = QWidget()
            box = QVBoxLayout(cell)
            box.setContentsMargins(6, 0, 6, 0)
            box.addWidget(bar, 0, Qt.AlignVCenter)
            self.setCellWidget(row, STATUS, cell)
            self._bars[shot.number] = bar
        for column in range(1, STATUS):
            self.resizeColumnToContents(column)
            self.setColumnWidth(column, min(self.columnWidth(column), FIT_MAX))

    def set_thumbnail(self, number: int, rgb: np.ndarray) -> None:
        row = self._rows.get(number)
        if row is None:
            return
        rgb = np.ascontiguousarray(rgb)  # a width FFmpeg pads the rows of comes as a strided view
        image = QImage(rgb.data, rgb.shape[1], rgb.shape[0], rgb.strides[0], QImage.Format_RGB888).copy()
        self.item(row, 0).setData(Qt.DecorationRole, QPixmap.fromImage(image))

    def update_shot(self, update: ShotUpdate) -> None:
        row = self._rows.get(update.shot.number)
        if row is None:
            return
        bar = self._bars[update.shot.number]
        bar.setMaximum(max(1, update.frames_total))
        bar.setValue(update.frames_total if update.status in RENDERED else update.frames_done)
        bar.setFormat(f"{update.status} %p%" if update.status not in ENDED else update.status)
        bar.setStyleSheet(f"QProgressBar::chunk {{ background: {STATUS_COLOURS.get(update.status, '#4a90d9')}; }}")
        if update.message and update.status not in RENDERED:
            self.item(row, MESSAGE).setText(update.message)

    def set_result(self, result: ShotResult) -> None:
        row = self._rows.get(result.shot.number)
        if row is None:
            return
        self.results[result.shot.number] = result
        self.update_shot(ShotUpdate(result.shot, result.status, 0, self._bars[result.shot.number].maximum()))
        item = self.item(row, MESSAGE)
        item.setText(str(result.output) if result.output else result.error)
        item.setToolTip(item.text())
        item.setForeground(QColor(STATUS_COLOURS["failed"] if result.status == "failed" else "#d6d6d6"))

    def selected_shots(self) -> list[Shot]:
        rows = sorted({index.row() for index in self.selectedIndexes()})
        return [self.shots[row] for row in rows]

    def _menu(self, point: QPoint) -> None:
        row = self.rowAt(point.y())
        if row < 0:
            return
        if row not in {i.row() for i in self.selectedIndexes()}:
            self.selectRow(row)
        shot, chosen = self.shots[row], self.selected_shots()
        menu = QMenu(self)
        menu.addAction("Render selected", lambda: self.render_requested.emit(chosen))
        menu.addAction("Restyle this shot alone…", lambda: self.restyle_requested.emit(shot))
        menu.addAction("Use as look anchor (hero shot)", lambda: self.anchor_requested.emit(shot))
        view = menu.addAction("Before / after…", lambda: self.view_requested.emit(shot))
        view.setEnabled(shot.number in self.results and self.results[shot.number].output is not None)
        menu.addSeparator()
        menu.addAction("Cancel selected", lambda: self.cancel_requested.emit(chosen))
        menu.exec(self.viewport().mapToGlobal(point))
