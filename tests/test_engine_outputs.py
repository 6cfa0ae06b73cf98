"""What a client cannot break through the API: one file per job, never a file the engine did not write,
an idempotency key that stands for one set of settings, and ids and values checked at the door."""

import hashlib
import io
from pathlib import Path

import grpc
import numpy as np
import pytest
from PIL import Image

from dreamstyle.frames import probe
from dreamstyle.v1 import engine_pb2 as pb
from engine.storage import OutsideRoots, Storage
from enginehelp import engine_thread
from host_plugin.client import EngineCallError, EngineClient
from mediagen import write_video
from readonly import read_only


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("media") / "victim.mp4", [40, 30])


@pytest.fixture(scope="module")
def client(tmp_path_factory, media):
    with engine_thread(tmp_path_factory.mktemp("state"), [media.parent]) as address, EngineClient(address) as c:
        yield c


def request(media, key, start=0, end=10, label="A001_C002.mov sh1", prompt="", params=None, **output):
    return pb.SubmitShotRequest(
        idempotency_key=key, backend="passthrough", guidance=pb.Guidance(prompt=prompt), params=params,
        shot=pb.ShotSpec(media=pb.MediaRef(path=str(media)), start_frame=start, end_frame=end, label=label),
        output=pb.OutputSpec(**output),
    )


def done(client, reply):
    last = list(client.watch(reply.job.job_id))[-1]
    assert last.job.state == pb.JOB_STATE_DONE, last.message
    return Path(last.job.result.path)


def refused(call, *args):
    with pytest.raises(EngineCallError) as info:
        call(*args)
    return info.value


def test_jobs_with_one_label_get_a_file_each(client, media):
    """Labels are names NLEs give (file names with dots, the same for many shots): not file identities."""
    first = done(client, client.submit(request(media, "label-1", 0, 10)))
    second = done(client, client.submit(request(media, "label-2", 10, 35)))
    assert first != second and first.name.startswith("A001_C002.mov sh1") and first.suffix == ".mp4"
    assert (probe(first).frames, probe(second).frames) == (10, 25)


def test_a_clip_never_replaces_another_jobs_or_a_file_the_engine_did_not_write(client, media):
    source = hashlib.sha256(media.read_bytes()).hexdigest()
    error = refused(client.submit, request(media, "onto-source", directory=str(media.parent), name="victim"))
    assert error.code == grpc.StatusCode.ALREADY_EXISTS and "victim.mp4 exists" in str(error)
    assert hashlib.sha256(media.read_bytes()).hexdigest() == source
    done(client, client.submit(request(media, "named-1", directory=str(media.parent), name="take")))
    error = refused(client.submit, request(media, "named-2", 5, 15, directory=str(media.parent), name="take"))
    assert error.code == grpc.StatusCode.ALREADY_EXISTS and "writes its clip there" in str(error)
    error = refused(client.submit, request(media, "into-a-file", directory=str(media)))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT and "is a file, not a folder" in str(error)


def test_an_output_folder_the_engine_cannot_write_is_refused_at_submit(client, media):
    folder = media.parent / "locked"
    folder.mkdir()
    with read_only(folder):
        error = refused(client.submit, request(media, "locked", directory=str(folder)))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert f"output.directory: {folder} is not writable by the engine" in str(error)


def test_an_output_folder_made_read_only_while_its_job_waits_fails_the_job_before_it_renders(tmp_path, monkeypatch):
    """A share remounted read-only while the shot waits in the queue: failed at its start, naming the folder, not
    after a whole render (minutes on a GPU) that cannot be written."""
    from chainedbackend import SEGMENT_DELAY

    from engine.backends.registry import BACKENDS

    monkeypatch.setitem(BACKENDS, "chained", "chainedbackend:ChainedBackend")
    monkeypatch.setenv(SEGMENT_DELAY, "0.3")
    media = write_video(tmp_path / "media" / "clip.mp4", [48])
    folder = media.parent / "share"
    folder.mkdir()
    with engine_thread(tmp_path / "state", [media.parent]) as address, EngineClient(address) as client:
        ahead = client.submit(pb.SubmitShotRequest(idempotency_key="ahead", backend="chained", output=pb.OutputSpec(
            directory=str(media.parent)), shot=pb.ShotSpec(media=pb.MediaRef(path=str(media)), start_frame=0,
                                                           end_frame=48, label="ahead")))
        waiting = client.submit(request(media, "waiting", 0, 40, directory=str(folder)))
        with read_only(folder):
            last = list(client.watch(waiting.job.job_id))[-1]
        done(client, ahead)
    assert last.job.state == pb.JOB_STATE_FAILED and last.job.frames_done == 0
    assert f"shot A001_C002.mov sh1: the engine cannot write or read {folder}: the folder is no longer writable" in last.message


def test_a_failed_jobs_key_asked_again_never_writes_onto_a_file_it_did_not_make(client, media):
    source = hashlib.sha256(media.read_bytes()).hexdigest()
    broken = media.with_name("cut_short.png")  # its header reads: the job fails only when it decodes the pixels
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    png = io.BytesIO()
    Image.fromarray(noise).save(png, format="PNG")
    broken.write_bytes(png.getvalue()[:len(png.getvalue()) // 2])

    def styled(**output):
        shot = request(media, "retry-onto-source", 0, 10, **output)
        shot.guidance.style_image.path = str(broken)
        return shot

    failed = client.submit(styled(name="first try"))
    assert list(client.watch(failed.job.job_id))[-1].job.state == pb.JOB_STATE_FAILED
    error = refused(client.submit, styled(directory=str(media.parent), name="victim"))
    assert error.code == grpc.StatusCode.ALREADY_EXISTS and "victim.mp4 exists" in str(error)
    assert hashlib.sha256(media.read_bytes()).hexdigest() == source


def test_a_key_stands_for_one_set_of_settings(client, media):
    first = client.submit(request(media, "settings", prompt="a"))
    again = client.submit(request(media, "settings", prompt="a", name="elsewhere"))  # same look: the same job
    assert not again.created and again.job.job_id == first.job.job_id
    error = refused(client.submit, request(media, "settings", prompt="b"))
    assert error.code == grpc.StatusCode.ALREADY_EXISTS and "use a new key" in str(error)
    error = refused(client.submit, request(media, "settings", prompt="a", params={"overlap": "2"}))
    assert error.code == grpc.StatusCode.ALREADY_EXISTS and "use a new key" in str(error)


def test_drift_params_spelled_at_their_defaults_are_the_same_settings(client, media):
    first = client.submit(request(media, "defaults", params={"overlap": "1", "color_match": "0.0"}))
    again = client.submit(request(media, "defaults"))
    assert not again.created and again.job.job_id == first.job.job_id
    written = client.submit(request(media, "spelled", params={"overlap": " 3", "color_match": ".5"}))
    same = client.submit(request(media, "spelled", params={"overlap": "3", "color_match": "0.50"}))
    assert not same.created and same.job.job_id == written.job.job_id


def test_a_done_jobs_missing_clip_is_not_found_and_renders_again(client, media):
    reply = client.submit(request(media, "gone", 0, 6))
    done(client, reply).unlink()
    error = refused(client.download, reply.job.job_id, Path("/tmp/never.mp4"))
    assert error.code == grpc.StatusCode.NOT_FOUND and "gone from the engine" in str(error)
    again = client.submit(request(media, "gone", 0, 6))
    assert again.created and probe(done(client, again)).frames == 6


def test_a_done_jobs_clip_swapped_for_a_symlink_out_of_the_roots_is_not_sent(client, media, tmp_path):
    """A client sharing the media root replaced its clip with a symlink to an engine file (its TLS key, say)."""
    reply = client.submit(request(media, "swapped", 0, 6, directory=str(media.parent)))
    clip = done(client, reply)
    (tmp_path / "secret.key").write_text("the engine's private key")
    clip.unlink()
    clip.symlink_to(tmp_path / "secret.key")
    error = refused(client.download, reply.job.job_id, tmp_path / "got.mp4")
    assert error.code == grpc.StatusCode.PERMISSION_DENIED and "outside the engine's media roots" in str(error)
    assert not (tmp_path / "got.mp4").exists()


def test_a_clip_swapped_between_its_open_and_its_check_is_not_sent(tmp_path, monkeypatch):
    """The check follows the open: a symlink swapped in just before the open and out again just after."""
    (tmp_path / "show").mkdir()
    (tmp_path / "show" / "clip.mp4").write_bytes(b"clip")
    (tmp_path / "secret.key").write_text("the engine's private key")
    storage = Storage([tmp_path / "show"], tmp_path / "state")
    monkeypatch.setattr("engine.storage.open", lambda path, mode: open(tmp_path / "secret.key", mode), raising=False)
    with pytest.raises(OutsideRoots, match="swapped while the engine opened it"):
        storage.open_inside(tmp_path / "show" / "clip.mp4")


@pytest.mark.parametrize("job_id,needle", [("", "job_id: is required"), ("x" * 10_000, "job_id: is required")])
def test_job_ids_are_checked(client, job_id, needle):
    for call in (client.get, client.cancel):
        error = refused(call, job_id)
        assert error.code == grpc.StatusCode.INVALID_ARGUMENT and needle in str(error)


def upload(client, filename, data, sha256):
    header = pb.UploadHeader(filename=filename, size_bytes=len(data), sha256=sha256)
    return client._stub.UploadMedia(iter([pb.UploadChunk(header=header), pb.UploadChunk(data=data)]))


def test_unknown_states_and_odd_uploads_are_answered_in_words(client, media):
    with pytest.raises(grpc.RpcError) as info:
        client._stub.ListJobs(pb.ListJobsRequest(states=[99]))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "states" in info.value.details()
    data = media.read_bytes()
    for name in ("..", ".hidden.partial"):  # stored under a plain name: never a folder, never cleaned away
        uploaded = upload(client, name, data, hashlib.sha256(data).hexdigest())
        shot = request(media, f"upload {name}", 0, 5)
        shot.shot.media.CopyFrom(pb.MediaRef(upload_id=uploaded.upload_id))
        assert probe(done(client, client.submit(shot))).frames == 5
    with pytest.raises(grpc.RpcError) as info:
        upload(client, "clip.mp4", data, "0" * 64)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "SHA-256" in info.value.details()


def test_a_timecode_sent_without_a_rate_is_checked_against_the_media(client, media):
    """01:00:00:59 at 23.976 fps would be written two seconds later by the muxer: refused at submit, in words."""
    error = refused(client.submit, request(media, "tc-59", timecode="01:00:00:59"))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert ("output.timecode: output timecode 01:00:00:59 counts more frames than victim.mp4 runs per second "
            "(23.976 fps)") in str(error)


def test_frames_over_the_announced_size_fail_in_words(client, media):
    wide = write_video(media.with_name("wide.mp4"), [2], width=8256, height=16, numbered=False)
    limits = client.capabilities().limits
    error = refused(client.submit, request(wide, "wide"))
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert f"shot.media: wide.mp4 is 8256x16; this engine renders frames up to {limits.max_width} pixels a side" in str(error)


def test_names_in_any_script_are_kept_and_never_clash(client, media):
    """Japanese, Greek or accented names are file names an editor reads: not all `_`, nor one shared file."""
    paths = [done(client, client.submit(request(media, f"name-{name}", 0, 3, name=name))).name
             for name in ("日本", "中国", "Café shot 1", "e\u0301t\u00e9", "हिन्दी")]
    assert paths == ["日本.mp4", "中国.mp4", "Café shot 1.mp4", "été.mp4", "हिन्दी.mp4"]  # vowel signs are marks
    long = done(client, client.submit(request(media, "name-long", 0, 3, name="長" * 200)))
    assert len(long.name.encode()) <= 255 and long.name.startswith("長" * 60)
