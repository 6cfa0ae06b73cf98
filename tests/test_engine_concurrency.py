"""Eight clients at once, submitting the same and different shots: every shot renders exactly once,
none is lost, and every client sees the one job of each key through to its end. Priorities order
the queue; a failed shot keeps its segments and a resubmit resumes there."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from chainedbackend import FAIL_ONCE, SEGMENT_DELAY, ChainedBackend
from enginehelp import engine_thread
from mediagen import write_video

from dreamstyle.frames import probe
from dreamstyle.v1 import engine_pb2 as pb
from engine.chain import segment_bounds
from engine.render import part_path
from host_plugin.client import EngineClient

CLIENTS = 8
SHOTS = [(0, 20), (10, 34), (30, 45), (5, 50)]


def test_eight_clients_same_and_different_shots(tmp_path, monkeypatch):
    from engine.backends.registry import BACKENDS

    monkeypatch.setitem(BACKENDS, "chained", "chainedbackend:ChainedBackend")
    media = write_video(tmp_path / "m" / "clip.mp4", [30, 30])
    before = ChainedBackend.calls

    def client_run(number: int, address: str) -> dict[str, tuple[str, int]]:
        seen = {}
        with EngineClient(address) as client:
            for shot in (SHOTS[number % 4], SHOTS[(number + 1) % 4]):
                key = f"shot-{shot[0]}-{shot[1]}"
                reply = client.submit(
                    pb.SubmitShotRequest(
                        idempotency_key=key,
                        shot=pb.ShotSpec(media=pb.MediaRef(path=str(media)), start_frame=shot[0], end_frame=shot[1], label=key),
                        backend="chained",
                        output=pb.OutputSpec(directory=str(media.parent), name=key),
                    )
                )
                last = list(client.watch(reply.job.job_id))[-1]
                seen[key] = (reply.job.job_id, last.job.state)
        return seen

    with engine_thread(tmp_path / "state", [media.parent], workers=2) as address:
        with ThreadPoolExecutor(CLIENTS) as pool:
            results = list(pool.map(lambda n: client_run(n, address), range(CLIENTS)))
        with EngineClient(address) as client:
            jobs = client.list_jobs()
    assert len(jobs) == len(SHOTS) and {job.state for job in jobs} == {pb.JOB_STATE_DONE}
    ids = {job.idempotency_key: job.job_id for job in jobs}
    for seen in results:
        for key, (job_id, state) in seen.items():
            assert job_id == ids[key] and state == pb.JOB_STATE_DONE
    for job in jobs:
        assert probe(Path(job.result.path)).frames == job.frames_total
    expected = sum(len(segment_bounds(end - start, ChainedBackend.segment_frames)) for start, end in SHOTS)
    assert ChainedBackend.calls - before == expected, "a shot rendered twice"


def shot_request(media: Path, key: str, start: int, end: int, priority: int = 0, seed: int = 0) -> pb.SubmitShotRequest:
    return pb.SubmitShotRequest(
        idempotency_key=key,
        seed=seed,
        shot=pb.ShotSpec(media=pb.MediaRef(path=str(media)), start_frame=start, end_frame=end, label=key),
        backend="chained",
        priority=priority,
        output=pb.OutputSpec(directory=str(media.parent), name=key),
    )


def test_priorities_order_the_queue(tmp_path, monkeypatch):
    from engine.backends.registry import BACKENDS

    monkeypatch.setitem(BACKENDS, "chained", "chainedbackend:ChainedBackend")
    monkeypatch.setenv(SEGMENT_DELAY, "0.1")
    media = write_video(tmp_path / "m" / "clip.mp4", [40])
    with engine_thread(tmp_path / "state", [media.parent]) as address, EngineClient(address) as client:
        blocker = client.submit(shot_request(media, "blocker", 0, 30)).job.job_id
        low = client.submit(shot_request(media, "low", 0, 10, priority=-5)).job.job_id
        high = client.submit(shot_request(media, "high", 0, 10, priority=5)).job.job_id
        for job_id in (blocker, low, high):
            list(client.watch(job_id))
        jobs = {job.idempotency_key: job for job in client.list_jobs()}
    assert {job.state for job in jobs.values()} == {pb.JOB_STATE_DONE}
    assert os.path.getmtime(jobs["high"].result.path) < os.path.getmtime(jobs["low"].result.path)


def flaky_chained(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, part_frames: int) -> Path:
    """The chained test backend, failing once at segment 3, counting its calls; returns a 40-frame clip."""
    from engine.backends.registry import BACKENDS

    monkeypatch.setitem(BACKENDS, "chained", "chainedbackend:ChainedBackend")
    monkeypatch.setattr(ChainedBackend, "part_frames", part_frames)
    marker = tmp_path / "fail"
    marker.write_text("")
    monkeypatch.setenv(FAIL_ONCE, str(marker))
    monkeypatch.setattr(ChainedBackend, "calls", 0)
    return write_video(tmp_path / "m" / "clip.mp4", [40])


@pytest.mark.parametrize("part_frames, kept_parts, redone", [(0, [0, 1, 2], 1), (11, [0], 2)], ids=["segments", "parts"])
def test_a_failed_shot_keeps_its_segments_and_resumes_when_resubmitted(tmp_path, monkeypatch, part_frames, kept_parts, redone):
    """Segment 3 fails once; the resubmitted shot redoes only what no closed part holds."""
    media = flaky_chained(tmp_path, monkeypatch, part_frames)
    with engine_thread(tmp_path / "state", [media.parent]) as address, EngineClient(address) as client:
        job = client.submit(shot_request(media, "flaky", 0, 40)).job
        failed = list(client.watch(job.job_id))[-1].job
        assert failed.state == pb.JOB_STATE_FAILED and "fell off the bus" in failed.error
        work = tmp_path / "state" / "work" / job.job_id
        assert failed.segments_done == 3 and sorted(work.glob("part_*.mov")) == [part_path(work, i) for i in kept_parts]
        again = client.submit(shot_request(media, "flaky", 0, 40))
        assert again.created and again.job.job_id == job.job_id
        done = list(client.watch(job.job_id))[-1].job
    assert done.state == pb.JOB_STATE_DONE and probe(Path(done.result.path)).frames == 40
    assert ChainedBackend.calls == len(segment_bounds(40, ChainedBackend.segment_frames)) + redone, "kept parts not redone"
    assert not (tmp_path / "state" / "work" / job.job_id).exists()


def test_a_failed_shot_asked_again_with_other_settings_starts_over(tmp_path, monkeypatch):
    """Its kept segments were rendered with the old settings: resuming from them would mix two looks."""
    media = flaky_chained(tmp_path, monkeypatch, 0)
    with engine_thread(tmp_path / "state", [media.parent]) as address, EngineClient(address) as client:
        job = client.submit(shot_request(media, "flaky", 0, 40)).job
        assert list(client.watch(job.job_id))[-1].job.segments_done == 3
        before = ChainedBackend.calls
        again = client.submit(shot_request(media, "flaky", 0, 40, seed=7))
        assert again.created and again.job.job_id == job.job_id
        done = list(client.watch(job.job_id))[-1].job
    assert done.state == pb.JOB_STATE_DONE and probe(Path(done.result.path)).frames == 40
    segments = len(segment_bounds(40, ChainedBackend.segment_frames))
    assert ChainedBackend.calls - before == segments, "the new settings rendered every segment"
