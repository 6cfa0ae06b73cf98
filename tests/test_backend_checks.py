"""Start checks, per-job checks and load failures of the diffusion backends, on tiny real Wan folders."""

from __future__ import annotations

import json
import re
import shutil
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("diffusers")

from engine.backends import _diffusion as dif
from engine.backends.base import BackendConfig, BackendError, Guidance
from engine.backends.registry import create_backend
from wan_tiny import write_adapter, write_wan22_i2v

RNG = np.random.default_rng(2)
SHOT = RNG.integers(0, 256, (5, 24, 40, 3), dtype=np.uint8)
STYLE = RNG.integers(0, 256, (30, 20, 3), dtype=np.uint8)


def dreamstyle(folders, **changes) -> BackendConfig:
    base = {"model_dir": folders["i2v"], "adapter": folders["adapter"], "device": "cpu",
            "options": {"resolution": "32x32", "steps": "1"}}
    return BackendConfig(**{**base, **changes})


def vace(folders, **options) -> BackendConfig:
    return BackendConfig(model_dir=folders["vace"], device="cpu",
                         options={"resolution": "32x32", "steps": "1", "depth_model": str(folders["depth"]), **options})


@pytest.fixture
def no_loading(monkeypatch):
    """Fails a test that reads weights: everything here must be found from JSON and safetensors headers."""
    from diffusers import WanVACEPipeline

    from engine.models.wan_v2v import WanV2VPipeline

    for cls in (WanV2VPipeline, WanVACEPipeline):
        monkeypatch.setattr(cls, "from_pretrained", lambda *a, **k: pytest.fail("weights were loaded"))


@pytest.fixture(scope="module")
def unloaded(tiny_wan):
    """A vace backend whose pipeline is never loaded (for the per-job checks)."""
    return create_backend("vace", vace(tiny_wan))


# -- steps, guidance_scale, conditioning_scale, resolution: refused at start and per job ---------------


@pytest.mark.parametrize(
    ("key", "value", "rule", "good"),
    [
        ("steps", "0", "a whole number, 1 or more", "1"),  # was an IndexError in the scheduler
        ("steps", "1.5", "a whole number, 1 or more", "2"),  # was a ValueError from int()
        ("steps", "inf", "a whole number, 1 or more", "50"),
        ("guidance_scale", "inf", "a finite number, 0 or more", "0"),  # was all-black frames, reported done
        ("conditioning_scale", "inf", "a finite number, 0 or more", "0.5"),
    ],
)
def test_bad_numbers_are_refused_at_start_and_per_job(tiny_wan, unloaded, key, value, rule, good):
    with pytest.raises(BackendError, match=re.escape(f"option {key}={value!r} to be {rule}")):
        create_backend("vace", vace(tiny_wan, **{key: value}))
    with pytest.raises(BackendError, match=re.escape(f"{key}={value!r} must be {rule}")):
        unloaded.check(Guidance(prompt="cat"), {key: value})
    assert dif.option_problems(vace(tiny_wan, **{key: good})) == []
    unloaded.check(Guidance(prompt="cat"), {key: good})


@pytest.mark.parametrize(
    ("value", "why"),
    [("33x33", "the nearest is 32x32"), ("50x20", "the nearest is 48x16"), ("0x0", "both above 0"),
     ("-32x32", "both above 0"), ("48x0", "both above 0")],
)
def test_resolutions_the_model_cannot_take_exactly_are_refused(tiny_wan, unloaded, value, why):
    rule = re.escape(f"480p, 720p or WIDTHxHEIGHT in multiples of 16 ({why})")
    with pytest.raises(BackendError, match=re.escape(f"option resolution={value!r} to be ") + rule):
        create_backend("vace", vace(tiny_wan, resolution=value))
    with pytest.raises(BackendError, match=re.escape(f"resolution={value!r} must be ") + rule):
        unloaded.check(Guidance(prompt="cat"), {"resolution": value})
    with pytest.raises(BackendError, match=rule):
        dif.model_size((24, 40), value)
    assert dif.model_size((24, 40), "48x32") == (32, 48)  # a valid size is kept exactly
    assert dif.model_size((1080, 1920), "480p") == (480, 848)  # an area is rounded to multiples of 16


@pytest.mark.parametrize(("backend", "param"), [("dreamstyle", "fp8"), ("dreamstyle", "dtype"), ("vace", "offload"),
                                              ("vace", "distill_lora"), ("dreamstyle", "conditioning_scale")])
def test_a_job_param_the_backend_does_not_read_per_job_is_refused(tiny_wan, tmp_path, backend, param):
    """Load-time options (and VACE's conditioning_scale for dreamstyle) were taken as job params and ignored."""
    from engine.convert import InvalidRequest, check_runnable
    from engine.render import ShotRequest

    config = dreamstyle(tiny_wan) if backend == "dreamstyle" else vace(tiny_wan)
    request = ShotRequest("k", tmp_path / "a.mov", 0, 5, None, "shot", backend, tmp_path / "out", prompt="cat",
                          params={param: "1"})
    refusal = re.escape(f"params[{param!r}]: the {backend} backend takes no such param")
    with pytest.raises(InvalidRequest, match=refusal):
        check_runnable(request, config)
    takes = {"steps", "guidance_scale", "negative_prompt", "resolution", "overlap", "color_match"}
    for key in takes | ({"conditioning_scale"} if backend == "vace" else set()):
        with pytest.raises(InvalidRequest, match="shot.media"):  # past the params, to the media that is not there
            check_runnable(replace(request, params={key: "1"}), config)


@pytest.mark.parametrize("key", ["fp8", "compile"])
def test_a_switch_option_is_on_or_off_or_refused_at_start(tiny_wan, key):
    """`fp8=fp8_e4m3` (or `compile=max-autotune`) ran silently without FP8 (compile)."""
    for value in ("1", "On", "true", "0", "off", "No"):
        assert dif.option_problems(vace(tiny_wan, **{key: value})) == []
    with pytest.raises(BackendError, match=re.escape(f"option {key}='fp8_e4m3' to be 1 or 0 (also on/off, true/false")):
        create_backend("vace", vace(tiny_wan, **{key: "fp8_e4m3"}))


# -- model folders: whole, of the right kind, or refused at start naming what is wrong -----------------


@pytest.fixture(scope="module")
def broken(tiny_wan, tmp_path_factory) -> dict[str, Path]:
    """Copies of the tiny I2V folder, each missing or damaging one thing; `sharded` is whole."""
    from diffusers import WanTransformer3DModel

    base = tmp_path_factory.mktemp("broken")

    def clone(name: str) -> Path:
        return Path(shutil.copytree(tiny_wan["i2v"], base / name))

    shutil.rmtree(clone("no_text_encoder") / "text_encoder")
    shutil.rmtree(clone("no_image_encoder") / "image_encoder")
    (clone("no_transformer_weights") / "transformer" / "diffusion_pytorch_model.safetensors").unlink()
    vae = clone("cut_vae") / "vae" / "diffusion_pytorch_model.safetensors"
    vae.write_bytes(vae.read_bytes()[:-100])
    config = clone("wrong_layers") / "transformer" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "num_layers": 3}))
    transformer = WanTransformer3DModel.from_pretrained(tiny_wan["i2v"] / "transformer")
    for name in ("sharded", "shard_missing"):
        (clone(name) / "transformer" / "diffusion_pytorch_model.safetensors").unlink()
        transformer.save_pretrained(base / name / "transformer", max_shard_size="40KB")
    sorted((base / "shard_missing" / "transformer").glob("*-of-*.safetensors"))[-1].unlink()
    return {"base": base}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("no_text_encoder", "text_encoder/ is missing (model_index.json lists it)"),
        ("no_image_encoder", "image_encoder/ is missing (model_index.json lists it)"),
        ("no_transformer_weights", "transformer holds no weights"),
        ("cut_vae", "diffusion_pytorch_model.safetensors is cut short"),
        ("wrong_layers", "config.json says num_layers=3 but its weights hold 2 blocks"),
    ],
)
def test_incomplete_model_folders_are_refused_at_start(tiny_wan, broken, no_loading, name, message):
    folder = broken["base"] / name
    with pytest.raises(BackendError, match=re.escape(f"{folder} is incomplete or damaged: ") + ".*" + re.escape(message)
                       + ".*copy or download it again"):
        create_backend("dreamstyle", dreamstyle(tiny_wan, model_dir=folder))


def test_a_sharded_checkpoint_needs_every_shard_its_index_names(tiny_wan, broken):
    whole, lacking = broken["base"] / "sharded", broken["base"] / "shard_missing"
    assert create_backend("dreamstyle", dreamstyle(tiny_wan, model_dir=whole)).pipeline() is not None
    with pytest.raises(BackendError, match=re.escape(
        f"{lacking}/transformer lacks 1 of the 3 shards diffusion_pytorch_model.safetensors.index.json names "
        "(diffusion_pytorch_model-00003-of-00003.safetensors)")):
        create_backend("dreamstyle", dreamstyle(tiny_wan, model_dir=lacking))


def test_a_folder_that_fails_to_load_says_which_and_what_to_do(tiny_wan, tmp_path):
    folder = Path(shutil.copytree(tiny_wan["i2v"], tmp_path / "i2v"))
    vae = folder / "vae" / "config.json"
    vae.write_text(json.dumps({**json.loads(vae.read_text()), "base_dim": 4}))  # no longer the weights' widths
    backend = create_backend("dreamstyle", dreamstyle(tiny_wan, model_dir=folder))  # only headers are read at start
    with pytest.raises(BackendError, match=re.escape(f"model folder {folder} could not be loaded: ")
                       + ".*decoder.conv_in.*copy or download it again"):
        backend.pipeline()


def test_a_wan22_i2v_folder_is_refused_for_what_it_is(tiny_wan, tmp_path, no_loading):
    folder = write_wan22_i2v(tmp_path / "wan22_i2v")
    with pytest.raises(BackendError, match="a Wan2.2 image-to-video model .*two experts.* no CLIP image branch.*does "
                                           "not support.*Wan2.1-I2V-14B.*or the vace backend"):
        create_backend("dreamstyle", dreamstyle(tiny_wan, model_dir=folder))


# -- adapters: whole token LoRAs that fit the model, or refused at start naming the file ----------------


@pytest.fixture(scope="module")
def adapters(tiny_wan, tmp_path_factory) -> Path:
    """Malformed copies of the tiny adapter."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    base, source = tmp_path_factory.mktemp("adapters"), tiny_wan["adapter"]
    tensors = load_file(str(source))
    with safe_open(str(source), "pt") as f:
        meta = f.metadata()
    data = source.read_bytes()
    (base / "cut.safetensors").write_bytes(data[: len(data) - 64])
    save_file(tensors, str(base / "no_rank.safetensors"), metadata={k: v for k, v in meta.items() if k != "rank"})
    save_file(tensors, str(base / "version2.safetensors"), metadata={**meta, "version": "2"})
    save_file({k: v.mul(100).to(torch.int8) for k, v in tensors.items()}, str(base / "int8.safetensors"), metadata=meta)
    save_file({k: v for k, v in tensors.items() if ".style_image." not in k}, str(base / "two_types.safetensors"),
              metadata={**meta, "token_types": "first_frame,video"})
    save_file({k: v for k, v in tensors.items() if k != "blocks.1.ffn.net.2.lora_up.video.weight"},
              str(base / "missing_up.safetensors"), metadata=meta)
    block5 = {k.replace("blocks.1.", "blocks.5."): v.clone() for k, v in tensors.items() if "blocks.1." in k}
    save_file({**tensors, **block5}, str(base / "extra_block.safetensors"), metadata=meta)
    cross = {k.replace(".attn1.to_k.", ".attn2.to_k."): v.clone() for k, v in tensors.items() if ".attn1.to_k." in k}
    save_file({**tensors, **cross}, str(base / "cross_attention.safetensors"), metadata=meta)
    write_adapter(tiny_wan["i2v"], base / "ffn64.safetensors", ffn_dim=64)
    return base


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("cut", " is cut short: its header describes"),  # was SafetensorError at render
        ("no_rank", ": its metadata lacks rank"),  # was KeyError
        ("version2", ": metadata version='2'; this engine reads version 1"),  # was read as version 1
        ("int8", ": tensor blocks.0.attn1.to_k.lora_down.weight is I8; a token LoRA's tensors are floating point"),
        ("two_types", ": metadata token_types='first_frame,video' must name first_frame, style_image, video once "
                      "each (missing: style_image)"),  # was IndexError
        ("missing_up", ": blocks.1.ffn.net.2 lacks lora_up.video.weight"),  # was KeyError
        ("ffn64", ": blocks.0.ffn.net.0.proj maps 24 to 64 features, this model's maps 24 to 32"),  # was RuntimeError
        ("extra_block", " has layer blocks.5.attn1.to_k, this model has 2 blocks"),
        # was "token LoRA routed 8 token ids but got 512 tokens" mid-render: attn2.to_k sees the prompt's tokens
        ("cross_attention", " has layer blocks.0.attn2.to_k, which is not one of the self-attention and FFN linears "
                            "a token LoRA adapts"),
    ],
)
def test_malformed_adapters_are_refused_at_start(tiny_wan, adapters, no_loading, name, message):
    path = adapters / f"{name}.safetensors"
    with pytest.raises(BackendError, match=re.escape(f"adapter {path}{message}")):
        create_backend("dreamstyle", dreamstyle(tiny_wan, adapter=path))


# -- vace: control folders of the right kind; a failed load keeps nothing; small style images ---------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (lambda f: {"depth_model": str(f["pose"])}, "its config.json says model_type='vitpose', not depth_anything"),
        (lambda f: {"control": "pose", "pose_model": str(f["depth"])},
         "its config.json says model_type='depth_anything', not vitpose"),
    ],
)
def test_a_control_folder_of_the_other_kind_is_refused_at_start(tiny_wan, options, message):
    with pytest.raises(BackendError, match=re.escape(message)):
        create_backend("vace", vace(tiny_wan, **options(tiny_wan)))


def test_a_control_folder_without_weights_is_refused_at_start(tiny_wan, tmp_path):
    depth = Path(shutil.copytree(tiny_wan["depth"], tmp_path / "depth"))
    (depth / "model.safetensors").unlink()
    with pytest.raises(BackendError, match=re.escape(f"depth_model={depth}: {depth} holds no weights")):
        create_backend("vace", vace(tiny_wan, depth_model=str(depth)))


@pytest.mark.allow_error_logs  # transformers logs its report of the mismatched weights
def test_a_control_model_that_fails_to_load_keeps_nothing_and_the_next_job_loads_again(tiny_wan, tmp_path):
    depth = Path(shutil.copytree(tiny_wan["depth"], tmp_path / "depth"))
    config = depth / "config.json"
    good = config.read_text()
    config.write_text(json.dumps({**json.loads(good), "fusion_hidden_size": 16}))  # the weights no longer fit
    backend = create_backend("vace", vace(tiny_wan, depth_model=str(depth)))
    guidance = Guidance(prompt="ink")
    failed = re.escape(f"control model folder {depth} (depth_model) could not be loaded")
    with pytest.raises(BackendError, match=failed):
        backend.render_segment(SHOT, None, guidance, 0, {})
    config.write_text(good)  # fixed: the next job loads everything again
    assert backend.render_segment(SHOT, None, guidance, 0, {}).shape == SHOT.shape


def test_vace_refuses_a_style_image_under_8_pixels_a_side(tiny_wan, unloaded):
    for shape in ((6, 300, 3), (300, 6, 3)):
        style = np.zeros(shape, np.uint8)
        with pytest.raises(BackendError, match=f"style image is {shape[1]}x{shape[0]} pixels; the vace backend needs "
                                               "at least 8 pixels a side"):
            unloaded.check(Guidance(style_image=style), {})
    smallest = Guidance(style_image=RNG.integers(0, 256, (8, 20, 3), dtype=np.uint8))
    unloaded.check(smallest, {})
    assert unloaded.render_segment(SHOT, None, smallest, 0, {}).shape == SHOT.shape


# -- several engine workers on one backend -------------------------------------------------------------


def _at_once(work, count: int = 2) -> list:
    """Runs `work(i)` in `count` threads started together; returns results (or exceptions) by i."""
    barrier, results = threading.Barrier(count), [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:  # noqa: BLE001 - reported by the assertion
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_workers_starting_together_share_one_pipeline_load(tiny_wan):
    backend = create_backend("dreamstyle", dreamstyle(tiny_wan))
    first, second = _at_once(lambda i: backend.pipeline())
    assert first is second, (first, second)


def test_workers_rendering_together_get_what_each_gets_alone(tiny_wan):
    backend = create_backend("dreamstyle", dreamstyle(tiny_wan))
    guidances = [Guidance(prompt="oil painting"), Guidance(prompt="cat", style_image=STYLE)]  # other token counts
    params = {"steps": "4"}
    alone = [backend.render_segment(SHOT, None, g, i, params) for i, g in enumerate(guidances)]
    together = _at_once(lambda i: backend.render_segment(SHOT, None, guidances[i], i, params))
    for i in range(2):
        assert isinstance(together[i], np.ndarray) and np.array_equal(together[i], alone[i]), together[i]
