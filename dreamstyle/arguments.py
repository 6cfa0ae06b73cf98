"""The argument parser both commands use."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["Parser"]


class Parser(argparse.ArgumentParser):
    """argparse's parser without abbreviated options (its subcommands' too): a script's `--backend` is refused as
    unknown rather than read as `--backend-option`, and a flag added later cannot change what a script meant."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)
