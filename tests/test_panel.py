"""The panel, offscreen, against a real local engine with the CPU backend: load the sample, render two shots
while cancelling one, restyle one, write back and check the written timeline; then the Resolve paths."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest
from PySide6.QtCore import QSettings

import fake_resolve
from mediagen import write_video
from dreamstyle.frames import probe
from host_plugin.hosts.resolve import connect
from host_plugin.panel import make_app, make_window
from host_plugin.panel.window import Batch
from host_plugin.pipeline import ShotUpdate, StyleSettings
from host_plugin.sample import STYLE_IMAGE, make_sample

WAIT = 180_000


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    return make_sample(tmp_path_factory.mktemp("panel") / "sample")


@pytest.fixture(scope="module")
def session(sample, tmp_path_factory):
    """One window and its local engine for the whole module (starting an engine costs seconds)."""
    make_app()
    folder = tmp_path_factory.mktemp("panel_state")
    settings = QSettings(str(folder / "panel.ini"), QSettings.IniFormat)
    window = make_window(settings=settings, state_dir=folder / "state")
    window.style_form.from_dict({"style_image": str(STYLE_IMAGE), "backend": "classic", "seed": 1})
    yield window, settings
    window.close()


def own_window(qtbot, tmp_path):
    """A window of its own (settings and engine folder under `tmp_path`), closed with the test."""
    make_app()
    window = make_window(settings=QSettings(str(tmp_path / "p.ini"), QSettings.IniFormat), state_dir=tmp_path / "s")
    qtbot.addWidget(window)
    return window


def test_load_render_cancel_restyle_write_back(session, sample, qtbot):
    window, _ = session
    window.load(sample)
    qtbot.waitUntil(lambda: window.table.rowCount() == 3, timeout=WAIT)
    shots = window.table.shots
    assert [s.clip_name for s in shots] == ["clip_a", "clip_a", "clip_b"]
    assert window.table.item(0, 3).text() == "01:00:00:00" and window.table.item(1, 6).text() == "cut (detected)"
    assert window.table.item(0, 2).text() == "V1"
    qtbot.waitUntil(lambda: window.table.item(2, 0).data(1) is not None, timeout=WAIT)  # thumbnails

    window.render(shots[:2])  # one engine worker: shot 2 waits in the queue while shot 1 renders
    # Shot 2 is cancelled once the engine has it (queued behind shot 1, or at its first segment boundary).
    qtbot.waitUntil(lambda: window.renderer is not None and 2 in window.renderer._jobs, timeout=WAIT)
    window.cancel([shots[1]])
    qtbot.waitUntil(lambda: {1, 2} <= window.table.results.keys(), timeout=WAIT)
    results = window.table.results
    assert results[1].status == "done" and probe(results[1].output).frames == shots[0].frames
    assert results[1].output.parent == sample.parent / f"{sample.stem}_dreamstyle" / "renders"  # the folder's tooltip
    assert results[2].status == "cancelled" and results[2].output is None
    assert window.overall.value() == window.overall.maximum()

    window.restyle(shots[2], StyleSettings(style_image=STYLE_IMAGE, backend="classic", seed=9))
    qtbot.waitUntil(lambda: 3 in window.rendering, timeout=WAIT)  # 84 frames: seconds of rendering
    window.load(sample)  # opening another timeline mid-render is refused, never left uncancellable
    assert "still rendering" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: 3 in window.table.results, timeout=WAIT)
    assert window.table.results[3].status == "done"
    assert window.table.item(2, 8).text() == str(window.table.results[3].output)

    window.write_back()
    qtbot.waitUntil(lambda: window.writeback.result.text().startswith("Wrote"), timeout=WAIT)
    written = Path(window.writeback.result.text().removeprefix("Wrote ").strip())
    assert written.parent == sample.parent and written.suffix == ".otio" and written != sample
    timeline = otio.adapters.read_from_file(str(written))
    tracks = list(timeline.video_tracks())
    assert len(tracks) == 2 and tracks[1].name.startswith("DreamStyle v1")
    clips = list(tracks[1].find_clips())
    assert [tracks[1].range_of_child(c).start_time.to_frames() for c in clips] == [
        shots[0].record.start_time.to_frames(), shots[2].record.start_time.to_frames()]
    assert [c.source_range.duration.to_frames() for c in clips] == [shots[0].frames, shots[2].frames]
    assert otio.opentime.to_timecode(timeline.global_start_time) == "01:00:00:00"


def test_the_shot_lists_columns_fit_their_text_and_keep_the_width_the_editor_gives_them(session):
    """Sized once per timeline, not measured over every row at each progress message (a minute per pass over
    a 2000-shot edit)."""
    window, _ = session
    table = window.table
    clip = table.item(0, 1)
    assert table.columnWidth(1) >= table.fontMetrics().horizontalAdvance(clip.text())
    table.setColumnWidth(1, 333)  # the editor widens the clip column
    shot = table.shots[0]
    table.update_shot(ShotUpdate(shot, "running", 1, shot.frames, "segment 1 of 2: " + "a long message " * 20))
    table.set_result(table.results[1])
    assert table.columnWidth(1) == 333


def test_a_very_long_clip_name_is_elided_and_leaves_the_status_on_screen(qtbot):
    """A camera-and-description clip name hundreds of characters long: its column stops at a few hundred pixels
    (the tooltip gives it whole), so the status and output columns stay in a panel of ordinary width."""
    from opentimelineio.opentime import RationalTime, TimeRange

    from host_plugin.panel.shot_table import ShotTable
    from host_plugin.plan import Plan, Shot

    make_app()
    name = "A001_C002_" + "long_descriptive_take_name_" * 10
    shot = Shot(number=1, clip_name=name, track_index=0, media=Path(f"/media/{name}.mov"), rate=Fraction(24),
                start=0, end=24, head=0, tail=0, record=TimeRange(RationalTime(0, 24), RationalTime(24, 24)))
    table = ShotTable()
    qtbot.addWidget(table)
    table.set_plan(Plan([shot], [], [], Fraction(24)), None, None)
    assert table.columnWidth(1) <= 400 and name in table.item(0, 1).toolTip()  # the name alone needs ~2000 px
    assert table.item(0, 3).toolTip() == table.item(0, 3).text()  # every elided cell says it whole


def test_enter_in_the_prompt_keeps_the_engines_named_looks_as_they_are(qtbot):
    """The prompt's list offers the engine's named looks: a prompt typed and confirmed with Enter is not one."""
    from PySide6.QtCore import Qt

    from host_plugin.panel.style_form import StyleForm

    make_app()
    form = StyleForm()
    qtbot.addWidget(form)
    form.prompt.lineEdit().setText("rain-soaked neon, anamorphic flares")
    qtbot.keyClick(form.prompt.lineEdit(), Qt.Key_Return)
    assert form.prompt.count() == 0 and form.prompt.currentText() == "rain-soaked neon, anamorphic flares"


def test_before_after_viewer(session, qtbot):
    window, _ = session
    result = window.table.results[1]
    from host_plugin.panel.viewer import BeforeAfter

    viewer = BeforeAfter(result, window)
    qtbot.addWidget(viewer)
    viewer.frame.setValue(5)
    qtbot.waitUntil(lambda: viewer.shown == 5, timeout=WAIT)
    split = viewer.composite()
    viewer.mode.setCurrentIndex(1)
    side = viewer.composite()
    assert split.shape[1] * 2 + 4 == side.shape[1] and split.shape[0] == side.shape[0]
    viewer.frame.setValue(viewer.frame.maximum())
    qtbot.waitUntil(lambda: "frame 48 of 48" in viewer.label.text(), timeout=WAIT)


def test_write_back_as_track_into_resolve(session, sample, tmp_path):
    """The renders of the sample, placed by the panel's write-back into a Resolve timeline holding the same cut."""
    window, _ = session
    media = sample.parent / "media"
    app = fake_resolve.Resolve(version=(19, 1, 3))
    resolve_timeline = app.add_timeline("Sample", [(media / "clip_a.mp4", 12, 108, 0),
                                                   (media / "clip_b.mp4", 6, 84, 108)])
    host = connect(fake_resolve.scripting_module(app))
    rendered = [r for r in window.table.results.values() if r.output]
    window.writeback.set_source(sample, host)
    window.writeback.mode.setCurrentIndex(1)
    message = window.writeback.job(window.edit, window.plan, rendered, "classic", host)()
    assert "Added video track 2" in message
    placed = resolve_timeline.GetItemListInTrack("video", 2)
    assert [(i.GetStart(), i.GetDuration()) for i in placed] == [(86400, 48), (86400 + 108, 84)]
    window.writeback.mode.setCurrentIndex(0)
    message = window.writeback.job(window.edit, window.plan, rendered, "classic", host)()
    assert "as a new timeline" in message and app.project.GetCurrentTimeline().GetName().endswith("DreamStyle v2")
    window.writeback.set_source(sample, None)


def test_the_write_back_mode_chosen_outlasts_a_timeline_file(sample, qtbot, tmp_path):
    """An editor who writes back as a track in Resolve opens a timeline file once: it shows a new version (a file
    takes no track), and the track choice comes back with Resolve, also after a restart."""
    from PySide6.QtCore import Qt

    window = own_window(qtbot, tmp_path)
    host = connect(fake_resolve.scripting_module(fake_resolve.Resolve()))
    box = window.writeback
    box.set_source(sample, host)
    box.mode.setFocus()
    qtbot.keyClick(box.mode, Qt.Key_Down)  # the editor picks "Add a track"
    assert box.mode.currentIndex() == 1
    box.set_source(sample, None)
    assert box.mode.currentIndex() == 0
    window.save()
    again = own_window(qtbot, tmp_path)  # its settings are the first window's
    again.writeback.set_source(sample, host)
    assert again.writeback.mode.currentIndex() == 1


def test_a_saved_write_back_mode_this_panel_lacks_opens_as_a_new_version(qtbot, tmp_path):
    """A settings file from another version (or edited by hand) naming a mode past the list: the panel opens."""
    settings = QSettings(str(tmp_path / "p.ini"), QSettings.IniFormat)
    settings.setValue("writeback", 5)
    settings.sync()
    window = own_window(qtbot, tmp_path)
    assert window.writeback.mode.currentIndex() == 0 and window.writeback.chosen == 0


def test_reads_the_current_resolve_timeline(sample, qtbot, tmp_path):
    media = sample.parent / "media"
    app = fake_resolve.Resolve()
    app.add_timeline("Edit 1", [(media / "clip_b.mp4", 0, 40, 0)], rate="23.976")
    make_app()
    window = make_window(lambda: connect(fake_resolve.scripting_module(app)),
                         QSettings(str(tmp_path / "p.ini"), QSettings.IniFormat), tmp_path / "state")
    qtbot.addWidget(window)
    window.load_from_host()
    qtbot.waitUntil(lambda: window.table.rowCount() == 1 and window.table.item(0, 0).data(1) is not None, timeout=WAIT)
    assert window.table.item(0, 3).text() == "01:00:00:00" and window.table.item(0, 4).text() == "01:00:01:16"
    assert window.writeback.mode.model().item(1).isEnabled()


def test_resolve_unavailable_is_reported(tmp_path, qtbot):
    make_app()
    window = make_window(lambda: connect(fake_resolve.scripting_module(None)),
                         QSettings(str(tmp_path / "p.ini"), QSettings.IniFormat), tmp_path / "state")
    qtbot.addWidget(window)
    window.load_from_host()
    qtbot.waitUntil(lambda: "did not answer" in window.statusBar().currentMessage(), timeout=10_000)


def test_looks_persist_as_presets_and_settings(session, tmp_path):
    window, settings = session
    form = window.style_form
    form.prompt.setEditText("noir")
    form.seed.setValue(42)
    form.handles.setValue(4)
    form.save_preset(tmp_path / "look.dslook.json")
    assert json.loads((tmp_path / "look.dslook.json").read_text())["seed"] == 42
    form.from_dict({"seed": 0})
    form.load_preset(tmp_path / "look.dslook.json")
    assert (form.prompt.currentText(), form.seed.value(), form.handles.value()) == ("noir", 42, 4)
    window.writeback.folder.setText(str(tmp_path / "renders"))
    assert window.out_dir == tmp_path / "renders"
    window.save()
    again = make_window(settings=settings, state_dir=tmp_path / "state")
    assert again.style_form.to_dict() == form.to_dict() and again.writeback.folder.text() == str(tmp_path / "renders")
    again.close()
    window.writeback.folder.setText("")
    form.handles.setValue(0)
    form.prompt.setEditText("")


def test_the_strength_control_is_the_classic_backends_only(session):
    """The diffusion backends read no strength: sent, the engine would refuse it as a param they do not take."""
    form = session[0].style_form
    before = form.to_dict()
    try:
        for backend, sent in (("classic", {"strength": "0.5"}), ("dreamstyle", {}), ("passthrough", {})):
            form.from_dict({**before, "backend": backend, "strength": 0.5})
            assert {k: v for k, v in form.settings().params.items() if k == "strength"} == sent, backend
    finally:
        form.from_dict(before)


def test_keyboard_shortcuts_cover_the_main_actions(session):
    window, _ = session
    shortcuts = {a.text(): a.shortcut().toString() for a in window.actions()}
    assert shortcuts["Render selected"] == "Ctrl+R" and shortcuts["Write back"] == "Ctrl+W"
    assert shortcuts["Open timeline…"] == "Ctrl+O" and shortcuts["Cancel all"]


def test_tab_leaves_the_shot_list_and_ctrl_a_selects_every_shot(sample, qtbot, tmp_path):
    """Keyboard only: the panel opens with the shot list focused, rows are chosen whole, and Tab moves on to the
    next control instead of cell by cell."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    window = own_window(qtbot, tmp_path)
    window.show()
    window.load(sample)
    qtbot.waitUntil(lambda: window.table.rowCount() == 3, timeout=WAIT)
    assert QApplication.focusWidget() is window.table
    qtbot.keyClick(window.table, Qt.Key_A, Qt.ControlModifier)
    assert window.table.selected_shots() == window.table.shots
    qtbot.keyClick(window.table, Qt.Key_Tab)
    assert QApplication.focusWidget() is not window.table


def test_look_anchor_and_generated_first_frame(session, qtbot):
    window, _ = session
    shots, before = window.table.shots, dict(window.table.results)
    window.set_hero(shots[2])
    window.render([shots[0], shots[2]])
    qtbot.waitUntil(lambda: all(window.table.results[n] is not before[n] for n in (1, 3)), timeout=WAIT)
    assert {window.table.results[n].status for n in (1, 3)} == {"done"}, [window.table.results[n].error for n in (1, 3)]
    anchor = window.out_dir / "anchor" / "look_anchor.png"
    assert anchor.is_file() and window.table.results[1].output != before[1].output
    window.style_form.anchor.setChecked(False)

    window.table.selectRow(1)
    window.generate_first_frame()
    qtbot.waitUntil(lambda: window.style_form.first_frame.path() is not None, timeout=WAIT)
    from PIL import Image

    assert Image.open(window.style_form.first_frame.path()).size == (640, 360)
    window.style_form.first_frame.set_path(None)


def test_screenshot_of_the_loaded_sample(sample, tmp_path):
    from host_plugin.commands.panel import screenshot

    app = make_app()
    window = make_window(settings=QSettings(str(tmp_path / "p.ini"), QSettings.IniFormat), state_dir=tmp_path / "s")
    assert screenshot(app, window, sample, tmp_path / "panel.png", tmp_path) == 0
    from PIL import Image

    assert Image.open(tmp_path / "panel.png").size == (1440, 860)
    window.close()


def test_offline_media_is_listed_and_relinked(sample, qtbot, tmp_path):
    timeline = otio.adapters.read_from_file(str(sample))
    for clip in timeline.find_clips():
        clip.media_reference.target_url = "/Volumes/Gone/media/" + Path(clip.media_reference.target_url).name
    moved = tmp_path / "moved.otio"
    otio.adapters.write_to_file(timeline, str(moved))
    window = own_window(qtbot, tmp_path)
    window.load(moved)
    qtbot.waitUntil(lambda: window.plan is not None, timeout=WAIT)
    assert window.table.rowCount() == 0 and not window.relink.isHidden()
    assert all(button.isVisibleTo(window) for button in window.relink_buttons)
    assert "clip_a" in window.problems.text() and "offline" in window.problems.text()
    assert window.statusBar().currentMessage() == "moved.otio: 0 shots, 2 clips held back: see below the shot list"
    window.add_path_map(f"/Volumes/Gone/media={sample.parent / 'media'}")
    qtbot.waitUntil(lambda: window.table.rowCount() == 3, timeout=WAIT)
    assert window.relink.isHidden()
    qtbot.waitUntil(lambda: window.table.item(2, 0).data(1) is not None, timeout=WAIT)


def test_what_is_skipped_is_said_under_the_shot_list_without_offline_clips(sample, qtbot, tmp_path):
    """A disabled track renders nothing: the editor reads why, though no clip is offline to relink."""
    timeline = otio.adapters.read_from_file(str(sample))
    disabled = timeline.tracks[0].deepcopy()
    disabled.name, disabled.enabled = "V2 muted", False
    timeline.tracks.append(disabled)
    edit = tmp_path / "muted.otio"
    otio.adapters.write_to_file(timeline, str(edit))
    window = own_window(qtbot, tmp_path)
    window.load(edit)
    qtbot.waitUntil(lambda: window.table.rowCount() == 3, timeout=WAIT)
    assert window.problems.isVisibleTo(window) and "track V2 muted: disabled" in window.problems.text()
    assert not any(button.isVisibleTo(window) for button in window.relink_buttons)


def test_an_edl_is_read_at_the_panels_edl_rate(qtbot, tmp_path):
    """EDLs do not state their rate: the panel's EDL fps (remembered) decides, and changing it reads the EDL again."""
    write_video(tmp_path / "media" / "pal.mov", [60], rate=Fraction(25))
    edl = tmp_path / "pal.edl"
    edl.write_text("TITLE: PAL\nFCM: NON-DROP FRAME\n\n"
                   "001  AX       V     C        00:00:00:00 00:00:01:24 10:00:00:00 10:00:01:24\n"
                   "* FROM CLIP NAME: pal.mov\n")
    make_app()
    settings = QSettings(str(tmp_path / "p.ini"), QSettings.IniFormat)
    window = make_window(settings=settings, state_dir=tmp_path / "s")
    qtbot.addWidget(window)
    window.load(edl)
    qtbot.waitUntil(lambda: "--edl-rate, or EDL fps in the panel" in window.statusBar().currentMessage()
                    or window.plan is not None, timeout=WAIT)
    assert window.plan is None, "a 25 fps EDL cannot be read at 23.976"
    held = tmp_path / "held.edl"  # its timecodes parse at 23.976: only the clip is held back, not said offline
    held.write_text(edl.read_text().replace("00:00:01:24 10:00:00:00 10:00:01:24", "00:00:01:20 10:00:00:00 10:00:01:20"))
    window.load(held)
    qtbot.waitUntil(lambda: window.plan is not None, timeout=WAIT)
    assert window.statusBar().currentMessage() == "held.edl: 0 shots, 1 clip held back: see below the shot list"
    assert "runs at 25 fps" in window.problems.text()
    assert not any(button.isVisibleTo(window) for button in window.relink_buttons), "relinking cannot help it"
    window.edl_rate.setCurrentText("25")
    window.load(edl)
    qtbot.waitUntil(lambda: window.edit.path == edl, timeout=WAIT)
    window.add_search_folder(tmp_path / "media")
    qtbot.waitUntil(lambda: window.table.rowCount() == 1, timeout=WAIT)
    assert window.plan.rate == 25 and window.plan.shots[0].frames == 49
    window.batches.append(Batch(window.plan, tmp_path / "out", "look", {1: (0, 49)}, {1}))  # its shot rendering
    window.edl_rate.setCurrentText("24")  # refused: the box shows the rate the shots were read at
    assert "still rendering" in window.statusBar().currentMessage() and window.edl_rate.currentText() == "25"
    window.batches.clear()
    window.close()
    assert settings.value("edl_rate") == "25"


def test_the_shot_list_shows_record_timecode_in_the_timelines_frame_count_mode(qtbot, tmp_path):
    """29.97 timecode is drop-frame or not as the timeline says (an EDL's FCM), not as its rate suggests."""
    write_video(tmp_path / "A001.mov", [90], width=64, height=36, rate=Fraction(30000, 1001))
    edl = tmp_path / "ndf.edl"
    edl.write_text("TITLE: NDF\nFCM: NON-DROP FRAME\n\n"
                   "001  A001     V     C        00:00:01:00 00:00:02:00 01:00:00:00 01:00:01:00\n"
                   "* FROM CLIP NAME: A001.mov\n")
    window = own_window(qtbot, tmp_path)
    window.edl_rate.setCurrentText("29.97")
    window.load(edl)
    qtbot.waitUntil(lambda: window.table.rowCount() == 1, timeout=WAIT)
    assert (window.table.item(0, 3).text(), window.table.item(0, 4).text()) == ("01:00:00:00", "01:00:01:00")
    window.close()


def test_remote_engine_connection_indicator_and_capabilities(tmp_path, qtbot):
    from enginehelp import engine_thread

    window = own_window(qtbot, tmp_path)
    box = window.engine
    box.mode.setCurrentIndex(1)
    with engine_thread(tmp_path / "state", [tmp_path]) as address:
        box.address.setText(address)
        box.button.click()
        qtbot.waitUntil(lambda: box.dot.state == "ok", timeout=30_000)
        assert address in box.status.text() and "classic" in box.status.text()
        assert window.style_form.backend.findData("passthrough") >= 0
        assert "noir" in [window.style_form.prompt.itemText(i) for i in range(window.style_form.prompt.count())]
        box.mode.setCurrentIndex(0)  # switching to a local engine drops the remote connection
        qtbot.waitUntil(lambda: box.dot.state == "unknown", timeout=30_000)
    assert box.client() is None and box.button.text() == "Start"
    box.mode.setCurrentIndex(1)
    box.address.setText("127.0.0.1:1")
    box.connect_timeout = 1.0
    box.button.click()
    qtbot.waitUntil(lambda: box.dot.state == "down", timeout=30_000)
    assert "no engine answers" in box.status.text()


def test_dropping_a_timeline_and_a_style_image(sample, qtbot, tmp_path):
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    def drop(widget, path: Path) -> None:
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(path))])
        widget.dropEvent(QDropEvent(QPointF(5, 5), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))

    window = own_window(qtbot, tmp_path)
    drop(window.style_form.style_image, STYLE_IMAGE)
    assert window.style_form.settings().style_image == STYLE_IMAGE
    drop(window, sample)
    qtbot.waitUntil(lambda: window.table.rowCount() == 3, timeout=WAIT)
    qtbot.waitUntil(lambda: window.table.item(2, 0).data(1) is not None, timeout=WAIT)


def test_a_shot_whose_media_goes_missing_gets_no_thumbnail_and_the_others_do(session, tmp_path, qtbot, monkeypatch):
    """A drive unmounted between reading the timeline and drawing its thumbnails: that shot's is skipped
    (its render will say what to do), the others are drawn, and no dialog interrupts the editor."""
    import host_plugin.panel.window

    window, _ = session
    media = [write_video(tmp_path / f"{name}.mp4", [12], width=64, height=36) for name in ("gone", "b", "c")]
    track = otio.schema.Track("V1")
    for path in media:
        track.append(otio.schema.Clip(path.stem, otio.schema.ExternalReference(str(path)),
                                      otio.opentime.TimeRange(otio.opentime.RationalTime(0, 24),
                                                              otio.opentime.RationalTime(12, 24))))
    timeline = otio.schema.Timeline("unmounted")
    timeline.tracks.append(track)
    otio.adapters.write_to_file(timeline, str(tmp_path / "unmounted.otio"))
    read = host_plugin.panel.window.display_rotation  # a thumbnail's first read of its file

    def unmounted(path, *args, **kwargs):
        if path == media[0]:
            media[0].unlink(missing_ok=True)  # as its drive goes
        return read(path, *args, **kwargs)

    monkeypatch.setattr(host_plugin.panel.window, "display_rotation", unmounted)
    errors = []
    monkeypatch.setattr(window, "error", errors.append)
    window.style_form.from_dict({"style_image": str(STYLE_IMAGE), "backend": "classic", "seed": 1, "handles": 0})
    window.load(tmp_path / "unmounted.otio")
    qtbot.waitUntil(lambda: [s.clip_name for s in window.table.shots] == ["gone", "b", "c"], timeout=WAIT)
    qtbot.waitUntil(lambda: window.table.item(2, 0).data(1) is not None, timeout=WAIT)
    assert window.table.item(0, 0).data(1) is None and window.table.item(1, 0).data(1) is not None
    assert errors == []


def test_the_write_back_says_which_file_it_writes_for_each_format(session):
    """An EDL cannot hold a version track: the hint says the new version is an .otio beside it."""
    window, _ = session
    hints = {}
    for name in ("cut.edl", "cut.otio"):
        window.writeback.set_source(Path(name), None)
        hints[name] = window.writeback.hint.text()
    assert "as .otio" in hints["cut.edl"] and "in its own format" in hints["cut.otio"]
    window.writeback.set_source(window.edit.path if window.edit else None, window.host)


def test_thumbnails_keep_the_shots_display_aspect(qtbot, tmp_path):
    """A phone's portrait clip fits the thumbnail box as it is shown, not squeezed to the box (the pixel aspect
    is applied as in the viewer: `shown_size`)."""
    from PySide6.QtCore import Qt

    window = own_window(qtbot, tmp_path)
    portrait = write_video(tmp_path / "portrait.mp4", [12], width=90, height=160)
    track = otio.schema.Track("V1")
    track.append(otio.schema.Clip("portrait", otio.schema.ExternalReference(str(portrait)),
                                  otio.opentime.TimeRange(otio.opentime.RationalTime(0, 24),
                                                          otio.opentime.RationalTime(12, 24))))
    otio.adapters.write_to_file(otio.schema.Timeline("aspect", tracks=[track]), str(tmp_path / "aspect.otio"))
    window.load(tmp_path / "aspect.otio")
    qtbot.waitUntil(lambda: window.table.rowCount() == 1 and window.table.item(0, 0).data(Qt.DecorationRole) is not None,
                    timeout=WAIT)
    thumb = window.table.item(0, 0).data(Qt.DecorationRole)
    assert (thumb.width(), thumb.height()) == (30, 54)
