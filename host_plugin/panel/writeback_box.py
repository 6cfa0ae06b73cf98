"""Write-back choices: a new timeline version (the safe default) or a new track in the host's open timeline.
Each render is written as a new version; nothing existing is replaced."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from PySide6.QtWidgets import (QComboBox, QFileDialog, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton,
                               QVBoxLayout, QWidget)

from host_plugin.hosts import Host, placements_for
from host_plugin.hosts.premiere import IMPORT_STEPS
from host_plugin.pipeline import Edit, ShotResult
from host_plugin.plan import Plan
from host_plugin.timeline.writeback import version_title, write_version

__all__ = ["WritebackBox", "VERSION", "TRACK"]

VERSION, TRACK = "New timeline version", "Add a track to this timeline"


class WritebackBox(QGroupBox):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Write-back", parent)
        self.mode = QComboBox()
        self.mode.addItems([VERSION, TRACK])
        self.mode.setToolTip("A new version leaves the edit untouched; a track is added above the others "
                             "in the open Resolve timeline")
        self.chosen = 0
        """The mode the editor chose: kept (and saved) while a timeline file, which takes no track, shows a version."""
        self.mode.activated.connect(self.choose)
        self.folder = QLineEdit(placeholderText="renders: beside the timeline")
        self.folder.setToolTip("Output folder: the rendered clips go into its renders/ folder; empty: "
                               "<timeline>_dreamstyle beside the timeline")
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        self.write = QPushButton("Write back")
        self.hint = QLabel(objectName="hint")
        self.hint.setWordWrap(True)
        self.result = QLabel(objectName="hint")
        self.result.setWordWrap(True)
        layout = QVBoxLayout(self)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        layout.addLayout(folder_row)
        layout.addWidget(self.mode)
        layout.addWidget(self.write)
        layout.addWidget(self.hint)
        layout.addWidget(self.result)
        self.set_source(None, None)

    def renders_dir(self, timeline: Path) -> Path:
        """Where renders go: the folder chosen, else `<timeline stem>_dreamstyle` beside the timeline."""
        chosen = self.folder.text().strip()
        return Path(chosen).expanduser() if chosen else timeline.parent / f"{timeline.stem}_dreamstyle"

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder for the rendered clips", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def choose(self, index: int) -> None:
        """The editor's choice of mode (or the one saved; one this list lacks is a new version), shown where the
        timeline can take it."""
        self.chosen = index = index if 0 <= index < self.mode.count() else 0
        self.mode.setCurrentIndex(index if self.mode.model().item(index).isEnabled() else 0)

    def set_source(self, path: Path | None, host: Host | None) -> None:
        """Track mode needs a live host; an FCP7 XML from Premiere gets the two import clicks spelled out."""
        self.mode.model().item(1).setEnabled(host is not None)
        self.mode.setCurrentIndex(self.chosen if host is not None else 0)
        if host is not None:
            self.hint.setText(f"Writes into {host.name}: a new timeline, or a track on the open one.")
        elif path is not None and path.suffix.lower() == ".xml":
            self.hint.setText(IMPORT_STEPS)
        elif path is not None and path.suffix.lower() == ".edl":  # an EDL holds one video track: no version track
            self.hint.setText("Writes a new timeline file beside the original, as .otio (an EDL cannot hold the "
                              "version track).")
        else:
            self.hint.setText("Writes a new timeline file beside the original, in its own format.")

    def job(self, edit: Edit, plan: Plan, rendered: Sequence[ShotResult], label: str,
            host: Host | None) -> Callable[[], str]:
        """The write-back to run off the GUI thread; it returns what was written, in words."""
        as_track = host is not None and self.mode.currentIndex() == 1

        def run() -> str:
            if as_track:
                assert host is not None
                start = edit.timeline.global_start_time
                tracks = host.add_version_track(placements_for(rendered, start.to_frames() if start else 0),
                                                f"DreamStyle - {label}")
                numbers = ", ".join(map(str, tracks))
                return f"Added video track{'s' * (len(tracks) > 1)} {numbers} to '{host.timeline_name()}' in {host.name}."
            path = write_version(edit.path, edit.timeline, rendered, label, plan.rate)
            if host is None:
                return f"Wrote {path}"
            name = host.import_new_version(path, version_title(edit.timeline, edit.path, path),
                                           [r.output for r in rendered if r.output is not None])
            return f"Imported '{name}' into {host.name} as a new timeline ({path})."

        return run
