"""`dreamstyle shots`: a timeline's shots as JSON (edit points, detected cuts, what sends no shot and why) and
the shots of a plain media file."""

import json
import shutil
from pathlib import Path

import opentimelineio as otio
import pytest
from edits import write_edit
from opentimelineio.opentime import RationalTime, TimeRange

from host_plugin.cli import main
from host_plugin.shots import DETECTORS


@pytest.fixture(scope="module")
def edit(tmp_path_factory):
    return write_edit(tmp_path_factory.mktemp("edit"))


def test_shots_json_splits_at_edit_points_and_cuts(edit, capsys):
    assert main(["shots", str(edit), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["fps"] == "24000/1001"
    spans = [(Path(s["media"]).name, s["start_frame"], s["end_frame"], s["record_start"], s["record_end"]) for s in data["shots"]]
    assert spans == [
        ("a.mp4", 10, 50, "01:00:00:00", "01:00:01:16"),
        ("a.mp4", 50, 110, "01:00:01:16", "01:00:04:04"),
        ("b.mp4", 5, 65, "01:00:04:16", "01:00:07:04"),
    ]
    assert data["transitions"] == [] and data["skipped"] == []


def test_shots_json_says_why_items_send_no_shot(edit, tmp_path, capsys):
    timeline = otio.adapters.read_from_file(str(edit))
    muted = timeline.tracks[0][0].clone()
    muted.name, muted.enabled = "muted", False
    timeline.tracks[0].append(muted)
    timeline.tracks[0].append(otio.schema.Clip("bars", media_reference=otio.schema.GeneratorReference(generator_kind="SMPTEBars"),
                                               source_range=muted.source_range))
    path = tmp_path / "skips.otio"
    otio.adapters.write_to_file(timeline, str(path))
    assert main(["shots", str(path), "--format", "json"]) == 0, "skipped items are not problems"
    data = json.loads(capsys.readouterr().out)
    assert len(data["shots"]) == 3 and data["problems"] == []
    assert data["skipped"] == ["clip muted: disabled", "clip bars: a generator (SMPTEBars), not media"]


def test_a_still_image_clip_is_a_problem_with_what_to_do(edit, tmp_path, capsys):
    timeline = otio.adapters.read_from_file(str(edit))
    still = Path(__file__).resolve().parents[1] / "host_plugin" / "assets" / "style_night.png"
    timeline.tracks[0].append(otio.schema.Clip("title card", otio.schema.ExternalReference(str(still)),
                                               TimeRange(RationalTime(0, 24000 / 1001), RationalTime(48, 24000 / 1001))))
    path = tmp_path / "stills.otio"
    otio.adapters.write_to_file(timeline, str(path))
    assert main(["shots", str(path), "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert len(data["shots"]) == 3, "the moving clips still plan"
    assert data["problems"] == [{"clip": "title card", "message": (
        "clip title card: style_night.png is a still image held for 48 frames; DreamStyle stylizes moving "
        "footage: render the still to a movie of that length (or restyle it as an image), relink the clip and "
        "export the timeline again.")}]


def test_shots_gives_absolute_media_paths_without_dot_dot(edit, tmp_path, monkeypatch, capsys):
    """A media file named relative to the current folder, and a clip relinked from the timeline's folder."""
    monkeypatch.chdir(edit.parent)
    assert main(["shots", "media/a.mp4", "--format", "json", "--no-detect"]) == 0
    assert json.loads(capsys.readouterr().out)["shots"][0]["media"] == str(edit.parent / "media" / "a.mp4")

    shutil.copytree(edit.parent / "media", tmp_path / "newmedia")
    timeline = otio.adapters.read_from_file(str(edit))
    for clip in timeline.find_clips():
        clip.media_reference.target_url = f"../newmedia/{Path(clip.media_reference.target_url).name}"
    (tmp_path / "proj").mkdir()
    otio.adapters.write_to_file(timeline, str(tmp_path / "proj" / "cut.otio"))
    assert main(["shots", str(tmp_path / "proj" / "cut.otio"), "--format", "json", "--no-detect"]) == 0
    media = {s["media"] for s in json.loads(capsys.readouterr().out)["shots"]}
    assert media == {str(tmp_path / "newmedia" / "a.mp4"), str(tmp_path / "newmedia" / "b.mp4")}


def test_shots_of_a_plain_media_file(edit, capsys):
    assert main(["shots", str(edit.parent / "media" / "a.mp4"), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(s["start_frame"], s["end_frame"]) for s in data["shots"]] == [(0, 50), (50, 120)]
    assert data["shots"][0]["record_start"] == "00:00:00:00"


@pytest.mark.parametrize(("detector", "threshold"), [("transnetv2", "3"), ("combined", "1.5"), ("content", "300")])
def test_a_threshold_off_the_detectors_scale_is_refused_not_a_silent_no_cut(edit, capsys, detector, threshold):
    """A probability threshold of 3 (AdaptiveDetector's scale) passed no boundary at all: one shot, no word."""
    media = str(edit.parent / "media" / "a.mp4")
    assert main(["shots", media, "--detector", detector, "--threshold", threshold]) == 2
    err = capsys.readouterr().err
    assert f"--threshold {threshold} is off the {detector} detector's scale" in err, err
    assert f"at most {DETECTORS[detector].max_threshold:g}" in err
    assert main(["shots", media, "--detector", "adaptive", "--threshold", "3", "--format", "json"]) == 0
