"""The engine on a Ray cluster reached through Ray Client (`--farm ray://HEAD:PORT`): a head node started
with `ray start --head` on 127.0.0.1, the shot rendered on its CPU actor with progress per segment, and
frames equal to a render in this process. Ray Client cannot carry streaming generators, which is why
the actors hand back progress through long polls."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from enginehelp import engine_thread
from mediagen import write_video

from dreamstyle.frames import iter_frames
from dreamstyle.v1 import engine_pb2 as pb
from engine.backends.registry import create_backend
from engine.render import ShotRequest, render_shot
from host_plugin.client import EngineClient

FRAMES = 100  # three classic segments: 49, 48 and 3 new frames


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def ray_head(monkeypatch):
    """A one-node Ray cluster (2 CPUs) started like an operator would; yields its Ray Client port."""
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # Ray 2.60's token auth is the operator's to set up
    gcs, client = free_port(), free_port()
    head = subprocess.Popen(
        [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block", f"--port={gcs}",
         f"--ray-client-server-port={client}", "--num-cpus=2", "--include-dashboard=false",
         "--node-ip-address=127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", client), timeout=1).close()
                break
            except OSError:
                assert head.poll() is None and time.monotonic() < deadline, "ray start --head did not come up"
                time.sleep(0.5)
        yield client
    finally:
        head.terminate()
        head.wait(timeout=60)


def test_a_shot_renders_on_a_cluster_reached_with_ray_client(ray_head, tmp_path):
    media = write_video(tmp_path / "m" / "clip.mp4", [60, 50])
    farm = f"ray://127.0.0.1:{ray_head}"
    with engine_thread(tmp_path / "state", [media.parent], farm=farm, farm_workers=1, farm_gpus=0) as address:
        with EngineClient(address) as client:
            job = client.submit(
                pb.SubmitShotRequest(
                    idempotency_key="remote",
                    shot=pb.ShotSpec(media=pb.MediaRef(path=str(media)), start_frame=0, end_frame=FRAMES, label="remote"),
                    guidance=pb.Guidance(prompt="noir"),
                    backend="classic",
                    output=pb.OutputSpec(directory=str(media.parent), name="remote"),
                )
            ).job
            events = list(client.watch(job.job_id))
            status = client.farm_status()
    assert events[-1].job.state == pb.JOB_STATE_DONE, events[-1].message
    assert (events[-1].job.segments_done, events[-1].job.segments_total) == (3, 3), "progress came back per segment"
    assert status.farm == farm and len(status.workers) == 1
    reference = render_shot(
        ShotRequest(key="ref", media=media, start=0, end=FRAMES, rate=None, label="ref", backend="classic",
                    out_path_stem=tmp_path / "reference", prompt="noir"),
        create_backend("classic"),
    )
    remote = iter_frames(Path(events[-1].job.result.path), 0, FRAMES)
    assert all((a == b).all() for a, b in zip(remote, iter_frames(reference.path, 0, FRAMES), strict=True))


@pytest.mark.filterwarnings("ignore:Ray Client connection timed out")  # Ray's own, expected here
def test_a_cluster_that_does_not_answer_is_a_farm_error(monkeypatch):
    """No Ray Client server at the address: one clear error (Ray's own connection timeout), no retries."""
    from ray.util.client import worker

    from engine.backends.base import BackendConfig
    from engine.farm import FarmError, RayRunner

    monkeypatch.setattr(worker, "INITIAL_TIMEOUT_SEC", 1)  # Ray's own knobs (RAY_CLIENT_*_TIMEOUT_S, read
    monkeypatch.setattr(worker, "MAX_TIMEOUT_SEC", 2)  # at import): 2 s instead of 30 s of trying
    with pytest.raises(FarmError, match=r"cannot reach the Ray cluster at ray://127\.0\.0\.1:\d+: .*Is its head running"):
        RayRunner(f"ray://127.0.0.1:{free_port()}", BackendConfig(), workers=1, gpus=0)
