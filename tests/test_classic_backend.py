"""The classic CPU backend on real generated footage: carried looks, occlusions, guidances, params."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dreamstyle.frames import iter_frames
from engine.backends import BackendError, Guidance, create_backend
from engine.backends.classic import ClassicBackend
from engine.look import LOOKS, apply_look, propagate, stylize
from engine.look.paint import to_lab
from mediagen import scene_frame, write_frames

W, H = 320, 180


def grade(frame: np.ndarray) -> np.ndarray:
    """A known colour grade: a cross-channel matrix, an offset and per-channel gammas."""
    x = frame.astype(np.float32) / 255
    matrix = np.array([[1.1, 0.1, -0.05], [0.05, 0.95, 0.0], [-0.1, 0.05, 0.8]], np.float32)
    y = np.clip(x @ matrix.T + np.float32([0.02, 0.0, 0.05]), 0, 1) ** np.float32([0.8, 1.0, 1.3])
    return np.round(y * 255).astype(np.uint8)


def mae(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return np.stack([scene_frame(1, t, W, H) for t in range(25)])


@pytest.fixture(scope="module")
def backend() -> ClassicBackend:
    return create_backend("classic")


# A textured square moving 5 px a frame to the right over a background panning 1 px a frame to the left.
OBJECT_Y, OBJECT_X, SIZE, STEP = 60, 40, 48, 5


@pytest.fixture(scope="module")
def moving() -> tuple[np.ndarray, np.ndarray]:
    """(frames, stylized frames): the stylized object carries 8-px stripes, the background no change."""
    rng = np.random.default_rng(0)

    def blobs(height: int, width: int, sigma: float, low: int, high: int) -> np.ndarray:
        noise = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (0, 0), sigma)
        return cv2.normalize(noise, None, low, high, cv2.NORM_MINMAX)

    background, thing = blobs(H, W + 40, 3, 40, 200), blobs(SIZE, SIZE, 2, 60, 195)
    stripes = np.where((np.arange(SIZE) // 8) % 2 == 0, 50, -50)[None, :, None]
    frames, styled = [], []
    for t in range(20):
        frame = background[:, t : t + W].copy()
        x = OBJECT_X + STEP * t
        frame[OBJECT_Y : OBJECT_Y + SIZE, x : x + SIZE] = thing
        look = frame.copy()
        look[OBJECT_Y : OBJECT_Y + SIZE, x : x + SIZE] = thing + stripes
        frames.append(frame)
        styled.append(look)
    return np.stack(frames), np.stack(styled)


def object_region(t: int, margin: int = 0) -> tuple[slice, slice]:
    x = OBJECT_X + STEP * t
    return slice(OBJECT_Y + margin, OBJECT_Y + SIZE - margin), slice(x + margin, x + SIZE - margin)


def test_registry_builds_classic_with_named_looks(backend):
    assert isinstance(backend, ClassicBackend)
    assert set(backend.named_looks) == set(LOOKS) and len(backend.named_looks) >= 6
    assert backend.segment_frames >= 2


@pytest.mark.parametrize("size", [(W, H), (97, 61), (20, 12)])
def test_shapes_dtypes_and_frame_zero(backend, size):
    frames = np.stack([scene_frame(2, t, *size) for t in range(4)])
    condition = grade(frames[0])
    out = backend.render_segment(frames, condition, Guidance(first_frame=condition), 0, {})
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert np.array_equal(out[0], condition)


@pytest.mark.parametrize("guidance", [
    Guidance(style_image=scene_frame(4, 3, 200, 150)),
    Guidance(prompt="noir"),
    Guidance(first_frame=np.full((1, 1, 3), 200, np.uint8)),
], ids=["style image", "named look", "first frame"])
def test_one_pixel_media(backend, tmp_path, guidance):
    """A 1x1 matte: OpenCV takes a 1x1 colour image for a scalar in arithmetic with one."""
    matte = write_frames(tmp_path / "matte.mov", [np.full((1, 1, 3), (40, 90, 160), np.uint8)] * 3)
    frames = np.stack(list(iter_frames(matte)))
    condition = backend.first_condition(frames[0], guidance, 0)
    assert condition.shape == (1, 1, 3)
    out = backend.render_segment(frames, condition, guidance, 0, {})
    assert out.shape == frames.shape and (out == condition).all()  # a still picture keeps its look


def test_first_frame_grade_is_carried_through_the_segment(backend, scene):
    condition = grade(scene[0])
    out = backend.render_segment(scene, condition, Guidance(first_frame=condition), 0, {})
    errors = [mae(out[t], grade(scene[t])) for t in range(len(scene))]
    frozen = [mae(condition, grade(scene[t])) for t in range(len(scene))]  # no propagation: the condition held
    untouched = [mae(scene[t], grade(scene[t])) for t in range(len(scene))]
    assert max(errors) < 1.5
    assert np.mean(errors) < 0.1 * np.mean(frozen) and max(errors) < 0.1 * min(untouched)


def test_first_condition_is_the_users_frame_at_source_size(backend, scene):
    user = cv2.resize(grade(scene[0]), (W * 2, H * 2), interpolation=cv2.INTER_CUBIC)
    condition = backend.first_condition(scene[0], Guidance(first_frame=user, prompt="noir"), 0)
    assert condition.shape == scene[0].shape and condition.dtype == np.uint8
    assert mae(condition, grade(scene[0])) < 1.5  # the first frame wins over the named look


def test_texture_moves_with_the_object(backend, moving):
    frames, styled = moving
    out = backend.render_segment(frames, styled[0], Guidance(first_frame=styled[0]), 0, {})
    for t in (1, 5, 10, 19):
        whole, inside = object_region(t), object_region(t, margin=8)  # flow blurs across the object's edges
        assert mae(out[t][whole], styled[t][whole]) < 0.4 * mae(frames[t][whole], styled[t][whole])
        assert mae(out[t][inside], styled[t][inside]) < 3
    assert mae(out[-1], styled[-1]) < 1.0


def test_no_ghost_trail_where_the_object_was(backend, moving, monkeypatch):
    frames, styled = moving
    vacated = (slice(OBJECT_Y, OBJECT_Y + SIZE), slice(OBJECT_X, OBJECT_X + SIZE - 10))
    out = backend.render_segment(frames, styled[0], Guidance(first_frame=styled[0]), 0, {})
    ghost_free = [mae(out[t][vacated], styled[t][vacated]) for t in (10, 15, 19)]
    monkeypatch.setattr(propagate, "CONSISTENCY_SLACK", 1e9)  # every flow vector trusted: no occlusion handling
    trusting = backend.render_segment(frames, styled[0], Guidance(first_frame=styled[0]), 0, {})
    ghosted = [mae(trusting[t][vacated], styled[t][vacated]) for t in (10, 15, 19)]
    assert max(ghost_free) < 3
    assert min(ghosted) > 3 * max(ghost_free)


def test_restarts_from_a_chained_condition(backend, scene):
    condition = grade(scene[0])
    first = backend.render_segment(scene[:13], condition, Guidance(first_frame=condition), 0, {})
    second = backend.render_segment(scene[12:], first[-1], Guidance(first_frame=condition), 0, {})
    assert np.array_equal(second[0], first[-1])
    assert max(mae(second[i], grade(scene[12 + i])) for i in range(len(second))) < 1.5


def test_style_image_moves_colour_statistics_toward_the_style(backend, scene):
    style = scene_frame(4, 3, 200, 150)
    guidance = Guidance(style_image=style)
    backend.check(guidance, {})
    condition = backend.first_condition(scene[0], guidance, 0)
    assert condition.shape == scene[0].shape and condition.dtype == np.uint8

    def stats(image):
        lab = to_lab(image).reshape(-1, 3)
        return np.concatenate([lab.mean(0), lab.std(0)])

    assert np.abs(stats(condition) - stats(style)).sum() < 0.25 * np.abs(stats(scene[0]) - stats(style)).sum()
    out = backend.render_segment(scene[:6], condition, guidance, 0, {})
    assert np.array_equal(out[0], condition)


def test_named_look_goes_on_top_of_the_style_image(backend, scene):
    style = scene_frame(4, 3, 200, 150)
    condition = backend.first_condition(scene[0], Guidance(prompt="Comic", style_image=style), 0)
    assert np.array_equal(condition, apply_look("comic", stylize(scene[0], style)))


@pytest.mark.parametrize("look", sorted(LOOKS))
def test_each_named_look(backend, scene, look):
    guidance = Guidance(prompt=f"  {look.upper().replace('-', ' ')} ")
    backend.check(guidance, {})
    condition = backend.first_condition(scene[0], guidance, 0)
    assert condition.shape == scene[0].shape and condition.dtype == np.uint8
    assert mae(condition, scene[0]) > 5
    assert np.array_equal(condition, apply_look(look, scene[0]))
    out = backend.render_segment(scene[:4], condition, guidance, 0, {})
    assert np.array_equal(out[0], condition)


@pytest.mark.parametrize("prompt", ["teal_orange", "Teal - Orange", "TEAL  orange"])
def test_prompt_matching_tolerates_case_space_and_hyphens(backend, prompt):
    backend.check(Guidance(prompt=prompt), {})


def test_a_looks_british_spelling_is_that_look():
    from engine.look import find_look

    assert find_look("Watercolour") == find_look("watercolor") == "watercolor"


FREE_TEXT = [
    Guidance(prompt="a watercolour of Paris at dusk"),
    Guidance(prompt="van gogh", style_image=np.zeros((8, 8, 3), np.uint8)),
]


@pytest.mark.parametrize("guidance", FREE_TEXT)
def test_free_text_is_rejected_naming_the_looks_and_diffusion_backends(backend, guidance):
    with pytest.raises(BackendError) as error:
        backend.check(guidance, {})
    message = str(error.value)
    assert "--backend dreamstyle" in message and "--backend vace" in message
    assert all(look in message for look in LOOKS)


@pytest.mark.parametrize("value", ["abc", "-0.1", "1.5", "nan", "", "inf"])
def test_bad_strength_is_rejected_naming_the_param(backend, value):
    with pytest.raises(BackendError, match="strength"):
        backend.check(Guidance(prompt="noir"), {"strength": value})


def test_engine_params_pass_and_bad_images_are_rejected(backend):
    backend.check(Guidance(prompt="noir"), {"overlap": "2", "color_match": "0.5", "strength": " 0.25 "})
    with pytest.raises(BackendError, match="style image"):
        backend.check(Guidance(style_image=np.zeros((8, 8, 3), np.float32)), {})
    with pytest.raises(BackendError, match="needs a guidance"):
        backend.check(Guidance(), {})


def test_strength_blends_once_and_does_not_compound(backend, scene):
    guidance = Guidance(prompt="sepia")
    params = {"strength": "0.5"}
    backend.check(guidance, params)
    condition = backend.first_condition(scene[0], guidance, 0)
    first = backend.render_segment(scene[:13], condition, guidance, 0, params)
    assert mae(first[0], cv2.addWeighted(condition, 0.5, scene[0], 0.5, 0)) < 0.01
    full = backend.render_segment(scene[:13], condition, guidance, 0, {})
    assert abs(mae(first[-1], scene[12]) - 0.5 * mae(full[-1], scene[12])) < 1.5
    second = backend.render_segment(scene[12:], first[-1], guidance, 0, params)
    assert np.array_equal(second[0], first[-1])  # the chained condition is followed, not blended again
    assert np.array_equal(backend.render_segment(scene[:3], condition, guidance, 0, {"strength": "0"}), scene[:3])


def test_deterministic_across_runs_and_thread_counts(backend, moving):
    frames, styled = moving
    guidance = Guidance(style_image=styled[5], prompt="watercolor")
    runs = []
    threads = cv2.getNumThreads()
    try:
        for count in (threads, 1, threads):
            cv2.setNumThreads(count)
            condition = backend.first_condition(frames[0], guidance, 7)
            runs.append(backend.render_segment(frames, condition, guidance, 7, {"strength": "0.8"}))
    finally:
        cv2.setNumThreads(threads)
    assert all(np.array_equal(runs[0], run) for run in runs[1:])


def test_a_flat_object_of_the_backgrounds_grey_leaves_no_ghost(backend):
    """Static grain pins the flow to zero; colour (not grey) tells the uncovered sky from the box."""
    sky, box = np.array([200, 100, 100], np.int16), np.array([100, 150, 127], np.int16)  # equal luma
    grain = np.random.default_rng(3).normal(0, 6, (360, 640, 1)).astype(np.int16)
    frames = np.empty((24, 360, 640, 3), np.uint8)
    for t in range(24):
        image = np.broadcast_to(sky, (360, 640, 3)).copy()
        image[160:200, 100 + 4 * t : 160 + 4 * t] = box  # 2 px a frame at flow resolution
        frames[t] = np.clip(image + grain, 0, 255)
    condition = frames[0].copy()
    condition[160:200, 100:160] = 255  # the look paints the box white; the sky keeps its colour
    out = backend.render_segment(frames, condition, Guidance(first_frame=condition), 0, {})
    vacated = (slice(165, 195), slice(105, 155))  # the box's first place, left behind by frame 15
    sky_now = out[20][:60, :60].reshape(-1, 3).mean(0)  # grain averages out over a region
    assert np.abs(out[20][vacated].reshape(-1, 3).mean(0) - sky_now).max() < 8  # a white ghost is ~40 off
