"""The gRPC engine on 127.0.0.1: capabilities, health, reflection, jobs, streaming, errors, auth."""

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from dreamstyle import exits
from dreamstyle.frames import iter_frames, probe
from dreamstyle.v1 import engine_pb2 as pb
from dreamstyle.v1 import engine_pb2_grpc as pb_grpc
from enginehelp import engine_thread
from host_plugin.client import EngineCallError, EngineClient
from host_plugin.errors import DreamStyleError
from mediagen import frame_number, png_header, write_video


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    video = write_video(tmp_path_factory.mktemp("media") / "shot.mp4", [40, 30])
    video.with_name("notes.mp4").write_text("not a video")  # misnamed, as files get
    png_header(video.with_name("poster.png"), 20000, 20000)  # 400 megapixels
    return video


@pytest.fixture(scope="module")
def engine(tmp_path_factory, media):
    with engine_thread(tmp_path_factory.mktemp("state"), [media.parent]) as address:
        yield address


@pytest.fixture
def client(engine):
    with EngineClient(engine) as c:
        yield c


def submit(client, media, key, start=5, end=25, backend="passthrough", **output):
    request = pb.SubmitShotRequest(
        idempotency_key=key,
        shot=pb.ShotSpec(media=pb.MediaRef(path=str(media)), start_frame=start, end_frame=end, label=f"shot {key}"),
        backend=backend,
        output=pb.OutputSpec(**output),
    )
    return client.submit(request)


def finish(client, job_id):
    events = list(client.watch(job_id))
    return events[-1]


def test_health_reflection_and_capabilities(engine, client):
    with grpc.insecure_channel(engine) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        answer = next(stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
        services = {s.name for s in answer.list_services_response.service}
        assert "dreamstyle.v1.Engine" in services and "grpc.health.v1.Health" in services
    caps = client.capabilities()
    names = {b.name: b for b in caps.backends}
    assert {"classic", "passthrough"} <= set(names)
    assert caps.limits.max_shot_frames > 0 and caps.default_backend == "classic"


def test_render_is_frame_exact_and_idempotent(client, media, tmp_path):
    reply = submit(client, media, "k-exact", directory=str(media.parent), name="exact")
    assert reply.created
    last = finish(client, reply.job.job_id)
    assert last.kind == pb.JobEvent.KIND_DONE, last.message
    out = Path(last.job.result.path)
    info = probe(out)
    assert info.frames == 20 and info.rate == probe(media).rate and (info.width, info.height) == (320, 180)
    assert [frame_number(f) for f in iter_frames(out)] == list(range(5, 25))
    again = submit(client, media, "k-exact", directory=str(media.parent), name="exact")
    assert not again.created and again.job.job_id == reply.job.job_id
    assert reply.job.job_id in {j.job_id for j in client.list_jobs()}


def test_streams_upload_and_download(client, media, tmp_path):
    upload_id = client.upload(media)
    request = pb.SubmitShotRequest(
        idempotency_key="k-stream",
        shot=pb.ShotSpec(media=pb.MediaRef(upload_id=upload_id), start_frame=0, end_frame=12, label="streamed"),
        backend="passthrough",
    )
    job = client.submit(request).job
    assert finish(client, job.job_id).kind == pb.JobEvent.KIND_DONE
    local = client.download(job.job_id, tmp_path / "back.mp4")
    assert probe(local).frames == 12


def test_bytes_uploaded_before_are_found_not_uploaded_again(client, media, tmp_path):
    first = client.upload(media)
    copy = tmp_path / "same bytes, another name.mp4"
    copy.write_bytes(media.read_bytes())
    assert client.upload(copy) == client.upload(media) == first
    other = write_video(tmp_path / "other.mp4", [5])
    assert client.upload(other) != first
    stub = pb_grpc.EngineStub(client._channel)
    digest = hashlib.sha256(b"never uploaded").hexdigest()
    for request, code in ((pb.FindUploadRequest(sha256=digest, size_bytes=14), grpc.StatusCode.NOT_FOUND),
                          (pb.FindUploadRequest(sha256="abc", size_bytes=14), grpc.StatusCode.INVALID_ARGUMENT),
                          (pb.FindUploadRequest(sha256=digest), grpc.StatusCode.INVALID_ARGUMENT)):
        with pytest.raises(grpc.RpcError) as refused:
            stub.FindUpload(request)
        assert refused.value.code() == code


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="lists open files through /proc")
def test_a_download_the_client_leaves_closes_its_file(client, media):
    """Chunks are read off the event loop a chunk ahead: a client gone after the first leaves no read under
    way and no open file behind (the engine runs in this process)."""
    job_id = submit(client, media, "k-leave", start=0, end=6).job.job_id
    result = Path(finish(client, job_id).job.result.path)
    with open(result, "ab") as out:
        out.write(bytes(8 << 20))  # several chunks
    stream = pb_grpc.EngineStub(client._channel).DownloadResult(pb.DownloadResultRequest(job_id=job_id))
    assert next(stream).total_bytes == result.stat().st_size
    stream.cancel()

    def open_on_result() -> list[str]:
        return [fd for fd in os.listdir("/proc/self/fd") if os.path.realpath(f"/proc/self/fd/{fd}") == str(result)]

    deadline = time.monotonic() + 10
    while open_on_result() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert open_on_result() == []


def test_a_download_from_a_slow_disk_stalls_no_other_call(client, media, monkeypatch, tmp_path):
    """Opening the clip and each chunk read take 0.3 s (a busy network share): other calls are answered
    meanwhile, and a client that leaves mid-read has its file closed only once that read has ended."""
    import threading

    import engine.storage

    job_id = submit(client, media, "k-slow", start=0, end=6).job.job_id
    result = Path(finish(client, job_id).job.result.path)
    with open(result, "ab") as out:
        out.write(bytes(3 << 20))

    class SlowFile:
        def __init__(self, path, mode):
            time.sleep(0.3)
            self._file, self.reading = open(path, mode), 0
            self.fileno = self._file.fileno

        def read(self, size):
            self.reading += 1
            time.sleep(0.3)
            data = self._file.read(size)
            self.reading -= 1
            return data

        def close(self):
            assert not self.reading, "closed while a read was under way"  # an ERROR the test fails on
            self._file.close()

    monkeypatch.setattr(engine.storage, "open", SlowFile, raising=False)  # the engine opens results there
    client.capabilities()  # its first answer looks at the machine
    download = threading.Thread(target=client.download, args=(job_id, tmp_path / "slow.mp4"))
    download.start()
    answered = []
    while download.is_alive():
        started = time.perf_counter()
        client.capabilities()
        answered.append(time.perf_counter() - started)
    download.join()
    assert (tmp_path / "slow.mp4").stat().st_size == result.stat().st_size
    assert len(answered) > 5 and max(answered) < 0.2, answered
    stream = pb_grpc.EngineStub(client._channel).DownloadResult(pb.DownloadResultRequest(job_id=job_id))
    next(stream)  # the next chunk is being read now
    stream.cancel()
    time.sleep(0.6)  # the read ends, then the file closes


def test_download_without_room_is_refused_before_writing(client, media, tmp_path, monkeypatch):
    job_id = submit(client, media, "k-room", start=0, end=6).job.job_id
    done = finish(client, job_id)
    assert done.kind == pb.JobEvent.KIND_DONE
    size = Path(done.job.result.path).stat().st_size
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(DreamStyleError, match=rf"back\.mp4 needs .* MB but {tmp_path} has 0 MB free") as raised:
        client.download(job_id, tmp_path / "back.mp4")
    assert "free some space" in str(raised.value) and size > 1000
    assert list(tmp_path.iterdir()) == []  # neither the clip nor a partial file


def test_failures_are_specific_and_per_job(client, media, tmp_path):
    """A range past the media's end is refused at submit (it could only fail), naming the file; the next shot
    renders."""
    with pytest.raises(EngineCallError) as refused:
        submit(client, media, "k-past-end", start=60, end=90)
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "shot.end_frame: frames [60, 90) fall outside shot.mp4, which has 70 frames" in str(refused.value)
    good = submit(client, media, "k-after-bad", start=0, end=3)
    assert finish(client, good.job.job_id).kind == pb.JobEvent.KIND_DONE


def test_a_submit_reads_no_whole_file_to_count_its_frames(client, media, monkeypatch):
    """An MPEG-TS (AVCHD, broadcast) states no frame count: counting reads all of it, which a submit on a slow
    share would not finish within the client's deadline. Its range is checked when the job runs."""
    import inspect

    import av

    import dreamstyle.frames

    stream_file = media.with_name("camcorder.mts")
    with av.open(str(media)) as source, av.open(str(stream_file), "w", format="mpegts") as out:
        video = out.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = video
                out.mux(packet)
    at_submit = []  # whether each count ran in the submit's check (the job's own, once queued, may count)
    count = dreamstyle.frames._count_frames
    monkeypatch.setattr(dreamstyle.frames, "_count_frames", lambda *a: at_submit.append(
        any(f.function == "check_runnable" for f in inspect.stack())) or count(*a))
    reply = submit(client, stream_file, "k-ts-past-end", start=60, end=90)
    assert True not in at_submit, "the submit counted the file's frames"
    last = finish(client, reply.job.job_id)
    assert last.kind == pb.JobEvent.KIND_FAILED and "fall outside camcorder.mts, which has 70 frames" in last.message


@pytest.mark.parametrize(
    "mutate,code,needle",
    [
        (lambda r: setattr(r.shot, "end_frame", 2), grpc.StatusCode.INVALID_ARGUMENT, "shot.end_frame"),
        (lambda r: setattr(r, "backend", "nope"), grpc.StatusCode.INVALID_ARGUMENT, "backend"),
        (lambda r: setattr(r, "idempotency_key", ""), grpc.StatusCode.INVALID_ARGUMENT, "idempotency_key"),
        (lambda r: r.shot.media.CopyFrom(pb.MediaRef(path="/etc/passwd")), grpc.StatusCode.PERMISSION_DENIED, "media roots"),
        (lambda r: setattr(r.output, "timecode", "1:2"), grpc.StatusCode.INVALID_ARGUMENT, "output.timecode"),
        (lambda r: setattr(r.output, "timecode", "99:99:99:99"), grpc.StatusCode.INVALID_ARGUMENT, "output.timecode"),
        (lambda r: r.params.update(overlap="1000"), grpc.StatusCode.INVALID_ARGUMENT, "params['overlap']"),
        (lambda r: r.params.update(overlap="x"), grpc.StatusCode.INVALID_ARGUMENT, "params"),
        (lambda r: setattr(r.output, "directory", __file__), grpc.StatusCode.PERMISSION_DENIED, "media roots"),
        # what would fail every shot when its job runs is refused before it is queued
        (lambda r: setattr(r, "backend", "classic"), grpc.StatusCode.INVALID_ARGUMENT, "guidance: backend 'classic' needs"),
        (lambda r: (setattr(r, "backend", "classic"), setattr(r.guidance, "prompt", "noir"), r.params.update(strength="abc")),
         grpc.StatusCode.INVALID_ARGUMENT, "params: param 'strength'"),
        (lambda r: r.guidance.style_image.CopyFrom(pb.MediaRef(path=str(Path(r.shot.media.path).with_name("gone.png")))),
         grpc.StatusCode.INVALID_ARGUMENT, "guidance.style_image: "),
        (lambda r: r.shot.media.CopyFrom(pb.MediaRef(path=str(Path(r.shot.media.path).with_name("gone.mp4")))),
         grpc.StatusCode.INVALID_ARGUMENT, "shot.media: "),
        (lambda r: r.shot.rate.CopyFrom(pb.Rational(num=25, den=1)), grpc.StatusCode.INVALID_ARGUMENT,
         "shot.rate: the timeline says shot.mp4 runs at 25 fps but the file runs at 24000/1001"),
        (lambda r: r.guidance.style_image.CopyFrom(pb.MediaRef(path=r.shot.media.path)), grpc.StatusCode.INVALID_ARGUMENT,
         "guidance.style_image: style image"),
        (lambda r: r.guidance.first_frame.CopyFrom(pb.MediaRef(path=r.shot.media.path)), grpc.StatusCode.INVALID_ARGUMENT,
         "guidance.first_frame: first frame"),
        (lambda r: r.shot.media.CopyFrom(pb.MediaRef(path=str(Path(r.shot.media.path).with_name("notes.mp4")))),
         grpc.StatusCode.INVALID_ARGUMENT, "shot.media: "),
        (lambda r: r.guidance.style_image.CopyFrom(pb.MediaRef(path=str(Path(r.shot.media.path).with_name("poster.png")))),
         grpc.StatusCode.INVALID_ARGUMENT, "has more pixels than the engine decodes"),
        # a name longer than the file system takes (ENAMETOOLONG) was an UNKNOWN status with a traceback
        (lambda r: r.shot.media.CopyFrom(pb.MediaRef(path=str(Path(r.shot.media.path).with_name("a" * 300 + ".mp4")))),
         grpc.StatusCode.INVALID_ARGUMENT, "shot.media: "),
        (lambda r: setattr(r.output, "directory", str(Path(r.shot.media.path).with_name("b" * 300))),
         grpc.StatusCode.INVALID_ARGUMENT, "output.directory: "),
    ],
)
def test_bad_requests_name_the_field(client, media, mutate, code, needle):
    request = pb.SubmitShotRequest(
        idempotency_key="k-bad",
        shot=pb.ShotSpec(media=pb.MediaRef(path=str(media)), start_frame=3, end_frame=9),
        backend="passthrough",
    )
    mutate(request)
    with pytest.raises(EngineCallError) as info:
        client.submit(request)
    assert info.value.code == code and needle in str(info.value)


def test_unknown_job_and_cancel(client, media):
    with pytest.raises(EngineCallError) as info:
        client.get("0" * 32)
    assert info.value.code == grpc.StatusCode.NOT_FOUND
    job = submit(client, media, "k-cancel", start=0, end=70, backend="passthrough").job
    client.cancel(job.job_id)
    assert finish(client, job.job_id).kind in (pb.JobEvent.KIND_CANCELLED, pb.JobEvent.KIND_DONE)


def test_token_is_required_except_for_health(tmp_path, media):
    with engine_thread(tmp_path / "state", [media.parent], token="s3cret") as address:
        with EngineClient(address) as anonymous, EngineClient(address, token="wrong") as wrong:
            assert anonymous.healthy()
            for client in (anonymous, wrong):
                with pytest.raises(EngineCallError) as info:
                    client.capabilities()
                assert info.value.code == grpc.StatusCode.UNAUTHENTICATED
        with EngineClient(address, token="s3cret") as good:
            assert good.capabilities().backends
        with grpc.insecure_channel(address) as channel:  # RFC 6750: the scheme is case-insensitive
            ask = channel.unary_unary("/dreamstyle.v1.Engine/GetCapabilities", pb.GetCapabilitiesRequest.SerializeToString,
                                      pb.Capabilities.FromString)
            assert ask(pb.GetCapabilitiesRequest(), metadata=[("authorization", "bearer s3cret")]).backends


def test_a_second_engine_on_a_taken_port_refuses_to_start(tmp_path, engine):
    """gRPC's default SO_REUSEPORT let two engines listen on one port, and calls landed on either."""
    port = engine.rsplit(":", 1)[1]
    second = subprocess.run([sys.executable, "-m", "engine", "serve", "--port", port, "--state-dir", str(tmp_path)],
                            cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=60)
    assert second.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in second.stderr, second.stderr


def _serve(state: Path) -> subprocess.Popen[str]:
    """`engine serve` on a free port in a child process, once it listens."""
    process = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--port", "0", "--state-dir", str(state)],
                               cwd=Path(__file__).resolve().parent.parent, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    for line in process.stdout:
        if "listening on" in line:
            return process
    raise AssertionError(f"the engine did not start (exit {process.wait()})")


def test_one_state_folder_serves_one_engine_and_sigterm_stops_it_gracefully(tmp_path):
    """Two engines on one state folder would render the same jobs; a service manager stops with SIGTERM."""
    first = _serve(tmp_path)
    try:
        second = subprocess.run([sys.executable, "-m", "engine", "serve", "--port", "0", "--state-dir", str(tmp_path)],
                                cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=60)
        assert second.returncode == exits.STATE_IN_USE
        assert f"another engine is running on the state folder {tmp_path}" in second.stderr
        first.terminate()
        assert first.wait(30) == 0, "SIGTERM takes the graceful path"
        again = _serve(tmp_path)  # the folder is free again
        again.terminate()
        assert again.wait(30) == 0
    finally:
        first.kill()


def test_an_engine_that_fails_to_start_frees_its_state_folder(tmp_path):
    import asyncio
    import socket

    from engine.server import EngineConfig, PortUnavailable, running_engine

    async def start(port: int) -> int:
        async with running_engine(EngineConfig(state_dir=tmp_path, media_roots=[tmp_path], port=port)) as bound:
            return bound

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(PortUnavailable):
            asyncio.run(start(taken.getsockname()[1]))
    assert asyncio.run(start(0)) > 0  # not "another engine is running on the state folder"


def test_a_taken_port_is_refused_before_a_farm_starts(tmp_path, monkeypatch):
    """A local Ray farm takes seconds to start and its port is bound after it: the taken port is said first."""
    import asyncio
    import socket

    import engine.server
    from engine.server import EngineConfig, PortUnavailable, running_engine

    def no_farm(config):
        raise AssertionError("the farm started for an engine that cannot listen")

    async def start(port: int) -> None:
        async with running_engine(EngineConfig(state_dir=tmp_path, media_roots=[tmp_path], port=port, farm="local")):
            pass

    monkeypatch.setattr(engine.server, "_runner", no_farm)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(PortUnavailable, match=f"127.0.0.1:{taken.getsockname()[1]}: the port is taken"):
            asyncio.run(start(taken.getsockname()[1]))


def test_an_engine_that_fails_after_binding_its_port_frees_it(tmp_path, monkeypatch):
    """The job store fails as the jobs start, after the port is bound: the port is free again for the next try
    (gRPC keeps the port of a server stopped before it started)."""
    import asyncio
    import socket

    import engine.server
    from engine.store import StoreFailed

    async def failing(self) -> None:
        raise StoreFailed("the job store cannot be read")

    monkeypatch.setattr(engine.server.JobManager, "start", failing)
    with socket.socket() as probe_port:
        probe_port.bind(("127.0.0.1", 0))
        port = probe_port.getsockname()[1]

    async def start() -> None:
        async with engine.server.running_engine(engine.server.EngineConfig(
                state_dir=tmp_path, media_roots=[tmp_path], port=port)):
            pass

    with pytest.raises(StoreFailed):
        asyncio.run(start())
    with socket.socket() as again:
        again.bind(("127.0.0.1", port))  # free


def test_jobs_are_listed_a_page_at_a_time(client, media):
    """However many jobs an engine keeps, each answer stays small: pages in submission order."""
    for n in range(5):
        submit(client, media, f"k-page-{n}", start=0, end=2)
    everything = list(client._stub.ListJobs(pb.ListJobsRequest()).jobs)
    paged, token = [], ""
    while True:
        page = client._stub.ListJobs(pb.ListJobsRequest(page_size=2, page_token=token))
        assert len(page.jobs) <= 2
        paged += page.jobs
        token = page.next_page_token
        if not token:
            break
    assert [j.job_id for j in paged] == [j.job_id for j in everything] and len(everything) >= 5
    assert [j.job_id for j in client.list_jobs(page_size=2)] == [j.job_id for j in everything]
    done = pb.ListJobsRequest(states=[pb.JOB_STATE_DONE], page_size=1)
    assert all(j.state == pb.JOB_STATE_DONE for j in client._stub.ListJobs(done).jobs)
    with pytest.raises(grpc.RpcError) as stale:
        client._stub.ListJobs(pb.ListJobsRequest(page_token="no-such-job"))
    assert stale.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "page_token" in stale.value.details()


def test_a_host_of_an_address_family_this_kernel_lacks_is_left_to_the_bind(monkeypatch):
    """"localhost" names ::1 too, which a kernel without IPv6 cannot make a socket for: the pre-check tries the
    other addresses, as gRPC's bind does, rather than fail the engine's start with EAFNOSUPPORT."""
    import errno
    import socket

    from engine.server import _check_listenable

    make = socket.socket

    def no_ipv6(family=socket.AF_INET, *args, **kwargs):
        if family == socket.AF_INET6:
            raise OSError(errno.EAFNOSUPPORT, "Address family not supported by protocol")
        return make(family, *args, **kwargs)

    places = [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", 0, 0, 0)),
              (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", 0))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: places)
    monkeypatch.setattr(socket, "socket", no_ipv6)
    _check_listenable("localhost", 50051, "localhost:50051")  # the places above bind any free port
