"""Plumbing shared by the diffusion backends: folder checks, framing, options and memory settings.

Everything above `load_pipeline` is numpy/cv2 only, so `missing()` and the registry stay cheap.
Options come from `BackendConfig.options` (strings, `--backend-option key=value`); render params override
`steps`, `guidance_scale` and `negative_prompt` per job:
    dtype=bf16|fp16|fp32          weights' dtype (default bf16 on a GPU, fp32 on a CPU)
    offload=none|model|group      CPU offload (model: a 24 GB card; group: less memory, slower)
    fp8=1                         FP8 weight storage, bf16 compute (layerwise casting)
    distill_lora=PATH             a step-distillation LoRA (e.g. lightx2v, for the model's own task: I2V for
                                  dreamstyle, T2V for vace): defaults to 4 steps, guidance 1
    cache=fbc[:THRESHOLD]         First Block Cache (skips blocks when step outputs barely change)
    compile=1                     torch.compile of the repeated transformer blocks
    resolution=480p|720p|WxH      model size: area of 480p/720p at the shot's aspect, or exactly WxH
    attention=native|cudnn|flash|efficient|math
                                  the attention kernel (native: torch chooses; cudnn is the fastest on
                                  Hopper GPUs; all but native and math need a CUDA GPU)
The VAE and the CLIP image encoder always run in float32 (diffusers' advice for Wan: bf16 decoding
loses detail, and chained segments compound it). Every option applies to both experts of a Wan2.2
folder (`transformer` and `transformer_2`).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .base import FIRST_FRAME, STYLE_IMAGE, TEXT, Backend, BackendConfig, BackendError, Guidance

__all__ = [
    "ATTENTION",
    "OPTION_KEYS",
    "Box",
    "DiffusionBackend",
    "check_numbers",
    "folder_missing",
    "gpu_missing",
    "letterbox",
    "load_pipeline",
    "ml_missing",
    "model_size",
    "option",
    "option_problems",
    "pad_frames",
    "unletterbox",
]

AREAS = {"480p": 480 * 832, "720p": 720 * 1280}


def ml_missing() -> list[str]:
    """The ML extra when torch/diffusers are not installed."""
    absent = [m for m in ("torch", "diffusers", "transformers") if importlib.util.find_spec(m) is None]
    return [f"{', '.join(absent)} (pip install 'dreamstyle[ml]')"] if absent else []


def gpu_missing(config: BackendConfig) -> list[str]:
    """A CUDA GPU, unless the engine was told to run on the CPU (tiny test models only)."""
    if config.device.startswith("cpu") or os.path.exists("/proc/driver/nvidia/version") or shutil.which("nvidia-smi"):
        return []
    return ["a CUDA GPU (or --device cpu, practical only for tiny test models)"]


def folder_missing(
    model_dir: Path | None, what: str, transformer_check: Callable[[dict[str, Any]], str | None]
) -> list[str]:
    """Checks a Diffusers folder by its JSON files alone; `transformer_check(config)` returns a problem or None."""
    if model_dir is None:
        return [f"a model folder (--model-dir): {what}"]
    folder = Path(model_dir)
    if not folder.is_dir():
        return [f"model folder {folder} does not exist (--model-dir: {what})"]
    absent = [p for p in ("model_index.json", "transformer/config.json", "vae/config.json") if not (folder / p).is_file()]
    if absent:
        return [f"{folder} is not a Diffusers model folder (no {', '.join(absent)}); expected {what}"]
    problem = transformer_check(json.loads((folder / "transformer/config.json").read_text()))
    return [f"{folder}: {problem}"] if problem else []


# Every `--backend-option` key the backends read (`control`, `depth_model`, `pose_model`: vace's, in engine/control.py).
OPTION_KEYS = frozenset({
    "dtype", "offload", "fp8", "distill_lora", "cache", "compile", "resolution", "steps", "guidance_scale",
    "negative_prompt", "conditioning_scale", "control", "depth_model", "pose_model", "attention",
})
# `attention=` values and diffusers' names for them (torch's own SDPA kernels: no extra package, no download).
ATTENTION = {"native": "native", "cudnn": "_native_cudnn", "flash": "_native_flash",
             "efficient": "_native_efficient", "math": "_native_math"}
CHOICES = {"dtype": ("bf16", "fp16", "fp32"), "offload": ("none", "model", "group"), "attention": tuple(ATTENTION)}
NUMBERS = ("steps", "guidance_scale", "conditioning_scale")


def option_problems(config: BackendConfig) -> list[str]:
    """Option values that cannot work with this model folder, found before any weights are read."""
    options = config.options
    problems = [
        f"option {key}={options[key]!r} to be one of {', '.join(values)}"
        for key, values in CHOICES.items()
        if key in options and options[key] not in values
    ]
    kind, _, threshold = options.get("cache", "fbc").partition(":")
    if kind != "fbc" or (threshold and not threshold.replace(".", "", 1).isdigit()):
        problems.append(f"option cache={options['cache']!r} to be fbc or fbc:THRESHOLD")
    try:
        model_size((9, 16), options.get("resolution", "480p"))
    except (BackendError, ValueError):
        problems.append(f"option resolution={options['resolution']!r} to be 480p, 720p or WIDTHxHEIGHT")
    if options.get("attention", "native") not in ("native", "math") and config.device.startswith("cpu"):
        problems.append(f"option attention={options['attention']!r} to run on a CUDA GPU (on a CPU use native)")
    problems += [f"option {key}={options[key]!r} to be a non-negative number"
                 for key in NUMBERS if key in options and not _non_negative(options[key])]
    if "distill_lora" in options and not Path(options["distill_lora"]).is_file():
        problems.append(f"option distill_lora: file {options['distill_lora']} does not exist")
    elif "distill_lora" in options and config.model_dir and (Path(config.model_dir) / "transformer_2").is_dir():
        problems.append(
            f"no option distill_lora with {config.model_dir}: its two experts (transformer, transformer_2) each "
            "need their own distillation LoRA, which is not supported yet; leave distill_lora out"
        )
    return problems


def _non_negative(value: str) -> bool:
    try:
        return float(value) >= 0
    except ValueError:
        return False


def check_numbers(config: BackendConfig, params: dict[str, str]) -> None:
    """Raises BackendError when a numeric param (or the option it falls back to) does not parse."""
    for key in NUMBERS:
        value = params.get(key) or config.options.get(key)
        if value is not None and not _non_negative(value):
            raise BackendError(f"{key}={value!r} must be a non-negative number")


@dataclass(frozen=True)
class Box:
    """Where a shot's frames sit inside the model's canvas."""

    top: int
    left: int
    height: int
    width: int


def model_size(shape: tuple[int, int], resolution: str, multiple: int = 16) -> tuple[int, int]:
    """(height, width) for the model: `resolution`'s area at the shot's aspect, or an exact `WxH`."""
    if "x" in resolution:
        width, height = (int(v) for v in resolution.lower().split("x"))
    elif resolution in AREAS:
        aspect = shape[1] / shape[0]
        width, height = math.sqrt(AREAS[resolution] * aspect), math.sqrt(AREAS[resolution] / aspect)
    else:
        raise BackendError(f"resolution {resolution!r}: use 480p, 720p or WIDTHxHEIGHT")
    height, width = (max(multiple, round(v / multiple) * multiple) for v in (height, width))
    return height, width


def letterbox(frames: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, Box]:
    """Fits (T, H, W, 3) frames inside `size` keeping their aspect, padding with black."""
    height, width = size
    scale = min(height / frames.shape[1], width / frames.shape[2])
    inner_h, inner_w = max(1, round(frames.shape[1] * scale)), max(1, round(frames.shape[2] * scale))
    box = Box((height - inner_h) // 2, (width - inner_w) // 2, inner_h, inner_w)
    out = np.zeros((len(frames), height, width, 3), np.uint8)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    for i, frame in enumerate(frames):
        out[i, box.top : box.top + inner_h, box.left : box.left + inner_w] = cv2.resize(frame, (inner_w, inner_h), interpolation=interp)
    return out, box


def unletterbox(frames: np.ndarray, box: Box, shape: tuple[int, int]) -> np.ndarray:
    """Crops `box` out of (T, h, w, 3) model frames and resizes back to the shot's (H, W)."""
    inner = frames[:, box.top : box.top + box.height, box.left : box.left + box.width]
    return np.stack([cv2.resize(f, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC) for f in inner])


def pad_frames(frames: np.ndarray, temporal: int = 4) -> np.ndarray:
    """Repeats the last frame up to the next `temporal`k+1 count (the caller keeps the first T)."""
    extra = (-(len(frames) - 1)) % temporal
    return np.concatenate([frames, np.repeat(frames[-1:], extra, axis=0)]) if extra else frames


def option(config: BackendConfig, params: dict[str, str], key: str, default: str) -> str:
    """A render param, else the engine's backend option, else `default`."""
    return params.get(key) or config.options.get(key) or default


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes", "on")


def load_pipeline(
    pipeline_cls: Any, config: BackendConfig, token_lora: Callable[[Any], Any] | None = None
) -> tuple[Any, str]:
    """Loads `pipeline_cls` from the model folder and applies the memory/speed options; returns (pipe, device).

    Order matters: the distillation LoRA and the token LoRA (`token_lora(transformer)`, which may merge
    updates into the weights) go in before FP8 casting, so their updates are rounded together with the
    weights rather than onto FP8 values, which would erase them; casting leaves the token LoRA's own
    matrices in bf16; offload comes last. FP8, cache and compile apply to every transformer (Wan2.2
    folders have a second expert).
    """
    import torch

    opts = config.options
    device = config.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
    name = opts.get("dtype", "fp32" if device == "cpu" else "bf16")
    dtype = {"default": dtypes[name], "vae": torch.float32, "image_encoder": torch.float32}
    pipe = pipeline_cls.from_pretrained(str(config.model_dir), dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    if opts.get("distill_lora"):
        pipe.load_lora_weights(opts["distill_lora"], adapter_name="distill")
        pipe.fuse_lora(adapter_names=["distill"])
        pipe.unload_lora_weights()
    if token_lora is not None:
        pipe.token_router = token_lora(pipe.transformer)
    transformers = [t for t in (pipe.transformer, getattr(pipe, "transformer_2", None)) if t is not None]
    if (attention := opts.get("attention", "native")) != "native":
        for transformer in transformers:
            transformer.set_attention_backend(ATTENTION[attention])
    if _flag(opts.get("fp8")):
        for transformer in transformers:
            transformer.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=dtypes[name])
    if cache := opts.get("cache", ""):
        from diffusers import FirstBlockCacheConfig

        threshold = float(cache.partition(":")[2] or 0.05)
        for transformer in transformers:
            transformer.enable_cache(FirstBlockCacheConfig(threshold=threshold))
    if _flag(opts.get("compile")):
        for transformer in transformers:
            transformer.compile_repeated_blocks(fullgraph=False)
    offload = opts.get("offload", "none")
    if offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif offload == "group":
        pipe.enable_group_offload(torch.device(device), offload_type="leaf_level", use_stream=device.startswith("cuda"))
    else:
        pipe.to(device)
    return pipe, device


class DiffusionBackend(Backend):
    """What the diffusion backends share: all three guidances, 81-frame segments, lazy pipelines."""

    guidances = frozenset({TEXT, STYLE_IMAGE, FIRST_FRAME})
    segment_frames = 81

    def __init__(self, config: BackendConfig | None = None) -> None:
        super().__init__(config)
        self._pipe: Any = None
        self._device = "cpu"

    def _require_ready(self) -> None:
        """Raises BackendError naming what `missing()` still finds, before anything loads."""
        needs = self.missing(self.config)
        if needs:
            raise BackendError(f"backend {self.name!r} cannot run: needs {'; '.join(needs)}.")

    def check(self, guidance: Guidance, params: dict[str, str]) -> None:
        super().check(guidance, params)
        check_numbers(self.config, params)

    def first_condition(self, source_first: np.ndarray, guidance: Guidance, seed: int) -> np.ndarray | None:
        """The user's stylized first frame at the source's size; None when only text/style guide the shot."""
        if guidance.first_frame is None:
            return None
        height, width = source_first.shape[:2]
        return cv2.resize(guidance.first_frame, (width, height), interpolation=cv2.INTER_AREA)
