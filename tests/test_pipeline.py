"""End to end: timeline files in, a real engine on 127.0.0.1, rendered clips and a version timeline out."""

import hashlib
import json
import re
import shutil
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest
from opentimelineio.opentime import RationalTime, TimeRange

from dreamstyle.frames import iter_frames, probe
from dreamstyle.pathmap import PathMap
from enginehelp import engine_thread
from host_plugin.cli import main
from host_plugin.local_engine import LocalEngine
from host_plugin.timeline.media import url_to_path
from host_plugin.timeline.timecode import from_timecode
from edits import R, clip_of, cut_of, write_edit
from mediagen import damage_frame, frame_number, png_header, write_video
from readonly import read_only

@pytest.fixture(scope="module")
def edit(tmp_path_factory):
    return write_edit(tmp_path_factory.mktemp("edit"))


@pytest.fixture(scope="module")
def engine(tmp_path_factory, edit):
    with engine_thread(tmp_path_factory.mktemp("state"), [edit.parent.parent]) as address:
        yield address


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_stylize_renders_every_shot_frame_exact_and_writes_a_version(edit, engine, tmp_path, capsys):
    before = _digest(edit)
    out = tmp_path / "out"
    code = main(["stylize", str(edit), "--engine", engine, "--backend", "passthrough", "--prompt", "x", "--out", str(out), "--handles", "3"])
    assert code == 0, capsys.readouterr()
    assert _digest(edit) == before
    written = edit.with_name("edit.dreamstyle-v1.otio")
    timeline = otio.adapters.read_from_file(str(written))
    names = [t.name for t in timeline.tracks]
    assert names[0] == "V1" and names[1].startswith("DreamStyle v1") and names[2] == "A1"
    source_track, version_track = timeline.tracks[0], timeline.tracks[1]
    rendered = [c for c in version_track.find_clips()]
    assert len(rendered) == 3
    expected = [(10, 50, (3, 0)), (50, 110, (0, 3)), (5, 65, (3, 3))]
    for item, (start, end, (head, tail)) in zip(rendered, expected):
        media = Path(otio.url_utils.filepath_from_url(item.media_reference.target_url))
        assert probe(media).frames == end - start + head + tail
        assert probe(media).rate == Fraction(24000, 1001)
        numbers = [frame_number(f) for f in iter_frames(media)]
        assert numbers == list(range(start - head, end + tail))
        assert item.source_range == TimeRange(RationalTime(head, R), RationalTime(end - start, R))
    # Each rendered clip sits exactly at its shot's record range, aligned with the source clips.
    assert [c.range_in_parent() for c in rendered] == [
        TimeRange(RationalTime(0, R), RationalTime(40, R)),
        TimeRange(RationalTime(40, R), RationalTime(60, R)),
        TimeRange(RationalTime(112, R), RationalTime(60, R)),
    ]
    assert source_track.find_clips()[1].range_in_parent() == rendered[2].range_in_parent()
    sheet = out / "edit.dreamstyle-v1_contact_sheet.png"  # named as its version
    assert sheet.stat().st_size > 1000

    # A re-run renders nothing again and writes a new version beside the first, never over it.
    first, first_sheet = _digest(written), _digest(sheet)
    assert main(["stylize", str(edit), "--engine", engine, "--backend", "passthrough", "--prompt", "x", "--out", str(out), "--handles", "3"]) == 0
    assert "cached" in capsys.readouterr().out
    assert _digest(written) == first and edit.with_name("edit.dreamstyle-v2.otio").exists()
    assert _digest(sheet) == first_sheet and (out / "edit.dreamstyle-v2_contact_sheet.png").is_file()


def test_aaf_in_gives_aaf_out(edit, engine, tmp_path):
    timeline = otio.adapters.read_from_file(str(edit))
    timeline.tracks[:] = [timeline.tracks[0].deepcopy()]
    aaf = tmp_path / "cut.aaf"
    otio.adapters.write_to_file(timeline, str(aaf), adapter_name="AAF", use_empty_mob_ids=True)
    assert main(["stylize", str(aaf), "--engine", engine, "--backend", "passthrough", "--prompt", "x", "--no-detect"]) == 0
    back = otio.adapters.read_from_file(str(tmp_path / "cut.dreamstyle-v1.aaf"), adapter_name="AAF")
    version = back.video_tracks()[1].find_clips()
    assert [c.source_range.duration.value for c in version] == [100, 60]


def test_fcp7_xml_in_gives_fcp7_xml_out_with_format(edit, engine, tmp_path):
    xml = tmp_path / "cut.xml"
    otio.adapters.write_to_file(otio.adapters.read_from_file(str(edit)), str(xml), adapter_name="fcp_xml")
    assert main(["stylize", str(xml), "--engine", engine, "--backend", "passthrough", "--prompt", "x", "--no-detect"]) == 0
    result = tmp_path / "cut.dreamstyle-v1.xml"
    text = result.read_text()
    assert "<format>" in text and "<samplecharacteristics>" in text
    back = otio.adapters.read_from_file(str(result), adapter_name="fcp_xml")
    assert len(back.video_tracks()) == 2 and len(back.video_tracks()[1].find_clips()) == 2


def test_edl_media_found_by_name_in_media_dir(edit, engine, tmp_path, capsys):
    timeline = otio.adapters.read_from_file(str(edit))
    timeline.tracks[:] = [timeline.tracks[0].deepcopy()]
    edl = tmp_path / "cut.edl"
    otio.adapters.write_to_file(timeline, str(edl), adapter_name="cmx_3600")
    edl.write_text(edl.read_text().replace(str(edit.parent / "media"), "/offline/volume"))
    args = ["stylize", str(edl), "--engine", engine, "--backend", "passthrough", "--prompt", "x", "--no-detect"]
    assert main(args) == 1  # offline media: reported, nothing rendered
    assert "relink with --media-dir" in capsys.readouterr().out
    assert not (tmp_path / "cut_dreamstyle").exists()  # and no empty output folder left behind
    assert main([*args, "--media-dir", str(edit.parent / "media")]) == 0
    assert (tmp_path / "cut.dreamstyle-v1.otio").exists()


def test_one_bad_clip_does_not_sink_the_others(edit, engine, tmp_path, capsys):
    timeline = otio.adapters.read_from_file(str(edit))
    timeline.tracks[0][0].media_reference.target_url = str(tmp_path / "gone.mp4")
    broken = tmp_path / "broken.otio"
    otio.adapters.write_to_file(timeline, str(broken))
    assert main(["stylize", str(broken), "--engine", engine, "--backend", "passthrough", "--prompt", "x"]) == 1
    out = capsys.readouterr().out
    assert "clip A: media" in out and "gone.mp4" in out
    written = otio.adapters.read_from_file(str(tmp_path / "broken.dreamstyle-v1.otio"))
    assert len(written.tracks[1].find_clips()) == 1


@pytest.mark.parametrize("codec, frame, statuses, said", [
    ("prores_ks", 5, ["failed", "done"], "A001.mov: frame 5 is damaged"),  # decoded, its errors concealed
    ("libx264", 30, ["done", "failed"], "A001.mov: decoding failed near frame"),  # a slice the decoder refuses
])
def test_a_damaged_frame_fails_its_shot_and_the_clips_other_shots_render(engine, tmp_path, capsys, monkeypatch, codec,
                                                                         frame, statuses, said):
    """Cut detection reads past the damage; the render refuses the shot that holds it, naming the file."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # detect here, not from an earlier run's cache
    media = write_video(tmp_path / "A001.mov", [24, 24], width=320, height=180, codec=codec, gop=24)
    cut = cut_of(tmp_path / "damaged.otio", [clip_of("A001", damage_frame(media, frame), 0, 48, 48)])
    args = ["stylize", str(cut), "--engine", engine, "--backend", "passthrough", "--prompt", "x", "--format", "json"]
    assert main(args) == 1
    shots = json.loads(capsys.readouterr().out)["shots"]
    assert [s["status"] for s in shots] == statuses, shots
    error = shots[statuses.index("failed")]["error"]
    assert said in error and "again from the camera card or the backup" in error, error


def test_long_names_in_any_script_give_one_render_each(engine, tmp_path, capsys):
    """A clip name of 100 CJK characters is 300 bytes: cut to fit a file name, each shot keeps its own file."""
    media = write_video(tmp_path / "media" / "a.mp4", [40], width=64, height=36)
    cut = cut_of(tmp_path / "cjk.otio", [clip_of("長" * 100, media, 0, 10, 40), clip_of("長" * 100, media, 20, 10, 40)])
    args = ["stylize", str(cut), "--engine", engine, "--backend", "passthrough", "--prompt", "x", "--no-detect"]
    assert main(args) == 0, capsys.readouterr()
    assert len(list((tmp_path / "cjk_dreamstyle" / "renders").iterdir())) == 2


def test_a_clip_name_with_punctuation_is_found_rendered_on_the_next_run(engine, tmp_path, capsys):
    """Host and engine make one file name from a shot's name, so a second run finds the first run's render."""
    media = write_video(tmp_path / "media" / "a.mp4", [20], width=64, height=36)
    cut = cut_of(tmp_path / "names.otio", [clip_of("Take (1) #2 & 'best' [A]", media, 0, 10, 20)])
    args = ["stylize", str(cut), "--engine", engine, "--backend", "passthrough", "--prompt", "x", "--no-detect",
            "--format", "json"]
    statuses = []
    for _ in range(2):
        assert main(args) == 0
        statuses.append([s["status"] for s in json.loads(capsys.readouterr().out)["shots"]])
    assert statuses == [["done"], ["cached"]]


def test_clear_errors_for_bad_settings_and_no_engine(edit, tmp_path, capsys):
    not_an_image = tmp_path / "style.png"
    not_an_image.write_text("hello")
    assert main(["stylize", str(edit), "--style-image", str(not_an_image)]) == 2
    assert "style image" in capsys.readouterr().err
    poster = png_header(tmp_path / "poster.png", 20000, 20000)  # a traceback from PIL's pixel limit
    assert main(["stylize", str(edit), "--style-image", str(poster)]) == 2
    assert f"style image {poster}: more pixels than an image reader should decode" in capsys.readouterr().err
    assert main(["stylize", str(edit), "--engine", "127.0.0.1:9", "--prompt", "noir"]) == 2
    assert "no engine answers at 127.0.0.1:9" in capsys.readouterr().err
    for seed in ("-1", str(2**64)):  # the proto's uint64: a traceback at the first submit
        with pytest.raises(SystemExit) as refused:
            main(["stylize", str(edit), "--prompt", "noir", "--seed", seed])
        assert refused.value.code == 2 and f"argument --seed: {seed} is outside 0..{2**64 - 1}" in capsys.readouterr().err


@pytest.mark.parametrize("settings,refusal", [
    (["--prompt", "noir", "--param", "overlap=abc"], "params: "),
    (["--prompt", "noir", "--param", "strenght=0.5"],  # misspelt: it would have been ignored by every shot
     "params['strenght']: the classic backend takes no such param; it takes color_match, overlap, strength"),
    (["--prompt", "a cat in space"], "guidance: the classic backend only knows the named looks"),
    ([], "guidance: backend 'classic' needs a guidance"),
])
def test_a_setting_the_engine_refuses_for_every_shot_stops_the_run(edit, engine, tmp_path, capsys, settings, refusal):
    """The engine answers INVALID_ARGUMENT naming params or guidance: a setting error of the whole run (exit 2,
    said once), not one failure per shot."""
    versions = set(edit.parent.glob("edit.dreamstyle-v*"))
    out = tmp_path / "out"
    assert main(["stylize", str(edit), "--engine", engine, "--no-detect", "--out", str(out), *settings]) == 2
    captured = capsys.readouterr()
    said = f"dreamstyle: error: the engine at {engine} refused this run's settings: {refusal}"
    assert captured.err.count(said) == 1 and captured.err.count(refusal) == 1, captured.err
    assert "failed" not in captured.err and captured.out == "", "no per-shot failures, no summary"
    assert list((out / "renders").iterdir()) == [] and set(edit.parent.glob("edit.dreamstyle-v*")) == versions


def test_a_timeline_in_a_read_only_folder_is_refused_before_any_render(edit, engine, tmp_path, capsys):
    """The version timeline goes beside the timeline: a folder that cannot take it is said at once, not after
    every shot rendered."""
    folder = tmp_path / "delivered"
    folder.mkdir()
    timeline = Path(shutil.copy(edit, folder))
    out = tmp_path / "out"
    with read_only(folder):
        args = ["stylize", str(timeline), "--engine", engine, "--backend", "passthrough", "--prompt", "x", "--out", str(out)]
        assert main(args) == 2
    err = capsys.readouterr().err
    assert f"dreamstyle: error: timeline folder {folder}: not writable, and the version timeline is written beside" in err
    assert "copy the timeline to a folder you can write to" in err and not out.exists()


def test_a_streamed_run_uploads_each_media_file_once(edit, tmp_path, capsys):
    """Clip A's two shots (a cut inside it) render on their own threads: one upload of a.mp4 serves both,
    and the run again."""
    state = tmp_path / "state"
    with engine_thread(state, [tmp_path]) as address:
        args = ["stylize", str(edit), "--engine", address, "--transfer", "stream", "--backend", "passthrough",
                "--prompt", "x", "--out", str(tmp_path / "out"), "--format", "json"]
        assert main(args) == 0
        shots = json.loads(capsys.readouterr().out)["shots"]
        shutil.rmtree(tmp_path / "out")  # the next run (another workstation, say) finds the engine's copies
        assert main(args) == 0
    uploads = sorted(p.name for folder in (state / "uploads").iterdir() for p in folder.glob("[!.]*"))
    assert len(shots) == 3 and uploads == ["a.mp4", "b.mp4"]


def test_overlapping_renders_on_one_renderer_keep_their_own_refusals_and_cancels(edit, engine, tmp_path):
    """The panel's batches share a renderer: a restyle refused for its params stops only itself, and a cancel
    that arrives after its shot's render ended does not cancel the shot's next render."""
    import threading

    from host_plugin.client import EngineClient, RunSettingRefused
    from host_plugin.pipeline import Renderer, StyleSettings, load_edit, plan_edit

    shots = plan_edit(load_edit(edit), None).shots
    with EngineClient(engine) as client:
        renderer = Renderer(client, tmp_path / "out")
        batch: list[object] = []
        first = threading.Thread(target=lambda: batch.append(
            renderer.render(shots, StyleSettings(backend="passthrough", prompt="first"))))
        first.start()
        with pytest.raises(RunSettingRefused, match="overlap"):
            renderer.render(shots[:1], StyleSettings(backend="passthrough", prompt="x", params={"overlap": "0"}))
        first.join(120)
        assert [r.status for r in batch[0]] == ["done"] * len(shots), "the other render was not stopped by that refusal"
        renderer.cancel(shots[0])  # late: its render has ended
        again = renderer.render(shots[:1], StyleSettings(backend="passthrough", prompt="second"))
    assert [r.status for r in again] == ["done"]


def test_a_renders_folder_that_cannot_be_written_is_said_once_before_any_shot(edit, engine, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "renders").mkdir(parents=True)
    with read_only(out / "renders"):
        args = ["stylize", str(edit), "--engine", engine, "--backend", "passthrough", "--prompt", "x", "--out", str(out)]
        assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count(f"renders folder {out / 'renders'}: not writable; make it writable or choose another") == 1
    assert "failed" not in err


def test_a_version_timeline_that_cannot_be_written_names_the_folder_and_keeps_the_renders(edit, tmp_path):
    from host_plugin.errors import TimelineError
    from host_plugin.pipeline import ShotResult, load_edit, plan_edit
    from host_plugin.timeline.writeback import write_version

    folder = tmp_path / "delivered"
    folder.mkdir()
    timeline = Path(shutil.copy(edit, folder))
    loaded = load_edit(timeline, [edit.parent / "media"])
    plan = plan_edit(loaded, None)
    rendered = [ShotResult(plan.shots[0], "done", plan.shots[0].media)]
    with read_only(folder), pytest.raises(TimelineError, match="the renders are kept: make that folder writable"):
        write_version(timeline, loaded.timeline, rendered, "look", plan.rate)
    assert list(folder.iterdir()) == [timeline]


def test_a_second_run_into_the_same_folder_is_told_to_wait(edit, tmp_path, capsys):
    """Two runs of one timeline at once: the second's local engine finds the first's holding the output folder."""
    out = tmp_path / "out"
    with LocalEngine(out / ".engine", [tmp_path]):  # the first run's engine
        assert main(["stylize", str(edit), "--prompt", "noir", "--no-detect", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"dreamstyle: error: another dreamstyle run is rendering into {out}; wait for it to finish or use another --out" in err
    assert "--state-dir" not in err


def test_cancelling_shots_before_they_reach_the_engine(edit, engine, tmp_path):
    from host_plugin.client import EngineClient
    from host_plugin.pipeline import Renderer, StyleSettings, load_edit, plan_edit

    shots = plan_edit(load_edit(edit), detection=None).shots
    with EngineClient(engine) as client:
        renderer = Renderer(client, tmp_path)
        renderer.cancel(shots[0])
        results = renderer.render(shots, StyleSettings(backend="passthrough", seed=99))
        assert [r.status for r in results] == ["cancelled", "done"]
        renderer.cancel(shots[1])  # its render has ended: the cancel is dropped, not kept for the next one
        assert [r.status for r in renderer.render(shots, StyleSettings(backend="passthrough", seed=98))] == ["done"] * 2
        renderer.expect(shots[1:])  # a render about to start on another thread takes cancels from now on
        renderer.cancel(shots[1])
        assert [r.status for r in renderer.render(shots, StyleSettings(backend="passthrough", seed=97))] == [
            "done", "cancelled"]


def test_media_gone_since_the_timeline_was_read_fails_its_shot_in_words(edit, engine, tmp_path):
    """The panel reads the timeline, then a drive is unmounted or a file moved before the render."""
    from host_plugin.client import EngineClient
    from host_plugin.pipeline import Renderer, StyleSettings, load_edit, plan_edit

    shots = plan_edit(load_edit(edit), detection=None).shots
    moved = replace(shots[0], media=tmp_path / "a.mp4")  # as read, before the file went
    with EngineClient(engine) as client:
        results = Renderer(client, tmp_path / "out").render([moved, shots[-1]], StyleSettings(backend="passthrough"))
    assert [r.status for r in results] == ["failed", "done"]
    assert results[0].error == (f"shot A_s001: {moved.media}: file not found (offline media?). Relink it with --media-dir "
                                "or a path map (in the panel: Add search folder, Add path mapping).")


def test_a_cancel_for_a_later_render_of_a_shot_holds_while_an_earlier_render_goes_on(edit, engine, tmp_path):
    """The panel: shot 1 ends in batch A, which goes on with shot 2; batch B renders shot 1 again and the editor
    cancels it after A has ended. A's end must not spend B's cancel."""
    import threading

    from host_plugin.client import EngineClient
    from host_plugin.pipeline import Renderer, StyleSettings, load_edit, plan_edit

    first, second = plan_edit(load_edit(edit), detection=None).shots
    first_ended, go_on = threading.Event(), threading.Event()

    def on_update(update) -> None:
        if update.shot is first and update.status in ("done", "cached"):
            first_ended.set()
        if update.shot is second:
            go_on.wait(30)  # batch A holds on shot 2 until batch B has begun

    with EngineClient(engine) as client:
        renderer = Renderer(client, tmp_path)
        batch_a = threading.Thread(target=renderer.render,
                                   args=([first, second], StyleSettings(backend="passthrough", seed=71), on_update))
        batch_a.start()
        assert first_ended.wait(60)
        renderer.expect([first])  # batch B begins, as the panel's does: its thread has not started yet
        go_on.set()
        batch_a.join(60)
        renderer.cancel(first)
        (result,) = renderer.render([first], StyleSettings(backend="passthrough", seed=72))
    assert result.status == "cancelled"


def test_a_client_naming_the_engines_own_folders_gets_its_clips_from_an_engine_with_a_path_map(edit, tmp_path, capsys):
    """An engine mapping /Volumes/Show (the Macs') to its own folder, asked by a client on a machine that mounts
    that folder at the engine's path: results mapped back to /Volumes/Show must not send it looking there."""
    out = tmp_path / "out"
    with engine_thread(tmp_path / "state", [edit.parent, tmp_path], path_maps=[PathMap.of("/Volumes/Show", str(tmp_path))]) as address:
        assert main(["stylize", str(edit), "--engine", address, "--backend", "passthrough", "--out", str(out),
                     "--no-detect", "--format", "json"]) == 0, capsys.readouterr().err
    report = json.loads(capsys.readouterr().out)
    assert all(Path(s["output"]).parent == out / "renders" and Path(s["output"]).is_file() for s in report["shots"])


def test_clip_names_that_are_file_names_or_paths_give_one_render_each_inside_the_renders_folder(edit, engine, tmp_path, capsys):
    """NLEs name clips after their files (A001.mov); a name may hold folders or run long. Each shot still
    gets its own render, in the renders folder."""
    media = edit.parent / "media" / "b.mp4"
    names = ["A001.mov", "A001.mov", "../../escaped", "Scene 1/2 take", "x" * 250]
    timeline = otio.schema.Timeline("names", global_start_time=otio.opentime.from_timecode("01:00:00:00", R))
    track = otio.schema.Track("V1")
    for index, name in enumerate(names):
        track.append(clip_of(name, media, index * 10, 8 + index, 90))
    timeline.tracks.append(track)
    cut = tmp_path / "edit" / "names.otio"
    cut.parent.mkdir()
    otio.adapters.write_to_file(timeline, str(cut))
    out = tmp_path / "out"
    assert main(["stylize", str(cut), "--engine", engine, "--backend", "passthrough", "--out", str(out), "--no-detect"]) == 0, capsys.readouterr()
    renders = sorted((out / "renders").iterdir())
    assert len(renders) == len(names) and all(p.is_file() for p in renders)
    assert sorted(probe(p).frames for p in renders) == [8 + i for i in range(len(names))]
    assert {p.name for p in tmp_path.rglob("*.mp4")} == {p.name for p in renders}, "nothing written outside renders/"
    version = otio.adapters.read_from_file(str(cut.with_name("names.dreamstyle-v1.otio")))
    used = [Path(url_to_path(c.media_reference.target_url)) for c in version.tracks[1].find_clips()]
    assert len(set(used)) == len(names) and all(probe(p).frames == c.source_range.duration.to_frames()
                                                for p, c in zip(used, version.tracks[1].find_clips()))


@pytest.mark.parametrize("rate,start_tc", [(Fraction(120000, 1001), "01:00:00:00"), (Fraction(100), "01:00:00:00"),
                                           (Fraction(15), "01:00:00:00"), (Fraction(30000, 1001), "01:00:00:00"),
                                           (Fraction(30000, 1001), "01:00:00;00")])
def test_renders_carry_the_source_timecode_in_its_own_mode(engine, tmp_path, capsys, rate, start_tc):
    """OTIO's SMPTE timecode knows neither 119.88, 100 nor 15 fps: such media and timelines count non-drop.
    29.97 media keeps its drop-frame or non-drop timecode (cameras record either)."""
    media = write_video(tmp_path / "media" / "tc.mov", [30], rate=rate, timecode=start_tc, width=64, height=36)
    timeline = otio.schema.Timeline("tc", global_start_time=RationalTime(0, float(rate)))
    track = otio.schema.Track("V1")
    ref = otio.schema.ExternalReference(str(media))
    start = from_timecode(start_tc, float(rate)).value + 5
    track.append(otio.schema.Clip("tc", media_reference=ref,
                                  source_range=TimeRange(RationalTime(start, float(rate)), RationalTime(20, float(rate)))))
    timeline.tracks.append(track)
    cut = tmp_path / "tc.otio"
    otio.adapters.write_to_file(timeline, str(cut))
    code = main(["stylize", str(cut), "--engine", engine, "--backend", "passthrough", "--out", str(tmp_path / "out"), "--no-detect"])
    assert code == 0, capsys.readouterr()
    (render,) = (tmp_path / "out" / "renders").iterdir()
    tc = probe(render).timecode  # FFmpeg writes three digits of frames from 100 fps up
    assert tc in (start_tc[:-2] + "05", start_tc[:-2] + "005") and probe(render).frames == 20
    assert re.search(r"00:00:00[:;]00", capsys.readouterr().out)  # the report's record timecodes


def test_bad_command_lines_are_usage_errors_in_words(edit, tmp_path, capsys):
    """Exit 2 and one line naming the file, never a traceback, and before any engine starts."""
    (tmp_path / "folder").mkdir()
    blocker = tmp_path / "a file"
    blocker.write_text("")
    (tmp_path / "empty-token").write_text("\r\n")
    cases = [
        (["stylize", str(edit), "--engine", "127.0.0.1:1", "--token-file", str(tmp_path / "empty-token")],
         "empty-token (--token-file) is empty"),
        (["shots", str(tmp_path / "folder")], "not a file"),
        (["shots", str(tmp_path / "missing.mp4")], "file not found"),
        (["stylize", str(edit), "--engine", "127.0.0.1:1", "--token-file", str(tmp_path / "no-token")], "no-token"),
        (["stylize", str(edit), "--out", str(blocker / "out"), "--no-detect"], "choose one you can write to"),
        (["stylize", str(edit), "--out", str(tmp_path / "o"), "--no-detect", "--backend", "nosuch"], "'nosuch': the engine"),
        (["stylize", str(edit), "--out", str(tmp_path / "o"), "--no-detect", "--backend", "dreamstyle", "--prompt", "x"],
         "cannot run on the engine"),
    ]
    for argv, needle in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert needle in err and "Traceback" not in err, err
    for argv in (["stylize", str(edit), "--handles", "-5"], ["stylize", str(edit), "--priority", "5000"],
                 ["shots", str(edit), "--media-dir", str(tmp_path / "nowhere")],
                 ["shots", str(edit), "--form", "json"]):  # no abbreviations: a later --form-... would change it
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2


def test_restyling_a_version_timeline_leaves_its_earlier_versions_alone(edit, engine, tmp_path, capsys):
    """Stylizing `edit.dreamstyle-v1.otio` restyles the source track, not the v1 renders too."""
    out = tmp_path / "out"
    assert main(["stylize", str(edit), "--engine", engine, "--backend", "passthrough", "--out", str(out), "--no-detect"]) == 0
    capsys.readouterr()
    version = max(edit.parent.glob("edit.dreamstyle-v*.otio"), key=lambda p: p.stat().st_mtime)
    assert main(["shots", str(version), "--format", "json", "--no-detect"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {Path(s["media"]).parent.name for s in data["shots"]} == {"media"}, "no render is planned again"
    assert any(": DreamStyle version " in s for s in data["skipped"])


def test_stylize_reports_json_for_scripts(edit, engine, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["stylize", str(edit), "--engine", engine, "--backend", "passthrough", "--out", str(out),
                 "--no-detect", "--format", "json"]) == 0
    said = capsys.readouterr()
    report = json.loads(said.out)  # stdout is the JSON alone; progress went to stderr
    assert "all shots" in said.err and not any(s["shot"] in said.err for s in report["shots"]), "no row of a shot ended"
    assert [s["status"] for s in report["shots"]] in (["done", "done"], ["cached", "cached"], ["done", "cached"], ["cached", "done"])
    assert all(Path(s["output"]).is_file() and probe(Path(s["output"])).frames == s["frames"] for s in report["shots"])
    assert report["shots"][0]["record_in"] == "01:00:00:00" and Path(report["version_timeline"]).is_file()
    assert report["problems"] == [] and Path(report["contact_sheet"]).is_file()
    assert report["contact_sheets"] == [report["contact_sheet"]]


def test_a_long_edits_contact_sheets_hold_a_hundred_shots_each(edit, engine, tmp_path, monkeypatch):
    """A feature's 2000 shots in one image took 1.2 GB to draw and made a PNG viewers refuse."""
    from PIL import Image

    from host_plugin import contact_sheet
    from host_plugin.pipeline import StyleSettings
    from host_plugin.stylize import EngineSettings, stylize

    monkeypatch.setattr(contact_sheet, "ROWS_PER_SHEET", 1)  # two shots: two sheets
    report = stylize(edit, StyleSettings(backend="passthrough", seed=5), engine=EngineSettings(engine),
                     out_dir=tmp_path / "out", detection=None)
    first = tmp_path / "out" / f"{report.timeline_out.stem}_contact_sheet.png"
    assert report.contact_sheets == [first, first.with_name(f"{first.stem}_2.png")]
    assert [Image.open(sheet).height for sheet in report.contact_sheets] == [8 + 180 + 22 + 8] * 2  # a row each


def test_clip_names_and_folders_are_printed_as_they_are(edit, engine, tmp_path, capsys):
    """Square brackets in a clip name or a folder are no markup: "[/graded]" crashed the summary, "[red]" vanished."""
    media = edit.parent / "media" / "b.mp4"
    cut = cut_of(tmp_path / "brackets.otio", [clip_of("A001 [/graded]", media, 0, 8, 90),
                                            clip_of("B002 [red]REVIEW", media, 10, 8, 90)])
    out = tmp_path / "out[/old]"
    assert main(["stylize", str(cut), "--engine", engine, "--backend", "passthrough", "--out", str(out),
                 "--no-detect"]) == 0
    said = capsys.readouterr()
    printed = said.out.replace("\n", "").replace("│", "").replace(" ", "")  # the table may wrap a long cell
    assert "A001[/graded]_s001" in printed and "B002[red]REVIEW_s002" in printed
    assert f"renders:          {out / 'renders'}" in said.out


def test_a_range_the_edit_uses_twice_renders_once_and_is_cached_on_a_rerun(edit, engine, tmp_path, capsys):
    """A repeated shot (a flashback) is one job: both clips get its render, and a re-run renders nothing."""
    media = edit.parent / "media" / "b.mp4"
    cut = cut_of(tmp_path / "twice.otio", [clip_of("B", media, 7, 20, 90), clip_of("B again", media, 7, 20, 90)])
    args = ["stylize", str(cut), "--engine", engine, "--backend", "passthrough", "--prompt", "twice", "--no-detect",
            "--format", "json"]
    from host_plugin.client import EngineClient

    with EngineClient(engine) as client:
        jobs = len(client.list_jobs())
        runs = []
        for _ in range(2):
            assert main(args) == 0
            runs.append(json.loads(capsys.readouterr().out)["shots"])
        assert len(client.list_jobs()) == jobs + 1, "one job for the range"
    assert [s["status"] for s in runs[1]] == ["cached", "cached"]
    assert all(probe(Path(s["output"])).frames == 20 for s in runs[0] + runs[1])
