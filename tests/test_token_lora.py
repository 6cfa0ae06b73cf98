"""Token-specific LoRA on a tiny Wan I2V transformer: routing, zero init, key schema, round trip."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from diffusers import WanTransformer3DModel
from safetensors import safe_open
from safetensors.torch import save_file

from engine.models.token_lora import (
    TOKEN_TYPES,
    TokenLoRALinear,
    inject_token_lora,
    load_token_lora,
    merge_token_lora,
    remove_token_lora,
    save_token_lora,
)

IDS = torch.tensor([0, 2, 2, 1, 2, 0, 1, 2, 2, 2, 1, 0])  # runs of every length, every type


def tiny_i2v() -> WanTransformer3DModel:
    torch.manual_seed(0)
    return WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=36, out_channels=16,
        text_dim=16, freq_dim=32, ffn_dim=32, num_layers=2, image_dim=8, added_kv_proj_dim=24, rope_max_seq_len=32,
    ).eval()


def forward_inputs() -> dict:
    """3 latent frames of 2 x 2 tokens = 12 tokens: first frame, one video frame, style image."""
    g = torch.Generator().manual_seed(0)
    return {
        "hidden_states": torch.randn(1, 36, 3, 4, 4, generator=g),
        "timestep": torch.tensor([500.0]),
        "encoder_hidden_states": torch.randn(1, 512, 16, generator=g),
        "encoder_hidden_states_image": torch.randn(1, 17, 8, generator=g),
        "return_dict": False,
    }


def test_targets_are_wan_self_attention_and_ffn_linears():
    model = tiny_i2v()
    inject_token_lora(model, rank=4)
    wrapped = sorted(n for n, m in model.named_modules() if isinstance(m, TokenLoRALinear))
    per_block = ["attn1.to_k", "attn1.to_out.0", "attn1.to_q", "attn1.to_v", "ffn.net.0.proj", "ffn.net.2"]
    assert wrapped == [f"blocks.{b}.{s}" for b in range(2) for s in per_block]


def test_zero_initialised_adapter_reproduces_the_base_output_exactly():
    model, inputs = tiny_i2v(), forward_inputs()
    with torch.no_grad():
        base = model(**inputs)[0]
        router = inject_token_lora(model, rank=4)
        with router.route(torch.tensor([0] * 4 + [2] * 4 + [1] * 4)):
            adapted = model(**inputs)[0]
    assert torch.equal(base, adapted)


@pytest.mark.parametrize("kind", range(len(TOKEN_TYPES)))
def test_perturbing_up_matrix_i_changes_only_tokens_of_type_i(kind):
    model = tiny_i2v()
    router = inject_token_lora(model, rank=4)
    layers = [m for m in model.modules() if isinstance(m, TokenLoRALinear)]
    torch.manual_seed(2)
    for layer in layers:
        torch.nn.init.normal_(layer.lora_up, std=0.1)
    with torch.no_grad(), router.route(IDS):
        for layer in layers:
            x = torch.randn(2, len(IDS), layer.base.in_features)
            before = layer(x)
            layer.lora_up[kind] += 0.5
            changed = (layer(x) - before).abs().amax(dim=(0, 2)) > 0
            assert torch.equal(changed, IDS == kind)


def test_routing_checks_the_sequence_length():
    model = tiny_i2v()
    router = inject_token_lora(model, rank=4)
    with router.route(torch.zeros(5, dtype=torch.long)), pytest.raises(ValueError, match="routed 5 token ids"):
        model(**forward_inputs())


def test_save_load_round_trip_and_key_schema(tmp_path):
    model, inputs = tiny_i2v(), forward_inputs()
    router = inject_token_lora(model, rank=4, alpha=8)
    torch.manual_seed(3)
    for layer in model.modules():
        if isinstance(layer, TokenLoRALinear):
            torch.nn.init.normal_(layer.lora_up, std=0.1)
    path = tmp_path / "adapter.safetensors"
    save_token_lora(model, path)
    with safe_open(str(path), framework="pt") as f:
        meta, keys = f.metadata(), set(f.keys())
    assert meta == {"format": "dreamstyle-token-lora", "version": "1", "rank": "4", "alpha": "8.0",
                    "token_types": "first_frame,style_image,video"}
    assert "blocks.0.attn1.to_q.lora_down.weight" in keys
    assert {f"blocks.1.ffn.net.2.lora_up.{k}.weight" for k in TOKEN_TYPES} <= keys
    assert len(keys) == 12 * (1 + len(TOKEN_TYPES))

    fresh = tiny_i2v()
    fresh_router = load_token_lora(fresh, path)
    ids = torch.tensor([0] * 4 + [2] * 4 + [1] * 4)
    with torch.no_grad(), router.route(ids), fresh_router.route(ids):
        assert torch.equal(model(**inputs)[0], fresh(**inputs)[0])
    remove_token_lora(fresh)
    assert not any(isinstance(m, TokenLoRALinear) for m in fresh.modules())


def test_load_refuses_other_files_and_shapes(tmp_path):
    plain = tmp_path / "plain.safetensors"
    save_file({"x": torch.zeros(1)}, str(plain))
    with pytest.raises(ValueError, match="not a DreamStyle token LoRA"):
        load_token_lora(tiny_i2v(), plain)
    small = tiny_i2v()
    inject_token_lora(small, rank=4, targets=["blocks.0.attn1.to_q"])
    wide = tmp_path / "wide.safetensors"
    save_token_lora(small, wide)
    narrow = WanTransformer3DModel(num_attention_heads=2, attention_head_dim=6, in_channels=36, out_channels=16,
                                   text_dim=16, freq_dim=32, ffn_dim=32, num_layers=1, image_dim=8,
                                   added_kv_proj_dim=12)
    with pytest.raises(ValueError, match="has shape"):
        load_token_lora(narrow, wide)


def test_load_refuses_non_finite_weights_naming_the_tensor(tmp_path):
    """A damaged adapter's NaN rendered all-black frames, reported done."""
    model = tiny_i2v()
    inject_token_lora(model, rank=4, targets=["blocks.0.attn1.to_q"])
    with torch.no_grad():
        model.blocks[0].attn1.to_q.lora_up[1, 0, 0] = float("nan")
    path = tmp_path / "nan.safetensors"
    save_token_lora(model, path)
    with pytest.raises(ValueError, match=f"{path}: blocks.0.attn1.to_q.lora_up.style_image.weight holds NaN or "
                                         "infinite values"):
        load_token_lora(tiny_i2v(), path)


def test_up_matrices_load_by_their_key_names_whatever_the_metadata_order(tmp_path):
    from safetensors.torch import load_file

    model = tiny_i2v()
    inject_token_lora(model, rank=4)
    torch.manual_seed(5)
    for layer in model.modules():
        if isinstance(layer, TokenLoRALinear):
            torch.nn.init.normal_(layer.lora_up, std=0.1)
    save_token_lora(model, tmp_path / "adapter.safetensors")
    tensors = load_file(str(tmp_path / "adapter.safetensors"))
    reordered = tmp_path / "reordered.safetensors"
    save_file(tensors, str(reordered), metadata={**_metadata(tmp_path / "adapter.safetensors"),
                                                 "token_types": "video,style_image,first_frame"})
    fresh = tiny_i2v()
    load_token_lora(fresh, reordered)
    for name, layer in fresh.named_modules():
        if isinstance(layer, TokenLoRALinear):
            for i, kind in enumerate(TOKEN_TYPES):  # slot i is routed for TOKEN_TYPES[i] tokens
                assert torch.equal(layer.lora_up[i], tensors[f"{name}.lora_up.{kind}.weight"]), (name, kind)


@pytest.mark.parametrize(
    ("token_types", "drop", "message"),
    [
        ("first_frame,style,video", "", "unknown: style; missing: style_image"),
        ("first_frame,video", ".style_image.", "missing: style_image"),
    ],
)
def test_load_refuses_unknown_or_missing_token_types_naming_the_file(tmp_path, token_types, drop, message):
    model = tiny_i2v()
    inject_token_lora(model, rank=4, targets=["blocks.0.attn1.to_q"])
    save_token_lora(model, tmp_path / "adapter.safetensors")
    with safe_open(str(tmp_path / "adapter.safetensors"), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys() if not (drop and drop in k)}
    path = tmp_path / "odd.safetensors"
    save_file(tensors, str(path), metadata={**_metadata(tmp_path / "adapter.safetensors"), "token_types": token_types})
    with pytest.raises(ValueError, match=f"adapter {path}: metadata token_types='{token_types}'.*{message}"):
        load_token_lora(tiny_i2v(), path)


def _metadata(path) -> dict:
    with safe_open(str(path), framework="pt") as f:
        return f.metadata()


def test_merged_video_update_matches_the_routed_adapter():
    model, inputs = tiny_i2v(), forward_inputs()
    router = inject_token_lora(model, rank=4)
    torch.manual_seed(4)
    for layer in model.modules():
        if isinstance(layer, TokenLoRALinear):
            torch.nn.init.normal_(layer.lora_up, std=0.1)
    ids = torch.tensor([0] * 4 + [2] * 4 + [1] * 4)
    with torch.no_grad(), router.route(ids):
        routed = model(**inputs)[0]
        merge_token_lora(model)
        merged = model(**inputs)[0]
    torch.testing.assert_close(merged, routed, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="merged"):
        save_token_lora(model, "unused.safetensors")


def test_merging_onto_fp8_weights_is_refused():
    model = tiny_i2v()
    inject_token_lora(model, rank=4)
    model.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=torch.float32)
    with pytest.raises(ValueError, match="8 bits"):
        merge_token_lora(model)
