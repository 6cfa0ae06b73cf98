"""The panel's batches of shots as an editor drives them: renders asked for while a timeline is read, cancels
that reach every batch, a finished shot usable at once, the version track named after what was rendered,
handles changed before a render, and folders that cannot be written. Offscreen, against a real local
engine with the CPU backend."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path

import opentimelineio as otio
import pytest
from PySide6.QtCore import QSettings

from dreamstyle.frames import probe
from host_plugin.panel import make_app, make_window
from host_plugin.pipeline import Renderer, StyleSettings
from host_plugin.sample import make_sample
from readonly import read_only

WAIT = 180_000


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    return make_sample(tmp_path_factory.mktemp("batches") / "sample")


@pytest.fixture(scope="module")
def window(tmp_path_factory):
    make_app()
    folder = tmp_path_factory.mktemp("batches_state")
    window = make_window(settings=QSettings(str(folder / "panel.ini"), QSettings.IniFormat), state_dir=folder / "state")
    window.style_form.from_dict({"backend": "classic", "seed": 1, "handles": 0})
    yield window
    window.close()


def look(window, prompt: str) -> None:
    window.style_form.from_dict({"prompt": prompt, "backend": "classic", "seed": 1, "handles": window.plan_handles})


def loaded(window, sample, qtbot) -> list:
    """The sample's shots, read if this test runs alone."""
    if window.edit is None:
        window.load(sample)
        qtbot.waitUntil(lambda: window._reading is None and window.table.rowCount() == 3, timeout=WAIT)
    return window.table.shots


@contextmanager
def anchored(window, hero):
    """The look anchor on with `hero` as its hero; off again after, and the look back to noir."""
    window.style_form.anchor.setChecked(True)
    window.set_hero(hero)
    try:
        yield
    finally:
        window.style_form.anchor.setChecked(False)
        window.set_hero(None)
        look(window, "noir")


def status(window) -> str:
    return window.statusBar().currentMessage()


def test_a_render_waits_for_the_timeline_being_read_and_holds_off_another(window, sample, qtbot, tmp_path):
    other = tmp_path / "other.otio"
    otio.adapters.write_to_file(otio.schema.Timeline("other"), str(other))
    look(window, "noir")
    window.engine.stop()  # the render below waits for an engine to start
    window.load(sample)
    window.render(window.table.shots)
    assert "Reading sample.otio: wait for its shots before rendering" in status(window) and window.batches == []
    qtbot.waitUntil(lambda: window._reading is None and window.table.rowCount() == 3, timeout=WAIT)
    window.render(window.table.shots)
    assert window.batches and window.batches[0].renderer is None, "the batch exists from the click"
    assert window.load(other) is False and "still rendering" in status(window)
    qtbot.waitUntil(lambda: not window.batches, timeout=WAIT)
    results = window.table.results
    assert [results[n].status for n in (1, 2, 3)] == ["done"] * 3
    assert all(results[n].output.parent == sample.parent / "sample_dreamstyle" / "renders" for n in (1, 2, 3))


def test_a_shot_still_rendering_is_left_to_its_batch(window, qtbot):
    look(window, "sepia")
    shot = window.table.shots[2]
    window.render([shot])
    window.restyle(shot, StyleSettings(prompt="comic", backend="classic", seed=1))
    assert len(window.batches) == 1 and f"{shot.name} still rendering: wait, or cancel it first" in status(window)
    qtbot.waitUntil(lambda: not window.batches, timeout=WAIT)
    assert window.table.results[3].status == "done" and window.table.results[3].look == "classic sepia"


def test_a_finished_shot_is_usable_at_once_and_cancel_all_leaves_it_done(window, qtbot):
    look(window, "pastel")
    shots = window.table.shots
    window.render(shots)
    results = window.table.results

    def one_done_others_rendering() -> bool:
        return any(results[n].look == "classic pastel" for n in results) and bool(window.rendering)

    qtbot.waitUntil(one_done_others_rendering, timeout=WAIT)
    done = [r for r in results.values() if r.look == "classic pastel"]
    assert done[0].status == "done" and probe(done[0].output).frames == done[0].shot.frames  # before the batch ends
    window.cancel(shots)
    qtbot.waitUntil(lambda: not window.batches, timeout=WAIT)
    assert all(results[r.shot.number].status == "done" for r in done), "a shot already done is not cancelled"
    assert window.renderer._cancelled == set()
    look(window, "watercolor")
    window.render(shots)
    qtbot.waitUntil(lambda: not window.batches, timeout=WAIT)
    assert [(results[s.number].status, results[s.number].look) for s in shots] == [("done", "classic watercolor")] * 3


def test_cancel_all_reaches_every_batch(window, qtbot, tmp_path):
    """Two batches rendering into two folders (the folder changed between them) have a renderer each."""
    look(window, "bleach-bypass")
    shots = window.table.shots
    window.engine.stop()  # neither batch has reached the engine when cancelled
    window.render(shots[:2])
    window.writeback.folder.setText(str(tmp_path / "elsewhere"))
    try:
        window.render(shots[2:])
        assert len(window.batches) == 2
        window.cancel(shots)
        qtbot.waitUntil(lambda: not window.batches, timeout=WAIT)
    finally:
        window.writeback.folder.setText("")
    results = window.table.results
    assert [(results[n].status, results[n].error) for n in (1, 2, 3)] == [("cancelled", "cancelled before it was sent")] * 3


def test_cancelling_the_hero_cancels_the_shots_waiting_for_its_look(window, qtbot):
    look(window, "cyberpunk")
    shots = window.table.shots
    window.engine.stop()
    window.set_hero(shots[1])
    try:
        window.render(shots)
        window.cancel([shots[1]])
        qtbot.waitUntil(lambda: not window.batches, timeout=WAIT)
    finally:
        window.style_form.anchor.setChecked(False)
        window.set_hero(None)
    assert [window.table.results[n].status for n in (1, 2, 3)] == ["cancelled"] * 3
    assert "failed" not in {r.status for r in window.table.results.values()}


def test_shots_cancelled_with_their_rendering_hero_render_when_asked_again(window, sample, qtbot, tmp_path):
    """A new renders folder (a new renderer, which has rendered none of them): the cancel reaches the hero's
    job and the shots waiting for its look, and holds for that render only."""
    shots = loaded(window, sample, qtbot)
    window.style_form.from_dict({"prompt": "noir", "backend": "classic", "seed": 41, "handles": window.plan_handles})
    window.writeback.folder.setText(str(tmp_path / "renders"))
    window.set_hero(shots[2])  # 84 frames: seconds of rendering
    try:
        window.render(shots[:2])
        qtbot.waitUntil(lambda: bool(window.batches) and 3 in getattr(window.batches[0].renderer, "_jobs", {}),
                        timeout=WAIT)  # the hero's job is on the engine
        window.cancel(shots)
        qtbot.waitUntil(lambda: not window.batches, timeout=WAIT)
        assert [window.table.results[n].status for n in (1, 2, 3)] == ["cancelled"] * 3
        window.style_form.anchor.setChecked(False)
        window.render(shots[:2])
        qtbot.waitUntil(lambda: not window.batches, timeout=WAIT)
    finally:
        window.writeback.folder.setText("")
        window.style_form.anchor.setChecked(False)
        window.set_hero(None)
    assert [window.table.results[n].status for n in (1, 2)] == ["done"] * 2, window.table.results[1].error


def test_the_version_track_is_named_after_the_looks_rendered(window, sample, qtbot):
    """Rendered with watercolor, one shot restyled sepia, the form then set to noir: noir is not on the track."""
    shots = window.table.shots
    look(window, "watercolor")
    window.render(shots)
    qtbot.waitUntil(lambda: not window.batches, timeout=WAIT)
    window.restyle(shots[0], StyleSettings(prompt="sepia", backend="classic", seed=1))
    qtbot.waitUntil(lambda: not window.batches, timeout=WAIT)
    look(window, "noir")
    before = set(sample.parent.glob("sample.dreamstyle-v*.otio"))
    window.write_back()
    qtbot.waitUntil(lambda: set(sample.parent.glob("sample.dreamstyle-v*.otio")) != before, timeout=WAIT)
    (written,) = set(sample.parent.glob("sample.dreamstyle-v*.otio")) - before
    track = list(otio.adapters.read_from_file(str(written)).video_tracks())[-1]
    assert track.name.endswith("classic sepia + classic watercolor") or track.name.endswith(
        "classic watercolor + classic sepia")
    assert [c.markers[0].name.split(": ")[1] for c in track.find_clips()] == [
        "classic sepia", "classic watercolor", "classic watercolor"]


def test_changed_handles_find_the_shots_again_then_render_them(window, qtbot):
    shot = window.table.shots[1]
    window.style_form.handles.setValue(2)
    try:
        window.render([shot])
        assert "Handles changed: finding the shots again, then rendering them" in status(window)
        qtbot.waitUntil(lambda: window.plan_handles == 2 and 2 in window.table.results and not window.batches,
                        timeout=WAIT)
    finally:
        window.style_form.handles.setValue(0)
    result = window.table.results[2]
    assert result.status == "done" and result.shot.head + result.shot.tail > 0
    assert probe(result.output).frames == result.shot.frames + result.shot.head + result.shot.tail


def test_a_timeline_folder_that_cannot_take_the_version_is_said_before_rendering(window, sample, qtbot, tmp_path):
    window.style_form.handles.setValue(window.plan_handles)
    window.writeback.folder.setText(str(tmp_path / "renders"))
    try:
        with read_only(sample.parent):
            window.render(window.table.shots)
    finally:
        window.writeback.folder.setText("")
    assert f"timeline folder {sample.parent}: not writable" in status(window) and window.batches == []


def test_the_hero_holds_across_a_handles_change_and_its_look_names_the_others(window, qtbot):
    """The anchored shots render from the hero's still, but under the look the editor chose."""
    look(window, "noir")
    shots = window.table.shots
    window.set_hero(shots[1])
    window.style_form.handles.setValue(window.plan_handles + 1)
    try:
        window.render([shots[0]])
        qtbot.waitUntil(lambda: window.plan_handles == window.style_form.handles.value() and not window.batches
                        and window._reading is None and 1 in window.table.results, timeout=WAIT)
        assert window.hero is not None and window.hero.number == 2
    finally:
        window.style_form.anchor.setChecked(False)
        window.set_hero(None)
    results = window.table.results
    assert [(results[n].status in ("done", "cached"), results[n].look) for n in (1, 2)] == [(True, "classic noir")] * 2


def test_a_batch_whose_engine_never_answers_fails_all_but_the_shots_cancelled(window, qtbot):
    box = window.engine
    box.stop()
    box.mode.setCurrentIndex(1)  # a remote engine where none listens
    box.address.setText("127.0.0.1:1")
    box.connect_timeout = 1.0
    shots = window.table.shots
    try:
        look(window, "comic")
        window.render(shots)
        window.cancel(shots[:1])
        assert "Cancelling 1 shot(s)" in status(window)
        qtbot.waitUntil(lambda: not window.batches, timeout=WAIT)
    finally:
        box.mode.setCurrentIndex(0)
    results = window.table.results
    assert [results[n].status for n in (1, 2, 3)] == ["cancelled", "failed", "failed"]
    assert "no engine answers at 127.0.0.1:1" in results[2].error


def test_a_batch_ending_after_a_later_render_of_its_shot_leaves_the_row_to_that_render(window, sample, qtbot,
                                                                                      monkeypatch):
    """Shot 1 finishes in batch A and is restyled in batch B, which ends at once (cached) while A still renders
    shot 3: A's end must not put its older render of shot 1 back in the row."""
    shots = loaded(window, sample, qtbot)
    earlier = StyleSettings(prompt="teal-orange", backend="classic", seed=1)
    window.restyle(shots[0], earlier)  # rendered now, so that B below is cached
    qtbot.waitUntil(lambda: not window.batches, timeout=WAIT)
    release, render_one = threading.Event(), Renderer._render_one

    def shot_3_held(self, shot, *args):  # batch A's shot 3 is sent once B has ended, however fast the machine
        if shot.number == 3:
            release.wait(WAIT / 1000)
        return render_one(self, shot, *args)

    monkeypatch.setattr(Renderer, "_render_one", shot_3_held)
    look(window, "cyberpunk")
    window.render([shots[0], shots[2]])
    results = window.table.results
    qtbot.waitUntil(lambda: results[1].look == "classic cyberpunk", timeout=WAIT)
    window.restyle(shots[0], earlier)
    assert len(window.batches) == 2
    qtbot.waitUntil(lambda: len(window.batches) == 1, timeout=WAIT)
    assert window.batches[0].open == {3}, "batch A still renders shot 3 after B ended"
    release.set()
    qtbot.waitUntil(lambda: not window.batches, timeout=WAIT)
    assert (results[1].status, results[1].look) == ("cached", "classic teal-orange")
    assert window.table.item(0, 8).text() == str(results[1].output)


def test_a_look_anchor_whose_hero_fails_sends_none_of_the_others(window, sample, qtbot):
    """The hero's render fails (a backend the engine cannot run): the others are not sent, each failed naming
    the hero and the engine's words."""
    shots = loaded(window, sample, qtbot)
    window.engine.ensure([], lambda client: None, window.error)  # the backends the engine lists reach the form
    qtbot.waitUntil(lambda: window.style_form.backend.findData("dreamstyle") >= 0, timeout=WAIT)
    window.style_form.from_dict({"prompt": "refused hero", "seed": 1, "handles": window.plan_handles})
    window.style_form.backend.setCurrentIndex(window.style_form.backend.findData("dreamstyle"))
    with anchored(window, shots[1]):
        window.render([shots[0], shots[2]])
        qtbot.waitUntil(lambda: not window.batches, timeout=WAIT)
    results = window.table.results
    assert {results[n].status for n in (1, 2, 3)} == {"failed"}
    assert "backend 'dreamstyle' cannot run on this engine" in results[2].error
    assert all(results[n].error.startswith(f"not sent: the look anchor {shots[1].name} failed") for n in (1, 3))


def test_a_look_anchor_whose_hero_is_refused_ends_every_shot_and_renders_when_asked_again(window, sample, qtbot):
    """The engine refuses the run's settings at the hero's submit (its render raises, not fails): the batch
    ends, every shot failed with the refusal, their held cancels spent; the same shots render when asked again."""
    shots = loaded(window, sample, qtbot)
    window.style_form.from_dict({"prompt": "a cat in space", "backend": "classic", "seed": 1,
                                 "handles": window.plan_handles})
    with anchored(window, shots[1]):
        window.render([shots[0], shots[2]])
        qtbot.waitUntil(lambda: not window.batches, timeout=WAIT)
        results = window.table.results
        assert [results[n].status for n in (1, 2, 3)] == ["failed"] * 3
        assert all("refused this run's settings: guidance: the classic backend only knows the named looks"
                   in results[n].error for n in (1, 2, 3))
        assert {1, 2, 3} <= window.renderer._ended and not window.renderer._cancelled, "no cancel left to hold"
        look(window, "sepia")
        window.style_form.anchor.setChecked(True)
        window.render([shots[0], shots[2]])
        qtbot.waitUntil(lambda: not window.batches, timeout=WAIT)
    assert [(results[n].status, results[n].look) for n in (1, 2, 3)] == [("done", "classic sepia")] * 3
