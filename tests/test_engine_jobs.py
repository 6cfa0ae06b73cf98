"""The job manager's bookkeeping: what an idempotency key covers, a cancelled job's output name, work folders
on cancel and across a restart, and the retention period."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest

from engine.backends.base import BackendConfig
from engine.chain import Cancelled
from engine.jobs import Conflict, Job, JobManager, JobState
from engine.render import RenderResult, ShotRequest
from engine.store import JobStore
from engine.workers import Backends, LocalRunner
from mediagen import write_video


def request(tmp_path: Path, key: str = "k", stem: str | None = None) -> ShotRequest:
    return ShotRequest(key=key, media=tmp_path / "a.mov", start=3, end=40, rate=Fraction(30000, 1001), label="s1",
                       backend="passthrough", out_path_stem=tmp_path / "out" / (stem or key), timecode="01:00:00:00")


def manager(state: Path, **options) -> JobManager:
    runner = LocalRunner(Backends(BackendConfig()))
    return JobManager(JobStore(state / "jobs.sqlite3"), runner, state / "work", results_root=state / "results",
                      uploads_root=state / "uploads", **options)


def idle(state: Path, scenario, **options):
    """Runs `scenario(jobs)` on a started manager without workers: jobs stay queued."""
    async def main():
        jobs = manager(state, **options)
        jobs._runner.slots = 0
        await jobs.start()
        try:
            return await scenario(jobs)
        finally:
            await jobs.stop()
    return asyncio.run(main())


def test_a_key_asked_again_with_another_output_timecode_is_a_conflict(tmp_path):
    async def scenario(jobs):
        await jobs.submit(request(tmp_path))
        with pytest.raises(Conflict, match="renders other settings"):
            await jobs.submit(replace(request(tmp_path), timecode="02:00:00:00"))
    idle(tmp_path / "state", scenario)


def test_a_cancelled_jobs_output_name_is_free_for_another_key(tmp_path):
    async def scenario(jobs):
        first, _ = await jobs.submit(request(tmp_path, "a", stem="shot"))
        (jobs._work_root / first.id).mkdir(parents=True)  # kept segments of an earlier, failed run
        assert (await jobs.cancel(first.id)).state is JobState.CANCELLED
        assert not (jobs._work_root / first.id).exists(), "a cancelled job's work is removed"
        _, created = await jobs.submit(request(tmp_path, "b", stem="shot"))
        return created
    assert idle(tmp_path / "state", scenario)


def test_a_running_job_cancelled_leaves_no_work_folder(tmp_path):
    media, state = write_video(tmp_path / "a.mp4", [12]), tmp_path / "state"
    started = threading.Event()
    runner = LocalRunner(Backends(BackendConfig()))

    def held(request, work, resume, on_segment, cancelled):
        started.set()
        while not cancelled():
            time.sleep(0.01)
        raise Cancelled

    runner.render = held

    async def scenario():
        jobs = JobManager(JobStore(state / "jobs.sqlite3"), runner, state / "work")
        await jobs.start()
        job, _ = await jobs.submit(ShotRequest(key="k", media=media, start=0, end=6, rate=None, label="k",
                                               backend="passthrough", out_path_stem=state / "results" / "k"))
        await asyncio.to_thread(started.wait, 5)
        assert (state / "work" / job.id).is_dir()
        await jobs.cancel(job.id)
        seen = [j async for j in jobs.watch(job.id)]
        await jobs.stop()
        return job, seen[-1]

    job, last = asyncio.run(scenario())
    assert last.state is JobState.CANCELLED and not (state / "work" / job.id).exists()


def test_a_failed_jobs_kept_segments_survive_a_restart(tmp_path):
    """Kept on failure: a resubmit resumes there, also after the engine restarted."""
    state = tmp_path / "state"
    store = JobStore(state / "jobs.sqlite3")
    store.save(Job("failed", request(tmp_path, "a"), JobState.FAILED, error="out of memory"))
    store.close()
    (state / "work" / "failed").mkdir(parents=True)

    async def scenario(jobs):
        return None
    idle(state, scenario)
    assert (state / "work" / "failed").is_dir()


def test_retention_counts_days_and_forgets_old_failed_and_cancelled_jobs(tmp_path):
    state = tmp_path / "state"
    store = JobStore(state / "jobs.sqlite3")
    result = RenderResult(state / "results" / "x.mp4", 1, Fraction(24), 2, 2)
    for job_id, job_state in (("failed", JobState.FAILED), ("cancelled", JobState.CANCELLED), ("recent", JobState.DONE)):
        store.save(Job(job_id, request(tmp_path, job_id), job_state, result=result if job_state is JobState.DONE else None))
    store._run("UPDATE jobs SET updated = 0 WHERE id != 'recent'")
    store._run("UPDATE jobs SET updated = ? WHERE id = 'recent'", (time.time() - 2 * 3600,))  # two hours ago
    store.close()

    async def scenario(jobs):
        await asyncio.sleep(0.2)
        return sorted(job.id for job in jobs.list())
    assert idle(state, scenario, retention_days=1) == ["recent"]


def test_a_watcher_that_stops_reading_holds_the_newest_state_not_every_step(tmp_path):
    """A WatchJob client that never reads: gRPC's flow control stops the stream, and the job's updates since
    (one a segment: 50,000 for a long shot) waited for it in memory. Each event carries the whole job, so only
    the newest is kept, and the final one the watch ends at."""
    async def scenario(jobs):
        job, _ = await jobs.submit(request(tmp_path))
        watch = jobs.watch(job.id)
        assert (await anext(watch)).state is JobState.QUEUED
        for step in range(1000):
            jobs._update(job.id, message=f"step {step}")
        await jobs.cancel(job.id)
        jobs._update(job.id, message="after the end")
        return [j async for j in watch]
    rest = idle(tmp_path / "state", scenario)
    assert [j.state for j in rest] == [JobState.CANCELLED] and rest[0].message == "cancelled before it started"
