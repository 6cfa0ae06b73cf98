"""Wan VACE on public weights (Wan2.1-VACE-1.3B/14B, Wan2.2-VACE-Fun) through `diffusers.WanVACEPipeline`.

The source shot's depth or pose maps are the control video; the stylized first frame is kept as
frame 0 (mask black = keep, white = generate); the style image is VACE's reference image; the prompt
goes through UMT5. Depth/pose estimators load from local folders (`engine.control`). torch and
diffusers are imported only when the first segment renders. Options: see `engine.backends._diffusion`
plus `control=depth|pose`, `depth_model=PATH`, `pose_model=PATH`, `conditioning_scale=FLOAT`. A style
image needs at least 8 pixels a side (VACE rounds a reference image down to multiples of 8).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..models.model_files import read_json
from . import _diffusion as dif
from .base import BackendConfig, BackendError, Guidance

__all__ = ["VaceBackend"]

MIN_STYLE_SIDE = 8
WHAT = "Wan VACE in Diffusers format (e.g. Wan-AI/Wan2.1-VACE-14B-diffusers or Wan2.1-VACE-1.3B-diffusers)"


def _vace_problem(folder: Path) -> str | None:
    if not read_json(folder / "transformer" / "config.json").get("vace_layers"):
        return f"not a VACE model (its transformer config has no vace_layers): {WHAT}"
    return None


class VaceBackend(dif.DiffusionBackend):
    name = "vace"
    description = "Wan VACE (public weights): depth/pose control, kept stylized first frame, style reference."
    params = dif.JOB_PARAMS | {"conditioning_scale"}

    def __init__(self, config: BackendConfig | None = None) -> None:
        super().__init__(config)
        self._control: Any = None

    @classmethod
    def missing(cls, config: BackendConfig) -> list[str]:
        from ..control import control_missing

        needs = dif.ml_missing() + dif.folder_missing(config.model_dir, WHAT, _vace_problem)
        return needs + control_missing(config.options) + dif.option_problems(config) + dif.gpu_missing(config)

    def check(self, guidance: Guidance, params: dict[str, str]) -> None:
        super().check(guidance, params)
        style = guidance.style_image
        if style is not None and min(style.shape[:2]) < MIN_STYLE_SIDE:
            raise BackendError(
                f"the style image is {style.shape[1]}x{style.shape[0]} pixels; the vace backend needs at least "
                f"{MIN_STYLE_SIDE} pixels a side (VACE rounds a reference image down to multiples of {MIN_STYLE_SIDE})"
            )

    def _load(self) -> Any:
        """The `WanVACEPipeline` and the control estimator; kept only when both load."""
        from diffusers import WanVACEPipeline

        from ..control import load_control

        control = load_control(self.config.options, dif.resolve_device(self.config))
        pipe = dif.load_pipeline(WanVACEPipeline, self.config)
        self._control = control
        return pipe

    def render_segment(
        self,
        frames: np.ndarray,
        condition: np.ndarray | None,
        guidance: Guidance,
        seed: int,
        params: dict[str, str],
    ) -> np.ndarray:
        import PIL.Image

        pipe = self.pipeline()
        size = self._model_size(frames, params)
        clip, box = dif.letterbox(dif.pad_frames(frames, pipe.vae_scale_factor_temporal), size)
        control = self._control(clip)
        keep = np.zeros(len(clip), bool)
        if condition is not None:
            control[0], keep[0] = dif.letterbox(condition[None], size)[0][0], True
        white, black = (np.full(size, v, np.uint8) for v in (255, 0))
        style = guidance.style_image
        out = self.denoise(
            video=[PIL.Image.fromarray(f) for f in control],
            mask=[PIL.Image.fromarray(black if k else white) for k in keep],
            reference_images=[PIL.Image.fromarray(style)] if style is not None else None,
            conditioning_scale=float(dif.option(self.config, params, "conditioning_scale", "1.0")),
            prompt=guidance.prompt,
            negative_prompt=dif.option(self.config, params, "negative_prompt", ""),
            height=size[0],
            width=size[1],
            num_frames=len(clip),
            **self._sampling(params, seed, full_steps=30),
        ).frames[0]
        return self._to_frames(out, box, frames)
