"""DreamStyle on Wan2.1 I2V 14B: V2V condition injection plus a trained token-specific LoRA.

Needs a local Diffusers folder of Wan2.1-I2V (`--model-dir`) and trained adapter weights
(`--adapter`): the base I2V model never learned the raw-video condition, so without an adapter it
would ignore the source shot. torch and diffusers are imported only when the first segment renders.
Memory/speed options: see `engine.backends._diffusion`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..models.model_files import read_json, read_token_lora, token_lora_fit_problem
from . import _diffusion as dif
from .base import BackendConfig, Guidance

__all__ = ["DreamStyleBackend"]

WHAT = "Wan2.1 image-to-video in Diffusers format (e.g. Wan-AI/Wan2.1-I2V-14B-480P-Diffusers)"


def _listed(index: dict[str, Any], component: str) -> bool:
    """Whether model_index.json lists `component` (not left out as [null, null])."""
    spec = index.get(component)
    return isinstance(spec, list) and bool(spec) and spec[0] is not None


def _i2v_problem(folder: Path) -> str | None:
    """Why `folder` is not a Wan2.1 I2V model this backend runs, from its JSON files; None when it is."""
    config, index = read_json(folder / "transformer" / "config.json"), read_json(folder / "model_index.json")
    two_experts, no_clip = _listed(index, "transformer_2"), config.get("image_dim") is None
    if config.get("in_channels") == 36 and (two_experts or no_clip):
        traits = [t for t, has in (("two experts, transformer and transformer_2", two_experts),
                                   ("no CLIP image branch", no_clip)) if has]
        return (f"a Wan2.2 image-to-video model ({' and '.join(traits)}), which the dreamstyle backend does not "
                f"support (it runs Wan2.1 I2V: one transformer and a CLIP image branch): use {WHAT}, "
                "or the vace backend (e.g. Wan2.2-VACE-Fun)")
    if config.get("in_channels") != 36 or no_clip:
        return (
            f"not a Wan image-to-video model (in_channels={config.get('in_channels')}, image_dim="
            f"{config.get('image_dim')}; DreamStyle needs in_channels=36 and a CLIP image branch): {WHAT}"
        )
    if not _listed(index, "image_encoder"):
        return f"model_index.json lists no image_encoder (the CLIP image branch DreamStyle needs): {WHAT}"
    return None


def _adapter_problem(adapter: Path, model_dir: Path | None) -> str | None:
    """Checks the adapter's safetensors header (whole file, metadata, tensors, shapes against the model's
    transformer/config.json); reads no tensors."""
    try:
        lora = read_token_lora(adapter)
        config_path = Path(model_dir or "") / "transformer" / "config.json"
        problem = token_lora_fit_problem(lora, read_json(config_path)) if config_path.is_file() else None
    except ValueError as exc:
        problem = str(exc)
    return f"{problem} (--adapter)" if problem else None


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

    def _load(self) -> Any:
        """The `WanV2VPipeline` with the token LoRA in its transformer."""
        from ..models.wan_v2v import WanV2VPipeline

        return dif.load_pipeline(WanV2VPipeline, self.config, self._adapter)

    def _adapter(self, transformer: Any) -> Any:
        """Loads the token LoRA and folds the video tokens' update into the weights (see merge_token_lora)."""
        from ..models.token_lora import load_token_lora, merge_token_lora

        with dif.load_failure("the adapter (--adapter)", "use a token LoRA trained for this model"):
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
        pipe = self.pipeline()
        size = self._model_size(frames, params)
        clip, box = dif.letterbox(frames, size)
        first = dif.letterbox(condition[None], size)[0][0] if condition is not None else None
        out = self.denoise(
            dif.pad_frames(clip, pipe.vae_scale_factor_temporal),
            prompt=guidance.prompt,
            first_frame=first,
            style_image=guidance.style_image,
            negative_prompt=dif.option(self.config, params, "negative_prompt", ""),
            **self._sampling(params, seed, full_steps=40),
        ).frames[0]
        return self._to_frames(out, box, frames)
