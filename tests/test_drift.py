"""Drift control: colour matching to the anchor segment, render params, and the drift benchmark."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from engine.backends.base import BackendError, Guidance
from engine.drift import ColorAnchor, drift_options, lab_stats

_spec = importlib.util.spec_from_file_location("drift_benchmark", Path(__file__).parents[1] / "benchmarks/drift.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)
DriftingBackend, measure, panning_shot, shift_lab = bench.DriftingBackend, bench.measure, bench.panning_shot, bench.shift_lab
SOURCE = panning_shot(33, 24, 32)


def transform(source: np.ndarray, output: np.ndarray) -> np.ndarray:
    return lab_stats(output)[0] - lab_stats(source)[0]


def test_anchor_keeps_the_first_segment_and_restores_its_transform_later():
    anchor = ColorAnchor(1.0)
    first = shift_lab(SOURCE[:17], np.array([0.0, 5.0, 10.0]))
    assert anchor(SOURCE[:17], first) is first
    drifted = shift_lab(SOURCE[16:], np.array([-4.0, 9.0, 16.0]))
    fixed = anchor(SOURCE[16:], drifted)
    assert np.linalg.norm(transform(SOURCE[16:], fixed) - transform(SOURCE[:17], first)) < 0.5


def test_content_changes_survive_colour_matching():
    anchor = ColorAnchor(1.0)
    anchor(SOURCE[:17], SOURCE[:17])
    darker = (SOURCE[16:] * 0.5).astype(np.uint8)
    assert lab_stats(anchor(darker, darker))[0][0] < lab_stats(SOURCE[:17])[0][0] - 10


def test_16_bit_frames_are_matched_as_their_8_bit_twins_are_and_keep_their_depth():
    """A deep backend's segments (uint16) are corrected by the same transform, at 16 bits."""
    first, drifted = shift_lab(SOURCE[:17], np.array([0.0, 5.0, 10.0])), shift_lab(SOURCE[16:], np.array([-4.0, 9.0, 16.0]))
    deep, shallow = ColorAnchor(1.0), ColorAnchor(1.0)
    shallow(SOURCE[:17], first)
    deep(SOURCE[:17].astype(np.uint16) * 257, first.astype(np.uint16) * 257)
    fixed = deep(SOURCE[16:].astype(np.uint16) * 257, drifted.astype(np.uint16) * 257)
    assert fixed.dtype == np.uint16
    assert np.abs(fixed / 257 - shallow(SOURCE[16:], drifted)).max() <= 1.5
    assert len(np.unique(fixed)) > len(np.unique(fixed // 257)), "not 8-bit values scaled up"


def test_strength_zero_changes_nothing():
    anchor = ColorAnchor(0.0)
    anchor(SOURCE[:17], SOURCE[:17])
    drifted = shift_lab(SOURCE[16:], np.array([0.0, 8.0, 8.0]))
    assert np.array_equal(anchor(SOURCE[16:], drifted), drifted)


def flatten(frames: np.ndarray, factor: float) -> np.ndarray:
    """Contrast scaled by `factor` around the frames' mean, as a flat, low-contrast look does."""
    mean = frames.reshape(-1, 3).mean(axis=0)
    return np.clip((frames - mean) * factor + mean, 0, 255).round().astype(np.uint8)


def test_anchor_restores_the_first_segments_contrast_too():
    anchor = ColorAnchor(1.0)
    first = flatten(SOURCE[:17], 0.5)
    anchor(SOURCE[:17], first)
    gain = lab_stats(first)[1] / lab_stats(SOURCE[:17])[1]
    fixed = anchor(SOURCE[16:], SOURCE[16:].copy())  # a later segment that lost the look's contrast
    restored = lab_stats(fixed)[1] / lab_stats(SOURCE[16:])[1]
    assert np.abs(restored - gain)[0] < 0.05, (restored, gain)


def test_a_flat_colour_shot_keeps_its_colour():
    """A black slug or a title card has no spread in any channel: matching must not divide by it."""
    black = np.full((17, 24, 32, 3), 16, np.uint8)
    anchor = ColorAnchor(1.0)
    anchor(black, black)
    assert np.abs(anchor(black, black).astype(int) - black).max() <= 1


def test_drift_options_from_render_params():
    assert drift_options({}) == {"overlap": 1, "color_match": 0.0}
    assert drift_options({"overlap": "4", "color_match": "0.5"}) == {"overlap": 4, "color_match": 0.5}
    for bad in ({"overlap": "0"}, {"color_match": "2"}, {"overlap": "x"}):
        with pytest.raises(BackendError):
            drift_options(bad)


@pytest.mark.parametrize("overlap", [1, 4])
def test_colour_matching_stops_drift_over_many_segments(overlap):
    backend = DriftingBackend()
    source = panning_shot(8 * 16 + 1, 24, 32)
    free = measure(backend, source, Guidance(prompt="x"), overlap, 0.0)
    matched = measure(backend, source, Guidance(prompt="x"), overlap, 1.0)
    assert free["drift"][-1] > 5 and max(matched["drift"]) < 0.5


def test_colour_matching_works_a_frame_at_a_time():
    """Whole-segment float32 Lab copies peaked at about 8 times a segment's frames (7.5 GB for 81 frames at 1080p);
    frame by frame it stays near the output's own size."""
    import tracemalloc

    source = np.random.default_rng(0).integers(0, 256, (24, 120, 160, 3), dtype=np.uint8)
    output = shift_lab(source, np.array([2.0, -6.0, 9.0]))
    anchor = ColorAnchor(1.0)
    anchor(source, shift_lab(source, np.array([0.0, 5.0, 10.0])))
    tracemalloc.start()
    try:
        fixed = anchor(source, output)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert fixed.shape == output.shape and peak < 2 * output.nbytes, peak / output.nbytes
