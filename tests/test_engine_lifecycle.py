"""The engine's start and stop as a process: a stop signal mid-render, a second engine refused on a state
folder in use, the addresses it listens on."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from chainedbackend import SEGMENT_DELAY, SEGMENT_LOG
from enginehelp import engine_thread
from mediagen import write_video

from dreamstyle import exits
from dreamstyle.v1 import engine_pb2 as pb
from dreamstyle.v1 import engine_pb2_grpc as pb_grpc
from host_plugin.client import EngineClient

HERE = Path(__file__).parent
FRAMES = 120  # 20 segments of the chained backend, 6 s: the 2 s the engine gives calls to end do not finish it


def start(command: list[str], output: Path, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """Runs an engine command, its output in `output`; returns it and the address it listens on."""
    with open(output, "wb") as sink:
        process = subprocess.Popen(command, cwd=HERE.parent, stdout=sink, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        if match := re.search(r"listening on (\S+)\n", output.read_text()):
            return process, match.group(1)
        time.sleep(0.1)
    process.kill()
    raise AssertionError(f"the engine did not start (exit {process.wait()}):\n{output.read_text()}")


def start_engine(state: Path, root: Path, output: Path, log: Path, port: int = 0,
                 segment_s: float = 0.3) -> tuple[subprocess.Popen[bytes], int]:
    """`engine serve` with the slow "chained" test backend on 127.0.0.1, once it listens; and its port."""
    env = {**os.environ, SEGMENT_DELAY: str(segment_s), SEGMENT_LOG: str(log)}
    command = [sys.executable, str(HERE / "chainedbackend.py"), "serve", "--port", str(port), "--state-dir", str(state),
               "--media-root", str(root)]
    process, address = start(command, output, env)
    return process, int(address.removeprefix("127.0.0.1:"))


def shot(media: Path, out: Path) -> pb.SubmitShotRequest:
    return pb.SubmitShotRequest(
        idempotency_key="k-stop", backend="chained", seed=3,
        shot=pb.ShotSpec(media=pb.MediaRef(path=str(media)), start_frame=2, end_frame=2 + FRAMES, label="shot stop"),
        output=pb.OutputSpec(directory=str(out), name="stop"),
    )


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=["SIGTERM", "SIGINT", "SIGHUP"])
def test_a_stop_signal_mid_render_stops_gracefully_and_the_job_resumes(tmp_path, stop):
    """A service manager's SIGTERM, like Ctrl-C and a closed ssh session's SIGHUP: RPCs stop, the render stops, the store closes, exit 0; the
    job stays unfinished (not failed), the client watches on, and the next engine on the folder finishes it."""
    media = write_video(tmp_path / "media" / "clip.mp4", [70, 60])
    state, log = tmp_path / "state", tmp_path / "segments.log"
    first, port = start_engine(state, media.parent, tmp_path / "first.out", log)
    engines = [first]
    try:
        with EngineClient(f"127.0.0.1:{port}", reconnect_s=60) as client:
            job = client.submit(shot(media, media.parent / "out")).job
            events = []
            for event in client.watch(job.job_id):
                events.append(event)
                if event.job.segments_done >= 2 and len(engines) == 1:
                    first.send_signal(stop)
                    assert first.wait(30) == 0, (tmp_path / "first.out").read_text()
                    stopped_after = len(log.read_text().splitlines())
                    engines.append(start_engine(state, media.parent, tmp_path / "again.out", log, port)[0])
        assert events[-1].job.state == pb.JOB_STATE_DONE, events[-1].job.error
        assert Path(events[-1].job.result.path).is_file()
        engines[-1].terminate()
        assert engines[-1].wait(30) == 0
    finally:
        for engine in engines:
            engine.kill()
    for name in ("first.out", "again.out"):
        output = (tmp_path / name).read_text()
        assert "Traceback" not in output and "Error" not in output, output
    assert f"{stop.name}: stopping" in (tmp_path / "first.out").read_text()
    assert stopped_after < FRAMES // 6, "stopped mid-render"
    pids = list(dict.fromkeys(line.split()[0] for line in log.read_text().splitlines()))
    assert pids == [str(first.pid), str(engines[-1].pid)], "the first engine stopped its render; the second finished it"


def test_a_second_stop_signal_stops_at_once(tmp_path):
    """An operator who does not want to wait for the graceful stop signals again."""
    media = write_video(tmp_path / "media" / "clip.mp4", [70, 60])
    # A 20 s segment: the graceful stop waits for the one under way, however slowly this test gets to signal again.
    engine, port = start_engine(tmp_path / "state", media.parent, tmp_path / "out.txt", tmp_path / "segments.log",
                                segment_s=20)
    try:
        with EngineClient(f"127.0.0.1:{port}", reconnect_s=0) as client:
            job = client.submit(shot(media, media.parent / "out")).job
            watching = client.watch(job.job_id)
            while next(watching).job.state != pb.JOB_STATE_RUNNING:  # a segment under way
                pass
            engine.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 10
            while "SIGTERM: stopping" not in (tmp_path / "out.txt").read_text() and time.monotonic() < deadline:
                time.sleep(0.05)
            engine.send_signal(signal.SIGTERM)
            assert engine.wait(30) == -signal.SIGTERM, (tmp_path / "out.txt").read_text()
    finally:
        engine.kill()


def test_a_second_engine_refused_on_the_state_folder_leaves_the_first_ones_uploads(tmp_path):
    """Starting clears the uploads a killed engine cut off, but only once the folder is its own."""
    data = write_video(tmp_path / "media" / "clip.mp4", [20]).read_bytes()
    state = tmp_path / "state"
    half = threading.Event()
    go_on = threading.Event()

    def chunks() -> Iterator[pb.UploadChunk]:
        yield pb.UploadChunk(header=pb.UploadHeader(filename="clip.mp4", size_bytes=len(data),
                                                    sha256=hashlib.sha256(data).hexdigest()))
        yield pb.UploadChunk(data=data[: len(data) // 2])
        half.set()
        go_on.wait(60)
        yield pb.UploadChunk(data=data[len(data) // 2:])

    with engine_thread(state, [tmp_path]) as address, grpc.insecure_channel(address) as channel:
        upload = pb_grpc.EngineStub(channel).UploadMedia.future(chunks(), timeout=90)
        assert half.wait(30)
        deadline = time.monotonic() + 10
        while not list(state.glob("uploads/*/.*.partial")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(state.glob("uploads/*/.*.partial")), "the upload is under way"
        second = subprocess.run([sys.executable, "-m", "engine", "serve", "--port", "0", "--state-dir", str(state)],
                                check=False, cwd=HERE.parent, capture_output=True, text=True, timeout=60)
        assert second.returncode == exits.STATE_IN_USE, second.stderr
        go_on.set()
        reply = upload.result()
    stored = state / "uploads" / reply.upload_id / "clip.mp4"
    assert reply.size_bytes == len(data) and stored.read_bytes() == data


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback")
@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_an_ipv6_host_is_served_with_or_without_brackets(tmp_path, host):
    """gRPC reads "::1:PORT" as no address: the engine brackets it, and says where it listens usably."""
    command = [sys.executable, "-m", "engine", "serve", "--host", host, "--port", "0", "--state-dir", str(tmp_path)]
    process, address = start(command, tmp_path / "engine.out")
    try:
        assert re.fullmatch(r"\[::1\]:\d+", address), address
        with EngineClient(address) as client:
            assert client.capabilities().backends
        process.terminate()
        assert process.wait(30) == 0
    finally:
        process.kill()


def test_a_stop_signal_mid_render_on_a_local_farm_exits_cleanly(tmp_path):
    """Ray's crash handler in the engine once took SIGTERM and aborted a graceful stop that took over 3 s (a
    watching client's 2 s, the segment under way, Ray's shutdown): exit 134, a stack dump, Ray processes left."""
    pytest.importorskip("ray")
    media = write_video(tmp_path / "media" / "clip.mp4", [150])  # three 49-frame classic segments and a bit
    command = [sys.executable, "-m", "engine", "serve", "--port", "0", "--state-dir", str(tmp_path / "state"),
               "--media-root", str(media.parent), "--farm", "local", "--farm-workers", "1", "--farm-gpus", "0"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")])}
    engine, address = start(command, tmp_path / "engine.out", env)
    try:
        with EngineClient(address, reconnect_s=0) as client:
            job = client.submit(pb.SubmitShotRequest(
                idempotency_key="k-farm-stop", backend="classic", guidance=pb.Guidance(prompt="noir"),
                shot=pb.ShotSpec(media=pb.MediaRef(path=str(media)), start_frame=0, end_frame=150, label="farm stop"),
                output=pb.OutputSpec(directory=str(media.parent), name="stop"),
            )).job
            for event in client.watch(job.job_id):  # a watch in flight while it stops: the stop gives it its 2 s
                if event.job.segments_done >= 1:
                    engine.send_signal(signal.SIGTERM)
                    assert engine.wait(60) == 0, (tmp_path / "engine.out").read_text()
                    break
    finally:
        engine.kill()
    assert "SIGTERM received" not in (tmp_path / "engine.out").read_text()
