"""The vace backend on tiny random Wan VACE weights and a tiny Depth Anything, from local folders."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("diffusers")

from engine.backends.base import BackendConfig, BackendError, Guidance
from engine.backends.registry import create_backend
from engine.chain import stylize_shot

RNG = np.random.default_rng(1)
SHOT = RNG.integers(0, 256, (7, 24, 40, 3), dtype=np.uint8)
STYLE = RNG.integers(0, 256, (32, 32, 3), dtype=np.uint8)


def config(folders, model="vace", **options) -> BackendConfig:
    return BackendConfig(model_dir=folders[model], device="cpu",
                         options={"resolution": "32x32", "steps": "1", "depth_model": str(folders["depth"]), **options})


@pytest.fixture(scope="module")
def backend(tiny_wan):
    backend = create_backend("vace", config(tiny_wan))
    backend.segment_frames = 5
    return backend


@pytest.mark.parametrize(
    "guidance",
    [Guidance(prompt="watercolor"), Guidance(prompt="sketch", style_image=STYLE, first_frame=SHOT[0])],
    ids=["text", "all"],
)
def test_guidances_give_the_shots_frames(backend, guidance):
    frames = list(stylize_shot(backend, iter(SHOT), len(SHOT), guidance, seed=0, params={}))
    assert len(frames) == len(SHOT) and all(f.shape == SHOT.shape[1:] for f in frames)


def test_pose_control_draws_skeletons(tiny_wan):
    import torch

    from engine.control import _draw, load_control

    pose = create_backend("vace", config(tiny_wan, control="pose", pose_model=str(tiny_wan["pose"])))
    assert pose.render_segment(SHOT[:5], None, Guidance(prompt="sketch"), 0, {}).shape == SHOT[:5].shape
    estimator = load_control({"control": "pose", "pose_model": str(tiny_wan["pose"])}, "cpu")
    assert estimator(SHOT[:2]).shape == SHOT[:2].shape
    canvas = np.zeros((40, 40, 3), np.uint8)
    person = {"keypoints": torch.tensor([[10.0 + i, 5.0 + 2 * i] for i in range(17)]), "scores": torch.ones(17)}
    _draw(canvas, person)
    assert canvas.any()


class Recorded(Exception):
    """Stops a render once the pipeline's arguments are recorded."""


def test_control_video_keeps_the_first_frame_and_masks_it(backend, monkeypatch):
    pipe = backend.pipeline()
    calls = []

    def record(self, **kwargs):
        calls.append(kwargs)
        raise Recorded

    monkeypatch.setattr(type(pipe), "__call__", record)
    condition = np.full((24, 40, 3), 200, np.uint8)
    with pytest.raises(Recorded):
        backend.render_segment(SHOT[:5], condition, Guidance(prompt="cat", style_image=STYLE), 0, {})
    kw = calls[0]
    assert kw["num_frames"] == 5 and len(kw["video"]) == len(kw["mask"]) == 5
    assert np.asarray(kw["mask"][0]).max() == 0 and np.asarray(kw["mask"][1]).min() == 255
    assert len(kw["reference_images"]) == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"depth_model": ""}, "depth-estimation folder"),
        ({"control": "pose"}, "ViTPose folder"),
        ({"control": "canny"}, "control='canny'"),
        ({"depth_model": "/nowhere"}, "not a transformers model folder"),
        ({"steps": "abc"}, "option steps='abc' to be a whole number, 1 or more"),  # the engine's, not a job's
    ],
)
def test_says_which_control_folder_it_needs(tiny_wan, options, message):
    with pytest.raises(BackendError, match=message):
        create_backend("vace", config(tiny_wan, **options))


def test_refuses_a_model_that_is_not_vace(tiny_wan):
    cfg = BackendConfig(model_dir=tiny_wan["i2v"], device="cpu", options={"depth_model": str(tiny_wan["depth"])})
    with pytest.raises(BackendError, match="not a VACE model"):
        create_backend("vace", cfg)


def test_options_apply_to_both_experts_of_a_wan22_folder(tiny_wan):
    import torch

    pipe = create_backend("vace", config(tiny_wan, "vace_two_experts", dtype="bf16", fp8="1", cache="fbc")).pipeline()
    for transformer in (pipe.transformer, pipe.transformer_2):
        assert transformer.blocks[0].attn1.to_q.weight.dtype == torch.float8_e4m3fn
        assert transformer.is_cache_enabled
    assert pipe.vae.dtype == torch.float32  # decoding in bf16 loses detail, compounded over chained segments
    frames = list(stylize_shot(create_backend("vace", config(tiny_wan, "vace_two_experts")), iter(SHOT[:5]), 5,
                               Guidance(prompt="ink"), seed=0, params={}))
    assert len(frames) == 5


def test_refuses_one_distillation_lora_for_two_experts(tiny_wan, tmp_path):
    lora = tmp_path / "lightx2v.safetensors"
    lora.write_bytes(b"")
    with pytest.raises(BackendError, match="two experts .* leave distill_lora out"):
        create_backend("vace", config(tiny_wan, "vace_two_experts", distill_lora=str(lora)))
