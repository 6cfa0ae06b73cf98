"""Tiny random-weight Wan models of the real classes, written in the Diffusers folder layout.

Nothing is downloaded: the tokenizer is a word-level one built with `tokenizers`, every model is
random-initialised from a small config and saved with `save_pretrained`, so the backends load these
folders through the same code path as real weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SIZE = 32  # frames are SIZE x SIZE pixels: 4 x 4 latent, 2 x 2 tokens per frame


def _tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["a", "the", "in", "of", "oil", "painting", "watercolor", "sketch", "style", "anime", "cat", "dog", "city", "night"]
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(words)}}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def _shared(torch):
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler
    from transformers import UMT5Config, UMT5EncoderModel

    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           temperal_downsample=[False, True, True])
    text = UMT5EncoderModel(UMT5Config(vocab_size=32, d_model=16, d_kv=8, d_ff=32, num_layers=1, num_heads=2,
                                       relative_attention_num_buckets=8))
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    return {"vae": vae, "text_encoder": text, "tokenizer": _tokenizer(), "scheduler": scheduler}


def _transformer_kwargs() -> dict:
    return {"patch_size": (1, 2, 2), "num_attention_heads": 2, "attention_head_dim": 12, "text_dim": 16, "freq_dim": 32,
                "ffn_dim": 32, "num_layers": 2, "rope_max_seq_len": 32}


def write_i2v(root: Path, in_channels: int = 36) -> Path:
    """A Wan2.1-I2V-shaped folder (in_channels 36, CLIP image branch); another in_channels for bad cases."""
    import torch
    from diffusers import WanImageToVideoPipeline, WanTransformer3DModel
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    parts = _shared(torch)
    clip = CLIPVisionModel(CLIPVisionConfig(hidden_size=8, intermediate_size=16, num_hidden_layers=2,
                                            num_attention_heads=2, image_size=SIZE, patch_size=8))
    transformer = WanTransformer3DModel(in_channels=in_channels, out_channels=16, image_dim=8,
                                        added_kv_proj_dim=24, **_transformer_kwargs())
    processor = CLIPImageProcessor(size={"shortest_edge": SIZE}, crop_size={"height": SIZE, "width": SIZE})
    pipe = WanImageToVideoPipeline(transformer=transformer, image_encoder=clip, image_processor=processor, **parts)
    pipe.save_pretrained(root)
    return root


def write_wan22_i2v(root: Path) -> Path:
    """A Wan2.2-I2V-A14B-shaped folder: two experts (transformer, transformer_2), no CLIP image encoder."""
    import torch
    from diffusers import WanImageToVideoPipeline, WanTransformer3DModel

    parts = _shared(torch)
    experts = [WanTransformer3DModel(in_channels=36, out_channels=16, **_transformer_kwargs()) for _ in range(2)]
    WanImageToVideoPipeline(transformer=experts[0], transformer_2=experts[1], image_encoder=None, image_processor=None,
                            boundary_ratio=0.9, **parts).save_pretrained(root)
    return root


def write_vace(root: Path, experts: int = 1) -> Path:
    """A Wan2.1-VACE-shaped folder; with two experts, a Wan2.2-VACE-Fun-shaped one (transformer_2)."""
    import torch
    from diffusers import WanVACEPipeline, WanVACETransformer3DModel

    parts = _shared(torch)

    def transformer() -> WanVACETransformer3DModel:
        return WanVACETransformer3DModel(in_channels=16, out_channels=16, vace_layers=[0], vace_in_channels=96,
                                         **_transformer_kwargs())

    second = {"transformer_2": transformer(), "boundary_ratio": 0.875} if experts == 2 else {}
    WanVACEPipeline(transformer=transformer(), **second, **parts).save_pretrained(root)
    return root


def write_depth(root: Path) -> Path:
    """A Depth-Anything-shaped depth estimator folder (transformers layout) with its image processor."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config, DPTImageProcessor

    backbone = Dinov2Config(hidden_size=8, num_hidden_layers=4, num_attention_heads=2, intermediate_size=16,
                            image_size=SIZE, patch_size=8, out_features=["stage1", "stage2", "stage3", "stage4"],
                            reshape_hidden_states=False)
    config = DepthAnythingConfig(backbone_config=backbone, neck_hidden_sizes=[4, 4, 4, 4], reassemble_hidden_size=8,
                                 fusion_hidden_size=8, head_hidden_size=4, patch_size=8)
    DepthAnythingForDepthEstimation(config).save_pretrained(root)
    DPTImageProcessor(size={"height": SIZE, "width": SIZE}, keep_aspect_ratio=False).save_pretrained(root)
    return root


def write_adapter(i2v: Path, path: Path, **changes) -> Path:
    """A token LoRA for the tiny I2V transformer (or one changed by `changes`), small random up matrices."""
    import torch
    from diffusers import WanTransformer3DModel

    from engine.models.token_lora import TokenLoRALinear, inject_token_lora, save_token_lora

    if changes:
        config = {**WanTransformer3DModel.load_config(i2v / "transformer"), **changes}
        transformer = WanTransformer3DModel.from_config(config)
    else:
        transformer = WanTransformer3DModel.from_pretrained(i2v / "transformer")
    inject_token_lora(transformer, rank=4)
    torch.manual_seed(1)
    for layer in transformer.modules():
        if isinstance(layer, TokenLoRALinear):
            torch.nn.init.normal_(layer.lora_up, std=0.05)
    save_token_lora(transformer, path)
    return path


def write_pose(root: Path) -> Path:
    """A ViTPose-shaped pose estimator folder (COCO-17 heatmaps) with its image processor."""
    from transformers import VitPoseBackboneConfig, VitPoseConfig, VitPoseForPoseEstimation, VitPoseImageProcessor

    backbone = VitPoseBackboneConfig(image_size=[32, 24], patch_size=[8, 8], hidden_size=8, num_hidden_layers=2,
                                     num_attention_heads=2, mlp_ratio=2, out_indices=[2])
    VitPoseForPoseEstimation(VitPoseConfig(backbone_config=backbone, num_labels=17)).save_pretrained(root)
    VitPoseImageProcessor(size={"height": 32, "width": 24}).save_pretrained(root)
    return root


@pytest.fixture(scope="session")
def tiny_wan(tmp_path_factory) -> dict[str, Path]:
    """Folders: i2v (good), t2v (no I2V channels), vace (one and two experts), depth, pose, a lone transformer
    (wrong layout); adapters."""
    base = tmp_path_factory.mktemp("tiny_wan")
    folders = {
        "i2v": write_i2v(base / "i2v"),
        "t2v": write_i2v(base / "t2v", in_channels=16),
        "vace": write_vace(base / "vace"),
        "vace_two_experts": write_vace(base / "vace_two_experts", experts=2),
        "depth": write_depth(base / "depth"),
        "pose": write_pose(base / "pose"),
    }
    wrong = base / "wrong_layout"
    (wrong / "transformer").mkdir(parents=True)
    (wrong / "transformer" / "config.json").write_text(json.dumps({"in_channels": 36}))
    folders["wrong_layout"] = wrong
    folders["adapter"] = write_adapter(folders["i2v"], base / "adapter.safetensors")
    folders["narrow_adapter"] = write_adapter(folders["i2v"], base / "narrow.safetensors", attention_head_dim=6,
                                              added_kv_proj_dim=12)
    return folders
