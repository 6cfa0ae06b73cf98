"""Carries a stylized first frame through a segment: colour map plus flow-propagated texture.

The look of `condition` (the stylized version of `frames[0]`) splits into a colour/tone map fitted from
`frames[0]` to `condition` (see `colour`), applied to every frame, and a residual (condition minus the
mapped first frame) holding the texture and detail colour cannot explain. The residual is carried along
dense DIS optical flow computed at a reduced resolution: each frame's backward flow is composed onto the
previous frame's map back to frame 0, so the residual is sampled once per frame (no blur build-up).
A forward-backward consistency check and a photometric check (does the pixel the flow points back to
look like this one?) fade the residual to zero where flow is unreliable (occlusions, disocclusions,
flat areas a moving object uncovers, pixels entering the frame): those areas show the mapped frame
rather than a smear or a ghost of what was there.
"""

from __future__ import annotations

import cv2
import numpy as np

from .colour import fit_colour_map

__all__ = ["FLOW_SIDE", "carry_look"]

FLOW_SIDE = 320  # long side of the frames the flow is computed on
CONSISTENCY_RATIO = 0.01  # Sundaram et al.: |fwd + bwd|^2 < ratio * (|fwd|^2 + |bwd|^2) + slack
CONSISTENCY_SLACK = 0.5  # in flow-resolution pixels squared
FADE = 4.0  # confidence falls from 1 to 0 as the error grows from its threshold to FADE times it
PHOTOMETRIC = 10.0  # levels, any channel: a pixel unlike the one its flow points back to is another surface


def _flow_size(height: int, width: int) -> tuple[int, int]:
    scale = min(1.0, FLOW_SIDE / max(height, width))
    return max(16, round(width * scale)), max(16, round(height * scale))


def _small(frame: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The frame at flow resolution, in colour (for the photometric check) and grey (for the flow)."""
    small = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    return small, cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)


def _dis(finest: int) -> cv2.DISOpticalFlow:
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)
    flow.setFinestScale(finest)  # the preset stops at 1/4 scale, too coarse for texture to stay in place
    return flow


def _norm2(vectors: np.ndarray) -> np.ndarray:
    x, y = cv2.split(vectors)
    return x * x + y * y


def _grid(height: int, width: int) -> np.ndarray:
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return np.dstack([xs, ys])


class _Tracker:
    """Backward displacement to frame 0 and its confidence, both at flow resolution."""

    def __init__(self, first: np.ndarray, size: tuple[int, int]) -> None:
        self.size = size
        self.flow = _dis(finest=0)
        self.check_flow = _dis(finest=1)  # only checks `flow`: half resolution is accurate enough
        self.grid = _grid(size[1], size[0])
        self.previous_rgb, self.previous = _small(first, size)
        self.displacement = np.zeros((size[1], size[0], 2), np.float32)
        self.confidence = np.ones((size[1], size[0]), np.float32)
        self.kernel = np.ones((3, 3), np.uint8)

    def step(self, frame: np.ndarray) -> None:
        rgb, grey = _small(frame, self.size)
        backward = self.flow.calc(grey, self.previous, None)  # frame t -> t-1
        forward = self.check_flow.calc(self.previous, grey, None)  # frame t-1 -> t
        coords = self.grid + backward
        forward_there = cv2.remap(forward, coords, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        error = _norm2(backward + forward_there)
        bound = CONSISTENCY_RATIO * (_norm2(backward) + _norm2(forward_there)) + CONSISTENCY_SLACK
        consistent = np.clip((FADE * bound - error) / ((FADE - 1) * bound), 0, 1)
        before = cv2.remap(self.previous_rgb, coords, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        mismatch = cv2.absdiff(rgb, before).max(axis=2).astype(np.float32)  # chroma counts: equal greys differ
        consistent *= np.clip((FADE * PHOTOMETRIC - mismatch) / ((FADE - 1) * PHOTOMETRIC), 0, 1)
        consistent = cv2.erode(consistent, self.kernel)  # occlusion edges are ragged: widen them a little
        carried_back = cv2.remap(self.displacement, coords, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        carried_conf = cv2.remap(self.confidence, coords, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        self.displacement = backward + carried_back
        self.confidence = carried_conf * consistent
        self.previous_rgb, self.previous = rgb, grey


def carry_look(frames: np.ndarray, condition: np.ndarray) -> np.ndarray:
    """Stylizes a (T, H, W, 3) uint8 segment like `condition` stylizes frames[0]; output[0] is `condition`."""
    frames, condition = np.ascontiguousarray(frames), np.ascontiguousarray(condition)
    count, height, width = frames.shape[:3]
    colour = fit_colour_map(frames[0], condition)
    residual = condition.astype(np.float32) - colour.apply(frames[0])
    size = _flow_size(height, width)
    scale = np.array([width / size[0], height / size[1]], np.float32)
    grid = _grid(height, width)
    tracker = _Tracker(frames[0], size)
    output = np.empty_like(frames)
    output[0] = condition
    for t in range(1, count):
        tracker.step(frames[t])
        displacement = cv2.resize(tracker.displacement * scale, (width, height), interpolation=cv2.INTER_LINEAR)
        confidence = cv2.resize(cv2.blur(tracker.confidence, (3, 3)), (width, height), interpolation=cv2.INTER_LINEAR)
        coords = cv2.add(grid, displacement)
        carried = cv2.remap(residual, coords, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        styled = cv2.add(colour.apply(frames[t]), cv2.multiply(carried, cv2.merge([confidence] * 3)))
        np.maximum(styled, 0.0, out=styled)  # cv2.max takes a 1x1 frame for a scalar
        cv2.convertScaleAbs(styled, dst=output[t])  # rounds and saturates like np.rint + clip
    return output
