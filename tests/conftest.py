"""Shared fixtures. Generated media lives in pytest's tmp dirs; nothing is downloaded."""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# A run started in the background by a script (`cmd &`) inherits SIGINT ignored, and so would every process the
# tests start; the tests that press Ctrl-C on them need it as a terminal delivers it.
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.path.insert(0, str(Path(__file__).parent))  # tests/mediagen.py etc., importable as plain modules

from wan_tiny import tiny_wan  # noqa: E402,F401  session fixture: tiny Wan model folders, built once


def pytest_configure(config):
    config.addinivalue_line("markers", "allow_error_logs: the test expects ERROR log records")


def pytest_collection_modifyitems(config, items):
    """`gpu` tests run only with DREAMSTYLE_GPU_TESTS=1 (on a machine with a CUDA GPU)."""
    if os.environ.get("DREAMSTYLE_GPU_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU: set DREAMSTYLE_GPU_TESTS=1")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fail_on_error_logs(request, caplog):
    """A test that logs an ERROR fails unless marked `allow_error_logs` (PySceneDetect's habit)."""
    yield
    if request.node.get_closest_marker("allow_error_logs"):
        return
    errors = [r for r in caplog.get_records("call") if r.levelno >= logging.ERROR]
    if errors:
        pytest.fail(f"unexpected ERROR log: {errors[0].getMessage()}")


@pytest.fixture(autouse=True)
def _panel_workers_finish(request):
    """A panel test ends only when the panel's worker threads have (none may outlive its widgets)."""
    yield
    if "PySide6" in sys.modules:
        from PySide6.QtCore import QThreadPool

        QThreadPool.globalInstance().waitForDone(60_000)
