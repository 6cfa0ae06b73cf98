"""The engine's state folder as a whole: moved or restored to another path it keeps its jobs and results,
a job store written by an older engine is brought up to date, and one from a newer engine (or of an
unknown layout) is refused and left as it is."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from mediagen import write_video

from engine.backends.base import BackendConfig
from engine.jobs import Job, JobManager, JobState
from engine.render import ShotRequest
from engine.cli import main as engine_main
from engine.store import SCHEMA_VERSION, JobStore, StateInUse, StateUnusable
from engine.workers import Backends, LocalRunner


def manager(state: Path, **options) -> JobManager:
    return JobManager(JobStore(state / "jobs.sqlite3"), LocalRunner(Backends(BackendConfig())), state / "work",
                      results_root=state / "results", uploads_root=state / "uploads", **options)


def shot(media: Path, key: str, folder: Path) -> ShotRequest:
    return ShotRequest(key=key, media=media, start=0, end=6, rate=None, label=key, backend="passthrough",
                       out_path_stem=folder / key)


def stored(state: Path) -> dict[str, tuple[dict, dict | None]]:
    """Each job's request and result as the database holds them."""
    db = sqlite3.connect(state / "jobs.sqlite3")
    rows = db.execute("SELECT id, request, result FROM jobs").fetchall()
    db.close()
    return {job_id: (json.loads(request), json.loads(result) if result else None) for job_id, request, result in rows}


def test_a_moved_state_folder_keeps_its_jobs_and_results(tmp_path):
    """`mv stateA stateB` and a restart on stateB: the same shots are the same jobs, their clips are found at
    their new paths (not taken for files the engine did not write), and retention removes them."""
    media = write_video(tmp_path / "media" / "a.mp4", [12])
    client = tmp_path / "client"
    old, new = tmp_path / "stateA", tmp_path / "stateB"
    upload = old / "uploads" / ("0" * 32) / "a.mp4"
    upload.parent.mkdir(parents=True)
    upload.write_bytes(media.read_bytes())
    ours, theirs = shot(upload, "ours", old / "results"), shot(media, "theirs", client)

    async def render() -> None:
        jobs = manager(old)
        await jobs.start()
        for request in (ours, theirs):
            job, _ = await jobs.submit(request)
            assert [j async for j in jobs.watch(job.id)][-1].state is JobState.DONE
        await jobs.stop()
        jobs._store.close()

    asyncio.run(render())
    requests = {request["key"]: (request, result) for request, result in stored(old).values()}
    assert requests["ours"][0]["media"] == f"uploads/{'0' * 32}/a.mp4", "the state folder's paths are relative"
    assert requests["ours"][1]["path"] == "results/ours.mp4"
    assert requests["theirs"][1]["path"] == str(client / "theirs.mp4"), "a client's folder stays absolute"
    old.rename(new)
    asked_again = (replace(ours, media=new / upload.relative_to(old), out_path_stem=new / "results" / "ours"), theirs)

    async def restart() -> tuple[dict[str, Job], list[bool]]:
        jobs = manager(new)
        jobs._runner.slots = 0  # nothing renders: a shot asked for again is answered from the store
        await jobs.start()
        created = [(await jobs.submit(request))[1] for request in asked_again]
        seen = {job.request.key: job for job in jobs.list()}
        await jobs.stop()
        jobs._store.close()
        return seen, created

    seen, created = asyncio.run(restart())
    assert created == [False, False]
    assert seen["ours"].result.path == new / "results" / "ours.mp4" and seen["ours"].request.media.is_relative_to(new)
    assert seen["theirs"].result.path == client / "theirs.mp4"
    store = JobStore(new / "jobs.sqlite3")
    store._run("UPDATE jobs SET updated = 0")
    store.close()

    async def retain() -> None:
        jobs = manager(new, retention_days=1)
        jobs._runner.slots = 0
        await jobs.start()
        await asyncio.sleep(0.2)
        await jobs.stop()

    asyncio.run(retain())
    assert not (new / "results" / "ours.mp4").exists(), "retention removes the moved folder's results"
    assert (client / "theirs.mp4").exists()


_LAYOUT_0 = """
CREATE TABLE jobs (id TEXT PRIMARY KEY, key TEXT NOT NULL UNIQUE, seq INTEGER NOT NULL, state TEXT NOT NULL,
  request TEXT NOT NULL, progress TEXT NOT NULL, result TEXT, updated REAL NOT NULL);
CREATE TABLE segments (job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE, idx INTEGER NOT NULL,
  condition BLOB, anchor BLOB, PRIMARY KEY (job_id, idx));
"""
_LAYOUT_1 = _LAYOUT_0.replace("condition BLOB", "conditioned INTEGER NOT NULL")


def old_store(state: Path, layout: str, jobs: list[tuple[str, str, ShotRequest, Path | None]]) -> None:
    """A jobs.sqlite3 as an engine before SCHEMA_VERSION wrote it: absolute paths, no user_version."""
    state.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(state / "jobs.sqlite3", isolation_level=None)
    db.executescript(layout)
    for seq, (job_id, job_state, request, result) in enumerate(jobs):
        data = {**request.__dict__, "rate": None}
        data.update({name: str(data[name]) for name in ("media", "out_path_stem")})
        saved = json.dumps({"path": str(result), "frames": 6, "rate": [24, 1], "size": [2, 2]}) if result else None
        db.execute("INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (job_id, request.key, seq, job_state, json.dumps(data), json.dumps([0, 0, 0, "", ""]), saved, 1.0))
    db.close()


def test_a_store_from_before_relative_paths_finds_a_moved_folders_files(tmp_path):
    """A job store written with absolute paths, then moved: a path whose file is gone from the old folder and
    is in the new one at the same place is taken as the state folder's; a client's folder never is."""
    media = write_video(tmp_path / "media" / "a.mp4", [12])
    old, new, client = tmp_path / "stateA", tmp_path / "stateB", tmp_path / "client"
    for clip in (old / "results" / "ours.mp4", client / "results" / "ours.mp4"):
        clip.parent.mkdir(parents=True)
        clip.write_bytes(b"clip")
    old_store(old, _LAYOUT_1, [
        ("j1", "done", shot(media, "ours", old / "results"), old / "results" / "ours.mp4"),
        ("j2", "queued", shot(media, "later", old / "results"), None),
        ("j3", "done", shot(media, "gone", client / "results"), client / "results" / "gone.mp4"),
    ])
    old.rename(new)
    (new / "results" / "gone.mp4").write_bytes(b"another job's clip of the same name")

    store = JobStore(new / "jobs.sqlite3")
    jobs = {job.id: job for job in store.load()}
    store.close()
    assert jobs["j1"].result.path == new / "results" / "ours.mp4"
    assert jobs["j2"].request.out_path_stem == new / "results" / "later", "found through the folder's other files"
    assert jobs["j3"].result.path == client / "results" / "gone.mp4", "the client's folder is there: never remapped"
    assert jobs["j1"].request.media == media
    assert stored(new)["j1"][1]["path"] == "results/ours.mp4"
    assert sqlite3.connect(new / "jobs.sqlite3").execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_store_from_before_condition_files_is_upgraded_and_its_jobs_render(tmp_path):
    """A state folder from before condition frames were files (segments.condition): the engine starts, and
    an unfinished job renders its shot from the start instead of failing on a missing column."""
    media = write_video(tmp_path / "media" / "a.mp4", [12])
    state = tmp_path / "state"
    old_store(state, _LAYOUT_0, [("j", "running", shot(media, "k", state / "results"), None)])
    db = sqlite3.connect(state / "jobs.sqlite3", isolation_level=None)
    db.execute("INSERT INTO segments VALUES ('j', 0, ?, NULL)", (np.zeros(12, np.uint8).tobytes(),))
    db.close()

    async def scenario() -> list[Job]:
        jobs = manager(state)
        await jobs.start()
        assert jobs._store.resume_point("j") is None, "its kept segment cannot be used: the shot starts over"
        seen = [job async for job in jobs.watch("j")]
        await jobs.stop()
        jobs._store.close()
        return seen

    last = asyncio.run(scenario())[-1]
    assert last.state is JobState.DONE, last.error
    assert last.result.path == state / "results" / "k.mp4" and last.result.path.exists()


@pytest.mark.parametrize("layout", ["newer", "unknown"])
def test_a_store_this_engine_cannot_read_is_refused_and_left_as_it_is(tmp_path, layout, capsys):
    database = tmp_path / "jobs.sqlite3"
    db = sqlite3.connect(database, isolation_level=None)
    if layout == "newer":
        db.executescript(_LAYOUT_1 + f"PRAGMA user_version = {SCHEMA_VERSION + 1};")
    else:  # some other program's database
        db.executescript("CREATE TABLE photos (name TEXT); INSERT INTO photos VALUES ('a.jpg');")
    db.close()
    before = database.read_bytes()
    for _ in range(2):  # the second try is refused alike, not as "another engine is running"
        with pytest.raises(StateUnusable) as refused:
            JobStore(database)
        assert not isinstance(refused.value, StateInUse)
    message = str(refused.value)
    assert str(tmp_path) in message and "--state-dir" in message
    assert ("newer DreamStyle engine" in message) == (layout == "newer")
    assert database.read_bytes() == before
    assert not database.with_name("jobs.sqlite3-wal").exists()
    assert engine_main(["serve", "--port", "0", "--state-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == f"dreamstyle engine: {message}"


def test_a_damaged_store_is_refused_in_words_and_left_as_it_is(tmp_path, capsys):
    """A job store with a damaged page (a disk error, a copy cut short) is not mended by submitting again."""
    store = JobStore(tmp_path / "jobs.sqlite3")
    for index in range(100):
        store.save(Job(f"j{index}", shot(tmp_path / "a.mp4", f"k{index}" + "x" * 400, tmp_path)))
    store.close()
    database = tmp_path / "jobs.sqlite3"
    damaged = bytearray(database.read_bytes())
    page = len(damaged) // 2 // 4096 * 4096
    damaged[page:page + 4096] = b"\xff" * 4096  # a page of the jobs table
    database.write_bytes(damaged)
    assert engine_main(["serve", "--port", "0", "--state-dir", str(tmp_path)]) == 2
    message = capsys.readouterr().err
    assert f"job store {database} is damaged" in message and "move it out of that folder" in message, message
    assert database.read_bytes() == damaged
