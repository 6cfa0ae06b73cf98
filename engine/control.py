"""Structure control for the VACE backend: depth or pose maps of the source shot, from local folders.

Depth: any transformers depth-estimation folder (Depth Anything V2, e.g. the
`depth-anything/Depth-Anything-V2-Small-hf` layout). Pose: a transformers ViTPose folder (e.g.
`usyd-community/vitpose-base-simple`); it is given the whole frame as the person box, so it suits
single-person shots (a person detector is not bundled). Nothing is downloaded: the folders are local.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .backends._diffusion import load_failure
from .models.model_files import checkpoint_tensors, read_json

__all__ = ["CONTROLS", "DepthEstimator", "PoseEstimator", "control_missing", "load_control"]

CONTROLS = {
    "depth": ("depth_model", "a depth-estimation folder, e.g. Depth-Anything-V2-Small-hf (--backend-option depth_model=PATH)"),
    "pose": ("pose_model", "a ViTPose folder, e.g. vitpose-base-simple (--backend-option pose_model=PATH)"),
}
# The config.json model_type each control loads: transformers' depth-estimation models, and ViTPose.
MODEL_TYPES = {
    "depth": ("depth_anything", "depth_pro", "dpt", "glpn", "prompt_depth_anything", "zoedepth"),
    "pose": ("vitpose",),
}
# COCO-17 limbs, drawn as the pose control image.
SKELETON = [(15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7), (6, 8), (7, 9),
            (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6)]
BATCH = 8


def control_missing(options: dict[str, str]) -> list[str]:
    """What the chosen control (`control=depth|pose`, default depth) still needs; reads JSON and safetensors
    headers, no weights."""
    kind = options.get("control", "depth")
    if kind not in CONTROLS:
        return [f"option control={kind!r} to be one of {', '.join(CONTROLS)}"]
    key, what = CONTROLS[kind]
    folder = options.get(key)
    if not folder:
        return [what]
    if not (Path(folder) / "config.json").is_file():
        return [f"{folder} is not a transformers model folder (no config.json): {what}"]
    problem = _folder_problem(Path(folder), kind)
    return [f"{key}={folder}: {problem}: {what}"] if problem else []


def _folder_problem(folder: Path, kind: str) -> str | None:
    """Why `folder` cannot serve as the `kind` control: another model type, no image processor, no whole weights."""
    try:
        model_type = read_json(folder / "config.json").get("model_type")
        if model_type not in MODEL_TYPES[kind]:
            return f"its config.json says model_type={model_type!r}, not {' or '.join(MODEL_TYPES[kind])}"
        if not (folder / "preprocessor_config.json").is_file():
            return "it has no preprocessor_config.json (the image processor's settings)"
        checkpoint_tensors(folder)
    except (OSError, ValueError) as exc:
        return f"{exc}; copy or download it again"
    return None


def load_control(options: dict[str, str], device: str) -> DepthEstimator | PoseEstimator:
    """The chosen control's estimator; BackendError names its folder when it cannot be loaded."""
    kind = options.get("control", "depth")
    key = CONTROLS[kind][0]
    cls = DepthEstimator if kind == "depth" else PoseEstimator
    with load_failure(f"control model folder {options[key]} ({key})", "copy or download it again"):
        return cls(Path(options[key]), device)


class DepthEstimator:
    """Depth maps as grey RGB frames, normalised over the whole segment so they do not flicker."""

    def __init__(self, folder: Path, device: str) -> None:
        from transformers import AutoImageProcessor, AutoModelForDepthEstimation

        self.processor = AutoImageProcessor.from_pretrained(folder)
        self.model = AutoModelForDepthEstimation.from_pretrained(folder).to(device).eval()
        self.device = device

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        import torch

        maps = []
        with torch.inference_mode():
            for start in range(0, len(frames), BATCH):
                chunk = list(frames[start : start + BATCH])
                inputs = self.processor(images=chunk, return_tensors="pt").to(self.device)
                depth = self.model(**inputs).predicted_depth.float()
                maps.append(torch.nn.functional.interpolate(depth[:, None], frames.shape[1:3], mode="bicubic")[:, 0])
        depth = torch.cat(maps).cpu().numpy()
        depth = (depth - depth.min()) / max(float(depth.max() - depth.min()), 1e-6)
        return np.repeat((depth * 255).round().astype(np.uint8)[..., None], 3, axis=-1)


class PoseEstimator:
    """COCO-17 skeletons drawn on black, one person per frame (the whole frame is its box)."""

    def __init__(self, folder: Path, device: str) -> None:
        from transformers import AutoProcessor, VitPoseForPoseEstimation

        self.processor = AutoProcessor.from_pretrained(folder)
        self.model = VitPoseForPoseEstimation.from_pretrained(folder).to(device).eval()
        self.device = device

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        import torch

        height, width = frames.shape[1:3]
        canvases = np.zeros_like(frames)
        with torch.inference_mode():
            for start in range(0, len(frames), BATCH):
                chunk = list(frames[start : start + BATCH])
                boxes = [[[0.0, 0.0, float(width), float(height)]] for _ in chunk]
                inputs = self.processor(chunk, boxes=boxes, return_tensors="pt").to(self.device)
                poses = self.processor.post_process_pose_estimation(self.model(**inputs), boxes=boxes)
                for offset, people in enumerate(poses):
                    for person in people:
                        _draw(canvases[start + offset], person)
        return canvases


def _draw(canvas: np.ndarray, person: dict[str, Any], min_score: float = 0.3) -> None:
    points = person["keypoints"].cpu().numpy().round().astype(int)
    scores = person["scores"].cpu().numpy()
    for a, b in SKELETON:
        if max(a, b) < len(points) and scores[a] >= min_score and scores[b] >= min_score:
            cv2.line(canvas, tuple(map(int, points[a])), tuple(map(int, points[b])), (255, 255, 255), 2)
    for (x, y), score in zip(points, scores):
        if score >= min_score:
            cv2.circle(canvas, (int(x), int(y)), 3, (255, 0, 0), -1)
