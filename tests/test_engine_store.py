"""The job store and the job manager's disk hygiene: round trips, resume points, graceful stop and
restart, cleanup of orphaned work, and the retention rule."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from engine.backends.base import BackendConfig
from engine.chain import Cancelled, Resume, SegmentDone
from engine.jobs import Conflict, Job, JobManager, JobState
from engine.render import RenderError, RenderResult, ShotRequest
from engine.storage import OutsideRoots
from engine.store import JobStore, StateUnusable
from engine.workers import Backends, LocalRunner
from mediagen import write_video


def request(tmp_path: Path, key: str = "k") -> ShotRequest:
    return ShotRequest(key=key, media=tmp_path / "a.mov", start=3, end=40, rate=Fraction(30000, 1001), label="s1",
                       backend="classic", out_path_stem=tmp_path / "out" / key, prompt="noir",
                       style_image=tmp_path / "style.png", params={"strength": "0.5"}, timecode="01:00:00:00", priority=7)


def test_jobs_and_segments_round_trip(tmp_path):
    store = JobStore(tmp_path / "jobs.sqlite3")
    result = RenderResult(tmp_path / "out" / "k.mov", 37, Fraction(30000, 1001), 320, 180)
    job = Job("j1", request(tmp_path), JobState.DONE, 2, 2, 37, "", result, "ok")
    store.save(job)
    store.save(Job("j2", request(tmp_path, "other")))
    assert store.load() == [job, Job("j2", request(tmp_path, "other"))]
    condition = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    anchor = (np.array([1.0, 2.0, 3.0]), np.array([0.5, 1.0, 2.0]))
    assert store.resume_point("j2") is None
    for index in (0, 1, 2):
        store.add_segment("j2", SegmentDone(index, 5, 10, 37, condition + index, anchor))
    resume = store.resume_point("j2")
    assert resume.segment == 3 and (resume.condition == condition + 2).all()
    assert all((a == b).all() for a, b in zip(resume.anchor, anchor, strict=True))
    assert [p.name for p in (tmp_path / "work" / "j2").iterdir()] == ["condition_00002.npy"], "only the last is kept"
    (tmp_path / "work" / "j2" / "condition_00002.npy").rename(tmp_path / "kept.npy")
    assert store.resume_point("j2") is None, "work folder cleared (a reboot): start over"
    (tmp_path / "kept.npy").rename(tmp_path / "work" / "j2" / "condition_00002.npy")
    store.add_segment("j2", SegmentDone(4, 5, 10, 37, None, None))
    assert store.resume_point("j2") == Resume(5, None, None)
    store.add_segment("j2", SegmentDone(1, 5, 10, 37, condition + 1, None))
    assert store.resume_point("j2").segment == 2, "a render that started over resumes where it got to"
    assert [p.name for p in (tmp_path / "work" / "j2").iterdir()] == ["condition_00001.npy"]
    store.clear_segments("j2")
    assert store.resume_point("j2") is None
    store.close()


def test_a_condition_frame_that_fills_the_disk_is_named_and_leaves_nothing(tmp_path):
    """The disk fills up as a kept segment's condition frame is written: the error names the file, its
    partial file gives the space back, and the job still resumes after the segment recorded before."""
    from readonly import full_disk

    store = JobStore(tmp_path / "jobs.sqlite3")
    store.save(Job("j", request(tmp_path)))
    small, large = np.zeros((2, 2, 3), np.uint8), np.zeros((720, 1280, 3), np.uint8)
    store.add_segment("j", SegmentDone(0, 5, 10, 37, small, None))
    with full_disk(1 << 20), pytest.raises(OSError) as full:
        store.add_segment("j", SegmentDone(1, 5, 10, 37, large, None))
    assert full.value.filename == str(tmp_path / "work" / "j" / "condition_00001.npy")
    assert sorted(p.name for p in (tmp_path / "work" / "j").iterdir()) == ["condition_00000.npy"]
    assert store.resume_point("j").segment == 1
    store.close()


def manager(state: Path, **options) -> JobManager:
    runner = LocalRunner(Backends(BackendConfig()))
    return JobManager(JobStore(state / "jobs.sqlite3"), runner, state / "work", results_root=state / "results",
                      uploads_root=state / "uploads", **options)


def test_restart_requeues_unfinished_jobs_and_cleans_orphaned_work(tmp_path):
    state = tmp_path / "state"
    store = JobStore(state / "jobs.sqlite3")
    store.save(Job("running", request(tmp_path, "a"), JobState.RUNNING, message="rendering"))
    store.save(Job("done", request(tmp_path, "b"), JobState.DONE))
    store.close()
    for folder in ("running", "done", "orphan"):
        (state / "work" / folder).mkdir(parents=True)

    async def scenario() -> dict[str, Job]:
        jobs = manager(state)
        jobs._runner.slots = 0  # no workers: only what start() does is observed
        await jobs.start()
        seen = {job.id: job for job in jobs.list()}
        await jobs.stop()
        return seen

    seen = asyncio.run(scenario())
    assert seen["running"].state is JobState.QUEUED and "restart" in seen["running"].message
    assert seen["done"].state is JobState.DONE
    assert sorted(p.name for p in (state / "work").iterdir() if p.is_dir()) == ["running"]


def test_retention_forgets_old_finished_jobs_and_their_engine_side_results(tmp_path):
    state = tmp_path / "state"
    (state / "results").mkdir(parents=True)
    kept_by_client = tmp_path / "client" / "b.mp4"
    kept_by_client.parent.mkdir()
    ours = state / "results" / "a.mp4"
    for path in (ours, kept_by_client):
        path.write_bytes(b"clip")
    store = JobStore(state / "jobs.sqlite3")
    store.save(Job("old", request(tmp_path, "a"), JobState.DONE, result=RenderResult(ours, 1, Fraction(24), 2, 2)))
    store.save(Job("client", request(tmp_path, "b"), JobState.DONE, result=RenderResult(kept_by_client, 1, Fraction(24), 2, 2)))
    store._run("UPDATE jobs SET updated = 0")
    uploads = {name: state / "uploads" / name for name in ("old", "read", "fresh")}
    for name, folder in uploads.items():
        folder.mkdir(parents=True)
        (folder / "clip.mov").write_bytes(b"upload")
        if name != "fresh":
            os.utime(folder, (0, 0))
    store.save(Job("new", replace(request(tmp_path, "c"), media=uploads["read"] / "clip.mov"), JobState.FAILED, error="x"))
    store.close()

    async def scenario() -> list[str]:
        jobs = manager(state, retention_days=1)
        jobs._runner.slots = 0
        await jobs.start()
        await asyncio.sleep(0.2)
        ids = sorted(job.id for job in jobs.list())
        await jobs.stop()
        return ids

    assert asyncio.run(scenario()) == ["new"]
    assert not ours.exists() and kept_by_client.exists()
    assert sorted(p.name for p in (state / "uploads").iterdir()) == ["fresh", "read"], "old uploads no job reads go"


def test_a_job_store_failure_fails_that_job_and_the_worker_goes_on(tmp_path):
    """Another program holds the database (or the disk is full) when a job starts: its watchers hear
    that it failed, and the next job renders."""
    media = write_video(tmp_path / "a.mp4", [12])
    state = tmp_path / "state"

    def shot(key: str) -> ShotRequest:
        return ShotRequest(key=key, media=media, start=0, end=6, rate=None, label=key, backend="passthrough",
                           out_path_stem=state / "results" / key)

    async def scenario() -> tuple[list[Job], list[Job]]:
        store = JobStore(state / "jobs.sqlite3", busy_timeout_s=0.2)
        jobs = JobManager(store, LocalRunner(Backends(BackendConfig())), state / "work", results_root=state / "results")
        await jobs.start()
        first, _ = await jobs.submit(shot("first"))
        watching = jobs.watch(first.id)
        await anext(watching)
        blocker = sqlite3.connect(state / "jobs.sqlite3", isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")  # before the worker takes the job: its first save fails
        seen = [job async for job in watching]
        blocker.execute("ROLLBACK")
        second, _ = await jobs.submit(shot("second"))
        after = [job async for job in jobs.watch(second.id)]
        await jobs.stop()
        return seen, after

    seen, after = asyncio.run(scenario())
    assert seen[-1].state is JobState.FAILED and seen[-1].error.count("job store") == 1, seen[-1].error
    assert "failed (database is locked); check that folder's free space and permissions" in seen[-1].error
    assert after[-1].state is JobState.DONE


def last_event(state: Path, request: ShotRequest, **manager) -> Job:
    """How one passthrough job ends on a job manager in `state` (`manager`: its other arguments)."""

    async def scenario() -> Job:
        jobs = JobManager(JobStore(state / "jobs.sqlite3"), LocalRunner(Backends(BackendConfig())), state / "work",
                          **manager)
        await jobs.start()
        job, _ = await jobs.submit(request)
        seen = [j async for j in jobs.watch(job.id)]
        await jobs.stop()
        return seen[-1]

    return asyncio.run(scenario())


def test_a_job_whose_paths_fail_the_check_at_start_fails_in_words(tmp_path):
    media = write_video(tmp_path / "a.mp4", [12])
    state = tmp_path / "state"

    def admit(request: ShotRequest) -> None:
        raise OutsideRoots(f"path {request.media} is outside the engine's media roots")

    last = last_event(state, ShotRequest(key="k", media=media, start=0, end=6, rate=None, label="k",
                                         backend="passthrough", out_path_stem=state / "k"), admit=admit)
    assert last.state is JobState.FAILED and "outside the engine's media roots" in last.error
    assert not (state / "k.mp4").exists()


def test_a_folder_the_engine_cannot_write_fails_the_shot_naming_it(tmp_path):
    """The output folder became read-only after the job was accepted (a share remounted, a disk full)."""
    from readonly import read_only

    media = write_video(tmp_path / "a.mp4", [12])
    out = tmp_path / "out"
    out.mkdir()
    with read_only(out):
        last = last_event(tmp_path / "state", ShotRequest(key="k", media=media, start=0, end=6, rate=None,
                                                          label="sh010", backend="passthrough", out_path_stem=out / "k"))
    assert last.state is JobState.FAILED and last.error.startswith("shot sh010: the engine cannot write or read ")
    assert f"{out}" in last.error and "check that folder's permissions and free space" in last.error


def test_a_finished_job_asked_for_again_starts_its_retention_period_anew(tmp_path):
    """A client re-running its command after a long pause still finds (and downloads) its clip."""
    media = write_video(tmp_path / "a.mp4", [12])
    state = tmp_path / "state"
    shot = ShotRequest(key="k", media=media, start=0, end=6, rate=None, label="k", backend="passthrough",
                       out_path_stem=state / "results" / "k")

    async def scenario() -> list[Job]:
        jobs = manager(state)
        await jobs.start()
        job, _ = await jobs.submit(shot)
        assert [j async for j in jobs.watch(job.id)][-1].state is JobState.DONE
        jobs._store._run("UPDATE jobs SET updated = 0")  # finished long ago
        again, created = await jobs.submit(shot)
        assert again.id == job.id and not created
        old = jobs._store.finished_before(1)
        await jobs.stop()
        return old

    assert asyncio.run(scenario()) == []


def test_kept_segments_from_other_models_or_options_are_not_resumed(tmp_path):
    """An engine restarted with another adapter (or model, or options) renders its unfinished shots anew:
    never a shot half in one look and half in another."""
    media = write_video(tmp_path / "a.mp4", [12])

    def resumes(state: Path, engine_id: str) -> list[object]:
        """What the runner is told to resume from, for a job with one kept segment made by "adapter-v1"."""
        store = JobStore(state / "jobs.sqlite3")
        store.save(Job("j", ShotRequest(key="k", media=media, start=0, end=6, rate=None, label="k",
                                        backend="passthrough", out_path_stem=state / "k"), JobState.RUNNING))
        store.add_segment("j", SegmentDone(0, 3, 2, 6, np.zeros((2, 2, 3), np.uint8), None))
        store.close()
        (state / "work" / "j" / ".engine").write_text("adapter-v1")
        seen: list[object] = []
        runner = LocalRunner(Backends(BackendConfig()))
        render = runner.render
        runner.render = lambda request, work, resume, *rest: (seen.append(resume), render(request, work, None, *rest))[1]

        async def scenario() -> None:
            jobs = JobManager(JobStore(state / "jobs.sqlite3"), runner, state / "work", engine_id=engine_id)
            await jobs.start()
            [job async for job in jobs.watch("j")]
            await jobs.stop()

        asyncio.run(scenario())
        return seen

    assert [r.segment for r in resumes(tmp_path / "same", "adapter-v1")] == [1]
    assert resumes(tmp_path / "changed", "adapter-v2") == [None]
    assert BackendConfig(adapter=media).fingerprint() != BackendConfig(adapter=tmp_path / "other").fingerprint()


def test_weights_replaced_in_place_are_another_engine(tmp_path):
    """A model folder's weights, or a LoRA an option names, updated in place: kept segments are not theirs."""
    model = tmp_path / "model"
    (model / "transformer").mkdir(parents=True)
    weights, lora = model / "transformer" / "diffusion_pytorch_model.safetensors", tmp_path / "distill.safetensors"
    weights.write_bytes(b"v1")
    lora.write_bytes(b"v1")
    config = BackendConfig(model_dir=model, options={"distill_lora": str(lora), "dtype": "bf16"})
    before = config.fingerprint()
    assert config.fingerprint() == before
    for changed in (weights, lora):
        changed.write_bytes(b"v2 weights")
        assert config.fingerprint() != before
        before = config.fingerprint()


def test_kept_segments_of_a_media_file_since_replaced_are_not_resumed(tmp_path):
    """A media file replaced under its path while its job waits to resume (a kill, a failure) is rendered
    anew: never a clip of frames from two files."""
    media = write_video(tmp_path / "a.mp4", [12])
    shot = ShotRequest(key="k", media=media, start=0, end=6, rate=None, label="k", backend="passthrough",
                       out_path_stem=tmp_path / "k")
    seen: list[Resume | None] = []
    runner = LocalRunner(Backends(BackendConfig()))

    def render(request: ShotRequest, work: Path, resume: Resume | None, *rest: object) -> RenderResult:
        seen.append(resume)
        raise RenderError("failed after its first segment")  # a failed job keeps its kept segments

    runner.render = render

    async def scenario() -> None:
        jobs = JobManager(JobStore(tmp_path / "state" / "jobs.sqlite3"), runner, tmp_path / "state" / "work")
        await jobs.start()
        for change in (lambda: None, lambda: None, lambda: write_video(media, [3, 9])):
            change()
            job, _ = await jobs.submit(shot)
            [j async for j in jobs.watch(job.id)]
            jobs._store.add_segment(job.id, SegmentDone(0, 3, 2, 6, np.zeros((2, 2, 3), np.uint8), None))
        await jobs.stop()

    asyncio.run(scenario())
    assert [resume and resume.segment for resume in seen] == [None, 1, None]


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_a_store_that_cannot_open_frees_its_state_folder(tmp_path, kind):
    store = tmp_path / "jobs.sqlite3"
    if kind == "file":
        store.write_bytes(b"not a database, but a file someone put here" * 100)
    else:
        store.mkdir()
    errors = []  # kept, as a log or a message box keeps them (with their tracebacks)
    for _ in range(2):  # the second try meets the same error, not "another engine is running"
        with pytest.raises(StateUnusable, match=f"the state folder {tmp_path}: .* give the engine another") as error:
            JobStore(store)
        errors.append(error)


def test_a_store_on_a_full_disk_is_not_said_to_need_moving_out(tmp_path):
    """Moving the job store out of the way would lose its jobs; a full disk only needs room."""
    from readonly import full_disk

    JobStore(tmp_path / "jobs.sqlite3").close()
    with full_disk(0), pytest.raises(StateUnusable) as error:
        JobStore(tmp_path / "jobs.sqlite3")
    assert "free space there" in str(error.value) and "move jobs.sqlite3" not in str(error.value), error.value
    JobStore(tmp_path / "jobs.sqlite3").close()


def _held_runner(started: threading.Event, noticed: threading.Event, release: threading.Event) -> LocalRunner:
    """A runner whose first shot is a segment under way: it notices a cancel, then ends cancelled once
    `release` is set; later shots render for real."""
    runner = LocalRunner(Backends(BackendConfig()))
    render, calls = runner.render, []

    def held(request, work, resume, on_segment, cancelled):
        calls.append(request.key)
        if len(calls) > 1:
            return render(request, work, resume, on_segment, cancelled)
        started.set()
        while not cancelled():
            time.sleep(0.01)
        noticed.set()
        release.wait(5)
        raise Cancelled

    runner.render = held
    return runner


def _passthrough(media: Path, state: Path) -> ShotRequest:
    return ShotRequest(key="k", media=media, start=0, end=6, rate=None, label="k", backend="passthrough",
                       out_path_stem=state / "results" / "k")


def test_a_cancel_asked_before_the_engine_stops_holds_after_the_restart(tmp_path):
    media, state = write_video(tmp_path / "a.mp4", [12]), tmp_path / "state"
    started, noticed, release = threading.Event(), threading.Event(), threading.Event()

    async def cancel_then_stop() -> Job:
        store = JobStore(state / "jobs.sqlite3")
        jobs = JobManager(store, _held_runner(started, noticed, release), state / "work")
        await jobs.start()
        job, _ = await jobs.submit(_passthrough(media, state))
        await asyncio.to_thread(started.wait, 5)
        cancelling = await jobs.cancel(job.id)
        release.set()
        await jobs.stop()  # before the segment under way ends
        store.close()
        return cancelling

    async def restart() -> Job:
        jobs = manager(state)
        jobs._runner.slots = 0
        await jobs.start()
        (job,) = jobs.list()
        await jobs.stop()
        return job

    cancelling = asyncio.run(cancel_then_stop())
    assert cancelling.state is JobState.RUNNING and cancelling.cancel_requested
    job = asyncio.run(restart())
    assert job.state is JobState.CANCELLED and not (state / "work" / job.id).exists()


def test_the_same_key_asked_again_while_cancelling_renders_the_shot(tmp_path):
    """A client that cancels, then changes its mind, gets its shot: not a job that ends cancelled."""
    media, state = write_video(tmp_path / "a.mp4", [12]), tmp_path / "state"
    started, noticed, release = threading.Event(), threading.Event(), threading.Event()

    async def scenario() -> tuple[Job, bool, list[Job]]:
        jobs = JobManager(JobStore(state / "jobs.sqlite3"), _held_runner(started, noticed, release), state / "work")
        await jobs.start()
        job, _ = await jobs.submit(_passthrough(media, state))
        await asyncio.to_thread(started.wait, 5)
        await jobs.cancel(job.id)
        await asyncio.to_thread(noticed.wait, 5)  # the segment under way ends cancelled all the same
        again, created = await jobs.submit(_passthrough(media, state))
        release.set()
        seen = [j async for j in jobs.watch(job.id)]
        await jobs.stop()
        return again, created, seen

    again, created, seen = asyncio.run(scenario())
    assert not created and again.state is JobState.RUNNING and not again.cancel_requested
    assert JobState.CANCELLED not in [j.state for j in seen] and seen[-1].state is JobState.DONE
    assert (state / "results" / "k.mp4").exists()


def test_a_job_that_finished_before_its_cancel_landed_is_returned_as_it_is(tmp_path):
    """A cancel asked after the last segment: the job is done, and asking for it again changes nothing."""
    media, state = write_video(tmp_path / "a.mp4", [12]), tmp_path / "state"
    clip = state / "results" / "k.mp4"
    clip.parent.mkdir(parents=True)
    clip.write_bytes(b"clip")
    store = JobStore(state / "jobs.sqlite3")
    store.save(Job("j", _passthrough(media, state), JobState.DONE, result=RenderResult(clip, 6, Fraction(24), 2, 2),
                   message="", cancel_requested=True))
    store.close()

    async def scenario() -> tuple[Job, bool]:
        jobs = manager(state)
        jobs._runner.slots = 0
        await jobs.start()
        again = await jobs.submit(_passthrough(media, state))
        await jobs.stop()
        return again

    job, created = asyncio.run(scenario())
    assert not created and job.state is JobState.DONE and job.message == ""


def test_a_job_cancelled_across_a_restart_after_its_clip_was_written_renders_when_asked_again(tmp_path):
    """Killed after the clip was renamed into place but before the job was stored done, with a cancel under
    way: the job is cancelled at the restart, and its clip in the engine's own results folder is no stranger's."""
    media, state = write_video(tmp_path / "a.mp4", [12]), tmp_path / "state"
    clip = state / "results" / "k.mp4"
    clip.parent.mkdir(parents=True)
    clip.write_bytes(b"the clip of the render the kill interrupted")
    store = JobStore(state / "jobs.sqlite3")
    store.save(Job("j", _passthrough(media, state), JobState.RUNNING, message="cancelling", cancel_requested=True))
    store.close()

    async def scenario() -> tuple[Job, bool, Job]:
        jobs = manager(state)
        await jobs.start()
        cancelled = jobs.get("j")
        again, created = await jobs.submit(_passthrough(media, state))
        seen = [j async for j in jobs.watch(again.id)]
        await jobs.stop()
        return cancelled, created, seen[-1]

    cancelled, created, done = asyncio.run(scenario())
    assert cancelled.state is JobState.CANCELLED and created
    assert done.state is JobState.DONE and done.result.path == clip and done.result.frames == 6


def test_after_a_restart_a_clip_stays_its_jobs_whatever_claimed_its_name_before(tmp_path):
    """X cancelled, Y took X's output name and was cancelled, X asked for again and done (keeping its place in
    the store): after a restart a third job on that name is refused, X's clip is there."""
    media, state = write_video(tmp_path / "a.mp4", [12]), tmp_path / "state"

    def on_x_name(key: str) -> ShotRequest:
        return replace(_passthrough(media, state), key=key)

    clip = state / "results" / "k.mp4"
    store = JobStore(state / "jobs.sqlite3")
    store.save(Job("X", on_x_name("x"), JobState.CANCELLED))
    store.save(Job("Y", on_x_name("y"), JobState.CANCELLED))
    store.save(Job("X", on_x_name("x"), JobState.DONE, result=RenderResult(clip, 6, Fraction(24), 2, 2)))
    store.close()

    async def scenario() -> None:
        jobs = manager(state)
        jobs._runner.slots = 0
        await jobs.start()
        try:
            with pytest.raises(Conflict, match="job X writes its clip there"):
                await jobs.submit(on_x_name("z"))
        finally:
            await jobs.stop()

    asyncio.run(scenario())


def test_a_failed_job_is_logged_once_with_its_id_shot_and_error(tmp_path, caplog):
    """The operator sees each failure in the engine's log: a shot that cannot be rendered as asked in one
    line, an unexpected exception with its traceback."""
    caplog.set_level(logging.WARNING, logger="engine.jobs")
    media = write_video(tmp_path / "a.mp4", [12])
    state = tmp_path / "state"
    runner = LocalRunner(Backends(BackendConfig()))
    render = runner.render

    def buggy(request, *rest):
        if request.key == "bug":
            raise ValueError("a backend bug")
        return render(request, *rest)

    runner.render = buggy

    async def scenario() -> list[Job]:
        jobs = JobManager(JobStore(state / "jobs.sqlite3"), runner, state / "work")
        await jobs.start()
        ended = []
        for key, end in (("outside", 40), ("bug", 6)):
            job, _ = await jobs.submit(ShotRequest(key=key, media=media, start=0, end=end, rate=None, label=f"sh_{key}",
                                                   backend="passthrough", out_path_stem=state / key))
            ended.append([j async for j in jobs.watch(job.id)][-1])
        await jobs.stop()
        return ended

    outside, bug = asyncio.run(scenario())
    assert outside.state is bug.state is JobState.FAILED
    for job, traced in ((outside, False), (bug, True)):
        (record,) = [r for r in caplog.records if job.id in r.getMessage()]
        assert record.levelno == logging.WARNING and f"shot {job.request.label}" in record.getMessage()
        assert job.error in record.getMessage() and bool(record.exc_info) == traced
