"""Eight clients at once, submitting the same and different shots: every shot renders exactly once,
none is lost, and every client sees the one job of each key through to its end."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from chainedbackend import ChainedBackend
from enginehelp import engine_thread
from mediagen import write_video

from dreamstyle.frames import probe
from dreamstyle.v1 import engine_pb2 as pb
from engine.chain import segment_bounds
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
