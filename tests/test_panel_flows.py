"""The panel when things go wrong or the editor changes course: a batch that cannot start, a cancelled
shot asked for again, a dead local engine, two quick clicks, two quick opens, and the look anchor's hero.
Offscreen, against a real local engine with the CPU backend."""

from __future__ import annotations


import threading

import opentimelineio as otio
import pytest
from PySide6.QtCore import QObject, QSettings, QThreadPool

from host_plugin.panel import make_app, make_window
from host_plugin.panel.window import Batch
from host_plugin.panel.workers import run_task
from host_plugin.pipeline import StyleSettings
from host_plugin.sample import STYLE_IMAGE, make_sample

WAIT = 180_000


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return make_sample(tmp_path_factory.mktemp("flows") / "sample")


@pytest.fixture(scope="module")
def window(sample, tmp_path_factory):
    make_app()
    folder = tmp_path_factory.mktemp("flows_state")
    window = make_window(settings=QSettings(str(folder / "panel.ini"), QSettings.IniFormat), state_dir=folder / "state")
    window.style_form.from_dict({"style_image": str(STYLE_IMAGE), "backend": "classic", "seed": 1})
    window.load(sample)
    yield window
    window.close()


def test_a_batch_that_cannot_start_leaves_the_panel_usable(window, sample, qtbot, tmp_path):
    qtbot.waitUntil(lambda: window.table.rowCount() == 3, timeout=WAIT)
    blocker = tmp_path / "a_file"
    blocker.write_text("")  # e.g. an unmounted volume's mount point: the renders folder cannot be made
    window.writeback.folder.setText(str(blocker))
    window.render(window.table.shots)  # refused before an engine is started for that folder
    assert f"output folder {window.out_dir}: a file, not a folder" in window.statusBar().currentMessage()
    assert window.batches == [] and not window.engine.busy
    window.writeback.folder.setText("")
    window.load(sample)  # not refused as "still rendering"
    qtbot.waitUntil(lambda: "3 shots" in window.statusBar().currentMessage(), timeout=WAIT)


def test_a_cancelled_shot_renders_when_asked_again(window, qtbot):
    shot = window.table.shots[2]
    window.render([shot])
    qtbot.waitUntil(lambda: shot.number in window.rendering and window.renderer is not None, timeout=WAIT)
    window.cancel([shot])
    qtbot.waitUntil(lambda: not window.batches, timeout=WAIT)
    assert window.table.results[shot.number].status == "cancelled"
    window.render([shot])
    qtbot.waitUntil(lambda: window.table.results[shot.number].status != "cancelled", timeout=WAIT)
    assert window.table.results[shot.number].status == "done", window.table.results[shot.number].error


def test_the_hero_renders_first_even_when_not_selected(window, qtbot):
    """The look comes from the chosen hero (cached here), not from the first selected shot."""
    shots = window.table.shots
    hero_before = window.table.results[3]
    window.set_hero(shots[2])
    window.render([shots[0]])
    qtbot.waitUntil(lambda: 1 in window.table.results and window.table.results[3] is not hero_before, timeout=WAIT)
    assert window.table.results[3].status == "cached" and window.table.results[1].status == "done"
    window.style_form.anchor.setChecked(False)


def test_a_dead_local_engine_is_started_again(window, qtbot):
    engine = window.engine
    dead = engine._local
    dead._process.kill()
    dead._process.wait(30)
    before = window.table.results[1]
    window.restyle(window.table.shots[0], StyleSettings(style_image=STYLE_IMAGE, backend="classic", seed=77))
    qtbot.waitUntil(lambda: window.table.results[1] is not before, timeout=WAIT)
    assert window.table.results[1].status == "done", window.table.results[1].error
    assert engine._local is not dead and engine._local.alive()


def test_two_quick_requests_share_one_engine_start(window, qtbot):
    engine = window.engine
    engine.stop()
    got: list[object] = []
    engine.ensure([window.out_dir], got.append, got.append)
    engine.ensure([window.out_dir], got.append, got.append)
    qtbot.waitUntil(lambda: len(got) == 2, timeout=WAIT)
    assert got[0] is got[1] is engine.client() and engine._local.alive()


def test_the_timeline_opened_last_is_the_one_shown(sample, qtbot, tmp_path):
    """The sample (scene detection: slow) opened, then a one-clip timeline (fast): the slow result is dropped."""
    quick = otio.schema.Timeline("Quick", global_start_time=otio.opentime.RationalTime(0, 24))
    track = otio.schema.Track("V1", kind=otio.schema.TrackKind.Video)
    quick.tracks.append(track)
    track.append(otio.schema.Clip("b", otio.schema.ExternalReference(target_url=str(sample.parent / "media/clip_b.mp4")),
                                  otio.opentime.TimeRange(otio.opentime.RationalTime(0, 24), otio.opentime.RationalTime(5, 24))))
    otio.adapters.write_to_file(quick, str(tmp_path / "quick.otio"))
    make_app()
    window = make_window(settings=QSettings(str(tmp_path / "p.ini"), QSettings.IniFormat), state_dir=tmp_path / "s")
    qtbot.addWidget(window)
    window.load(sample)
    window.load(tmp_path / "quick.otio")
    qtbot.waitUntil(lambda: QThreadPool.globalInstance().activeThreadCount() == 0 and window.plan is not None,
                    timeout=WAIT)
    assert window.edit.path.name == "quick.otio" and window.table.rowCount() == 1
    assert window.source.text().endswith("quick.otio")


def test_one_write_back_at_a_time(window, sample, qtbot):
    """Two quick Ctrl+W would both take the next version number."""
    qtbot.waitUntil(lambda: any(r.output for r in window.table.results.values()), timeout=WAIT)
    before = set(sample.parent.glob("sample.dreamstyle-v*.otio"))
    window.write_back()
    window.write_back()
    assert "A write-back is running" in window.statusBar().currentMessage()
    qtbot.waitUntil(lambda: window.writeback.write.isEnabled(), timeout=WAIT)
    assert len(set(sample.parent.glob("sample.dreamstyle-v*.otio")) - before) == 1
    window.write_back()
    qtbot.waitUntil(lambda: len(set(sample.parent.glob("sample.dreamstyle-v*.otio")) - before) == 2, timeout=WAIT)


def test_a_request_for_other_folders_while_starting_gets_an_engine_that_reaches_them(window, qtbot, tmp_path):
    engine = window.engine
    engine.stop()
    got: list[object] = []
    engine.ensure([window.out_dir], got.append, got.append)
    engine.ensure([tmp_path], got.append, got.append)  # e.g. a first frame generated from another folder
    qtbot.waitUntil(lambda: len(got) == 2, timeout=WAIT)
    assert got[0] is got[1] is engine.client()
    assert engine._covered([window.out_dir.resolve(), tmp_path.resolve()])


def test_reading_resolve_while_shots_render_leaves_the_timeline_and_host_alone(window, sample, qtbot):
    """A refused read must not leave the file's timeline with Resolve as its host (a write-back would go there)."""
    import fake_resolve
    from host_plugin.hosts.resolve import connect

    qtbot.waitUntil(lambda: window.edit is not None, timeout=WAIT)
    app = fake_resolve.Resolve()
    app.add_timeline("Reel", [(sample.parent / "media" / "clip_b.mp4", 0, 40, 0)])
    window.host_factory = lambda: connect(fake_resolve.scripting_module(app))
    window.batches.append(Batch(window.plan, window.out_dir, "look", {99: (0, 1)}, {99}))  # a shot still rendering
    try:
        window.load_from_host()
        qtbot.waitUntil(lambda: "still rendering" in window.statusBar().currentMessage(), timeout=WAIT)
        assert window.host is None and window.edit.path == sample
    finally:
        window.batches.clear()
        window.host_factory = None


def test_a_panel_closed_while_its_engine_starts_leaves_no_engine_running(tmp_path, qtbot):
    from engine.store import JobStore

    make_app()
    window = make_window(settings=QSettings(str(tmp_path / "p.ini"), QSettings.IniFormat), state_dir=tmp_path / "s")
    answers: list[object] = []
    window.engine.ensure([tmp_path], answers.append, answers.append)  # starting the local engine
    window.close()
    qtbot.waitUntil(lambda: QThreadPool.globalInstance().activeThreadCount() == 0, timeout=WAIT)
    JobStore(tmp_path / "s" / "engine" / "jobs.sqlite3").close()  # its state folder is free: no engine holds it
    window.engine.ensure([tmp_path], answers.append, answers.append)
    assert answers[-1] == "the panel is closed"


def test_a_quick_task_never_waits_behind_batches_holding_every_thread(qtbot):
    """A batch holds its worker until its last shot ends; a cancel, a health poll or a viewer frame started
    while as many batches render as the pool has threads (2 on a two-core laptop) must still run at once."""
    make_app()
    owner, release, answers = QObject(), threading.Event(), []
    try:
        for _ in range(QThreadPool.globalInstance().maxThreadCount()):
            run_task(owner, lambda emit: release.wait(60))
        run_task(owner, lambda emit: "cancelled", done=answers.append)
        qtbot.waitUntil(lambda: answers == ["cancelled"], timeout=5_000)
    finally:
        release.set()


def test_closing_the_panel_mid_render_asks_first(tmp_path, qtbot, monkeypatch):
    """A close while shots render would stop them (the local engine with the panel): the editor is asked."""
    from PySide6.QtWidgets import QMessageBox

    make_app()
    window = make_window(settings=QSettings(str(tmp_path / "p.ini"), QSettings.IniFormat), state_dir=tmp_path / "s")
    qtbot.addWidget(window)
    window.show()
    window.batches.append(Batch(None, tmp_path, "look", {7: (0, 9)}, {7}))  # a shot still rendering
    questions: list[str] = []

    def answer(button):
        return lambda parent, title, text, *args: questions.append(text) or button

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.Cancel))
    assert not window.close() and window.isVisible() and not window.engine._closed
    assert "1 shot still rendering" in questions[0]
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.Close))
    assert window.close() and window.engine._closed


def test_closing_mid_render_on_a_remote_engine_does_not_say_it_stops_the_shots(tmp_path, qtbot, monkeypatch):
    """A remote engine renders on once the panel closes: the question says so, not that the shots stop."""
    from PySide6.QtWidgets import QMessageBox

    from host_plugin.panel.engine_box import REMOTE

    make_app()
    window = make_window(settings=QSettings(str(tmp_path / "p.ini"), QSettings.IniFormat), state_dir=tmp_path / "s")
    qtbot.addWidget(window)
    window.show()
    window.engine.mode.setCurrentText(REMOTE)
    window.batches.append(Batch(None, tmp_path, "look", {7: (0, 9), 8: (9, 20)}, {7, 8}))
    questions: list[str] = []
    monkeypatch.setattr(QMessageBox, "question", lambda parent, title, text, *args: questions.append(text)
                        or QMessageBox.Cancel)
    assert not window.close()
    assert "stop" not in questions[0] and "2 shots" in questions[0] and "goes on" in questions[0], questions[0]
    window.batches.clear()


def test_changed_handles_while_shots_render_say_why_nothing_renders(window, qtbot):
    """The shots are found again only once the renders end: the editor is told so, not about another timeline."""
    qtbot.waitUntil(lambda: window.plan is not None, timeout=WAIT)
    window.batches.append(Batch(window.plan, window.out_dir, "look", {99: (0, 1)}, {99}))  # a shot still rendering
    handles = window.style_form.handles.value()
    window.style_form.handles.setValue(handles + 6)
    try:
        window.render(window.table.shots[:1])
        message = window.statusBar().currentMessage()
        assert "Handles changed" in message and "another timeline" not in message, message
    finally:
        window.batches.clear()
        window.style_form.handles.setValue(handles)
