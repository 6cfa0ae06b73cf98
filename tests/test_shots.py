"""Shot detection: every registered detector through the same contract on real encoded footage."""

from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest
from mediagen import scene_frame, write_video
from shotgen import synthetic, write_edit

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


@pytest.fixture(scope="module")
def found():
    """detect() memoised per (file, range, detector): TransNetV2 is slow on a shared 2-core CPU."""
    memo: dict[tuple, Detection] = {}

    def run(path, start, end, name):
        if (path, start, end, name) not in memo:
            memo[path, start, end, name] = detect(path, start, end, DetectionSettings(detector=name))
        return memo[path, start, end, name]

    return run


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_finds_its_boundaries_frame_exact(name, cuts_clip, fades_clip, found):
    if "cut" in DETECTORS[name].finds:
        assert found(cuts_clip, 0, sum(CUT_SCENES), name).cuts == (40, 70, 120)
    else:
        path, truth = fades_clip
        result = found(path, 0, truth.frames, name)
        boundaries = list(result.cuts) + [t.start_frame for t in result.transitions]
        for _, start, end in truth.transitions:
            assert any(start <= b <= end for b in boundaries), (start, end, result)


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_no_cut_inside_one_moving_shot(name, one_shot, found):
    assert found(one_shot, 0, 90, name) == Detection()


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_detects_only_inside_the_range(name, cuts_clip, found):
    result = found(cuts_clip, 45, 135, name)
    assert all(45 < c < 135 for c in result.cuts)
    assert all(45 <= t.start_frame < t.end_frame <= 135 for t in result.transitions)
    if "cut" in DETECTORS[name].finds:
        assert result.cuts == (70, 120)


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_result_types(name, cuts_clip, found):
    result = found(cuts_clip, 0, sum(CUT_SCENES), name)
    assert isinstance(result.cuts, tuple) and all(isinstance(c, int) for c in result.cuts)
    assert all(isinstance(t, Transition) and t.kind in {"dissolve", "fade", "wipe"} for t in result.transitions)


def test_min_shot_in_frames_or_seconds(cuts_clip):
    # shots of 40, 30, 50, 25 frames: a 30-frame minimum drops only the 25-frame tail
    assert detect(cuts_clip, 0, 145, DetectionSettings("adaptive", min_shot_frames=30)).cuts == (40, 70)
    assert detect(cuts_clip, 0, 145, DetectionSettings("adaptive", min_shot_seconds=1.3)).cuts == (40,)  # 31 frames


def test_unknown_detector_names_the_choices(cuts_clip):
    with pytest.raises(DetectorNotFound, match="adaptive"):
        detect(cuts_clip, 0, 10, DetectionSettings(detector="nope"))


def test_bad_media_and_range_name_the_file(tmp_path, cuts_clip):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(MediaUnreadable, match="bad.mp4"):
        detect(bad, 0, 10)
    with pytest.raises(ShotDetectionError, match="cuts.mp4"):
        detect(cuts_clip, 100, 400, DetectionSettings("adaptive"))


@pytest.fixture(scope="module")
def edit_clip(tmp_path_factory):
    """A cut, a dissolve, a wipe and a fade through black between moving synthetic scenes."""
    path = tmp_path_factory.mktemp("shots") / "edit.mp4"
    joins = [("cut", 0), ("dissolve", 16), ("wipe", 14), ("fade", 12)]
    return path, write_edit(path, [(synthetic(s), 40) for s in range(5)], joins)


def test_combined_reports_each_transition_with_its_frames(edit_clip):
    path, truth = edit_clip
    result = detect(path, 0, truth.frames)  # the default detector
    assert result.cuts == tuple(truth.cuts)
    assert [t.kind for t in result.transitions] == [kind for kind, _, _ in truth.transitions]
    for got, (_, start, end) in zip(result.transitions, truth.transitions):
        assert abs(got.start_frame - start) <= 4 and abs(got.end_frame - end) <= 4, (got, start, end)
    assert (result.transitions[-1].start_frame, result.transitions[-1].end_frame) == (190, 202)  # the fade, exact


def test_flashes_are_not_cuts(tmp_path):
    scene = synthetic(1)
    flashed = lambda t: scene(t) // 4 + 190 if t in (30, 31) else scene(t)
    truth = write_edit(tmp_path / "flash.mp4", [(flashed, 60), (synthetic(2), 40)], [("cut", 0)])
    assert detect(tmp_path / "flash.mp4", 0, truth.frames).cuts == (60,)


def test_a_fast_blurred_pan_is_not_a_cut(tmp_path):
    still = scene_frame(3, 0, 960, 180)

    def whip(t: int) -> np.ndarray:  # 40 pixels a frame for 10 frames, with motion blur
        x = 20 + t + min(max(t - 30, 0), 10) * 40
        frame = still[:, x : x + 320]
        return np.ascontiguousarray(cv2.blur(frame, (41, 1)) if 30 <= t < 40 else frame)

    truth = write_edit(tmp_path / "whip.mp4", [(whip, 80)], [])
    assert detect(tmp_path / "whip.mp4", 0, truth.frames) == Detection()


def test_cache_makes_a_second_run_instant(cuts_clip, tmp_path, monkeypatch):
    settings = DetectionSettings("adaptive", cache_dir=tmp_path / "cache")
    first = detect(cuts_clip, 0, 145, settings)
    monkeypatch.setattr("host_plugin.shots.detection._run", lambda *a: pytest.fail("decoded again"))
    assert detect(cuts_clip, 0, 145, settings) == first
    copy = tmp_path / "moved.mp4"
    copy.write_bytes(cuts_clip.read_bytes())  # same content elsewhere: same key
    assert detect(copy, 0, 145, settings) == first
    with pytest.raises(pytest.fail.Exception):  # other settings: computed, not served from the cache
        detect(cuts_clip, 0, 145, DetectionSettings("adaptive", 2.5, cache_dir=tmp_path / "cache"))


def test_combined_without_torch_keeps_clear_decisions(cuts_clip, monkeypatch, caplog):
    monkeypatch.setattr("host_plugin.shots.combined._transnet_available", lambda: False)
    assert detect(cuts_clip, 0, 145).cuts == (40, 70, 120)
    assert "dreamstyle[detect]" in caplog.text


def test_an_unwritable_cache_only_warns(cuts_clip, tmp_path, caplog):
    blocked = tmp_path / "file"
    blocked.write_text("")  # a file where the cache folder should be
    assert detect(cuts_clip, 0, 145, DetectionSettings("adaptive", cache_dir=blocked / "cache")).cuts == (40, 70, 120)
    assert "not written" in caplog.text


def test_transnet_model_leaves_torch_settings_alone():
    code = (
        "import random, numpy as np, torch\n"
        "from host_plugin.shots.transnet import load_model\n"
        "torch.manual_seed(7); before = torch.rand(1)\n"
        "torch.manual_seed(7); load_model()\n"
        "assert not torch.are_deterministic_algorithms_enabled()\n"
        "assert torch.equal(torch.rand(1), before)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_host_import_does_not_load_torch():
    code = "import sys, host_plugin.shots; assert 'torch' not in sys.modules and 'scenedetect' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
