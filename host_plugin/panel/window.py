"""The panel's main window: source, shot list, look, engine, render/cancel, write-back. It only arranges
widgets and calls `pipeline` (and a host) on worker threads; it decides nothing about timelines itself."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (QComboBox, QFileDialog, QGroupBox, QHBoxLayout, QInputDialog, QLabel, QMainWindow,
                               QMessageBox, QProgressBar, QPushButton, QScrollArea, QSplitter, QToolBar, QVBoxLayout,
                               QWidget)

from dreamstyle.frames import MediaError, display_rotation, probe
from host_plugin.anchor import generate_first_frame, render_anchored
from host_plugin.client import EngineClient
from host_plugin.errors import SettingsError
from host_plugin.hosts import Host
from host_plugin.pipeline import ENDED, Edit, Renderer, ShotResult, ShotUpdate, StyleSettings, load_edit, plan_edit
from host_plugin.plan import Plan, Shot
from host_plugin.shots import DetectionSettings
from dreamstyle.names import file_name
from host_plugin.stylize import check_timeline_folder, output_folder
from host_plugin.timeline.media import PathMap
from host_plugin.timeline.reader import ADAPTERS
from host_plugin.timeline.timecode import drop_frame_of, parse_rate

from .engine_box import EngineBox
from .persist import restore, save
from .shot_table import THUMB, ShotTable
from .style_form import StyleForm, ask_style
from .viewer import BeforeAfter, shown_frame, shown_size
from .workers import run_task
from .writeback_box import WritebackBox

__all__ = ["MainWindow", "TIMELINE_FILTER"]

TIMELINE_FILTER = f"Timelines ({' '.join('*' + suffix for suffix in ADAPTERS)})"


@dataclass(eq=False)
class Batch:
    """Shots sent together, from the click until the last one has ended: their timeline's plan, where they
    render, the look's label, their renderer once the engine answers, and per shot (frames done, frames total)."""

    plan: Plan
    out_dir: Path
    look: str
    frames: dict[int, tuple[int, int]]
    open: set[int] = field(default_factory=set)  # shots not ended yet
    withdrawn: set[int] = field(default_factory=set)  # cancelled by the editor: those not sent yet never are
    renderer: Renderer | None = None


class MainWindow(QMainWindow):
    """`host_factory` connects to a running NLE (Resolve) when the editor asks for its current timeline."""

    def __init__(self, settings: QSettings, state_dir: Path,
                 host_factory: Callable[[], Host] | None = None) -> None:
        super().__init__()
        self.setWindowTitle("DreamStyle")
        self.setAcceptDrops(True)
        self.settings, self.state_dir, self.host_factory = settings, state_dir, host_factory
        self.host: Host | None = None
        self.edit: Edit | None = None
        self.plan: Plan | None = None
        self.media_dirs: list[Path] = []
        self.path_maps: list[PathMap] = []
        self.renderer: Renderer | None = None
        self.hero: Shot | None = None
        self.batches: list[Batch] = []
        self._latest: dict[int, Batch] = {}  # per shot, the batch of its latest render: only it updates the row
        self._loading = 0  # counts loads: only the latest one's result is shown
        self._reading: Path | None = None  # the timeline being read, until its shots are shown
        self.plan_handles = 0
        self._edl_rate_shown = "auto"  # the EDL rate the shot list was read at

        self.source = QLabel("Open a timeline (.otio, FCP7 .xml, .edl, .aaf), drop one here, or read Resolve's.")
        self.edl_rate = QComboBox(toolTip="Frame rate of an EDL's timecodes, which EDLs do not state. auto: "
                                          "23.976, and clips whose media runs at another rate wait for a choice")
        self.edl_rate.addItems(["auto", "23.976", "24", "25", "29.97", "30", "50", "59.94", "60"])
        self.edl_rate.currentTextChanged.connect(self._edl_rate_changed)
        self.table = ShotTable()
        self.problems = QLabel(objectName="hint")
        self.problems.setWordWrap(True)
        self.relink = QWidget()
        relink_row = QHBoxLayout(self.relink)
        relink_row.setContentsMargins(0, 0, 0, 0)
        relink_row.addWidget(self.problems, 1)
        relinks = (("Add search folder…", self.add_search_folder), ("Add path mapping…", self.add_path_map))
        self.relink_buttons: list[QPushButton] = []
        for text, slot in relinks:
            button = QPushButton(text)
            button.clicked.connect(lambda _checked=False, slot=slot: slot())
            relink_row.addWidget(button)
            self.relink_buttons.append(button)
        self.relink.hide()
        self.style_form = StyleForm()
        self.engine = EngineBox(state_dir / "engine")
        self.writeback = WritebackBox()
        self.overall = QProgressBar(value=0, format="%p% of the frames in flight")
        self._build(self._actions())
        self._wire()
        restore(self, self.settings)
        self.table.setFocus()  # where an editor starts from the keyboard: Ctrl+A, Ctrl+R

    # ----- layout -------------------------------------------------------------------------------------------
    def _actions(self) -> dict[str, QAction]:
        specs = {
            "open": ("Open timeline…", QKeySequence.Open, self.open_dialog),
            "resolve": ("From Resolve", QKeySequence("Ctrl+Shift+O"), self.load_from_host),
            "render": ("Render selected", QKeySequence("Ctrl+R"), lambda: self.render(self.table.selected_shots())),
            "render_all": ("Render all", QKeySequence("Ctrl+Shift+R"), lambda: self.render(self.table.shots)),
            "cancel": ("Cancel selected", QKeySequence("Ctrl+."), lambda: self.cancel(self.table.selected_shots())),
            "cancel_all": ("Cancel all", QKeySequence("Ctrl+Shift+."), lambda: self.cancel(self.table.shots)),
            "restyle": ("Restyle shot…", QKeySequence("Ctrl+E"), lambda: self._on_first_selected(self.restyle)),
            "view": ("Before / after…", QKeySequence("Space"), lambda: self._on_first_selected(self.view)),
            "write": ("Write back", QKeySequence("Ctrl+W"), self.write_back),
        }
        actions = {}
        for key, (text, shortcut, slot) in specs.items():
            action = QAction(text, self, shortcut=shortcut, triggered=slot)
            action.setToolTip(f"{text} ({QKeySequence(shortcut).toString(QKeySequence.NativeText)})")
            if key == "view":  # Space belongs to the shot list, not to text fields
                action.setShortcutContext(Qt.WidgetWithChildrenShortcut)
                self.table.addAction(action)
            else:
                self.addAction(action)
            actions[key] = action
        actions["resolve"].setEnabled(self.host_factory is not None)
        return actions

    def _build(self, actions: dict[str, QAction]) -> None:
        bar = QToolBar("Source", movable=False)
        bar.addAction(actions["open"])
        bar.addAction(actions["resolve"])
        bar.addSeparator()
        bar.addWidget(self.source)
        bar.addSeparator()
        bar.addWidget(QLabel("EDL fps "))
        bar.addWidget(self.edl_rate)
        self.addToolBar(bar)
        left = QWidget()
        column = QVBoxLayout(left)
        column.setContentsMargins(8, 8, 4, 8)
        column.addWidget(self.table, 1)
        column.addWidget(self.relink)
        buttons = QHBoxLayout()
        buttons.addWidget(self.overall, 1)
        for key in ("render", "render_all", "cancel_all", "write"):
            button = QPushButton(actions[key].text())
            button.setToolTip(actions[key].toolTip())
            button.clicked.connect(actions[key].trigger)
            button.setObjectName("primary" if key == "render" else "")
            buttons.addWidget(button)
        column.addLayout(buttons)
        side = QWidget()
        side_column = QVBoxLayout(side)
        look = QGroupBox("Look")
        QVBoxLayout(look).addWidget(self.style_form)
        for box in (look, self.engine, self.writeback):
            side_column.addWidget(box)
        side_column.addStretch()
        scroll = QScrollArea(widgetResizable=True)
        scroll.setWidget(side)
        scroll.setMinimumWidth(400)
        self.splitter = QSplitter()
        self.splitter.addWidget(left)
        self.splitter.addWidget(scroll)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.setCentralWidget(self.splitter)
        self.status("Ready")

    def _wire(self) -> None:
        self.table.render_requested.connect(self.render)
        self.table.cancel_requested.connect(self.cancel)
        self.table.restyle_requested.connect(lambda shot: self.restyle(shot))
        self.table.view_requested.connect(self.view)
        self.table.anchor_requested.connect(self.set_hero)
        self.style_form.generate_first_frame.connect(self.generate_first_frame)
        self.engine.connected.connect(self.style_form.set_capabilities)
        self.writeback.write.clicked.connect(self.write_back)

    # ----- source -------------------------------------------------------------------------------------------
    def open_dialog(self) -> None:
        start = self.settings.value("timeline", "")
        path, _ = QFileDialog.getOpenFileName(self, "Open timeline", str(start), TIMELINE_FILTER)
        if path:
            self.load(Path(path))

    def load_from_host(self) -> None:
        """Exports the host's current timeline (off the GUI thread) and loads it."""
        if self.host_factory is None:
            return
        self.status("Reading the current timeline from Resolve…")

        def export(emit: Callable[[object], None]) -> tuple[Host, Path]:
            host = self.host_factory()  # anew each time: Resolve may have restarted since
            folder = file_name(host.timeline_name(), "timeline")
            return host, host.export_timeline(self.state_dir / "resolve" / folder / folder)

        def exported(value: tuple[Host, Path]) -> None:
            self.load(value[1], host=value[0])

        run_task(self, export, done=exported, failed=self.error)

    def load(self, path: Path, host: Host | None = None, then: Callable[[], None] | None = None) -> bool:
        """Reads and plans a timeline on a worker (`host`: the NLE it was exported from); the shot list
        fills in, the host is taken, and `then()` runs, only when it is done.

        Refused (False) while shots are rendering: their results belong to the timeline on screen.
        """
        if self.batches:
            self.status(f"{len(self.rendering)} shot(s) still rendering: wait, or cancel them, before opening another timeline.")
            return False
        self.status(f"Reading {path.name} and finding shots…")
        media_dirs, maps, handles = list(self.media_dirs), list(self.path_maps), self.style_form.handles.value()
        detection = DetectionSettings(cache_dir=self.state_dir / "detect")
        edl_text = self.edl_rate.currentText()
        edl_rate = None if self.edl_rate.currentIndex() == 0 else parse_rate(edl_text)
        self._loading += 1
        self._reading = path
        load = self._loading

        def work(emit: Callable[[object], None]) -> tuple[Edit, Plan, int]:
            edit = load_edit(path, media_dirs, maps, edl_rate)
            return edit, plan_edit(edit, detection, handles), handles

        def loaded(value: tuple[Edit, Plan, int]) -> None:
            if load == self._loading:  # a timeline opened later replaces this one, whichever finishes first
                self._reading = None
                self._edl_rate_shown = edl_text
                self._loaded(value, host)
                if then is not None:
                    then()

        def failed(message: str) -> None:
            if load == self._loading:
                self._reading = None
                self.error(message)

        run_task(self, work, done=loaded, failed=failed)
        return True

    def _loaded(self, value: tuple[Edit, Plan, int], host: Host | None) -> None:
        self.edit, self.plan, self.plan_handles = value
        self.host, self.renderer, self._latest = host, None, {}
        self.source.setText(f"{'Resolve: ' if host else ''}{self.edit.path}")
        self.set_hero(None)
        self.settings.setValue("timeline", "" if self.host else str(self.edit.path))
        self.table.set_plan(self.plan, self.edit.timeline.global_start_time, drop_frame_of(self.edit.timeline))
        self.writeback.set_source(self.edit.path, self.host)
        problems = [p.message for p in self.plan.problems] + self.edit.skipped
        self.problems.setText("\n".join(problems))
        self.relink.setVisible(bool(problems))  # what is skipped (disabled tracks, retimes) is said too
        for button in self.relink_buttons:  # relinking helps only offline clips
            button.setVisible(any(p.offline for p in self.plan.problems))
        held = len(self.plan.problems)  # offline, of variable rate, at another rate than an EDL's...
        self.status(f"{self.edit.path.name}: {len(self.plan.shots)} shots"
                    + (f", {held} clip{'s' * (held > 1)} held back: see below the shot list" if held else ""))
        plan, shots = self.plan, list(self.plan.shots)

        def thumbs(emit: Callable[[object], None]) -> None:
            for shot in shots:
                try:
                    rotation = display_rotation(shot.media)  # portrait, anamorphic, a phone's: as shown
                    size = shown_size(probe(shot.media), THUMB, rotation)
                    emit((shot.number, shown_frame(shot.media, shot.start, size, rotation)))
                except MediaError:  # gone or unreadable since it was planned: its render will say so
                    continue

        def thumb(item: tuple[int, object]) -> None:
            if self.plan is plan:  # not once another timeline is open
                self.table.set_thumbnail(*item)

        run_task(self, thumbs, progress=thumb, failed=self.error)

    def _edl_rate_changed(self) -> None:
        """Reads an open EDL again at the new rate; refused while its shots render, the box shows the old one."""
        if self.edit is not None and self.edit.path.suffix.lower() == ".edl" and not self.load(self.edit.path):
            self.edl_rate.blockSignals(True)
            self.edl_rate.setCurrentText(self._edl_rate_shown)
            self.edl_rate.blockSignals(False)

    def add_search_folder(self, folder: Path | None = None) -> None:
        folder = folder or Path(QFileDialog.getExistingDirectory(self, "Folder to search for offline media") or ".")
        if folder != Path(".") and self.edit:
            self.media_dirs.append(folder)
            self.load(self.edit.path, host=self.host)

    def add_path_map(self, rule: str | None = None) -> None:
        if rule is None:
            rule, ok = QInputDialog.getText(self, "Path mapping", "FROM=TO (e.g. /Volumes/Media=/mnt/media)")
            if not ok:
                return
        try:
            self.path_maps.append(PathMap.parse(rule))
        except ValueError as exc:
            self.error(str(exc))
            return
        if self.edit:
            self.load(self.edit.path, host=self.host)

    # ----- render -------------------------------------------------------------------------------------------
    @property
    def out_dir(self) -> Path:
        assert self.edit is not None
        return self.writeback.renders_dir(self.edit.path)

    @property
    def rendering(self) -> set[int]:
        """The shots sent or about to be, not ended yet."""
        return {number for batch in self.batches for number in batch.open}

    def render(self, shots: Sequence[Shot], style: StyleSettings | None = None) -> None:
        """Renders `shots` with the look (or `style`); with the look anchor, the hero shot goes first.
        Shots still rendering are left to their batch."""
        if self._reading is not None:
            self.status(f"Reading {self._reading.name}: wait for its shots before rendering.")
            return
        if not shots or self.edit is None or self.plan is None:
            self.status("Select shots to render (or Render all).")
            return
        if self.style_form.handles.value() != self.plan_handles and self.batches:  # reading again waits for them
            self.status(f"Handles changed: the shots are found again once the {len(self.rendering)} shot(s) "
                        f"rendering have ended (or set the handles back to {self.plan_handles}).")
            return
        if self.style_form.handles.value() != self.plan_handles:
            numbers, hero = {s.number for s in shots}, self.hero.number if self.hero else None

            def then() -> None:  # the same shots, and hero, of the plan read again
                self.set_hero(next((s for s in self.table.shots if s.number == hero), None) if hero else None)
                self.render([s for s in self.table.shots if s.number in numbers], style)

            if self.load(self.edit.path, host=self.host, then=then):
                self.status("Handles changed: finding the shots again, then rendering them.")
            return
        busy = [s.name for s in shots if s.number in self.rendering]
        shots = [s for s in shots if s.number not in self.rendering]
        if not shots:
            self.status(f"{', '.join(busy)} still rendering: wait, or cancel it first.")
            return
        anchored = style is None and self.style_form.anchor.isChecked()
        style = style or self.style_form.settings()
        out_dir = self.out_dir
        try:
            style.check()
            output_folder(out_dir)  # before an engine is started for it
            check_timeline_folder(self.edit.path)  # the version timeline goes there: said now, not after the renders
        except SettingsError as exc:
            self.error(str(exc))
            return
        hero = self.hero or shots[0]
        if anchored and hero not in shots:  # the look comes from the chosen hero (cached when already rendered)
            shots = [hero, *shots]
        batch = Batch(self.plan, out_dir, style.label, {s.number: (0, s.frames + s.head + s.tail) for s in shots})
        batch.open = set(batch.frames)
        self.batches.append(batch)
        self._latest.update((s.number, batch) for s in shots)
        for shot in shots:
            self.table.update_shot(ShotUpdate(shot, "queued", 0, batch.frames[shot.number][1]))
        self.status(f"Rendering {len(shots)} shot(s) with {style.label}…"
                    + (f" ({', '.join(busy)} still rendering)" if busy else ""))
        roots = [out_dir, *(s.media.parent for s in shots)]
        roots += [p.parent for p in (style.style_image, style.first_frame) if p]
        self.engine.ensure(roots, lambda client: self._start(batch, client, list(shots), style, hero if anchored else None),
                           lambda message: self._batch_failed(batch, message))

    def _start(self, batch: Batch, client: EngineClient, shots: list[Shot], style: StyleSettings,
               hero: Shot | None) -> None:
        if self.renderer is None or self.renderer.client is not client or self.renderer.renders.parent != batch.out_dir:
            self.renderer = Renderer(client, batch.out_dir)
        renderer, anchor_png = self.renderer, batch.out_dir / "anchor" / "look_anchor.png"
        batch.renderer = renderer
        self.engine.busy = True  # never restarted under its renders
        if hero is not None and hero.number in batch.withdrawn:
            batch.withdrawn |= {s.number for s in shots}  # their look was to come from the hero
        withdrawn = [ShotResult(s, "cancelled", error="cancelled before it was sent") for s in shots
                     if s.number in batch.withdrawn]
        shots = [s for s in shots if s.number not in batch.withdrawn]
        hero = hero if shots else None
        tokens = renderer.expect(shots)  # a cancel from now on reaches them, though `work` has not started yet

        def work(emit: Callable[[object], None]) -> list[ShotResult]:
            if hero is None:
                return withdrawn + renderer.render(shots, style, emit)
            others = [s for s in shots if s.number != hero.number]
            try:
                return withdrawn + render_anchored(renderer, hero, others, style, anchor_png, emit)
            finally:
                renderer.forget(others, tokens)  # not sent (the hero failed or raised): their cancels are spent

        run_task(self, work, progress=lambda update: self._progress(batch, update),
                 done=lambda results: self._rendered(batch, results),
                 failed=lambda message: self._batch_failed(batch, message))

    def _batch_failed(self, batch: Batch, message: str) -> None:
        """The batch as a whole could not run (each shot's own failure is a result): its shots not ended
        fail, but for those the editor cancelled."""
        self._rendered(batch, [ShotResult(s, "cancelled", error="cancelled")
                               if s.number in batch.withdrawn else ShotResult(s, "failed", error=message)
                               for s in batch.plan.shots if s.number in batch.open])
        self.error(message)

    def _progress(self, batch: Batch, update: ShotUpdate) -> None:
        number = update.shot.number
        batch.frames[number] = (update.frames_total if update.status in ENDED else update.frames_done,
                                update.frames_total)
        if update.status in ENDED:
            batch.open.discard(number)
        if self._latest.get(number) is not batch:  # another timeline, or a later render of the shot
            return
        self.table.update_shot(update)
        if update.output is not None:  # usable now, not once the whole batch has ended
            self.table.set_result(ShotResult(update.shot, update.status, update.output, look=batch.look))
        done, total = (sum(v[i] for b in self.batches for v in b.frames.values()) for i in (0, 1))
        self.overall.setMaximum(max(1, total))
        self.overall.setValue(done)

    def _rendered(self, batch: Batch, results: list[ShotResult]) -> None:
        if batch not in self.batches:
            return
        self.batches.remove(batch)
        self.engine.busy = bool(self.batches)
        for result in results:
            if self._latest.get(result.shot.number) is batch:
                self.table.set_result(result)
        counts = {s: sum(r.status == s for r in results) for s in ("done", "cached", "failed", "cancelled")}
        self.status(", ".join(f"{n} {s}" for s, n in counts.items() if n) or "nothing rendered")

    def cancel(self, shots: Sequence[Shot]) -> None:
        """Cancels the shots not ended yet, in whichever batch renders them."""
        numbers = {s.number for s in shots}
        wanted: list[tuple[Renderer, Shot]] = []
        count = 0
        for batch in self.batches:
            mine = [s for s in batch.plan.shots if s.number in numbers & batch.open]
            batch.withdrawn |= {s.number for s in mine}  # those not sent yet stay unsent
            wanted += [(batch.renderer, s) for s in mine if batch.renderer is not None]
            count += len(mine)
        if count:
            self.status(f"Cancelling {count} shot(s)…")
        if wanted:
            run_task(self, lambda emit: [renderer.cancel(s) for renderer, s in wanted], failed=self.error)

    def restyle(self, shot: Shot, style: StyleSettings | None = None) -> None:
        """Renders one shot alone with its own settings (asked for in a dialog when `style` is None)."""
        if style is None:
            style = ask_style(self, f"Restyle {shot.name}", self.style_form.to_dict())
            if style is None:
                return
        self.render([shot], style)

    def set_hero(self, shot: Shot | None) -> None:
        """The shot whose render gives the look anchor its style (None: the first shot rendered)."""
        self.hero = shot
        if shot is not None:
            self.style_form.anchor.setChecked(True)
        self.style_form.anchor_shot.setText(f"hero: {shot.name}" if shot else "hero: first selected shot")

    def generate_first_frame(self) -> None:
        """Stylizes the selected shot's first frame from the style image on the engine; uses it as first frame."""
        chosen = self.table.selected_shots() or self.table.shots[:1]
        style = self.style_form.settings()
        if not chosen or style.style_image is None:
            self.status("Choose a style image and a shot first.")
            return
        shot = chosen[0]
        dest = self.out_dir / "first_frames" / f"{shot.name}.png"

        def work(client: EngineClient) -> None:
            renderer = Renderer(client, self.out_dir)
            run_task(self, lambda emit: generate_first_frame(renderer, shot, style, dest),
                     done=lambda png: self.style_form.first_frame.set_path(png), failed=self.error)

        self.engine.ensure([self.out_dir, shot.media.parent, style.style_image.parent], work, self.error)

    def view(self, shot: Shot) -> None:
        result = self.table.results.get(shot.number)
        if result is None or result.output is None:
            self.status(f"{shot.name} has no render yet.")
            return
        BeforeAfter(result, self).show()

    def _on_first_selected(self, action: Callable[[Shot], None]) -> None:
        chosen = self.table.selected_shots()
        if chosen:
            action(chosen[0])

    # ----- write-back ---------------------------------------------------------------------------------------
    def write_back(self) -> None:
        rendered = [r for r in self.table.results.values() if r.output is not None]
        if self.edit is None or self.plan is None or not rendered:
            self.status("Nothing to write back yet: render some shots first.")
            return
        if not self.writeback.write.isEnabled():  # one at a time: two would race for one version number
            self.status("A write-back is running: wait for it.")
            return
        looks = list(dict.fromkeys(r.look for r in rendered if r.look))  # what was rendered, not what the form says now
        edit, plan, label = self.edit, self.plan, " + ".join(looks) or self.style_form.settings().label
        job = self.writeback.job(edit, plan, rendered, label, self.host)
        self.status("Writing back…")
        self.writeback.write.setEnabled(False)

        def failed(message: str) -> None:
            self.writeback.write.setEnabled(True)
            self.error(message)

        run_task(self, lambda emit: job(), done=self._written, failed=failed)

    def _written(self, message: str) -> None:
        self.writeback.write.setEnabled(True)
        self.writeback.result.setText(message)
        self.status(message)

    # ----- plumbing -----------------------------------------------------------------------------------------
    def status(self, message: str) -> None:
        self.statusBar().showMessage(message)

    def error(self, message: str) -> None:
        self.status(message.splitlines()[0] if message else "error")
        if self.isVisible():
            QMessageBox.warning(self, "DreamStyle", message)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt's name)
        if any(Path(u.toLocalFile()).suffix.lower() in ADAPTERS for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        timelines = [p for u in event.mimeData().urls() if (p := Path(u.toLocalFile())).suffix.lower() in ADAPTERS]
        if timelines:
            self.load(timelines[0])

    def save(self) -> None:
        save(self, self.settings)

    def _stop_rendering(self) -> bool:
        """Asks whether closing may stop the shots still rendering; the renders already done stay."""
        count = len(self.rendering)
        them = "them" if count > 1 else "it"
        text = (f"{count} shot{'s' * (count > 1)} still rendering. "
                + (f"Close the panel and stop {them}?" if self.engine.is_local() else
                   f"Close the panel? The remote engine goes on rendering {them}; the panel no longer follows {them}.")
                + " The shots already done are kept.")
        return QMessageBox.question(self, "DreamStyle", text, QMessageBox.Close | QMessageBox.Cancel,
                                    QMessageBox.Cancel) == QMessageBox.Close

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self.isVisible() and self.rendering and not self._stop_rendering():
            event.ignore()
            return
        self.save()
        self.engine.shutdown()
        super().closeEvent(event)
