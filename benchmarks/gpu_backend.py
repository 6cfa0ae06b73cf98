"""Seconds per denoising step: Wan2.1 I2V 14B base input vs DreamStyle input, bf16 and FP8.

A step is what the pipeline runs per timestep with classifier-free guidance: two transformer
forwards (conditional, unconditional). The transformer has the real 14B I2V configuration with random
weights (a step's time does not depend on weight values), at 480P (480x832) and 81 frames:
    base        21 latent frames, the plain I2V input
    lora only   21 latent frames through the token-specific LoRA (rank 64), to split the cost
    dreamstyle  23 latent frames (prepended first frame + appended style image) + token LoRA
    merged      the same with the video tokens' update folded into the weights (what the backend runs)
FP8 is diffusers' layerwise casting (FP8 weight storage, bf16 compute), applied after the merge. Every case
runs with torch's default attention kernel; base and merged also with each further `--attention` kernel
(default: cuDNN's, the backend's `attention=cudnn`). Prints a table and the ratios to the base step of the
same precision and kernel (target <= 1.15) with peak GPU memory; `--json PATH` also writes the figures.
`--tiny` runs a two-layer model at 32x32 on any device, to test the script itself.

    python benchmarks/gpu_backend.py [--steps 3] [--attention native,cudnn] [--json out.json] [--tiny]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import torch
from diffusers import WanTransformer3DModel

sys.path.insert(0, str(Path(__file__).parents[1]))  # run as a script from a plain checkout (no install)
from engine.backends._diffusion import ATTENTION  # noqa: E402
from engine.models.token_lora import (  # noqa: E402
    TOKEN_TYPES,
    TokenRouter,
    inject_token_lora,
    merge_token_lora,
    remove_token_lora,
)

I2V_14B = {
    "patch_size": (1, 2, 2), "num_attention_heads": 40, "attention_head_dim": 128, "in_channels": 36, "out_channels": 16,
    "text_dim": 4096, "freq_dim": 256, "ffn_dim": 13824, "num_layers": 40, "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads", "eps": 1e-6, "image_dim": 1280, "added_kv_proj_dim": 5120, "rope_max_seq_len": 1024,
}
TINY = {**I2V_14B, "num_attention_heads": 2, "attention_head_dim": 12, "text_dim": 16, "ffn_dim": 32,
        "num_layers": 2, "image_dim": 8, "added_kv_proj_dim": 24}
FIRST, STYLE, VIDEO = (TOKEN_TYPES.index(k) for k in ("first_frame", "style_image", "video"))


def build(config: dict, device: str) -> WanTransformer3DModel:
    """The transformer, random-initialised straight on `device` in bf16."""
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            model = WanTransformer3DModel(**config)
    finally:
        torch.set_default_dtype(previous)
    return model.eval().requires_grad_(False)


def inputs(config: dict, frames: int, height: int, width: int, device: str) -> dict:
    """One forward's inputs: [noisy | mask | condition] latents, 512 text tokens, 257 CLIP tokens."""
    latent_frames = (frames - 1) // 4 + 1
    image_tokens = 257 if config is I2V_14B else 17
    return {
        "hidden_states": torch.randn(1, config["in_channels"], latent_frames, height // 8, width // 8, device=device,
                                  dtype=torch.bfloat16),
        "timestep": torch.tensor([500.0], device=device),
        "encoder_hidden_states": torch.randn(1, 512, config["text_dim"], device=device, dtype=torch.bfloat16),
        "encoder_hidden_states_image": torch.randn(1, image_tokens, config["image_dim"], device=device,
                                                dtype=torch.bfloat16),
        "return_dict": False,
    }


def with_extra_frames(kwargs: dict) -> dict:
    """The DreamStyle input: one latent frame prepended and one appended."""
    x = kwargs["hidden_states"]
    return {**kwargs, "hidden_states": torch.cat([x[:, :, :1], x, x[:, :, :1]], dim=2)}


def token_types(kwargs: dict, extra: bool) -> torch.Tensor:
    _, _, f, h, w = kwargs["hidden_states"].shape
    per_frame = (h // 2) * (w // 2)
    frames = [VIDEO] * f if not extra else [FIRST] + [VIDEO] * (f - 2) + [STYLE]
    return torch.tensor(frames).repeat_interleave(per_frame)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_steps(step: Callable[[], None], steps: int, device: str) -> tuple[float, float]:
    """(seconds per step after one warm-up step, peak GiB allocated)."""
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    step()
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync(device)
    seconds = (time.perf_counter() - start) / steps
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else 0.0
    return seconds, peak


def denoising_step(model: WanTransformer3DModel, kwargs: dict, router: TokenRouter | None,
                   ids: torch.Tensor) -> Callable[[], None]:
    """One denoising step: conditional and unconditional forward (classifier-free guidance), routed as the
    pipeline routes them when a token LoRA is in."""

    @torch.inference_mode()
    def step() -> None:
        for _ in range(2):
            with router.route(ids) if router is not None else nullcontext():
                model(**kwargs)

    return step


def run(config: dict, frames: int, height: int, width: int, steps: int, device: str,
        kernels: list[str]) -> list[dict]:
    """Every case with the first attention kernel, base and merged with each other one; bf16 first, then FP8
    as the backend loads it: the video update merged in bf16 before casting (merging onto FP8 values would
    round it away), then the unmerged cases on the cast model."""
    model = build(config, device)
    base = inputs(config, frames, height, width, device)
    extra = with_extra_frames(base)
    unmerged = [("base", base, False, False), ("lora only", base, False, True), ("dreamstyle", extra, True, True)]
    rows: list[dict] = []

    def measure(precision: str, kernel: str, name: str, kwargs: dict, has_extra: bool,
                router: TokenRouter | None) -> None:
        if not rows or rows[-1]["attention"] != kernel:
            model.set_attention_backend(ATTENTION[kernel])
        seconds, peak = time_steps(denoising_step(model, kwargs, router, token_types(kwargs, has_extra)), steps, device)
        tokens = kwargs["hidden_states"][0, 0].numel() // 4
        rows.append({"precision": precision, "attention": kernel, "input": name, "tokens": tokens,
                     "s_per_step": seconds, "peak_gib": peak})
        print(f"{precision:5} {kernel:9} {name:11} tokens={tokens:6d} {seconds:8.3f} s/step  peak {peak:6.1f} GiB",
              flush=True)

    def measure_unmerged(precision: str) -> None:
        for kernel in kernels:
            for name, kwargs, has_extra, lora in unmerged if kernel == kernels[0] else unmerged[:1]:
                measure(precision, kernel, name, kwargs, has_extra, inject_token_lora(model, rank=64) if lora else None)
                if lora:
                    remove_token_lora(model)

    measure_unmerged("bf16")
    router = inject_token_lora(model, rank=64)
    merge_token_lora(model)
    for kernel in kernels:
        measure("bf16", kernel, "merged", extra, True, router)
    model.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=torch.bfloat16)
    for kernel in kernels:
        measure("fp8", kernel, "merged", extra, True, router)
    remove_token_lora(model)
    measure_unmerged("fp8")
    return rows


def ratios(rows: list[dict]) -> dict[str, float]:
    """Each case over the base step of the same precision and kernel; keys name the kernel after the first."""
    by = {(r["precision"], r["attention"], r["input"]): r["s_per_step"] for r in rows}
    first = rows[0]["attention"]
    return {f"{p} {name}/base" + ("" if kernel == first else f" ({kernel})"): seconds / by[(p, kernel, "base")]
            for (p, kernel, name), seconds in by.items() if name != "base"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3, help="timed steps per case (after one warm-up step)")
    parser.add_argument("--tiny", action="store_true", help="a two-layer model at 32x32, 9 frames (tests the script)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--attention", help="attention kernels, comma-separated, the first for every case "
                        f"({', '.join(ATTENTION)}; default native,cudnn on a GPU, native on a CPU)")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    kernels = (args.attention or ("native,cudnn" if device == "cuda" else "native")).split(",")
    if unknown := set(kernels) - set(ATTENTION):
        parser.error(f"--attention: no kernel {', '.join(sorted(unknown))} (one of {', '.join(ATTENTION)})")
    card = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    config, frames, height, width = (TINY, 9, 32, 32) if args.tiny else (I2V_14B, 81, 480, 832)
    print(f"{card}: Wan2.1 I2V {'tiny' if args.tiny else '14B'}, {frames} frames at {width}x{height}, "
          f"torch {torch.__version__}", flush=True)
    started = time.perf_counter()
    rows = run(config, frames, height, width, args.steps, device, kernels)
    figures = ratios(rows)
    for key, ratio in figures.items():
        target = "" if "lora" in key else (" (meets the 1.15 target)" if ratio <= 1.15 else " (misses the 1.15 target)")
        print(f"{key} = {ratio:.3f}{target}")
    print(f"total {time.perf_counter() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"card": card, "torch": torch.__version__, "rows": rows, "ratios": figures},
                                        indent=2))


if __name__ == "__main__":
    main()
