"""benchmarks/gpu_backend.py keeps working: its --tiny mode runs anywhere in seconds."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("diffusers")


def test_tiny_run_reports_every_case_and_ratio(tmp_path, monkeypatch):
    path = Path(__file__).parents[1] / "benchmarks/gpu_backend.py"
    spec = importlib.util.spec_from_file_location("gpu_backend_benchmark", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "figures.json"
    argv = ["gpu_backend.py", "--tiny", "--steps", "1", "--attention", "native,math", "--json", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    try:
        bench.main()
    finally:
        from diffusers.models.attention_dispatch import AttentionBackendName, _AttentionBackendRegistry

        _AttentionBackendRegistry.set_active_backend(AttentionBackendName.NATIVE)  # the choice is process-wide
    figures = json.loads(out.read_text())
    cases = {(r["precision"], r["attention"], r["input"]) for r in figures["rows"]}
    every = {(p, "native", c) for p in ("bf16", "fp8") for c in ("base", "lora only", "dreamstyle", "merged")}
    assert cases == every | {(p, "math", c) for p in ("bf16", "fp8") for c in ("base", "merged")}
    assert len(figures["rows"]) == 12
    assert set(figures["ratios"]) == {f"{p} {c}/base" for p in ("bf16", "fp8") for c in ("lora only", "dreamstyle", "merged")} | {
        f"{p} merged/base (math)" for p in ("bf16", "fp8")}
