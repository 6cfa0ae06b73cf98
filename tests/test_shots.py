"""Shot detection: every registered detector through the same contract on real encoded footage."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from fractions import Fraction

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
    with pytest.raises(ShotDetectionError, match="at most 1 "):  # a probability: 3 would pass nothing
        detect(cuts_clip, 0, 10, DetectionSettings(detector="combined", threshold=3))


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


def _gain(source, gain):
    """`source` at another exposure: frame t times gain(t), clipped."""
    return lambda t: np.clip(source(t).astype(np.float32) * gain(t), 0, 255).astype(np.uint8)


def test_a_flash_as_long_as_the_shortest_shot_is_not_a_cut(tmp_path):
    """Seen from its last frame, a 6-frame flash has only flash frames just before it: the picture must be
    looked for further back (as far as the shortest shot) to see it come back."""
    scene = synthetic(1)
    flashed = lambda t: scene(t) // 4 + 190 if 30 <= t < 36 else scene(t)
    truth = write_edit(tmp_path / "flash.mp4", [(flashed, 60), (synthetic(2), 40)], [("cut", 0)])
    assert detect(tmp_path / "flash.mp4", 0, truth.frames).cuts == (60,)


def test_black_between_shots_and_a_cutaway_as_long_as_the_shortest_shot_are_not_flashes(tmp_path):
    """A flash is the picture coming back after an excursion shorter than the shortest shot: a black slug
    between two shots is not one (black is no picture to come back), nor is a 10-frame cutaway."""
    black = lambda t: np.zeros_like(synthetic(1)(0))
    a = synthetic(1)
    path = tmp_path / "slug.mp4"
    write_edit(path, [(synthetic(2), 40), (black, 6), (a, 40), (synthetic(3), 10), (lambda t: a(t + 40), 40)],
               [("cut", 0)] * 4)
    found = detect(path, 0, 136)
    assert found.transitions == () and len(found.cuts) == 3
    assert found.cuts[0] in (40, 46) and found.cuts[1:] == (86, 96)


def test_a_cutaway_shorter_than_a_long_shortest_shot_keeps_one_cut(tmp_path):
    """Flashes last 10 frames at most: with a shortest shot of 24 frames, a 20-frame cutaway is two cuts too
    close together (one stays), not a flash (which would make the other picture part of the shot)."""
    a = synthetic(1)
    path = tmp_path / "cutaway.mp4"
    write_edit(path, [(a, 40), (synthetic(2), 20), (lambda t: a(t + 60), 40)], [("cut", 0), ("cut", 0)])
    assert len(detect(path, 0, 100, DetectionSettings(min_shot_frames=24)).cuts) == 1


def test_a_dark_shot_at_the_start_of_a_range_is_no_fade_hiding_the_cut_out_of_it(tmp_path):
    dark = _gain(synthetic(2), lambda t: 0.1)
    path = tmp_path / "dark_first.mp4"
    write_edit(path, [(synthetic(1), 30), (dark, 30), (synthetic(3), 50)], [("cut", 0), ("cut", 0)])
    assert detect(path, 40, 110) == Detection(cuts=(60,))


def test_a_soft_flash_to_white_is_no_fade(tmp_path):
    """Rising over 3 frames and fading over 4, a flash is gradual on both sides, but it comes back to its
    own picture: a fade through white joins two."""
    gains = {40: 0.35, 41: 0.7, 42: 1.0, 43: 1.0, 44: 0.75, 45: 0.5, 46: 0.25}
    scene = synthetic(1)
    flash = lambda t: (scene(t) * (1 - gains.get(t, 0)) + 255 * gains.get(t, 0)).astype(np.uint8)
    write_edit(tmp_path / "soft.mp4", [(flash, 90)], [])
    assert detect(tmp_path / "soft.mp4", 0, 90) == Detection()


def test_an_exposure_ramp_inside_a_shot_is_no_dissolve(tmp_path):
    """A gain ramp is a perfect mix of its two ends, but of one picture with itself: not two shots."""
    ramp = _gain(synthetic(1), lambda t: 1.0 - 0.45 * min(max(t - 40, 0), 12) / 12)
    truth = write_edit(tmp_path / "ramp.mp4", [(ramp, 90)], [])
    assert detect(tmp_path / "ramp.mp4", 0, truth.frames) == Detection()


def test_a_dark_shot_cut_into_and_out_of_is_two_cuts_not_a_fade(tmp_path):
    dark = _gain(synthetic(2), lambda t: 0.12)
    truth = write_edit(tmp_path / "dark.mp4", [(synthetic(1), 50), (dark, 16), (synthetic(3), 50)],
                       [("cut", 0), ("cut", 0)])
    assert detect(tmp_path / "dark.mp4", 0, truth.frames) == Detection(cuts=(50, 66))


def test_fades_through_white_and_at_the_clip_edges(tmp_path):
    """A fade through white is a fade; a fade in from black at the clip's first frame, or out to white at
    its last, is no boundary (nor a dissolve)."""
    a, b = synthetic(1), synthetic(2)
    fade_in = _gain(a, lambda t: min(1.0, (t + 1) / 14))
    white = lambda t: np.full_like(a(0), 255)
    to_white = lambda t: (a(t).astype(np.float32) * max(0.0, 1 - (t - 49) / 10) + 255 * min(1.0, max(0.0, (t - 49) / 10))).astype(np.uint8)
    from_white = lambda t: (b(t).astype(np.float32) * min(1.0, (t + 1) / 10) + 255 * max(0.0, 1 - (t + 1) / 10)).astype(np.uint8)
    out_white = lambda t: (from_white(t) * (1 - (k := min(1.0, max(0.0, (t - 35) / 14)))) + 255 * k).astype(np.uint8)
    path = tmp_path / "white.mp4"
    write_edit(path, [(lambda t: fade_in(t) if t < 50 else to_white(t), 60), (white, 4), (out_white, 50)],
               [("cut", 0), ("cut", 0)])
    found = detect(path, 0, 114)
    assert found.cuts == () and [(t.kind, t.start_frame <= 62 <= t.end_frame) for t in found.transitions] == [("fade", True)]


def test_a_cut_between_shaky_textured_shots_is_found(tmp_path, monkeypatch, caplog):
    """Hand-held shake over fine texture makes every step large, so a cut is only ~2.7x its neighbours: too
    little to be sure of by itself, and TransNetV2 is asked (and says so)."""
    def shaky(seed: int):
        rng = np.random.default_rng(seed)
        texture = cv2.resize(rng.integers(0, 256, (22, 40, 3)).astype(np.uint8), (480, 270), interpolation=cv2.INTER_CUBIC)

        def frame(t: int) -> np.ndarray:
            dx, dy = np.random.default_rng(seed * 1000 + t + 500).integers(-6, 7, 2)
            return np.ascontiguousarray(texture[40 + dy : 220 + dy, 80 + dx : 400 + dx])
        return frame

    truth = write_edit(tmp_path / "shaky.mp4", [(shaky(1), 50), (shaky(2), 50)], [("cut", 0)])
    assert detect(tmp_path / "shaky.mp4", 0, truth.frames) == Detection(cuts=(50,))
    monkeypatch.setattr("host_plugin.shots.combined._transnet_available", lambda: False)  # a host install
    assert detect(tmp_path / "shaky.mp4", 0, truth.frames) == Detection() and "weak cuts" in caplog.text


def test_a_cut_transnetv2_finds_on_a_flash_is_dropped_like_any_flash():
    """TransNetV2 too takes an over-exposed frame for a cut: a cut it adds gets the same flash check as
    the step-ratio candidates (here it is asked about an unclear cut 7 frames later)."""
    from host_plugin.shots import combined

    rng = np.random.default_rng(3)
    first = rng.integers(40, 200, (27, 48, 3)).astype(np.int16)
    second = first.copy()
    second[:, 24:] += 24  # a cut that changes half the picture a little: unclear, so TransNetV2 is asked
    frames = [np.clip((first if t < 60 else second) + rng.integers(-2, 3, first.shape), 0, 255) for t in range(100)]
    frames[53] = np.clip(frames[53] + 120, 0, 255)  # one over-exposed frame

    def score(thumbs, lo, hi):  # TransNetV2's verdicts: a cut at the flash and at the real cut
        single = np.zeros(hi - lo)
        single[[53 - lo, 60 - lo]] = 0.9
        return single, np.zeros(hi - lo)

    thumbs = np.stack(frames).astype(np.uint8)
    assert combined.combine(thumbs, 0.5, 5, score) == ([60], [])


def test_combined_holds_a_long_range_once_plus_bounded_work_memory():
    """A long range's thumbnails are held once (not as a list and an array) and its signals are worked
    out chunk by chunk: 20 minutes at 30 fps peaked at 1.6 GB for 140 MB of thumbnails, 11 times over."""
    import tracemalloc

    from host_plugin.shots import combined

    thumbs = np.random.default_rng(7).integers(0, 256, (6000, 27, 48, 3), np.uint8)
    detector = combined.CombinedDetector(Fraction(30), 10)
    for index, frame in enumerate(thumbs[:3]):
        detector.push(index, frame)
    assert detector.thumbnails().shape == (3, 27, 48, 3) and detector.frames == []
    tracemalloc.start()
    try:
        combined.combine(thumbs, 0.5, 10, lambda t, lo, hi: (np.zeros(hi - lo), np.zeros(hi - lo)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * thumbs.nbytes


def test_a_wipe_is_one_picture_swept_off_for_another_not_a_zoom():
    """A wipe's changing pixels are still the first picture's or already the second's; a zoom's pass
    through values of neither (and was taken for a wipe: its change sweeps over the frame too)."""
    from host_plugin.shots import features

    rng = np.random.default_rng(5)
    a = cv2.resize(rng.integers(0, 256, (9, 16, 3)).astype(np.uint8), (48, 27), interpolation=cv2.INTER_CUBIC)
    b = cv2.resize(rng.integers(0, 256, (9, 16, 3)).astype(np.uint8), (48, 27), interpolation=cv2.INTER_CUBIC)
    wipe = [a] + [np.concatenate([b[:, : 4 * k], a[:, 4 * k :]], axis=1) for k in range(1, 12)] + [b]
    zoom = [cv2.resize(a[: 27 - k, : 48 - 2 * k], (48, 27), interpolation=cv2.INTER_LINEAR) for k in range(0, 13)]
    assert features.wipe_fit(np.stack(wipe), 1, 12) > 0.9
    assert features.wipe_fit(np.stack(zoom), 1, 12) < 0.5


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


def test_the_cache_keeps_a_result_per_range_and_knows_a_file_changed_in_place(tmp_path):
    """An EDL of one flattened master: every shot's range has its own result. A file re-exported under the
    same name is hashed anew (the hash is remembered per file version)."""
    from host_plugin.shots import cache

    media = tmp_path / "master.mov"
    media.write_bytes(b"a" * 4096)
    digest = cache.content_hash(media)
    results = {start: Detection((start + 5,)) for start in range(0, 3000, 10)}
    for start, found in results.items():
        cache.store(tmp_path / "cache", digest, cache.key("adaptive", None, 10, start, start + 10), found)
    assert all(cache.load(tmp_path / "cache", digest, cache.key("adaptive", None, 10, start, start + 10)) == found
               for start, found in results.items())
    media.write_bytes(b"b" * 4096)
    os.utime(media, ns=(1, 1))  # even with a time that says older
    assert cache.content_hash(media) != digest


def test_the_cache_forgets_media_unused_for_its_keep_days_and_keeps_what_is_read(tmp_path):
    """Each project's masters leave a folder of small files: those neither written nor read for KEEP_DAYS go
    when another file is first cached; one read since stays."""
    from host_plugin.shots import cache

    folder, found = tmp_path / "cache", Detection((5,))
    for digest in ("stale", "read", "fresh"):
        cache.store(folder, digest, cache.key("adaptive", None, 10, 0, 10), found)
    long_ago = time.time() - (cache.KEEP_DAYS + 1) * 86400
    for digest in ("stale", "read"):
        os.utime(folder / digest, (long_ago, long_ago))
    assert cache.load(folder, "read", cache.key("adaptive", None, 10, 0, 10)) == found
    cache.store(folder, "fresh", cache.key("adaptive", None, 10, 10, 20), found)  # a known file: no pruning yet
    assert (folder / "stale").is_dir()
    cache.store(folder, "new", cache.key("adaptive", None, 10, 0, 10), found)
    assert sorted(p.name for p in folder.iterdir()) == ["fresh", "new", "read"]


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
