"""`dreamstyle sample`: generate the bundled sample edit and stylize it with the local CPU engine."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..sample import STYLE_IMAGE, make_sample

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("sample", help="make the sample edit and stylize it (CPU, no downloads)")
    parser.add_argument("--dir", type=Path, default=Path("sample"), help="where the sample goes (default: ./sample)")
    parser.add_argument("--backend", default="classic", help="engine backend (default: %(default)s)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..cli import build_parser

    folder = args.dir.resolve()
    timeline = make_sample(folder)
    print(f"sample edit: {timeline}")
    stylize_args = ["stylize", str(timeline), "--style-image", str(STYLE_IMAGE), "--backend", args.backend,
                    "--out", str(folder / "out")]
    parsed = build_parser().parse_args(stylize_args)
    return parsed.func(parsed)
