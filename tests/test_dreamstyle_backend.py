"""The dreamstyle backend on tiny random Wan I2V weights, loaded like real ones from a Diffusers folder."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("diffusers")

from engine.backends import _diffusion as dif
from engine.backends.base import BackendConfig, BackendError, Guidance
from engine.backends.registry import create_backend
from engine.chain import stylize_shot

RNG = np.random.default_rng(0)
SHOT = RNG.integers(0, 256, (9, 24, 40, 3), dtype=np.uint8)  # 9 frames, 40x24: two segments of 5
STYLE = RNG.integers(0, 256, (30, 20, 3), dtype=np.uint8)
GUIDANCES = {
    "text": Guidance(prompt="oil painting"),
    "style_image": Guidance(style_image=STYLE),
    "first_frame": Guidance(first_frame=SHOT[0][::-1].copy()),
    "all": Guidance(prompt="anime city night", style_image=STYLE, first_frame=SHOT[0][::-1].copy()),
}


def config(folders, **changes) -> BackendConfig:
    base = {"model_dir": folders["i2v"], "adapter": folders["adapter"], "device": "cpu",
                "options": {"resolution": "32x32", "steps": "1"}}
    return BackendConfig(**{**base, **changes})


@pytest.fixture(scope="module")
def backend(tiny_wan):
    backend = create_backend("dreamstyle", config(tiny_wan))
    backend.segment_frames = 5
    return backend


@pytest.mark.parametrize("kind", GUIDANCES)
def test_each_guidance_alone_and_combined_gives_the_shots_frames(backend, kind):
    guidance = GUIDANCES[kind]
    backend.check(guidance, {})
    frames = list(stylize_shot(backend, iter(SHOT), len(SHOT), guidance, seed=1, params={}))
    assert len(frames) == len(SHOT)
    assert all(f.shape == SHOT.shape[1:] and f.dtype == np.uint8 for f in frames)


def test_16_bit_segments_come_back_at_16_bits_from_the_same_8_bit_model_input(backend):
    """A 10-bit source's frames (uint16, for ProRes renders): the model sees what their 8-bit twins give it, and
    its float output is kept at 16 bits rather than rounded to 8."""
    deep = SHOT[:5].astype(np.uint16) * 257
    out16 = backend.render_segment(deep, None, GUIDANCES["text"], 3, {})
    out8 = backend.render_segment(SHOT[:5], None, GUIDANCES["text"], 3, {})
    assert out16.dtype == np.uint16 and out16.shape == deep.shape
    assert np.abs(out16 / 257 - out8).max() <= 1.5  # the resize back rounds at 8 bits in one, 16 in the other
    assert not np.array_equal(out16 % 257, np.zeros_like(out16)), "more than 8 bits of output"


def test_chaining_passes_the_last_frame_on(backend, monkeypatch):
    pipe = backend.pipeline()
    seen, outputs = [], []
    render, prepare = backend.render_segment, pipe.prepare_latents

    def spy_render(frames, condition, *args):
        seen.append(condition)
        outputs.append(render(frames, condition, *args))
        return outputs[-1]

    def spy_prepare(video, first_frame, *args):
        seen.append(first_frame)
        return prepare(video, first_frame, *args)

    monkeypatch.setattr(backend, "render_segment", spy_render)
    monkeypatch.setattr(pipe, "prepare_latents", spy_prepare)
    list(stylize_shot(backend, iter(SHOT), len(SHOT), GUIDANCES["text"], seed=1, params={}))
    # segment 1: no condition, no first frame; segment 2: the last output frame, prepended
    assert seen[0] is None and seen[1] is None
    assert np.array_equal(seen[2], outputs[0][-1]) and seen[3] is not None


def test_same_seed_same_frames(backend):
    one = backend.render_segment(SHOT[:5], None, GUIDANCES["text"], 3, {})
    two = backend.render_segment(SHOT[:5], None, GUIDANCES["text"], 3, {})
    assert np.array_equal(one, two)


def test_a_model_whose_output_is_not_finite_fails_the_segment(tiny_wan):
    """NaN from damaged weights or fp16 overflow was rounded to black frames, reported done."""
    import torch

    broken = create_backend("dreamstyle", config(tiny_wan))
    with torch.no_grad():
        broken.pipeline().transformer.proj_out.weight[0, 0] = float("nan")
    with pytest.raises(BackendError, match="the model's output holds NaN or infinite values.*dtype=bf16"):
        broken.render_segment(SHOT[:5], None, GUIDANCES["text"], 3, {})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: {"model_dir": f["i2v"].parent / "nowhere"}, "does not exist"),
        (lambda f: {"model_dir": f["wrong_layout"]}, "not a Diffusers model folder"),
        (lambda f: {"model_dir": f["t2v"]}, "not a Wan image-to-video model"),
        (lambda f: {"model_dir": None}, "a model folder"),
        (lambda f: {"adapter": None}, "'vace' backend"),
        (lambda f: {"options": {"offload": "disk"}}, "offload"),
        (lambda f: {"options": {"offload": "sequential"}}, "none, model, group"),  # accelerate 1.15 crashed under torch 2.13
        (lambda f: {"options": {"attention": "sage"}}, "native, cudnn, flash, efficient, math"),
        (lambda f: {"options": {"attention": "cudnn"}}, "attention='cudnn' to run on a CUDA GPU"),
        (lambda f: {"adapter": f["i2v"] / "transformer" / "config.json"}, "not a safetensors file"),
        (lambda f: {"adapter": f["i2v"] / "vae" / "diffusion_pytorch_model.safetensors"}, "not a DreamStyle token"),
        (lambda f: {"adapter": f["narrow_adapter"]}, "width 12, this model's is 24"),
    ],
)
def test_bad_setups_are_refused_before_any_weights_load(tiny_wan, monkeypatch, change, message):
    from engine.models.wan_v2v import WanV2VPipeline

    monkeypatch.setattr(WanV2VPipeline, "from_pretrained", lambda *a, **k: pytest.fail("weights were loaded"))
    with pytest.raises(BackendError, match=message):
        create_backend("dreamstyle", config(tiny_wan, **change(tiny_wan)))


def test_pipeline_refuses_odd_frame_counts_and_t2v_models_before_heavy_work(backend, tiny_wan, monkeypatch):
    from engine.models.wan_v2v import WanV2VPipeline

    pipe = backend.pipeline()
    monkeypatch.setattr(pipe.vae, "encode", lambda *a, **k: pytest.fail("the VAE ran"))
    monkeypatch.setattr(pipe.transformer, "forward", lambda *a, **k: pytest.fail("the transformer ran"))
    video = np.zeros((6, 32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="4k\\+1"):
        pipe(video, prompt="cat")
    with pytest.raises(ValueError, match="at least one guidance"):
        pipe(video[:5])
    t2v = WanV2VPipeline.from_pretrained(str(tiny_wan["t2v"]))
    with pytest.raises(ValueError, match="not a Wan image-to-video model"):
        t2v(video[:5], prompt="cat")


def test_attention_option_sets_the_kernel_of_every_attention(tiny_wan, backend):
    from diffusers.models.attention_dispatch import AttentionBackendName, _AttentionBackendRegistry

    try:
        options = {"resolution": "32x32", "steps": "1", "attention": "math"}
        math = create_backend("dreamstyle", config(tiny_wan, options=options))
        kernels = {m.processor._attention_backend for m in math.pipeline().transformer.modules()
                   if hasattr(getattr(m, "processor", None), "_attention_backend")}
        assert kernels == {AttentionBackendName._NATIVE_MATH}
        out = math.render_segment(SHOT[:5], None, GUIDANCES["all"], 3, {})
    finally:
        _AttentionBackendRegistry.set_active_backend(AttentionBackendName.NATIVE)  # the choice is process-wide
    np.testing.assert_allclose(out, backend.render_segment(SHOT[:5], None, GUIDANCES["all"], 3, {}), atol=2)


def test_framing_goes_back_to_the_shots_size_and_frame_count():
    assert dif.model_size((1080, 1920), "480p") == (480, 848)
    assert dif.model_size((1920, 1080), "720p") == (1280, 720)
    boxed, box = dif.letterbox(SHOT, (32, 32))
    assert boxed.shape == (9, 32, 32, 3) and (box.height, box.width) == (19, 32)
    assert dif.unletterbox(boxed, box, SHOT.shape[1:3]).shape == SHOT.shape
    assert len(dif.pad_frames(SHOT[:6])) == 9 and len(dif.pad_frames(SHOT[:5])) == 5


def test_backends_are_listed_without_importing_torch(tiny_wan):
    code = (
        "import sys; from engine.cli import main; "
        f"main(['backends', '--model-dir', {str(tiny_wan['i2v'])!r}, '--device', 'cpu']); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    lines = {line.split()[0]: line for line in out.splitlines() if line and not line.startswith(" ")}
    assert "first_frame, style_image, text" in lines["dreamstyle"]
    assert "adapter" in lines["dreamstyle"] and "depth" in lines["vace"]


def test_distillation_lora_is_fused_under_the_token_lora(tiny_wan, tmp_path):
    from diffusers import WanImageToVideoPipeline, WanTransformer3DModel
    from peft import LoraConfig, get_peft_model_state_dict

    from engine.models.token_lora import TokenLoRALinear

    plain = WanTransformer3DModel.from_pretrained(tiny_wan["i2v"] / "transformer")
    original = plain.blocks[0].attn1.to_q.weight.detach().clone()
    plain.add_adapter(LoraConfig(r=2, target_modules=["to_q"], init_lora_weights=False))
    WanImageToVideoPipeline.save_lora_weights(tmp_path, transformer_lora_layers=get_peft_model_state_dict(plain))
    lora = tmp_path / "pytorch_lora_weights.safetensors"
    pipe = create_backend("dreamstyle", config(tiny_wan, options={"distill_lora": str(lora)})).pipeline()
    to_q = pipe.transformer.blocks[0].attn1.to_q
    assert isinstance(to_q, TokenLoRALinear) and not to_q.base.weight.equal(original)


def test_a_distillation_lora_that_fits_nothing_in_the_model_is_refused(tiny_wan):
    """diffusers only warned ("No LoRA keys associated to WanTransformer3DModel found") and the base model ran at
    the distilled defaults, 4 steps and guidance 1."""
    adapter = tiny_wan["adapter"]  # a token LoRA: no key diffusers' LoRA loader knows
    backend = create_backend("dreamstyle", config(tiny_wan, options={"distill_lora": str(adapter)}))
    with pytest.raises(BackendError, match=f"option distill_lora: {adapter} could not be loaded: none of its weights "
                                           "fit this model's transformer; give a LoRA trained for this model"):
        backend.pipeline()


def test_pipeline_reports_each_step_and_can_be_interrupted(backend):
    pipe = backend.pipeline()
    steps = []

    def on_step(pipeline, i, t, tensors):
        steps.append((i, tuple(tensors["latents"].shape)))
        pipeline._interrupt = True
        return tensors

    video = np.zeros((5, 32, 32, 3), np.uint8)
    out = pipe(video, prompt="cat", style_image=STYLE, num_inference_steps=3, callback_on_step_end=on_step)
    assert steps == [(0, (1, 16, 3, 4, 4))]  # 2 video latent frames + the appended style frame
    assert out.frames.shape == (1, 5, 32, 32, 3)


def test_fp8_storage_keeps_the_merged_video_update(tiny_wan, tmp_path):
    """The video update is merged in bf16 and rounded with the weights. Merged onto FP8 values instead,
    an update smaller than half an FP8 step (about 6% of a weight) rounded back to the old value."""
    import torch
    from diffusers import WanTransformer3DModel
    from safetensors.torch import load_file

    from engine.models.token_lora import TokenLoRALinear, inject_token_lora, save_token_lora

    base = WanTransformer3DModel.from_pretrained(tiny_wan["i2v"] / "transformer", torch_dtype=torch.bfloat16)
    inject_token_lora(base, rank=4)
    torch.manual_seed(2)
    for layer in base.modules():
        if isinstance(layer, TokenLoRALinear):
            torch.nn.init.normal_(layer.lora_up, std=0.003)  # updates of about 1% of a weight, as trained ones
    save_token_lora(base, tmp_path / "small.safetensors")
    adapter = load_file(tmp_path / "small.safetensors")
    options = {"resolution": "32x32", "steps": "1", "dtype": "bf16", "fp8": "1"}
    pipe = create_backend("dreamstyle", config(tiny_wan, adapter=tmp_path / "small.safetensors", options=options)).pipeline()
    assert pipe.vae.dtype == pipe.image_encoder.dtype == torch.float32  # diffusers' advice for Wan

    def fp8(weight):
        return weight.to(torch.float8_e4m3fn).float()

    kept, lost, wanted = [], [], []
    for name, layer in pipe.transformer.named_modules():
        if isinstance(layer, TokenLoRALinear):
            assert layer.base.weight.dtype == torch.float8_e4m3fn and layer.lora_down.dtype == torch.bfloat16
            original = base.get_submodule(name).base.weight.detach().float()
            delta = layer.scale * adapter[f"{name}.lora_up.video.weight"].float() @ adapter[f"{name}.lora_down.weight"].float()
            kept.append((layer.base.weight.detach().float() - fp8(original)).flatten())
            lost.append((fp8(fp8(original) + delta) - fp8(original)).flatten())
            wanted.append(delta.flatten())
    kept, lost, wanted = torch.cat(kept), torch.cat(lost), torch.cat(wanted)

    def slope(got):
        return float((got * wanted).sum() / (wanted * wanted).sum())

    assert 0.8 < slope(kept) < 1.2, slope(kept)  # the update survives on average, as unbiased rounding
    assert slope(lost) < 0.5, slope(lost)  # what merging onto FP8 values kept
