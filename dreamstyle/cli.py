"""The `dreamstyle` command: `engine ...` goes to the engine, everything else to the host side.

The two sides never import each other; this dispatcher imports whichever one the command needs.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["engine"]:
        from engine.cli import main as engine_main

        return engine_main(argv[1:])
    from host_plugin.cli import main as host_main

    return host_main(argv)


if __name__ == "__main__":
    sys.exit(main())
