"""Plumbing shared by the diffusion backends: folder checks, framing, options and memory settings.

Everything above `load_pipeline` is numpy/cv2 only, so `missing()` and the registry stay cheap.
Options come from `BackendConfig.options` (strings, `--backend-option key=value`); render params override
`steps`, `guidance_scale`, `negative_prompt`, `resolution` (and vace's `conditioning_scale`) per job:
    dtype=bf16|fp16|fp32          weights' dtype (default bf16 on a GPU, fp32 on a CPU)
    offload=none|model|group      CPU offload (model: a 24 GB card; group: less memory, slower)
    fp8=1                         FP8 weight storage, bf16 compute (layerwise casting)
    distill_lora=PATH             a step-distillation LoRA (e.g. lightx2v, for the model's own task: I2V for
                                  dreamstyle, T2V for vace): defaults to 4 steps, guidance 1
    cache=fbc[:THRESHOLD]         First Block Cache (skips blocks when step outputs barely change)
    compile=1                     torch.compile of the repeated transformer blocks
    resolution=480p|720p|WxH      model size: area of 480p/720p at the shot's aspect (rounded to multiples
                                  of 16), or exactly WxH (multiples of 16; others are refused, naming the nearest)
    steps=N, guidance_scale=G, conditioning_scale=C
                                  defaults a job's params override: N a whole number >= 1, G and C finite >= 0
    attention=native|cudnn|flash|efficient|math
                                  the attention kernel (native: torch chooses; cudnn is the fastest on
                                  Hopper GPUs; all but native and math need a CUDA GPU)
A backend's pipeline loads once, on first use, and is shared by the engine's workers, one segment at a time;
folders and adapters are checked at start from their JSON files and safetensors headers (`folder_missing`).
The VAE and the CLIP image encoder always run in float32 (diffusers' advice for Wan: bf16 decoding
loses detail, and chained segments compound it). Every option applies to both experts of a Wan2.2
folder (`transformer` and `transformer_2`).
"""

from __future__ import annotations

import importlib.util
import math
import os
import shutil
import threading
from abc import abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..models.model_files import component_problems, wan_transformer_problem
from .base import FIRST_FRAME, STYLE_IMAGE, TEXT, Backend, BackendConfig, BackendError, Guidance

__all__ = [
    "ATTENTION",
    "JOB_PARAMS",
    "OPTION_KEYS",
    "Box",
    "DiffusionBackend",
    "check_numbers",
    "folder_missing",
    "gpu_missing",
    "letterbox",
    "load_failure",
    "load_pipeline",
    "ml_missing",
    "model_size",
    "option",
    "option_problems",
    "pad_frames",
    "resolve_device",
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


def folder_missing(model_dir: Path | None, what: str, model_check: Callable[[Path], str | None]) -> list[str]:
    """Checks a Diffusers folder by its JSON files and safetensors headers alone (no weights are read).

    `model_check(folder)` says why the folder holds the wrong kind of model, or None; then every component
    model_index.json lists must be whole (config, weights, every shard) and each transformer's config must
    match its weights."""
    if model_dir is None:
        return [f"a model folder (--model-dir): {what}"]
    folder = Path(model_dir)
    if not folder.is_dir():
        return [f"model folder {folder} does not exist (--model-dir: {what})"]
    absent = [p for p in ("model_index.json", "transformer/config.json", "vae/config.json") if not (folder / p).is_file()]
    if absent:
        return [f"{folder} is not a Diffusers model folder (no {', '.join(absent)}); expected {what}"]
    try:
        if problem := model_check(folder):
            return [f"{folder}: {problem}"]
        problems = component_problems(folder)
        if not problems:
            experts = [folder / t for t in ("transformer", "transformer_2") if (folder / t / "config.json").is_file()]
            problems = [p for t in experts if (p := wan_transformer_problem(t))]
    except (OSError, ValueError) as exc:
        problems = [str(exc)]
    if problems:
        return [f"a whole model folder (--model-dir): {folder} is incomplete or damaged: {'; '.join(problems)}; "
                "copy or download it again"]
    return []


# Every `--backend-option` key the backends read (`control`, `depth_model`, `pose_model`: vace's, in engine/control.py).
OPTION_KEYS = frozenset({
    "dtype", "offload", "fp8", "distill_lora", "cache", "compile", "resolution", "steps", "guidance_scale",
    "negative_prompt", "conditioning_scale", "control", "depth_model", "pose_model", "attention",
})
# The options a job's params override (the others are read once, as the pipeline loads).
JOB_PARAMS = frozenset({"steps", "guidance_scale", "negative_prompt", "resolution"})
# `attention=` values and diffusers' names for them (torch's own SDPA kernels: no extra package, no download).
ATTENTION = {"native": "native", "cudnn": "_native_cudnn", "flash": "_native_flash",
             "efficient": "_native_efficient", "math": "_native_math"}
ON, OFF = ("1", "true", "yes", "on"), ("0", "false", "no", "off")  # a switch option's values, any case
SWITCHES = ("fp8", "compile")
CHOICES = {"dtype": ("bf16", "fp16", "fp32"), "offload": ("none", "model", "group"), "attention": tuple(ATTENTION)}


def _whole(value: str) -> bool:
    try:
        return int(value) >= 1
    except ValueError:
        return False


def _non_negative(value: str) -> bool:
    try:
        return math.isfinite(number := float(value)) and number >= 0
    except ValueError:
        return False


# The numeric options and job params: what each accepts and how a refusal says it (one rule, at start and per job).
NUMBERS: dict[str, tuple[Callable[[str], bool], str]] = {
    "steps": (_whole, "a whole number, 1 or more"),
    "guidance_scale": (_non_negative, "a finite number, 0 or more"),
    "conditioning_scale": (_non_negative, "a finite number, 0 or more"),
}
MULTIPLE = 16  # Wan's VAE (8) times its transformer's patch (2): model sizes are multiples of it


def option_problems(config: BackendConfig) -> list[str]:
    """Option values that cannot work with this model folder, found before any weights are read."""
    options = config.options
    problems = [
        f"option {key}={options[key]!r} to be one of {', '.join(values)}"
        for key, values in CHOICES.items()
        if key in options and options[key] not in values
    ]
    problems += [f"option {key}={options[key]!r} to be 1 or 0 (also on/off, true/false, yes/no)"
                 for key in SWITCHES if key in options and options[key].lower() not in ON + OFF]
    kind, _, threshold = options.get("cache", "fbc").partition(":")
    if kind != "fbc" or (threshold and not threshold.replace(".", "", 1).isdigit()):
        problems.append(f"option cache={options['cache']!r} to be fbc or fbc:THRESHOLD")
    if "resolution" in options and (rule := resolution_rule(options["resolution"])):
        problems.append(f"option resolution={options['resolution']!r} to be {rule}")
    if options.get("attention", "native") not in ("native", "math") and config.device.startswith("cpu"):
        problems.append(f"option attention={options['attention']!r} to run on a CUDA GPU (on a CPU use native)")
    problems += [f"option {key}={options[key]!r} to be {rule}"
                 for key, (ok, rule) in NUMBERS.items() if key in options and not ok(options[key])]
    if "distill_lora" in options and not Path(options["distill_lora"]).is_file():
        problems.append(f"option distill_lora: file {options['distill_lora']} does not exist")
    elif "distill_lora" in options and config.model_dir and (Path(config.model_dir) / "transformer_2").is_dir():
        problems.append(
            f"no option distill_lora with {config.model_dir}: its two experts (transformer, transformer_2) each "
            "need their own distillation LoRA, which is not supported yet; leave distill_lora out"
        )
    return problems


def check_numbers(config: BackendConfig, params: dict[str, str]) -> None:
    """Raises BackendError when a job's numeric param or resolution (or the option it falls back to) is refused."""
    for key, (ok, rule) in NUMBERS.items():
        value = params.get(key) or config.options.get(key)
        if value is not None and not ok(value):
            raise BackendError(f"{key}={value!r} must be {rule}")
    if (value := params.get("resolution")) and (rule := resolution_rule(value)):
        raise BackendError(f"resolution={value!r} must be {rule}")


def resolution_rule(value: str) -> str | None:
    """What a `resolution` value must be, when `value` is not that; None when it is fine."""
    if value in AREAS:
        return None
    rule = f"480p, 720p or WIDTHxHEIGHT in multiples of {MULTIPLE}"
    try:
        width, height = (int(v) for v in value.lower().split("x"))
    except ValueError:
        return rule
    if width <= 0 or height <= 0:
        return f"{rule} (both above 0)"
    if width % MULTIPLE or height % MULTIPLE:
        nearest = "x".join(str(max(MULTIPLE, round(v / MULTIPLE) * MULTIPLE)) for v in (width, height))
        return f"{rule} (the nearest is {nearest})"
    return None


@dataclass(frozen=True)
class Box:
    """Where a shot's frames sit inside the model's canvas."""

    top: int
    left: int
    height: int
    width: int


def model_size(shape: tuple[int, int], resolution: str) -> tuple[int, int]:
    """(height, width) for the model: `resolution`'s area at the shot's aspect, or exactly `WxH`."""
    if rule := resolution_rule(resolution):
        raise BackendError(f"resolution={resolution!r} must be {rule}")
    if resolution not in AREAS:
        width, height = (int(v) for v in resolution.lower().split("x"))
        return height, width
    aspect = shape[1] / shape[0]
    width, height = math.sqrt(AREAS[resolution] * aspect), math.sqrt(AREAS[resolution] / aspect)
    height, width = (max(MULTIPLE, round(v / MULTIPLE) * MULTIPLE) for v in (height, width))
    return height, width


def letterbox(frames: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, Box]:
    """Fits (T, H, W, 3) uint8 or uint16 frames inside `size` keeping their aspect, padding with black, as the
    8-bit frames the models take."""
    height, width = size
    scale = min(height / frames.shape[1], width / frames.shape[2])
    inner_h, inner_w = max(1, round(frames.shape[1] * scale)), max(1, round(frames.shape[2] * scale))
    box = Box((height - inner_h) // 2, (width - inner_w) // 2, inner_h, inner_w)
    out = np.zeros((len(frames), height, width, 3), np.uint8)
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    for i, frame in enumerate(frames):
        resized = cv2.resize(frame, (inner_w, inner_h), interpolation=interp)
        if resized.dtype == np.uint16:
            resized = (resized / 257.0).round().astype(np.uint8)
        out[i, box.top : box.top + inner_h, box.left : box.left + inner_w] = resized
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
    return (value or "").lower() in ON


def resolve_device(config: BackendConfig) -> str:
    """The torch device to run on: `config.device`, where auto is cuda when torch sees a GPU, else cpu."""
    if config.device != "auto":
        return config.device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@contextmanager
def load_failure(what: str, advice: str) -> Iterator[None]:
    """Re-raises a failure to load `what` as BackendError("`what` could not be loaded: why; `advice`"): the
    file is at fault, and an OSError would tell the job to check the engine's own folders' permissions."""
    try:
        yield
    except (BackendError, ImportError, MemoryError):
        raise
    except Exception as exc:
        if type(exc).__name__ == "OutOfMemoryError":  # torch's: the GPU is too small, not the file at fault
            raise
        why = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise BackendError(f"{what} could not be loaded: {why}; {advice}") from exc


def load_pipeline(
    pipeline_cls: Any, config: BackendConfig, token_lora: Callable[[Any], Any] | None = None
) -> Any:
    """Loads `pipeline_cls` from the model folder and applies the memory/speed options; returns the pipeline.

    Order matters: the distillation LoRA and the token LoRA (`token_lora(transformer)`, which may merge
    updates into the weights) go in before FP8 casting, so their updates are rounded together with the
    weights rather than onto FP8 values, which would erase them; casting leaves the token LoRA's own
    matrices in bf16; offload comes last. FP8, cache and compile apply to every transformer (Wan2.2
    folders have a second expert).
    """
    import torch

    opts = config.options
    device = resolve_device(config)
    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
    name = opts.get("dtype", "fp32" if device == "cpu" else "bf16")
    dtype = {"default": dtypes[name], "vae": torch.float32, "image_encoder": torch.float32}
    with load_failure(f"model folder {config.model_dir}", "it must be a whole copy of one model, its configs "
                      "matching its weights: copy or download it again (--model-dir)"):
        pipe = pipeline_cls.from_pretrained(str(config.model_dir), dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    if opts.get("distill_lora"):
        with load_failure(f"option distill_lora: {opts['distill_lora']}", "give a LoRA trained for this model and "
                          "its own task (I2V for dreamstyle, T2V for vace), or leave distill_lora out"):
            pipe.load_lora_weights(opts["distill_lora"], adapter_name="distill")
            if "distill" not in pipe.get_list_adapters().get("transformer", []):  # diffusers only warns
                raise ValueError("none of its weights fit this model's transformer")
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
    return pipe


_LOADING = threading.Lock()
"""One load at a time in this process: diffusers and transformers load through process-wide patches of torch
(weights first made on the meta device) and lazy imports, which two threads loading at once break."""


class DiffusionBackend(Backend):
    """What the diffusion backends share: all three guidances, 81-frame segments, one lazily loaded pipeline
    shared by every caller (the engine's workers), which runs one segment at a time."""

    guidances = frozenset({TEXT, STYLE_IMAGE, FIRST_FRAME})
    params = JOB_PARAMS
    segment_frames = 81
    deep = True  # the models see 8 bits; their float output is kept at the segment's depth (`_to_frames`)

    def __init__(self, config: BackendConfig | None = None) -> None:
        super().__init__(config)
        self._pipe: Any = None
        self._running = threading.Lock()  # the pipeline's scheduler and token router hold one call's state

    def pipeline(self) -> Any:
        """The loaded pipeline: loaded once, on first use, after `missing()` finds nothing to fix. A load that
        fails keeps nothing, so the next job loads again."""
        if self._pipe is None:
            with _LOADING:
                if self._pipe is None:
                    self._require_ready()
                    self._pipe = self._load()
        return self._pipe

    @abstractmethod
    def _load(self) -> Any:
        """Loads the pipeline and whatever else a segment needs; returns the pipeline."""

    def denoise(self, *args: Any, **kwargs: Any) -> Any:
        """Calls the pipeline, one caller at a time (two calls at once would mix their steps)."""
        pipe = self.pipeline()
        with self._running:
            return pipe(*args, **kwargs)

    def _require_ready(self) -> None:
        """Raises BackendError naming what `missing()` still finds, before anything loads."""
        needs = self.missing(self.config)
        if needs:
            raise BackendError(f"backend {self.name!r} cannot run: needs {'; '.join(needs)}.")

    def check(self, guidance: Guidance, params: dict[str, str]) -> None:
        super().check(guidance, params)
        check_numbers(self.config, params)

    def _model_size(self, frames: np.ndarray, params: dict[str, str]) -> tuple[int, int]:
        """The (height, width) the model renders `frames` at: the job's `resolution` at their aspect."""
        return model_size(frames.shape[1:3], option(self.config, params, "resolution", "480p"))

    def _sampling(self, params: dict[str, str], seed: int, full_steps: int) -> dict[str, Any]:
        """The pipeline call's steps, guidance scale and seeded generator; with a distillation LoRA the
        defaults are 4 steps and guidance 1, else `full_steps` and guidance 5."""
        import torch

        distilled = bool(self.config.options.get("distill_lora"))
        steps = option(self.config, params, "steps", "4" if distilled else str(full_steps))
        scale = option(self.config, params, "guidance_scale", "1.0" if distilled else "5.0")
        return {"num_inference_steps": int(steps), "guidance_scale": float(scale),
                "generator": torch.Generator("cpu").manual_seed(seed)}

    @staticmethod
    def _to_frames(out: np.ndarray, box: Box, frames: np.ndarray) -> np.ndarray:
        """The pipeline's 0..1 float output as frames of `frames`' count, size and depth (`box` cropped out);
        BackendError when it is not finite (NaN would round to black frames)."""
        if not np.isfinite(out).all():
            raise BackendError("the model's output holds NaN or infinite values: a damaged weight or LoRA in the "
                               "model folder or options, or a dtype=fp16 overflow (use dtype=bf16)")
        pixels = (np.clip(out[: len(frames)], 0.0, 1.0) * np.iinfo(frames.dtype).max).round().astype(frames.dtype)
        return unletterbox(pixels, box, frames.shape[1:3])

    def first_condition(self, source_first: np.ndarray, guidance: Guidance, seed: int) -> np.ndarray | None:
        """The user's stylized first frame at the source's size; None when only text/style guide the shot."""
        if guidance.first_frame is None:
            return None
        height, width = source_first.shape[:2]
        return cv2.resize(guidance.first_frame, (width, height), interpolation=cv2.INTER_AREA)
