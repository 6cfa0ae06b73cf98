"""DreamStyle's video-to-video pipeline on Wan2.1 I2V, in diffusers' own shape.

Per latent frame the transformer sees `[noisy latent (16) | mask (4) | condition latent (16)]`:
the source video's latents fill the condition channels of every video frame (mask 0); a stylized
first frame is an extra latent frame prepended (mask 1); a style image is an extra latent frame
appended (mask 1) and also goes through Wan's CLIP image branch. Extra frames take the next RoPE
positions on the time axis and are sliced off before decoding (as `WanVACEPipeline` does with its
reference images). With a token LoRA router set, every forward routes tokens by their frame's type.

Subclasses `WanImageToVideoPipeline` to reuse its loading, prompt and CLIP encoding unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import numpy as np
import PIL.Image
import torch
from diffusers import WanImageToVideoPipeline
from diffusers.pipelines.wan.pipeline_output import WanPipelineOutput
from diffusers.utils.torch_utils import get_module_execution_device, randn_tensor

from .token_lora import TOKEN_TYPES, TokenRouter

__all__ = ["WanV2VPipeline"]

FIRST, STYLE, VIDEO = (TOKEN_TYPES.index(k) for k in ("first_frame", "style_image", "video"))
Image = np.ndarray | PIL.Image.Image


class WanV2VPipeline(WanImageToVideoPipeline):
    """Source video + any of (prompt, stylized first frame, style image) -> stylized video."""

    token_router: TokenRouter | None = None

    def check_inputs(  # type: ignore[override]
        self,
        video: np.ndarray,
        first_frame: Image | None,
        style_image: Image | None,
        prompt: str,
        height: int,
        width: int,
    ) -> None:
        """Raises ValueError naming the problem; reads only configs, never weights."""
        cfg = self.transformer.config
        z_dim, temporal = self.vae.config.z_dim, self.vae_scale_factor_temporal
        if cfg.in_channels != 2 * z_dim + temporal:
            raise ValueError(
                f"the transformer has in_channels={cfg.in_channels}, not {2 * z_dim + temporal} "
                f"(noisy {z_dim} + mask {temporal} + condition {z_dim}): it is not a Wan image-to-video model"
            )
        if cfg.image_dim is None or self.image_encoder is None:
            raise ValueError("the model has no CLIP image branch (image_dim/image_encoder): use Wan2.1 I2V weights")
        if not isinstance(video, np.ndarray) or video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8:
            raise ValueError("`video` must be a (T, H, W, 3) uint8 array")
        if (len(video) - 1) % temporal:
            raise ValueError(f"`video` has {len(video)} frames; Wan needs {temporal}k+1 (e.g. 33, 81)")
        multiple = self.vae_scale_factor_spatial * cfg.patch_size[1]
        if height % multiple or width % multiple:
            raise ValueError(f"height and width must be multiples of {multiple}, got {height}x{width}")
        if video.shape[1:3] != (height, width):
            raise ValueError(f"`video` is {video.shape[2]}x{video.shape[1]}, expected {width}x{height}")
        if first_frame is not None and np.asarray(first_frame).shape[:2] != (height, width):
            raise ValueError(f"`first_frame` must be {width}x{height} like the video")
        if not prompt.strip() and first_frame is None and style_image is None:
            raise ValueError("give at least one guidance: a prompt, a first frame or a style image")

    def _pixels(self, image: Image, height: int, width: int) -> torch.Tensor:
        """One image as a (1, 3, 1, H, W) tensor in [-1, 1], center-cropped to fill H x W."""
        pil = image if isinstance(image, PIL.Image.Image) else PIL.Image.fromarray(image)
        return self.video_processor.preprocess(pil, height=height, width=width, resize_mode="crop").unsqueeze(2)

    def _encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """VAE latents (mode), normalised the way Wan's transformer expects."""
        vae = self.vae
        pixels = pixels.to(get_module_execution_device(vae), vae.dtype)
        latents = vae.encode(pixels).latent_dist.mode().float()
        mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1).to(latents)
        std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1).to(latents)
        return (latents - mean) / std

    def prepare_latents(  # type: ignore[override]
        self,
        video: np.ndarray,
        first_frame: Image | None,
        style_image: Image | None,
        generator: torch.Generator | None,
        device: torch.device,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
        """Noise, [mask | condition] and per-latent-frame token types; also the count of prepended frames."""
        _, height, width, _ = video.shape
        pixels = torch.from_numpy(video).permute(3, 0, 1, 2)[None].float().div(127.5).sub(1)
        parts = [(self._encode(pixels), 0.0, VIDEO)]
        if first_frame is not None:
            parts.insert(0, (self._encode(self._pixels(first_frame, height, width)), 1.0, FIRST))
        if style_image is not None:
            parts.append((self._encode(self._pixels(style_image, height, width)), 1.0, STYLE))
        condition = torch.cat(
            [torch.cat([torch.full_like(z[:, :1], m).expand(-1, self.vae_scale_factor_temporal, -1, -1, -1), z], 1)
             for z, m, _ in parts],
            dim=2,
        ).to(device)
        frame_types = torch.cat([torch.full((z.shape[2],), t) for z, _, t in parts])
        noise = randn_tensor((1, self.vae.config.z_dim, *condition.shape[2:]), generator, device, torch.float32)
        return noise, condition, frame_types, int(first_frame is not None)

    @torch.no_grad()
    def __call__(  # type: ignore[override]
        self,
        video: np.ndarray,
        prompt: str = "",
        first_frame: Image | None = None,
        style_image: Image | None = None,
        negative_prompt: str = "",
        num_inference_steps: int = 40,
        guidance_scale: float = 5.0,
        generator: torch.Generator | None = None,
        output_type: str = "np",
        attention_kwargs: dict[str, Any] | None = None,
        callback_on_step_end: Callable[[Any, int, Any, dict], dict] | None = None,
        max_sequence_length: int = 512,
    ) -> WanPipelineOutput:
        """Stylizes `video` ((T, H, W, 3) uint8, T = 4k+1, H and W multiples of 16); frames in [0, 1]."""
        height, width = video.shape[1:3] if isinstance(video, np.ndarray) and video.ndim == 4 else (0, 0)
        self.check_inputs(video, first_frame, style_image, prompt, height, width)
        self._guidance_scale = guidance_scale
        self._attention_kwargs = attention_kwargs
        self._interrupt = False
        device = self._execution_device
        dtype = self.transformer.dtype

        # Encode the conditions: text through UMT5, the style (else first, else a blank) image through CLIP.
        prompt_embeds, negative_embeds = self.encode_prompt(
            prompt, negative_prompt, self.do_classifier_free_guidance, max_sequence_length=max_sequence_length,
            device=device,
        )
        clip_source = style_image if style_image is not None else first_frame
        if clip_source is None:
            clip_source = np.zeros((height, width, 3), np.uint8)
        if not isinstance(clip_source, PIL.Image.Image):
            clip_source = PIL.Image.fromarray(clip_source)
        image_embeds = self.encode_image(clip_source, device).to(dtype)

        # Prepare latents: [noisy | mask | condition], extra frames around the video's.
        latents, condition, frame_types, n_before = self.prepare_latents(
            video, first_frame, style_image, generator, device
        )
        _, p_h, p_w = self.transformer.config.patch_size
        tokens_per_frame = (latents.shape[3] // p_h) * (latents.shape[4] // p_w)
        token_types = frame_types.repeat_interleave(tokens_per_frame)
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps
        self._num_timesteps = len(timesteps)

        # Denoise, routing tokens to their LoRA up matrices when an adapter is loaded.
        with self.progress_bar(total=len(timesteps)) as progress:
            for i, t in enumerate(timesteps):
                if self.interrupt:
                    break
                self._current_timestep = t
                model_input = torch.cat([latents, condition], dim=1).to(dtype)
                noise_pred = self._predict(model_input, t, prompt_embeds, negative_embeds, image_embeds, token_types)
                latents = self.scheduler.step(noise_pred, t, latents, return_dict=False)[0]
                if callback_on_step_end is not None:
                    latents = callback_on_step_end(self, i, t, {"latents": latents}).pop("latents", latents)
                progress.update()
        self._current_timestep = None

        # Slice the extra frames off and decode.
        n_video = (len(video) - 1) // self.vae_scale_factor_temporal + 1
        latents = latents[:, :, n_before : n_before + n_video]
        if output_type == "latent":
            frames = latents
        else:
            vae = self.vae
            mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1).to(latents)
            std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1).to(latents)
            latents = (latents * std + mean).to(get_module_execution_device(vae), vae.dtype)
            frames = self.video_processor.postprocess_video(vae.decode(latents).sample, output_type=output_type)
        self.maybe_free_model_hooks()
        return WanPipelineOutput(frames=frames)

    def _predict(self, model_input: torch.Tensor, t: torch.Tensor, prompt_embeds: torch.Tensor,
                 negative_embeds: torch.Tensor | None, image_embeds: torch.Tensor, token_types: torch.Tensor) -> torch.Tensor:
        """One transformer evaluation (two with classifier-free guidance)."""
        router = self.token_router
        routing = router.route(token_types) if router is not None else nullcontext()
        timestep = t.expand(model_input.shape[0])
        with routing:
            kwargs = {"hidden_states": model_input, "timestep": timestep, "encoder_hidden_states_image": image_embeds,
                          "attention_kwargs": self._attention_kwargs, "return_dict": False}
            with self.transformer.cache_context("cond"):
                pred = self.transformer(encoder_hidden_states=prompt_embeds, **kwargs)[0]
            if self.do_classifier_free_guidance:
                with self.transformer.cache_context("uncond"):
                    uncond = self.transformer(encoder_hidden_states=negative_embeds, **kwargs)[0]
                pred = uncond + self.guidance_scale * (pred - uncond)
        return pred.float()
