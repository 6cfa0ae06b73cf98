"""Receiving a streamed clip reuses heap blocks instead of faulting in fresh pages for every message."""

import os
import subprocess
import sys
from pathlib import Path

from dreamstyle.v1 import engine_pb2 as pb
from enginehelp import engine_thread
from host_plugin.client import EngineClient
from mediagen import write_video

ROOT = Path(__file__).resolve().parent.parent
PADDING_MIB = 128  # the download, against the fixed faults of starting a process (about 1000 pages)

_DOWNLOADS = """
import resource, statistics, sys
from pathlib import Path
from dreamstyle.heap import reuse_large_blocks
from host_plugin.client import EngineClient
address, job_id, dest = sys.argv[1:]
print(reuse_large_blocks())
with EngineClient(address) as client:
    for _ in range(2):  # warms the heap up (the first downloads size it for the largest burst of messages)
        client.download(job_id, Path(dest))
    faults = []
    for _ in range(5):
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        client.download(job_id, Path(dest))
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(statistics.median(faults))
"""


def _downloads(address: str, job_id: str, dest: Path, env: dict[str, str]) -> tuple[str, float]:
    """(whether the thresholds were set, median page faults of a download) in a new client process."""
    run = subprocess.run(
        [sys.executable, "-c", _DOWNLOADS, address, job_id, str(dest)],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, **env}, check=True, timeout=120,
    )
    applied, faults = run.stdout.split()
    return applied, float(faults)


def test_downloads_stop_faulting_in_pages_once_blocks_are_reused(tmp_path):
    media = write_video(tmp_path / "shot.mp4", [12])
    with engine_thread(tmp_path / "state", [tmp_path]) as address, EngineClient(address) as client:
        job = client.submit(pb.SubmitShotRequest(
            idempotency_key="heap", shot=pb.ShotSpec(media=pb.MediaRef(path=str(media)), start_frame=0, end_frame=12),
            backend="passthrough", output=pb.OutputSpec(directory=str(tmp_path), name="heap"),
        )).job
        result = Path(list(client.watch(job.job_id))[-1].job.result.path)
        with open(result, "ab") as out:  # a clip big enough for page faults to count
            out.write(os.urandom(PADDING_MIB << 20))
        applied, faults = _downloads(address, job.job_id, tmp_path / "tuned.mp4", {})
        operator, _ = _downloads(address, job.job_id, tmp_path / "operator.mp4", {"MALLOC_TRIM_THRESHOLD_": "131072"})
    assert (tmp_path / "tuned.mp4").read_bytes() == result.read_bytes()
    assert applied == "True" and operator == "False"  # an operator's MALLOC_* setting stands
    pages = (PADDING_MIB << 20) // os.sysconf("SC_PAGE_SIZE")
    assert faults < pages / 16, f"{faults / pages:.3f} page faults per page received (glibc default: 0.1-0.7)"
