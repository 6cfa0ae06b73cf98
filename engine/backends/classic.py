"""The classic CPU backend: the engine's embedded default stylizer, no models, no GPU.

It carries one stylized first frame through each segment (`engine.look.propagate`: colour/tone map
plus texture residual moved along optical flow, faded where the flow fails). The first frame is
the user's own (`first_frame`, which wins when several guidances are given); else the source first
frame painted from a `style_image` (`engine.look.paint`), with a named look on top when a prompt names
one; else the named look alone (`engine.look.named`). Free text needs a diffusion backend.

Param `strength` (0..1, default 1) blends the stylized frames with the source. `first_condition` gets
no params, so `render_segment` applies it: to a segment conditioned on this backend's own first
condition (recomputed and compared, so no state is kept); a chained condition (the previous segment's
output, or a stored one on resume) already carries the blend and is followed as it is, so the strength
never compounds. Other params are the engine's (`overlap`, `color_match`) and are left alone.

Known limit: areas that enter the picture or are uncovered inside a segment get the colour map but
not the first frame's texture, and a chained condition passes that on.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ..look import LOOKS, apply_look, carry_look, find_look, stylize
from .base import FIRST_FRAME, STYLE_IMAGE, TEXT, Backend, BackendError, Guidance

__all__ = ["ClassicBackend"]


def _strength(params: dict[str, str]) -> float:
    """The `strength` param; other params are the engine's (`overlap`, `color_match`) or other backends'."""
    raw = params.get("strength", "1")
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:  # also rejects nan
        raise BackendError(f"param 'strength' must be a number from 0 to 1, got {raw!r}.")
    return value


def _rgb(image: np.ndarray, what: str) -> np.ndarray:
    """An HxWx3 uint8 view of a guidance image (grey is expanded, alpha dropped)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or min(image.shape[:2]) < 1:
        raise BackendError(f"the {what} must be an 8-bit RGB image, got an array of {image.shape} {image.dtype}.")
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    if image.shape[2] not in (3, 4):
        raise BackendError(f"the {what} must be an 8-bit RGB image, got {image.shape[2]} channels.")
    return np.ascontiguousarray(image[..., :3])


def _resized(image: np.ndarray, height: int, width: int) -> np.ndarray:
    if image.shape[:2] == (height, width):
        return image
    shrink = image.shape[0] * image.shape[1] > height * width
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


def _blend(stylized: np.ndarray, source: np.ndarray, strength: float) -> np.ndarray:
    return cv2.addWeighted(stylized, strength, source, 1.0 - strength, 0.0)


class ClassicBackend(Backend):
    name = "classic"
    description = (
        "CPU stylizer without models: carries a stylized first frame through the shot (colour map plus "
        "optical-flow texture); style images by colour transfer and a painterly filter; text as named looks only."
    )
    guidances = frozenset({TEXT, STYLE_IMAGE, FIRST_FRAME})
    named_looks = tuple(LOOKS)
    params = frozenset({"strength"})
    segment_frames = 49

    def check(self, guidance: Guidance, params: dict[str, str]) -> None:
        """Rejects free text (it names the looks and the diffusion backends), bad images and bad params."""
        super().check(guidance, params)
        if TEXT in guidance.kinds and find_look(guidance.prompt) is None:
            raise BackendError(
                f"the classic backend only knows the named looks {', '.join(self.named_looks)}; "
                f"{guidance.prompt.strip()!r} is free text, which needs a diffusion backend "
                "(--backend dreamstyle or --backend vace)."
            )
        for image, what in ((guidance.first_frame, "first frame"), (guidance.style_image, "style image")):
            if image is not None:
                _rgb(image, what)
        _strength(params)

    def first_condition(self, source_first: np.ndarray, guidance: Guidance, seed: int) -> np.ndarray:
        """The full-strength stylized first frame, at the source's size (the seed is not needed)."""
        height, width = source_first.shape[:2]
        if guidance.first_frame is not None:
            return _resized(_rgb(guidance.first_frame, "first frame"), height, width)
        look = find_look(guidance.prompt)
        if guidance.style_image is None and look is None:
            raise BackendError("the classic backend needs a first frame, a style image or a named look.")
        frame = np.ascontiguousarray(source_first)
        if guidance.style_image is not None:
            frame = stylize(frame, _rgb(guidance.style_image, "style image"))
        return apply_look(look, frame) if look else frame

    def render_segment(
        self,
        frames: np.ndarray,
        condition: np.ndarray | None,
        guidance: Guidance,
        seed: int,
        params: dict[str, str],
    ) -> np.ndarray:
        """Carries `condition` (the stylized frames[0]) through the segment; output[0] is the condition.

        At a shot's start (the condition is this backend's own first condition) with strength < 1,
        output[0] is that condition blended with frames[0], and the blend is what gets carried.
        """
        strength = _strength(params)
        if strength == 0.0:
            return frames.copy()
        if condition is None:
            raise BackendError("the classic backend renders from a condition frame; got none.")
        height, width = frames.shape[1:3]
        condition = _resized(_rgb(condition, "condition"), height, width)
        if strength < 1.0 and np.array_equal(condition, self.first_condition(frames[0], guidance, seed)):
            condition = _blend(condition, frames[0], strength)  # the shot's start: blend once, here
        return carry_look(frames, condition)
