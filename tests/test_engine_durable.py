"""Durable jobs: an engine killed with SIGKILL mid-shot resumes at its last finished segment after a
restart, the client's watch rides through it, the result equals an uninterrupted render frame for
frame, a finished job is never rendered again, and re-running `dreamstyle stylize` after the engine and
the client both died picks up the same job."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from chainedbackend import PART_FRAMES, SEGMENT_DELAY, SEGMENT_LOG, ChainedBackend
from enginehelp import engine_thread
from mediagen import write_video

from dreamstyle.frames import iter_frames
from dreamstyle.v1 import engine_pb2 as pb
from engine.chain import segment_bounds
from engine.render import ShotRequest, part_starts, render_shot
from host_plugin.client import EngineCallError, EngineClient
from host_plugin.errors import EngineUnavailable

HERE = Path(__file__).parent
FRAMES = 60


class Engine:
    """`tests/chainedbackend.py serve` as a child process that can be SIGKILLed and started again."""

    def __init__(self, state: Path, root: Path, log: Path, part_frames: int = 0) -> None:
        self.state, self.root, self.log, self.part_frames = state, root, log, part_frames
        self.port = 0
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> str:
        env = {**os.environ, SEGMENT_DELAY: "0.15", SEGMENT_LOG: str(self.log), PART_FRAMES: str(self.part_frames)}
        command = [sys.executable, str(HERE / "chainedbackend.py"), "serve", "--port", str(self.port),
                   "--state-dir", str(self.state), "--media-root", str(self.root)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        for line in self.process.stdout:
            match = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if match:
                self.port = int(match.group(1))
                threading.Thread(target=self.process.stdout.read, daemon=True).start()
                return f"127.0.0.1:{self.port}"
        raise AssertionError(f"engine did not start (exit {self.process.wait()})")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)


def request(media: Path, key: str, out: Path) -> pb.SubmitShotRequest:
    return pb.SubmitShotRequest(
        idempotency_key=key,
        shot=pb.ShotSpec(media=pb.MediaRef(path=str(media)), start_frame=2, end_frame=2 + FRAMES, label=f"shot {key}"),
        backend="chained",
        seed=3,
        output=pb.OutputSpec(directory=str(out), name=key),
    )


@pytest.mark.parametrize("part_frames", [0, 11], ids=["segments", "parts"])
def test_sigkill_mid_job_then_restart_resumes_and_matches(tmp_path, part_frames):
    """Killed after four segments: the restart goes on after the last segment whose part was closed."""
    media = write_video(tmp_path / "media" / "clip.mp4", [40, 30])
    out = tmp_path / "media" / "out"
    log = tmp_path / "segments.log"
    engine = Engine(tmp_path / "state", media.parent, log, part_frames)
    try:
        with EngineClient(engine.start(), reconnect_s=60) as client:
            job = client.submit(request(media, "k1", out)).job
            states, killed = [], False
            for event in client.watch(job.job_id):
                states.append(event.job.state)
                if event.job.segments_done == 4 and not killed:  # in parts, progress passes 4 again after the restart
                    engine.kill()
                    engine.start()  # same port, same state folder
                    killed = True
            assert states[-1] == pb.JOB_STATE_DONE, client.get(job.job_id).error
            done = client.get(job.job_id)
            again = client.submit(request(media, "k1", out))
            assert not again.created and again.job.job_id == job.job_id
        lines = [line.split() for line in log.read_text().splitlines()]
        pids = list(dict.fromkeys(pid for pid, _ in lines))
        assert len(pids) == 2, "one engine before the kill, one after"
        first_after = next(int(number) for pid, number in lines if pid == pids[1])
        bounds = segment_bounds(FRAMES, ChainedBackend.segment_frames)
        kept = max(start for start in part_starts(bounds, part_frames) if start <= 4)  # 4, or 2 in parts of 11
        assert first_after >= 2 + bounds[kept][0] > 2, "the restarted engine went on from its last kept part"
        assert not (tmp_path / "state" / "work" / job.job_id).exists(), "temporary segments are removed on success"

        backend = ChainedBackend()
        backend.part_frames = part_frames  # the same parts, so the same encoder runs
        reference = render_shot(
            ShotRequest(key="ref", media=media, start=2, end=2 + FRAMES, rate=None, label="ref", backend="chained",
                        out_path_stem=tmp_path / "reference", seed=3),
            backend,
        )
        resumed = iter_frames(Path(done.result.path), 0, FRAMES)
        uninterrupted = iter_frames(reference.path, 0, FRAMES)
        assert all((a == b).all() for a, b in zip(resumed, uninterrupted, strict=True))
        assert Path(done.result.path).read_bytes() == reference.path.read_bytes()
    finally:
        engine.stop()


@pytest.fixture
def chained(monkeypatch):
    from engine.backends.registry import BACKENDS

    monkeypatch.setitem(BACKENDS, "chained", "chainedbackend:ChainedBackend")
    monkeypatch.setenv(SEGMENT_DELAY, "0.2")


def test_full_queue_answers_resource_exhausted_with_a_retry_hint(tmp_path, chained):
    media = write_video(tmp_path / "m" / "clip.mp4", [70])
    with engine_thread(tmp_path / "state", [media.parent], max_queued=2) as address:
        channel = grpc.insecure_channel(address)
        submit = channel.unary_unary(
            "/dreamstyle.v1.Engine/SubmitShot",
            request_serializer=pb.SubmitShotRequest.SerializeToString,
            response_deserializer=pb.SubmitShotResponse.FromString,
        )
        for key in ("a", "b"):
            submit(request(media, key, tmp_path / "m"))
        with pytest.raises(grpc.RpcError) as refused:
            submit(request(media, "c", tmp_path / "m"))
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert dict(refused.value.trailing_metadata())["retry-after-s"] == "5"
        assert "retry" in refused.value.details()
        channel.close()


def test_a_submit_waits_in_line_while_the_queue_is_full_and_says_when_it_stays_full(tmp_path, chained, monkeypatch):
    """Another client's shots fill the queue: this one's submit is retried as the engine hints until a place
    frees (not failed after a few tries), and gives up in words only once the queue stayed full too long."""
    import engine.jobs
    import host_plugin.client

    monkeypatch.setattr(engine.jobs, "RETRY_AFTER_S", 1)
    monkeypatch.setenv(SEGMENT_DELAY, "0.8")  # the first shot holds the queue's one place longer than a few retries
    media = write_video(tmp_path / "m" / "clip.mp4", [70])
    with engine_thread(tmp_path / "state", [media.parent], max_queued=1) as address:
        with EngineClient(address) as other, EngineClient(address) as client:
            first = other.submit(request(media, "first", tmp_path / "m")).job
            monkeypatch.setattr(host_plugin.client, "QUEUE_WAIT_S", 0.5)
            with pytest.raises(EngineCallError, match=r"kept its queue full for 0.5 s \(1 jobs are waiting"):
                client.submit(request(media, "late", tmp_path / "m"))
            monkeypatch.setattr(host_plugin.client, "QUEUE_WAIT_S", 600)
            started = time.monotonic()
            reply = client.submit(request(media, "waited", tmp_path / "m"))  # in line until "first" is done
            assert reply.created and client.get(first.job_id).state == pb.JOB_STATE_DONE
            assert time.monotonic() - started > 5


def test_a_shot_cancelled_while_it_waits_in_line_ends_at_once(tmp_path, chained, monkeypatch):
    """The editor cancels a shot whose submit waits for a place in a full queue: it ends cancelled now, never
    sent, not once a place frees (up to 10 minutes later)."""
    from host_plugin.pipeline import Renderer, StyleSettings
    from host_plugin.plan import plan_media

    monkeypatch.setenv(SEGMENT_DELAY, "0.8")
    media = write_video(tmp_path / "m" / "clip.mp4", [70])
    with engine_thread(tmp_path / "state", [media.parent], max_queued=1) as address:
        with EngineClient(address) as other, EngineClient(address) as client:
            first = other.submit(request(media, "first", tmp_path / "m")).job
            renderer = Renderer(client, tmp_path / "m" / "out")
            shot = plan_media(media, None).shots[0]
            results = []
            waiting = threading.Thread(target=lambda: results.extend(
                renderer.render([shot], StyleSettings(backend="passthrough", prompt="x"))))
            waiting.start()
            time.sleep(1.5)  # refused at least once: in line
            started = time.monotonic()
            renderer.cancel(shot)
            waiting.join(10)
            assert not waiting.is_alive() and time.monotonic() - started < 2
            assert [r.status for r in results] == ["cancelled"]
            assert client.get(first.job_id).state == pb.JOB_STATE_RUNNING, "the other client's shot renders on"


def test_a_client_that_goes_away_does_not_cancel_its_job(tmp_path, chained):
    media = write_video(tmp_path / "m" / "clip.mp4", [70])
    with engine_thread(tmp_path / "state", [media.parent]) as address:
        with EngineClient(address) as client:
            job = client.submit(request(media, "gone", tmp_path / "m")).job
            next(iter(client.watch(job.job_id)))
        with EngineClient(address) as other:
            events = list(other.watch(job.job_id))
            assert events[-1].job.state == pb.JOB_STATE_DONE
            with pytest.raises(EngineCallError) as missing:
                other.get("nope")
            assert missing.value.code == grpc.StatusCode.NOT_FOUND


def test_rerunning_stylize_after_engine_and_client_died_picks_up_the_same_job(tmp_path):
    import opentimelineio as otio
    from opentimelineio.opentime import RationalTime, TimeRange

    rate = 24000 / 1001
    media = write_video(tmp_path / "media" / "clip.mp4", [70])
    reference = otio.schema.ExternalReference(str(media), TimeRange(RationalTime(0, rate), RationalTime(70, rate)))
    track = otio.schema.Track("V1")
    track.append(otio.schema.Clip("A", media_reference=reference,
                                  source_range=TimeRange(RationalTime(2, rate), RationalTime(FRAMES, rate))))
    timeline = otio.schema.Timeline("edit", tracks=[track])
    edit = tmp_path / "media" / "edit.otio"
    otio.adapters.write_to_file(timeline, str(edit))
    log = tmp_path / "segments.log"
    engine = Engine(tmp_path / "state", tmp_path / "media", log)
    address = engine.start()
    command = [sys.executable, "-m", "dreamstyle.cli", "stylize", str(edit), "--engine", address, "--backend", "chained",
               "--no-detect", "--out", str(tmp_path / "media" / "out")]
    try:
        client = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not log.exists() or len(log.read_text().splitlines()) < 4:
            assert client.poll() is None
            time.sleep(0.05)
        client.kill()
        engine.kill()
        client.wait()
        engine.start()
        assert subprocess.run(command, capture_output=True, timeout=120, check=False).returncode == 0
        lines = [line.split() for line in log.read_text().splitlines()]
        pids = list(dict.fromkeys(pid for pid, _ in lines))
        assert len(pids) == 2 and int(next(n for pid, n in lines if pid == pids[1])) > 2, "resumed, not restarted"
        assert len(lines) <= len(range(0, FRAMES, 5)) + 1, "no segment rendered twice but the one in flight"
    finally:
        engine.stop()


def test_an_engine_killed_under_a_call_is_said_to_have_stopped(tmp_path):
    """A plaintext engine that answered before and then dies: not taken for a TLS engine refusing plaintext."""
    media = write_video(tmp_path / "m" / "clip.mp4", [70])
    engine = Engine(tmp_path / "state", media.parent, tmp_path / "segments.log")
    address = engine.start()
    try:
        with EngineClient(address, reconnect_s=0) as client, pytest.raises(EngineUnavailable) as lost:
            job = client.submit(request(media, "killed", tmp_path / "m")).job
            for _ in client.watch(job.job_id):
                if engine.process.poll() is None:
                    engine.kill()
    finally:
        engine.stop()
    said = str(lost.value)
    assert said.startswith(f"the engine at {address} stopped answering") and "TLS" not in said


def test_a_submit_and_an_upload_while_the_engine_restarts_wait_for_it(tmp_path):
    """An overnight run whose engine crashed and is started again (by systemd, by hand): shots sent during the
    restart are sent once it is back, not failed."""
    media = write_video(tmp_path / "m" / "clip.mp4", [70])
    engine = Engine(tmp_path / "state", media.parent, tmp_path / "segments.log")
    address = engine.start()
    restarts: list[threading.Timer] = []

    def crash() -> None:
        engine.kill()
        restarts.append(threading.Timer(2.0, engine.start))
        restarts[-1].start()

    try:
        with EngineClient(address, reconnect_s=60) as client:
            client.wait_ready()
            crash()
            reply = client.submit(request(media, "during", tmp_path / "m"))
            assert reply.created and list(client.watch(reply.job.job_id))[-1].job.state == pb.JOB_STATE_DONE
            crash()
            upload_id = client.upload(media)
            assert client.upload(media) == upload_id, "the upload is kept, and found again"
    finally:
        for restart in restarts:
            restart.join()
        engine.stop()
