"""The engine on a local Ray: CPU actors render shots in parallel, a worker killed mid-shot has the shot
resumed from its last finished segment, GPU workers on a GPU-less cluster are refused, and
`dreamstyle farm status` shows the workers. One Ray session (2 CPUs) serves the whole module."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from enginehelp import engine_thread
from mediagen import write_video

from dreamstyle.frames import iter_frames
from dreamstyle.v1 import engine_pb2 as pb
from engine.backends.base import BackendConfig
from engine.backends.registry import create_backend
from engine.farm import FarmError, RayRunner
from engine.render import ShotRequest, render_shot
from host_plugin.cli import main as host_main
from host_plugin.client import EngineClient

FRAMES = 193  # four classic segments of 49 frames


@pytest.fixture(scope="module")
def ray_session():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def submit(client: EngineClient, media: Path, key: str) -> str:
    reply = client.submit(
        pb.SubmitShotRequest(
            idempotency_key=key,
            shot=pb.ShotSpec(media=pb.MediaRef(path=str(media)), start_frame=0, end_frame=FRAMES, label=key),
            guidance=pb.Guidance(prompt="noir"),
            backend="classic",
            output=pb.OutputSpec(directory=str(media.parent), name=key),
        )
    )
    return reply.job.job_id


def test_gpu_workers_on_a_gpu_less_cluster_are_refused(ray_session):
    if ray.cluster_resources().get("GPU"):
        pytest.skip("this machine has GPUs")
    started = time.monotonic()
    with pytest.raises(FarmError, match="0 GPUs.*wait forever.*--farm-gpus 0"):
        RayRunner("local", BackendConfig(), gpus=1)
    assert time.monotonic() - started < 10


def test_ray_workers_render_in_parallel_and_survive_a_killed_worker(ray_session, tmp_path, caplog, capsys):
    caplog.set_level(logging.WARNING, logger="engine.farm")
    media = write_video(tmp_path / "m" / "clip.mp4", [100, 100])
    with engine_thread(tmp_path / "state", [media.parent], farm="local", farm_workers=2, farm_gpus=0) as address:
        with EngineClient(address) as client:
            victim, other = submit(client, media, "victim"), submit(client, media, "other")
            progress = []
            for event in client.watch(victim):
                progress.append(event.job.segments_done)
                if event.job.segments_done == 1 and not caplog.records:
                    status = client.farm_status()
                    assert len(status.workers) == 2 and {w.state for w in status.workers} == {"busy"}
                    assert {job.label for job in status.running} == {"victim", "other"}
                    worker = next(w for w in status.workers if w.shot == "victim")
                    os.kill(int(re.search(r"pid (\d+)", worker.name).group(1)), signal.SIGKILL)
            assert event.job.state == pb.JOB_STATE_DONE, event.message
            assert list(client.watch(other))[-1].job.state == pb.JOB_STATE_DONE
            assert "died on shot victim" in caplog.text
            assert progress == sorted(progress), "the shot went on from its last finished segment"
            result = Path(client.get(victim).result.path)
        assert host_main(["farm", "status", "--engine", address]) == 0
        assert "ray-1" in capsys.readouterr().out
        assert host_main(["farm", "status", "--engine", address, "--format", "json"]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert (listed["farm"], len(listed["workers"]), listed["running"], listed["queued"]) == ("local", 2, [], 0)
        assert all(w["state"] == "idle" and w["gpus"] == 0 for w in listed["workers"])
    reference = render_shot(
        ShotRequest(key="ref", media=media, start=0, end=FRAMES, rate=None, label="ref", backend="classic",
                    out_path_stem=tmp_path / "reference", prompt="noir"),
        create_backend("classic"),
    )
    resumed, uninterrupted = iter_frames(result, 0, FRAMES), iter_frames(reference.path, 0, FRAMES)
    assert all((a == b).all() for a, b in zip(resumed, uninterrupted, strict=True))


@pytest.mark.parametrize(("before", "read", "after"), [(None, "True", "None"), ("0", "False", "'0'")])
def test_rays_crash_handler_is_off_for_the_engine_only(before, read, after):
    """Ray reads the switch as it is imported; the engine's Ray worker processes, started later, keep their crash
    reports (the switch is gone again), and an operator's own setting is left as it was."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "RAY_DISABLE_FAILURE_SIGNAL_HANDLER"}
    if before is not None:
        env["RAY_DISABLE_FAILURE_SIGNAL_HANDLER"] = before
    code = ("import os; from engine.farm import _ray; _ray(); from ray._private import ray_constants as c; "
            "print(c.RAY_DISABLE_FAILURE_SIGNAL_HANDLER, repr(os.environ.get('RAY_DISABLE_FAILURE_SIGNAL_HANDLER')))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == [read, after]
