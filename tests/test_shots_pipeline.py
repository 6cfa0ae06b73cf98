"""Detected transitions through the pipeline: shot plan, `dreamstyle shots` JSON and the written timeline."""

from __future__ import annotations

import json
from fractions import Fraction

import opentimelineio as otio
import pytest
from opentimelineio.opentime import RationalTime, TimeRange

from dreamstyle.frames import probe
from enginehelp import engine_thread
from host_plugin.cli import main
from host_plugin.pipeline import ShotResult, load_edit, plan_edit
from host_plugin.shots import DetectionSettings
from host_plugin.timeline.writeback import write_version
from mediagen import write_video
from shotgen import synthetic, write_edit

R = 24000 / 1001


@pytest.fixture(scope="module")
def dissolve_edit(tmp_path_factory):
    """One clip over media frames [5, 150) of a file holding a 16-frame dissolve and a 12-frame fade."""
    root = tmp_path_factory.mktemp("dissolve")
    media = root / "media" / "d.mp4"
    media.parent.mkdir()
    truth = write_edit(media, [(synthetic(s), 50) for s in range(3)], [("dissolve", 16), ("fade", 12)])
    reference = otio.schema.ExternalReference(str(media), TimeRange(RationalTime(0, R), RationalTime(truth.frames, R)))
    clip = otio.schema.Clip("D", reference, TimeRange(RationalTime(5, R), RationalTime(145, R)))
    timeline = otio.schema.Timeline("edit", global_start_time=otio.opentime.from_timecode("01:00:00:00", R))
    timeline.tracks.append(otio.schema.Track("V1", children=[clip]))
    path = root / "edit.otio"
    otio.adapters.write_to_file(timeline, str(path))
    return path, truth


def test_a_dissolve_splits_the_clip_and_both_shots_run_through_it(dissolve_edit, tmp_path):
    path, truth = dissolve_edit
    plan = plan_edit(load_edit(path), DetectionSettings(cache_dir=tmp_path))
    (dissolve_start, dissolve_end), (fade_start, fade_end) = [(s, e) for _, s, e in truth.transitions]
    middle, fade_middle = (dissolve_start + dissolve_end) // 2, (fade_start + fade_end) // 2
    kinds = [(t.kind, t.start_frame, t.end_frame) for t in plan.transitions]
    assert [k for k, _, _ in kinds] == ["dissolve", "fade"]
    assert abs(kinds[0][1] - dissolve_start) <= 3 and abs(kinds[0][2] - dissolve_end) <= 3
    first, second, third = plan.shots
    joined = second.transition_in
    assert (first.start, first.end, second.start) == (5, (joined.start_frame + joined.end_frame) // 2, first.end)
    assert abs(first.end - middle) <= 3 and abs(second.end - fade_middle) <= 1
    assert (first.head, first.tail) == (0, joined.end_frame - first.end)  # runs on through the dissolve
    assert (second.head, second.tail) == (second.start - joined.start_frame, 0)  # starts at the dissolve's start
    assert third.transition_in is None and (third.head, third.tail) == (0, 0)  # a fade is rendered as it is


@pytest.mark.parametrize("suffix", [".otio", ".xml"])
def test_the_written_timeline_cross_dissolves_the_styled_shots(dissolve_edit, tmp_path, suffix):
    path, _ = dissolve_edit
    edit = load_edit(path)
    plan = plan_edit(edit, DetectionSettings(cache_dir=tmp_path))
    results = [
        ShotResult(shot, "done", write_video(tmp_path / f"{shot.name}.mp4", [shot.head + shot.frames + shot.tail]))
        for shot in plan.shots
    ]
    source = tmp_path / f"edit{suffix}"  # the input's format decides the output's: FCP7 XML keeps the dissolve too
    written = otio.adapters.read_from_file(str(write_version(source, edit.timeline, results, "look", Fraction(R))))
    version = written.video_tracks()[1]
    items = list(version)
    assert [type(i).__name__ for i in items] == ["Clip", "Transition", "Clip", "Clip"]
    joined = plan.shots[1].transition_in
    transition = items[1]
    assert transition.in_offset + transition.out_offset == RationalTime(joined.end_frame - joined.start_frame, R)
    assert transition.in_offset == RationalTime(plan.shots[1].head, R)
    assert transition.out_offset == RationalTime(plan.shots[0].tail, R)
    if suffix == ".otio":
        assert transition.metadata["dreamstyle"]["detected"] == "dissolve"
    for item, shot in zip([items[0], items[2], items[3]], plan.shots):
        assert item.source_range == TimeRange(RationalTime(shot.head, R), RationalTime(shot.frames, R))
        assert version.range_of_child(item).start_time == shot.record.start_time


def test_shots_command_reports_transitions_and_takes_detection_flags(dissolve_edit, capsys, monkeypatch, tmp_path):
    path, _ = dissolve_edit
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert main(["shots", str(path), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [t["kind"] for t in data["transitions"]] == ["dissolve", "fade"]
    assert all(set(t) == {"kind", "start_frame", "end_frame"} for t in data["transitions"])
    assert len(data["shots"]) == 3
    assert list(tmp_path.glob("dreamstyle/shots/*/*.json"))  # cached for the next run
    assert main(["shots", str(path), "--format", "json", "--detector", "adaptive", "--min-shot", "3s"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["transitions"] == [] and len(data["shots"]) <= 2
    for flags in (["--threshold", "nan"], ["--threshold", "-5"], ["--min-shot", "0"], ["--min-shot", "infs"]):
        try:
            code = main(["shots", str(path), "--format", "json", *flags])
        except SystemExit as refused:  # argparse's own refusal
            code = refused.code
        assert code == 2 and "over 0" in capsys.readouterr().err, flags


def test_min_shot_help_gives_the_default_it_applies(capsys):
    """`--help` said "frames (15) or seconds (0.6s)" with no default, read as 15; the default is the detector's 10."""
    with pytest.raises(SystemExit):
        main(["shots", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert f"(default: {DetectionSettings().min_shot_frames} frames)" in help_text


def test_stylize_end_to_end_keeps_the_dissolve(dissolve_edit, tmp_path, monkeypatch, capsys):
    """Through a real engine: both styled shots carry the dissolve's frames, cross-dissolved as in the source."""
    path, _ = dissolve_edit
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with engine_thread(tmp_path / "state", [path.parent, tmp_path]) as engine:
        args = [
            "stylize",
            str(path),
            "--engine",
            engine,
            "--backend",
            "passthrough",
            "--prompt",
            "x",
            "--out",
            str(tmp_path / "out"),
        ]
        assert main(args) == 0, capsys.readouterr()
    capsys.readouterr()
    written = otio.adapters.read_from_file(str(path.with_name("edit.dreamstyle-v1.otio")))
    first, transition, second, _ = written.tracks[1]
    assert isinstance(transition, otio.schema.Transition)
    detected = next(t for t in json.loads(_shots_json(path, capsys))["transitions"] if t["kind"] == "dissolve")
    duration = detected["end_frame"] - detected["start_frame"]
    assert (transition.in_offset + transition.out_offset).value == duration
    for clip, extra in ((first, transition.out_offset), (second, transition.in_offset)):
        media = otio.url_utils.filepath_from_url(clip.media_reference.target_url)
        assert probe(media).frames == clip.source_range.duration.value + extra.value  # rendered through it


def _shots_json(path, capsys) -> str:
    assert main(["shots", str(path), "--format", "json"]) == 0
    return capsys.readouterr().out
