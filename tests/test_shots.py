"""Shot detection: every registered detector through the same contract on real encoded footage."""

from __future__ import annotations

import subprocess
import sys

import pytest

from host_plugin.shots import (
    DETECTORS,
    Detection,
    DetectionSettings,
    DetectorNotFound,
    MediaUnreadable,
    ShotDetectionError,
    Transition,
    detect,
)
from mediagen import write_video
from shotgen import synthetic, write_edit

CUT_SCENES = [40, 30, 50, 25]  # cuts at 40, 70, 120 in 145 frames


@pytest.fixture(scope="module")
def cuts_clip(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("shots") / "cuts.mp4", CUT_SCENES, gop=60)


@pytest.fixture(scope="module")
def one_shot(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("shots") / "one.mp4", [90])


@pytest.fixture(scope="module")
def fades_clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("shots") / "fades.mp4"
    truth = write_edit(path, [(synthetic(s), 40) for s in range(3)], [("fade", 12), ("fade", 16)])
    return path, truth


def _settings(name: str, **kw) -> DetectionSettings:
    return DetectionSettings(detector=name, **kw)


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_finds_its_boundaries_frame_exact(name, cuts_clip, fades_clip):
    if "cut" in DETECTORS[name].finds:
        assert detect(cuts_clip, 0, sum(CUT_SCENES), _settings(name)).cuts == (40, 70, 120)
    else:
        path, truth = fades_clip
        found = detect(path, 0, truth.frames, _settings(name))
        boundaries = list(found.cuts) + [t.start_frame for t in found.transitions]
        for _, start, end in truth.transitions:
            assert any(start <= b <= end for b in boundaries), (start, end, found)


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_no_cut_inside_one_moving_shot(name, one_shot):
    assert detect(one_shot, 0, 90, _settings(name)) == Detection()


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_detects_only_inside_the_range(name, cuts_clip):
    found = detect(cuts_clip, 45, 135, _settings(name))
    assert all(45 < c < 135 for c in found.cuts)
    assert all(45 <= t.start_frame < t.end_frame <= 135 for t in found.transitions)
    if "cut" in DETECTORS[name].finds:
        assert found.cuts == (70, 120)


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_result_types(name, cuts_clip):
    found = detect(cuts_clip, 0, 145, _settings(name))
    assert isinstance(found.cuts, tuple) and all(isinstance(c, int) for c in found.cuts)
    assert all(isinstance(t, Transition) and t.kind in {"dissolve", "fade", "wipe"} for t in found.transitions)


def test_min_shot_in_frames_or_seconds(cuts_clip):
    # shots of 40, 30, 50, 25 frames: a 30-frame minimum drops only the 25-frame tail
    assert detect(cuts_clip, 0, 145, DetectionSettings(min_shot_frames=30)).cuts == (40, 70)
    assert detect(cuts_clip, 0, 145, DetectionSettings(min_shot_seconds=1.3)).cuts == (40,)  # 31 frames


def test_unknown_detector_names_the_choices(cuts_clip):
    with pytest.raises(DetectorNotFound, match="adaptive"):
        detect(cuts_clip, 0, 10, DetectionSettings(detector="nope"))


def test_bad_media_and_range_name_the_file(tmp_path, cuts_clip):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(MediaUnreadable, match="bad.mp4"):
        detect(bad, 0, 10)
    with pytest.raises(ShotDetectionError, match="cuts.mp4"):
        detect(cuts_clip, 100, 400)


def test_host_import_does_not_load_torch():
    code = "import sys, host_plugin.shots; assert 'torch' not in sys.modules and 'scenedetect' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
