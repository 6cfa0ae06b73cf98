"""The memory/speed options on a CUDA GPU, with the tiny models (run with DREAMSTYLE_GPU_TESTS=1)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("diffusers")

from engine.backends.base import BackendConfig, Guidance
from engine.backends.registry import create_backend

pytestmark = pytest.mark.gpu
SHOT = np.random.default_rng(2).integers(0, 256, (5, 24, 40, 3), dtype=np.uint8)
GUIDANCE = Guidance(prompt="oil painting", style_image=SHOT[2], first_frame=SHOT[0])


@pytest.mark.parametrize(
    "options",
    [
        {"dtype": "bf16"},
        {"dtype": "bf16", "fp8": "1"},
        {"dtype": "bf16", "offload": "model", "cache": "fbc:0.05"},
        {"dtype": "bf16", "fp8": "1", "offload": "group"},
        {"dtype": "bf16", "compile": "1"},
        {"dtype": "bf16", "attention": "cudnn"},
    ],
    ids=["bf16", "fp8", "model-offload+cache", "fp8+group-offload", "compile", "cudnn-attention"],
)
def test_dreamstyle_options_on_cuda(tiny_wan, options):
    config = BackendConfig(model_dir=tiny_wan["i2v"], adapter=tiny_wan["adapter"], device="cuda",
                           options={"resolution": "32x32", "steps": "2", **options})
    out = create_backend("dreamstyle", config).render_segment(SHOT, SHOT[0], GUIDANCE, 0, {})
    assert out.shape == SHOT.shape and out.dtype == np.uint8


def test_vace_on_cuda(tiny_wan):
    config = BackendConfig(model_dir=tiny_wan["vace"], device="cuda",
                           options={"resolution": "32x32", "steps": "2", "dtype": "bf16",
                                    "depth_model": str(tiny_wan["depth"])})
    out = create_backend("vace", config).render_segment(SHOT, SHOT[0], GUIDANCE, 0, {})
    assert out.shape == SHOT.shape
