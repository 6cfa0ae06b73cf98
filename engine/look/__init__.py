"""Classic (non-neural) image looks: colour mapping, flow propagation, painterly transfer, named looks."""

from .colour import ColourMap, fit_colour_map
from .named import LOOKS, apply_look, find_look
from .paint import painterly, stylize, transfer_colour
from .propagate import carry_look

__all__ = [
    "ColourMap",
    "fit_colour_map",
    "LOOKS",
    "apply_look",
    "find_look",
    "painterly",
    "stylize",
    "transfer_colour",
    "carry_look",
]
