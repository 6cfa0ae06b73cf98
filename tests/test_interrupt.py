"""Ctrl-C in a terminal, a scheduler's SIGTERM or a closed session's SIGHUP during `dreamstyle stylize`: the
command stops at once, its local engine stops cleanly (not left running, not killed mid-write; also when the
command itself is killed), and running the command again finishes the edit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import opentimelineio as otio
import pytest
from opentimelineio.opentime import RationalTime, TimeRange

from mediagen import write_video

ROOT = Path(__file__).resolve().parent.parent
R = 24000 / 1001


def _engines_for(state_dir: Path) -> list[int]:
    """Pids of engine processes serving `state_dir`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and str(state_dir) in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.parametrize(("stop", "code"), [
    (lambda run: os.killpg(run.pid, signal.SIGINT), 130),  # what Ctrl-C in a terminal sends
    (lambda run: run.send_signal(signal.SIGTERM), 143),  # a farm scheduler, `timeout`
    (lambda run: run.send_signal(signal.SIGHUP), 129),  # an ssh session closed
    (lambda run: run.kill(), -9),  # no chance to stop anything: the engine notices on its own
], ids=["SIGINT", "SIGTERM", "SIGHUP", "SIGKILL"])
def test_a_stopped_run_stops_its_engine_and_a_rerun_finishes(tmp_path, stop, code):
    media = write_video(tmp_path / "media" / "long.mp4", [400], width=320, height=180)
    timeline = otio.schema.Timeline("long")
    track = otio.schema.Track("V1")
    for index in range(8):
        track.append(otio.schema.Clip(f"c{index}", otio.schema.ExternalReference(str(media)),
                                      TimeRange(RationalTime(index * 45, R), RationalTime(45, R))))
    timeline.tracks.append(track)
    cut = tmp_path / "long.otio"
    otio.adapters.write_to_file(timeline, str(cut))
    command = [sys.executable, "-m", "dreamstyle.cli", "stylize", str(cut), "--prompt", "noir", "--no-detect"]
    state = tmp_path / "long_dreamstyle" / ".engine"
    run = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           start_new_session=True)  # its own terminal-like process group
    deadline = time.monotonic() + 60
    while not _engines_for(state) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.5)  # shots are on the engine
    stop(run)
    sent = time.monotonic()
    out, err = run.communicate(timeout=60)
    assert run.returncode == code and (code < 0 or "interrupted" in err), err
    assert time.monotonic() - sent < 15, "the command waited for the render instead of stopping"
    # A stopped command has stopped its engine before exiting; a killed one's engine notices and stops by itself.
    deadline = time.monotonic() + (30 if code < 0 else 0.5)
    while _engines_for(state) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = _engines_for(state)
    for pid in left:  # not to outlive the test
        os.kill(pid, signal.SIGKILL)
    assert left == [], "the local engine was left running"
    again = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "long.dreamstyle-v1.otio").is_file()


HALF_IMPORTED = """
import os, signal, sys, time
from host_plugin import cli
from host_plugin.commands import doctor

def half_imported(args):
    try:
        if os.environ.get("CTRL_C"):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(10)
    except KeyboardInterrupt:
        pass  # caught half-way, as torch's import machinery did
    raise AttributeError("module 'sympy' has no attribute 'printing'")

doctor._run = half_imported
sys.exit(cli.main(["doctor"]))
"""


def test_an_error_raised_after_ctrl_c_counts_as_the_interrupt():
    """Ctrl-C while torch imported (`shots --detector transnetv2`) left a module half-made and the import failed
    with AttributeError: that is the interrupt (130, no traceback). Without a Ctrl-C the same error is a bug."""
    command = [sys.executable, "-c", HALF_IMPORTED]
    interrupted = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60,
                                 env={**os.environ, "CTRL_C": "1"})
    assert interrupted.returncode == 130 and "interrupted" in interrupted.stderr, interrupted.stderr
    assert "Traceback" not in interrupted.stderr
    bug = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert bug.returncode == 1 and "AttributeError: module 'sympy'" in bug.stderr


def test_the_command_runs_from_a_thread_that_is_not_the_main_one(tmp_path):
    """A host application calling `main` off its main thread, where Python refuses to set signal handlers."""
    import threading

    from host_plugin.cli import main

    codes = []
    worker = threading.Thread(target=lambda: codes.append(main(["shots", str(tmp_path / "none.otio")])))
    worker.start()
    worker.join()
    assert codes == [2]
