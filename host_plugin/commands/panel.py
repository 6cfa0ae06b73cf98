"""`dreamstyle panel`: the editor's panel; `--resolve` reads the running Resolve's current timeline, and
`--screenshot FILE` renders the panel with the sample edit loaded to a PNG (for the README) and exits."""

from __future__ import annotations

import argparse
import signal
import tempfile
import threading
import time
from pathlib import Path

from ..errors import DreamStyleError
from ..sample import STYLE_IMAGE
from . import options

__all__ = ["add_parser", "run"]



def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("panel", help="open the editor's panel (PySide6)")
    parser.add_argument("timeline", nargs="?", type=Path, help="a timeline file to open (.otio, .xml, .edl, .aaf)")
    parser.add_argument("--resolve", action="store_true", help="read the current timeline of the running Resolve")
    parser.add_argument("--engine", type=options.engine_address, metavar="HOST:PORT",
                        help="a remote engine (default: the panel starts a local one)")
    parser.add_argument("--screenshot", type=Path, metavar="FILE",
                        help="write the panel with the sample (or TIMELINE) loaded to a PNG and exit")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        from PySide6.QtCore import QSettings, Qt

        from ..panel import make_app, make_window
    except ImportError as exc:
        raise DreamStyleError(f"the panel needs PySide6 ({exc}): pip install 'dreamstyle[panel]'") from None
    from ..hosts.resolve import connect

    app = make_app()
    if args.screenshot:
        with tempfile.TemporaryDirectory(prefix="dreamstyle-shot-") as folder:
            settings = QSettings(str(Path(folder) / "panel.ini"), QSettings.IniFormat)
            window = make_window(settings=settings, state_dir=Path(folder) / "state")
            window.setAttribute(Qt.WA_DontShowOnScreen)
            return screenshot(app, window, args.timeline, args.screenshot, Path(folder))
    window = make_window(connect if args.resolve else None)
    if args.engine:
        window.engine.mode.setCurrentIndex(1)
        window.engine.address.setText(args.engine)
    _close_on_signals(window)
    window.show()
    if args.resolve:
        window.load_from_host()
    elif args.timeline:
        window.load(args.timeline)
    return app.exec()


def _close_on_signals(window) -> None:
    """Ctrl-C, SIGTERM and SIGHUP close the window as its close button does (settings saved, the local engine
    stopped): raised in a Qt slot, the command line's KeyboardInterrupt would only be printed. Ignored ones
    (nohup) stay ignored."""
    if threading.current_thread() is not threading.main_thread():  # only it may set handlers
        return
    for number in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if number is not None and signal.getsignal(number) is not signal.SIG_IGN:
            signal.signal(number, lambda *_: window.close())


def screenshot(app, window, timeline: Path | None, dest: Path, scratch: Path, timeout: float = 120) -> int:
    """Loads the timeline (default: a freshly generated sample), waits for shots and thumbnails, saves a PNG."""
    from PySide6.QtCore import Qt

    from ..sample import make_sample

    window.style_form.from_dict({"prompt": "", "style_image": str(STYLE_IMAGE), "backend": "classic",
                                 "seed": 7, "handles": 0})
    window.show()
    window.load(timeline or make_sample(scratch / "sample"))
    deadline = time.monotonic() + timeout
    table = window.table

    def ready() -> bool:
        rows = range(table.rowCount())
        return bool(table.shots) and all(table.item(r, 0).data(Qt.DecorationRole) is not None for r in rows)

    while not ready():
        if time.monotonic() > deadline:
            raise DreamStyleError(f"the panel did not finish loading within {timeout:.0f} s")
        app.processEvents()
        time.sleep(0.02)
    table.selectRow(0)
    app.processEvents()
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(dest)):
        raise DreamStyleError(f"could not write the screenshot {dest}")
    print(f"panel screenshot: {dest}")
    window.engine.stop()
    return 0
