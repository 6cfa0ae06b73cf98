"""DreamStyle on Wan2.1 I2V 14B: V2V condition injection plus a trained token-specific LoRA.

Needs a local Diffusers folder of Wan2.1-I2V (`--model-dir`) and trained adapter weights
(`--adapter`): the base I2V model never learned the raw-video condition, so without an adapter it
would ignore the source shot. torch and diffusers are imported only when the first segment renders.
Memory/speed options: see `engine.backends._diffusion`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from . import _diffusion as dif
from .base import BackendConfig, Guidance

__all__ = ["DreamStyleBackend"]

WHAT = "Wan2.1 image-to-video in Diffusers format (e.g. Wan-AI/Wan2.1-I2V-14B-480P-Diffusers)"


def _i2v_problem(config: dict[str, Any]) -> str | None:
    if config.get("in_channels") != 36 or config.get("image_dim") is None:
        return (
            f"not a Wan image-to-video model (in_channels={config.get('in_channels')}, image_dim="
            f"{config.get('image_dim')}; DreamStyle needs in_channels=36 and a CLIP image branch): {WHAT}"
        )
    return None


def _adapter_problem(adapter: Path, model_dir: Path | None) -> str | None:
    """Checks the adapter's safetensors header (format, layer width) against the model; reads no tensors."""
    try:
        with open(adapter, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            if size > 100_000_000:  # the safetensors format caps its JSON header at 100 MB
                raise ValueError(size)
            header = json.loads(f.read(size))
    except (OSError, ValueError):
        return f"adapter {adapter} is not a safetensors file (--adapter)"
    if header.get("__metadata__", {}).get("format") != "dreamstyle-token-lora":
        return f"adapter {adapter} is not a DreamStyle token LoRA (no format=dreamstyle-token-lora metadata)"
    config_path = Path(model_dir or "") / "transformer" / "config.json"
    downs = [v["shape"][1] for k, v in header.items() if k.endswith("attn1.to_q.lora_down.weight")]
    if config_path.is_file() and downs:
        config = json.loads(config_path.read_text())
        width = config.get("num_attention_heads", 0) * config.get("attention_head_dim", 0)
        if downs[0] != width:
            return f"adapter {adapter} was trained for a transformer of width {downs[0]}, this model's is {width}"
    return None


class DreamStyleBackend(dif.DiffusionBackend):
    name = "dreamstyle"
    description = "DreamStyle: Wan2.1 I2V V2V with a token-specific LoRA (text, style image, first frame)."

    @classmethod
    def missing(cls, config: BackendConfig) -> list[str]:
        needs = dif.ml_missing() + dif.folder_missing(config.model_dir, WHAT, _i2v_problem)
        if config.adapter is None:
            needs.append(
                "trained DreamStyle adapter weights (--adapter PATH): the base I2V model never learned the "
                "raw-video condition; the 'vace' backend runs on public weights today"
            )
        elif not Path(config.adapter).is_file():
            needs.append(f"adapter file {config.adapter} does not exist (--adapter)")
        elif problem := _adapter_problem(Path(config.adapter), config.model_dir):
            needs.append(problem)
        return needs + dif.option_problems(config) + dif.gpu_missing(config)

    def pipeline(self) -> Any:
        """The loaded `WanV2VPipeline` (loads on first use, after `missing()` found nothing to fix)."""
        if self._pipe is None:
            self._require_ready()
            from ..models.wan_v2v import WanV2VPipeline

            self._pipe, self._device = dif.load_pipeline(WanV2VPipeline, self.config, self._adapter)
        return self._pipe

    def _adapter(self, transformer: Any) -> Any:
        """Loads the token LoRA and folds the video tokens' update into the weights (see merge_token_lora)."""
        from ..models.token_lora import load_token_lora, merge_token_lora

        router = load_token_lora(transformer, self.config.adapter)
        merge_token_lora(transformer)
        return router

    def render_segment(
        self,
        frames: np.ndarray,
        condition: np.ndarray | None,
        guidance: Guidance,
        seed: int,
        params: dict[str, str],
    ) -> np.ndarray:
        import torch

        pipe = self.pipeline()
        distilled = bool(self.config.options.get("distill_lora"))
        size = dif.model_size(frames.shape[1:3], dif.option(self.config, params, "resolution", "480p"))
        clip, box = dif.letterbox(frames, size)
        first = dif.letterbox(condition[None], size)[0][0] if condition is not None else None
        out = pipe(
            dif.pad_frames(clip, pipe.vae_scale_factor_temporal),
            prompt=guidance.prompt,
            first_frame=first,
            style_image=guidance.style_image,
            negative_prompt=dif.option(self.config, params, "negative_prompt", ""),
            num_inference_steps=int(dif.option(self.config, params, "steps", "4" if distilled else "40")),
            guidance_scale=float(dif.option(self.config, params, "guidance_scale", "1.0" if distilled else "5.0")),
            generator=torch.Generator("cpu").manual_seed(seed),
        ).frames[0][: len(frames)]
        pixels = (np.clip(out, 0.0, 1.0) * 255).round().astype(np.uint8)
        return dif.unletterbox(pixels, box, frames.shape[1:3])
