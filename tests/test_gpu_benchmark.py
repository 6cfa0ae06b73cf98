"""benchmarks/gpu_backend.py keeps working: its --tiny mode runs anywhere in seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("diffusers")
ROOT = Path(__file__).resolve().parents[1]


def test_tiny_run_reports_every_case_and_ratio(tmp_path):
    out = tmp_path / "figures.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, str(ROOT / "benchmarks/gpu_backend.py"), "--tiny", "--steps", "1", "--json", str(out)],
                   check=True, env=env, capture_output=True, timeout=120)
    figures = json.loads(out.read_text())
    cases = {(r["precision"], r["input"]) for r in figures["rows"]}
    assert cases == {(p, c) for p in ("bf16", "fp8") for c in ("base", "lora only", "dreamstyle", "merged")}
    assert set(figures["ratios"]) == {f"{p} {c}/base" for p in ("bf16", "fp8") for c in ("lora only", "dreamstyle", "merged")}
