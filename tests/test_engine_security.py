"""Security: tokens on every RPC but health, TLS, no open engine off loopback, media roots and path maps,
the upload limit, and fuzzed requests that get a specific status code while the server stays up."""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import logging
import os
import resource
import shutil
from pathlib import Path

import grpc
import pytest
from certs import self_signed
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from enginehelp import engine_thread
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mediagen import write_video

from dreamstyle.pathmap import PathMap
from dreamstyle.v1 import engine_pb2 as pb
from dreamstyle.v1 import engine_pb2_grpc as pb_grpc
from engine.auth import TlsFileError, UnsafeConfig, check_exposure, check_tls_files, read_token_file
from engine.cli import main as engine_main
from engine.storage import OutsideRoots, Storage, UploadError
from host_plugin.client import EngineCallError, EngineClient
from host_plugin.client import read_token_file as client_token
from host_plugin.errors import EngineUnavailable, SettingsError

TOKEN = "s3cret-token"
UPLOAD_LIMIT = 1 << 20


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("media") / "clip.mp4", [30])


@pytest.fixture(scope="module")
def engine(tmp_path_factory, media):
    with engine_thread(tmp_path_factory.mktemp("state"), [media.parent], token=TOKEN, max_upload_bytes=UPLOAD_LIMIT) as address:
        yield address


def code_of(call) -> grpc.StatusCode:
    with pytest.raises(EngineCallError) as refused:
        call()
    return refused.value.code


def shot(path: str, directory: str = "") -> pb.SubmitShotRequest:
    return pb.SubmitShotRequest(
        idempotency_key=path + directory,
        shot=pb.ShotSpec(media=pb.MediaRef(path=path), start_frame=0, end_frame=10),
        backend="passthrough",
        output=pb.OutputSpec(directory=directory),
    )


def test_every_rpc_but_health_needs_the_token(engine):
    with EngineClient(engine) as anonymous, EngineClient(engine, token="wrong") as wrong:
        assert code_of(anonymous.capabilities) == grpc.StatusCode.UNAUTHENTICATED
        assert code_of(wrong.capabilities) == grpc.StatusCode.UNAUTHENTICATED
        assert code_of(wrong.list_jobs) == grpc.StatusCode.UNAUTHENTICATED
        assert anonymous.healthy()
    with EngineClient(engine, token=TOKEN) as client:
        assert client.capabilities().limits.max_upload_bytes == UPLOAD_LIMIT
    channel = grpc.insecure_channel(engine)
    stub = pb_grpc.EngineStub(channel)
    for header in (f"Bearer  {TOKEN}", f"bearer {TOKEN} ", f"BEARER {TOKEN}"):  # RFC 6750: 1*SP, any case
        assert stub.GetCapabilities(pb.GetCapabilitiesRequest(), metadata=(("authorization", header),)).limits
    for header in (f"Bearer {TOKEN}x", f"Basic {TOKEN}", TOKEN):
        with pytest.raises(grpc.RpcError) as wrong_form:
            stub.GetCapabilities(pb.GetCapabilitiesRequest(), metadata=(("authorization", header),))
        assert wrong_form.value.code() == grpc.StatusCode.UNAUTHENTICATED
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    with pytest.raises(grpc.RpcError) as refused:
        list(reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    channel.close()


def test_refused_calls_are_logged_naming_the_peer_and_method_never_the_token(tmp_path, media, caplog, monkeypatch):
    """An operator sees who is refused and for what: one line per client address a minute, counting the rest."""
    import engine.auth

    sent = "wr0ng-t0ken"
    with engine_thread(tmp_path / "state", [media.parent], token=TOKEN) as address:
        with EngineClient(address) as anonymous, EngineClient(address, token=sent) as wrong, \
                caplog.at_level(logging.WARNING, logger="engine.auth"):
            assert code_of(anonymous.capabilities) == grpc.StatusCode.UNAUTHENTICATED
            for _ in range(5):
                assert code_of(wrong.list_jobs) == grpc.StatusCode.UNAUTHENTICATED
            assert anonymous.healthy()
            monkeypatch.setattr(engine.auth, "_LOG_EVERY_S", 0)  # the minute is over
            assert code_of(wrong.farm_status) == grpc.StatusCode.UNAUTHENTICATED
        with EngineClient(address, token=TOKEN) as client:
            assert client.list_jobs() == []
    lines = [r.getMessage() for r in caplog.records if r.name == "engine.auth"]
    assert len(lines) == 2, lines
    assert "refused /dreamstyle.v1.Engine/GetCapabilities from ipv4:127.0.0.1:" in lines[0]
    assert "it sent no token; give that client this engine's token (--token-file)" in lines[0]
    assert "refused /dreamstyle.v1.Engine/GetFarmStatus from ipv4:127.0.0.1:" in lines[1]
    assert "it sent a wrong token" in lines[1] and "(5 more from 127.0.0.1 not logged since the last line)" in lines[1]
    assert sent not in caplog.text and TOKEN not in caplog.text


def test_the_refusal_log_forgets_clients_quiet_for_a_minute_once_it_holds_many(monkeypatch):
    """A scan from many addresses must not grow the engine's memory for ever."""
    import engine.auth

    clock = [0.0]
    monkeypatch.setattr(engine.auth.time, "monotonic", lambda: clock[0])
    auth = engine.auth.TokenAuth(TOKEN)
    for n in range(1001):
        auth._log_refusal(f"ipv4:10.0.{n // 256}.{n % 256}:5000", "/m", "no token")
    clock[0] = 61.0
    auth._log_refusal("ipv4:10.9.9.9:5000", "/m", "no token")
    assert len(auth._logged) == 1


def test_paths_outside_the_media_roots_are_refused(engine, media, tmp_path):
    outside = write_video(tmp_path / "outside.mp4", [5])
    link = media.parent / "escape.mp4"
    link.symlink_to(outside)
    with EngineClient(engine, token=TOKEN) as client:
        for request in (shot(str(outside)), shot(f"{media.parent}/../{outside.name}"), shot(str(link)),
                        shot(str(media), directory=str(tmp_path))):
            assert code_of(lambda request=request: client.submit(request)) == grpc.StatusCode.PERMISSION_DENIED
        assert client.submit(shot(str(media))).created


def test_oversized_upload_is_refused(engine, tmp_path):
    big = tmp_path / "big.mov"
    big.write_bytes(b"\0" * (UPLOAD_LIMIT + 1))
    with EngineClient(engine, token=TOKEN) as client:
        assert code_of(lambda: client.upload(big)) == grpc.StatusCode.RESOURCE_EXHAUSTED
        small = tmp_path / "small.png"
        small.write_bytes(b"x" * 1000)
        assert len(client.upload(small)) == 32
    stub = pb_grpc.EngineStub(grpc.insecure_channel(engine))
    metadata = (("authorization", f"Bearer {TOKEN}"),)
    with pytest.raises(grpc.RpcError) as unsized:  # proto3 leaves an unset size 0: an empty upload is no media
        stub.UploadMedia(iter([pb.UploadChunk(header=pb.UploadHeader(filename="a.mov"))]), metadata=metadata)
    assert unsized.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "header.size_bytes" in unsized.value.details()


def test_only_an_engine_on_loopback_or_with_path_maps_says_it_shares_storage(tmp_path, media):
    """A client on another machine is told to upload, unless the engine maps workstation paths."""
    for options, shared in (({}, True), ({"host": "0.0.0.0", "insecure": True}, False),
                            ({"host": "0.0.0.0", "insecure": True, "path_maps": [PathMap.of("/Volumes/Media", "/mnt")]}, True)):
        with engine_thread(tmp_path / "state", [media.parent], **options) as address, EngineClient(address) as client:
            assert client.capabilities().shared_storage is shared, options


def test_uploads_cut_off_by_a_killed_engine_are_removed_at_start(tmp_path):
    partial = tmp_path / "state" / "uploads" / ("a" * 32) / ".clip.mov.partial"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(b"half")
    done = tmp_path / "state" / "uploads" / ("b" * 32) / "clip.mov"
    done.parent.mkdir()
    done.write_bytes(b"whole")
    empty = tmp_path / "state" / "uploads" / ("c" * 32)  # killed before its file was opened
    empty.mkdir()
    Storage([], tmp_path / "state")
    assert not partial.parent.exists() and not empty.exists() and done.exists()


def test_an_upload_is_in_place_only_with_its_digest_so_it_is_found_again(tmp_path, monkeypatch):
    """A kill between the two steps leaves a partial file (removed at the next start), never an upload that
    FindUpload cannot match and nothing removes."""
    storage = Storage([], tmp_path / "state")
    data = b"frames" * 100
    digest = hashlib.sha256(data).hexdigest()
    seen: list[bool] = []

    def replace(src, dst):
        seen.append((Path(src).parent / ".sha256").read_text() == digest)
        os.rename(src, dst)

    async def chunks():
        yield data

    monkeypatch.setattr("engine.storage.os.replace", replace)
    path = asyncio.run(storage.receive("clip.mov", len(data), digest, chunks(), 10_000))
    assert seen == [True] and storage.find_upload(digest, len(data)) == path.parent.name


def test_path_maps_translate_workstation_paths_both_ways(tmp_path):
    storage = Storage([tmp_path / "farm"], tmp_path / "state", [PathMap.of("/Volumes/Show", str(tmp_path / "farm"))])
    (tmp_path / "farm").mkdir()
    assert storage.resolve("/Volumes/Show/a/clip.mov", "media") == (tmp_path / "farm" / "a" / "clip.mov").resolve()
    assert storage.client_path(tmp_path / "farm" / "out.mp4") == "/Volumes/Show/out.mp4"


def test_no_open_engine_off_loopback(tmp_path, capsys):
    with pytest.raises(UnsafeConfig, match="--insecure"):
        check_exposure("0.0.0.0", None, False, False)
    with pytest.raises(UnsafeConfig, match="TLS"):
        check_exposure("10.1.2.3", "token", False, False)
    check_exposure("10.1.2.3", "token", True, False)
    check_exposure("127.0.0.1", None, False, False)
    assert engine_main(["serve", "--host", "0.0.0.0", "--port", "0", "--state-dir", str(tmp_path)]) == 2
    assert "refusing to serve on 0.0.0.0" in capsys.readouterr().err
    with pytest.raises(SettingsError, match="unencrypted"):
        EngineClient("10.1.2.3:50051", token="t")


def test_tls_with_a_token(tmp_path, media):
    cert, key = self_signed(tmp_path)
    with engine_thread(tmp_path / "state", [media.parent], token=TOKEN, tls_cert=cert, tls_key=key) as address:
        with EngineClient(address, token=TOKEN, tls_ca=cert) as client:
            assert client.capabilities().default_backend
        with EngineClient(address, tls_ca=cert) as anonymous:
            assert code_of(anonymous.list_jobs) == grpc.StatusCode.UNAUTHENTICATED
        with EngineClient(address, token=TOKEN, reconnect_s=0) as plaintext:
            assert not plaintext.healthy(timeout=1)


_TEXT = st.text(max_size=300)
_PATHS = st.one_of(_TEXT, st.sampled_from(["", "/etc/passwd", "~root/x", "~nobody-here/x", "a\0b", "../../x", "/" * 5000]))
_U64 = st.integers(0, 2**64 - 1)
_MEDIA = st.one_of(
    st.builds(pb.MediaRef, path=_PATHS),
    st.builds(pb.MediaRef, upload_id=st.one_of(_TEXT, st.text("0123456789abcdef", min_size=32, max_size=32))),
    st.just(pb.MediaRef()),
)
_REQUESTS = st.builds(
    pb.SubmitShotRequest,
    idempotency_key=st.text(max_size=300),
    shot=st.builds(pb.ShotSpec, media=_MEDIA, start_frame=_U64, end_frame=_U64, label=st.text(max_size=600),
                   rate=st.builds(pb.Rational, num=st.integers(-(2**63), 2**63 - 1), den=st.integers(-(2**63), 2**63 - 1))),
    guidance=st.builds(pb.Guidance, prompt=st.text(max_size=2100), style_image=_MEDIA, first_frame=_MEDIA),
    backend=st.one_of(st.sampled_from(["", "classic", "passthrough", "vace", "dreamstyle"]), _TEXT),
    seed=_U64,
    output=st.builds(pb.OutputSpec, codec=st.integers(-3, 9), directory=_PATHS, name=st.text(max_size=300),
                     timecode=st.one_of(_TEXT, st.just("01:00:00:00"))),
    priority=st.integers(-(2**31), 2**31 - 1),
    params=st.dictionaries(st.text(max_size=80), st.text(max_size=300), max_size=40),
)
_REFUSALS = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(request=_REQUESTS, job_id=st.text(max_size=100), states=st.lists(st.integers(-5, 9), max_size=5),
       header=st.builds(pb.UploadHeader, filename=_TEXT, size_bytes=_U64, sha256=_TEXT))
def test_fuzzed_requests_get_specific_codes_and_the_server_stays_up(engine, request, job_id, states, header):
    channel = grpc.insecure_channel(engine)
    stub = pb_grpc.EngineStub(channel)
    metadata = (("authorization", f"Bearer {TOKEN}"),)
    calls = [
        lambda: stub.SubmitShot(request, metadata=metadata, timeout=10),
        lambda: stub.GetJob(pb.GetJobRequest(job_id=job_id), metadata=metadata, timeout=10),
        lambda: list(stub.WatchJob(pb.WatchJobRequest(job_id=job_id), metadata=metadata, timeout=10)),
        lambda: stub.ListJobs(pb.ListJobsRequest(states=states), metadata=metadata, timeout=10),
        lambda: stub.UploadMedia(iter([pb.UploadChunk(header=header), pb.UploadChunk(data=b"x" * 10)]), metadata=metadata, timeout=10),
        lambda: stub.UploadMedia(iter([pb.UploadChunk(data=b"x")]), metadata=metadata, timeout=10),
    ]
    try:
        for call in calls:
            try:
                call()
            except grpc.RpcError as exc:
                assert exc.code() in _REFUSALS, (exc.code(), exc.details())
                if exc.code() == grpc.StatusCode.INVALID_ARGUMENT:
                    assert ":" in exc.details() or "upload" in exc.details(), exc.details()
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert health.status == health_pb2.HealthCheckResponse.SERVING
    finally:
        channel.close()


def test_doctor_checks_a_secured_engine_and_says_what_is_missing(tmp_path, media):
    from host_plugin.commands.doctor import diagnose

    cert, key = self_signed(tmp_path)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    with engine_thread(tmp_path / "state", [media.parent], token=TOKEN, tls_cert=cert, tls_key=key) as address:
        secured = {c.area: c for c in diagnose(engine=address, token_file=token_file, tls_ca=cert)}
        plain = {c.area: c for c in diagnose(engine=address, token_file=token_file)}
        wrong_ca = {c.area: c for c in diagnose(engine=address, token_file=token_file,
                                                 tls_ca=self_signed(tmp_path, "other")[0])}
    assert secured["engine"].status == "ok" and secured["backend classic"].status == "ok"
    assert plain["engine"].status == "missing" and "--tls-ca" in plain["engine"].detail
    assert wrong_ca["engine"].status == "missing" and "TLS verification failed" in wrong_ca["engine"].detail
    remote = {c.area: c for c in diagnose(engine="10.1.2.3:50051", token_file=token_file)}
    assert remote["engine"].status == "missing" and "unencrypted" in remote["engine"].detail  # no exception


def serve_args(state: Path, *extra: str, host: str = "127.0.0.1") -> list[str]:
    return ["serve", "--host", host, "--port", "0", "--state-dir", str(state), *extra]


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_an_empty_token_file_is_refused_naming_it(tmp_path, capsys, host):
    empty = tmp_path / "token"
    empty.write_text(" \r\n")
    assert engine_main(serve_args(tmp_path / "state", "--token-file", str(empty), host=host)) == 2
    err = capsys.readouterr().err
    assert f"token file {empty} (--token-file) is empty" in err and "without a token (--token-file)" not in err
    with pytest.raises(SettingsError, match=f"{empty}.*empty"):
        client_token(empty)


def test_token_files_from_notepad_work_and_unusable_tokens_are_refused(tmp_path, media, capsys):
    bom, crlf, bad = tmp_path / "bom", tmp_path / "crlf", tmp_path / "bad"
    bom.write_bytes("\ufeff".encode() + TOKEN.encode() + b"\r\n")
    crlf.write_bytes(TOKEN.encode() + b"\r\n")
    bad.write_text("s3cr\u00e9t\x07\n", encoding="utf-8")
    assert read_token_file(bom) == read_token_file(crlf) == client_token(bom) == TOKEN
    assert engine_main(serve_args(tmp_path / "state", "--token-file", str(bad))) == 2
    err = capsys.readouterr().err
    assert f"the token file {bad} (--token-file) holds non-ASCII or control characters" in err and "s3cr" not in err
    with pytest.raises(SettingsError, match=f"{bad}.*non-ASCII"):
        client_token(bad)
    with engine_thread(tmp_path / "state", [media.parent], token=read_token_file(bom)) as address:
        with EngineClient(address, token=bom.read_text().strip()) as client:  # a BOM read as the CLI reads it
            assert client.list_jobs() == []
        with EngineClient(address, token=client_token(crlf)) as client:
            assert client.list_jobs() == []
    with pytest.raises(SettingsError, match="non-ASCII"):
        EngineClient("127.0.0.1:1", token="s3cr\u00e9t")


def test_tls_files_are_checked_before_listening(tmp_path, capsys):
    cert, key = self_signed(tmp_path)
    _, other_key = self_signed(tmp_path, "other")
    old_cert, old_key = self_signed(tmp_path, "old", days=-1)
    state = tmp_path / "state"
    assert engine_main(serve_args(state, "--tls-cert", str(cert), "--tls-key", str(other_key))) == 2
    err = capsys.readouterr().err
    assert f"--tls-key {other_key} is not the private key of --tls-cert {cert}" in err and "port is taken" not in err
    assert engine_main(serve_args(state, "--tls-cert", str(old_cert), "--tls-key", str(old_key))) == 2
    assert f"--tls-cert {old_cert} expired on" in capsys.readouterr().err
    assert engine_main(serve_args(state, "--tls-cert", str(key), "--tls-key", str(key))) == 2
    assert f"--tls-cert {key} is not a PEM certificate" in capsys.readouterr().err


def test_a_certificate_the_client_cannot_verify_is_reported_as_tls(tmp_path, media):
    cert, key = self_signed(tmp_path)
    stranger, _ = self_signed(tmp_path, "stranger")
    with engine_thread(tmp_path / "state", [media.parent], token=TOKEN, tls_cert=cert, tls_key=key) as address:
        with EngineClient(address, token=TOKEN, tls_ca=stranger) as client, \
                pytest.raises(EngineUnavailable, match="TLS verification failed") as refused:
            client.wait_ready()
    assert address in str(refused.value) and "--tls-ca" in str(refused.value)
    assert "no engine answers" not in str(refused.value)


@pytest.fixture
def open_engine(tmp_path, media):
    """An engine without a token and its state folder."""
    with engine_thread(tmp_path / "state", [media.parent]) as address:
        yield address, tmp_path / "state"


def refusal(address: str, path: Path) -> EngineCallError:
    with EngineClient(address) as client, pytest.raises(EngineCallError) as refused:
        client.upload(path)
    return refused.value


def test_an_upload_that_cannot_fit_is_refused_at_once(open_engine, tmp_path, monkeypatch):
    address, state = open_engine
    clip = tmp_path / "clip.mov"
    clip.write_bytes(b"x" * 10_000)
    monkeypatch.setattr("engine.storage._free_bytes", lambda folder: 1_000)
    error = refusal(address, clip)
    assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "clip.mov" in str(error) and str(state / "uploads") in str(error)
    assert not any((state / "uploads").iterdir())


def test_a_write_error_during_an_upload_names_the_storage_folder(open_engine, tmp_path):
    address, state = open_engine
    clip = tmp_path / "clip.mov"
    clip.write_bytes(b"x" * (256 << 10))
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 10, hard))  # EFBIG, as a quota or a full disk would give
    try:
        error = refusal(address, clip)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert error.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "clip.mov" in str(error) and str(state / "uploads") in str(error) and "OSError" not in str(error)
    assert not any((state / "uploads").iterdir())
    shutil.rmtree(state / "uploads")
    (state / "uploads").write_bytes(b"")  # any other write error: the folder is not one (root ignores chmod)
    error = refusal(address, clip)
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION and str(state / "uploads") in str(error)


def test_paths_are_checked_again_when_a_job_starts(tmp_path):
    """Between submit and render the engine may restart with fewer roots, or a folder be swapped for a
    symlink leading out of the roots: the job fails instead of reading or writing there."""
    (tmp_path / "old" / "out").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    clip = tmp_path / "old" / "clip.mp4"
    clip.write_bytes(b"")
    storage = Storage([tmp_path / "old"], tmp_path / "state")
    media, out = storage.resolve(str(clip), "media"), storage.resolve(str(tmp_path / "old" / "out"), "output")
    storage.recheck(media, out, None)
    with pytest.raises(OutsideRoots, match="outside the engine's media roots"):
        Storage([tmp_path / "new"], tmp_path / "state").recheck(media)
    out.rmdir()
    out.symlink_to(tmp_path / "outside")
    with pytest.raises(OutsideRoots, match="outside the engine's media roots"):
        storage.recheck(media, out)


def test_using_an_upload_counts_its_retention_from_then(tmp_path):
    storage = Storage([], tmp_path / "state")
    folder = storage.uploads / ("a" * 32)
    folder.mkdir()
    (folder / "clip.mov").write_bytes(b"x")
    os.utime(folder, (0, 0))
    assert storage.upload_path("a" * 32) == folder / "clip.mov" and folder.stat().st_mtime > 0


def test_a_job_store_that_cannot_be_written_fails_the_submit_in_words_and_the_engine_goes_on(open_engine, media):
    """A full disk under the state folder: the submit is refused naming the folder, nothing is left half made
    (asked again once there is room, the same key renders), and the engine keeps serving."""
    address, state = open_engine
    request = shot(str(media))
    with EngineClient(address) as client:
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1, hard))  # every write that grows a file fails, as on a full disk
        try:
            with pytest.raises(EngineCallError) as refused:
                client.submit(request)
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        assert refused.value.code == grpc.StatusCode.INTERNAL
        assert f"job store in {state.resolve()} failed" in str(refused.value) and "free space" in str(refused.value)
        reply = client.submit(request)
        assert reply.created
        assert [e.job.state for e in client.watch(reply.job.job_id)][-1] == pb.JOB_STATE_DONE


def test_a_folder_beside_a_root_whose_name_starts_like_it_is_outside(tmp_path):
    for name in ("show/clip.mov", "show-private/clip.mov"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    storage = Storage([tmp_path / "show"], tmp_path / "state")
    assert storage.resolve(str(tmp_path / "show" / "clip.mov"), "media") == tmp_path / "show" / "clip.mov"
    with pytest.raises(OutsideRoots, match="outside the engine's media roots"):
        storage.resolve(str(tmp_path / "show-private" / "clip.mov"), "media")


def test_a_symlink_swapped_in_inside_the_roots_fails_the_recheck(tmp_path):
    (tmp_path / "root" / "out").mkdir(parents=True)
    (tmp_path / "root" / "elsewhere").mkdir()
    storage = Storage([tmp_path / "root"], tmp_path / "state")
    out = storage.resolve(str(tmp_path / "root" / "out"), "output")
    out.rmdir()
    out.symlink_to(tmp_path / "root" / "elsewhere")
    with pytest.raises(OutsideRoots, match="a symlink changed since the job was submitted"):
        storage.recheck(out)


def test_an_upload_id_cannot_climb_out_of_the_upload_store(tmp_path):
    storage = Storage([], tmp_path / "state")
    folder = storage.uploads / ("a" * 32)
    folder.mkdir()
    (folder / "clip.mov").write_bytes(b"x")
    (tmp_path / "secret.txt").write_text("not an upload")
    for upload_id in ("a" * 32 + "/../../..", "a" * 32 + "/", "A" * 32):
        with pytest.raises(UploadError, match="malformed"):
            storage.upload_path(upload_id)


@pytest.fixture(scope="module")
def uploads_client(tmp_path_factory):
    media = write_video(tmp_path_factory.mktemp("media") / "clip.mp4", [5])
    with engine_thread(tmp_path_factory.mktemp("state"), [media.parent]) as address, EngineClient(address) as c:
        yield c


def upload(client, data, size, sha256=""):
    header = pb.UploadHeader(filename="clip.mp4", size_bytes=size, sha256=sha256)
    return client._stub.UploadMedia(iter([pb.UploadChunk(header=header), pb.UploadChunk(data=data)]))


def test_an_upload_shorter_than_announced_is_refused(uploads_client):
    with pytest.raises(grpc.RpcError) as info:
        upload(uploads_client, b"x" * 100, 1000)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "received 100 of the 1000 bytes announced" in info.value.details()


def test_an_upper_case_sha256_in_the_header_is_accepted(uploads_client):
    data = b"y" * 100
    assert upload(uploads_client, data, len(data), hashlib.sha256(data).hexdigest().upper()).upload_id


def certificate(folder, not_before, not_after):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(not_before).not_valid_after(not_after)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "c.pem", folder / "c.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_a_certificate_not_yet_valid_is_refused(tmp_path):
    now = datetime.datetime.now(datetime.timezone.utc)
    cert, key = certificate(tmp_path, now + datetime.timedelta(days=1), now + datetime.timedelta(days=30))
    with pytest.raises(TlsFileError, match="is not valid before"):
        check_tls_files(cert, key)


def test_a_certificate_that_expired_an_hour_ago_is_refused(tmp_path):
    cert, key = self_signed(tmp_path, days=-1 / 24)
    with pytest.raises(TlsFileError, match="expired on"):
        check_tls_files(cert, key)


def test_a_relative_path_is_refused_even_where_the_engine_would_find_it(engine, media, monkeypatch):
    monkeypatch.chdir(media.parent.parent)  # the engine's working folder: relative names would land inside the root
    relative = f"{media.parent.name}/{media.name}"
    with EngineClient(engine, token=TOKEN) as client:
        for request, refused in ((shot(relative), f"shot.media: {relative}"),
                                 (shot(str(media), directory=media.parent.name), f"output.directory: {media.parent.name}"),
                                 (shot("~/clip.mp4"), "shot.media: ~/clip.mp4"),  # the engine's home, not the client's
                                 (shot("~nosuchuser/clip.mp4"), "shot.media: ~nosuchuser/clip.mp4")):  # was UNKNOWN
            with pytest.raises(EngineCallError) as info:
                client.submit(request)
            assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT and f"{refused} is a relative path" in str(info.value)


def test_a_request_that_does_not_parse_is_invalid_argument_not_unknown(engine, media):
    """A path in Latin-1 (not UTF-8), a corrupt upload chunk or watch request: gRPC's own answer was UNKNOWN
    naming its parser."""
    valid = shot(str(media.with_name("cafX.mp4"))).SerializeToString()
    latin1 = valid.replace(b"cafX", b"caf\xe9")  # same length: the message stays whole, the string is not UTF-8
    header = pb.UploadChunk(header=pb.UploadHeader(filename="a.mp4", size_bytes=3)).SerializeToString()
    metadata = (("authorization", f"Bearer {TOKEN}"),)
    with grpc.insecure_channel(engine) as channel:
        raw = {"request_serializer": bytes, "response_deserializer": bytes}
        calls = [lambda: channel.unary_unary("/dreamstyle.v1.Engine/SubmitShot", **raw)(latin1, metadata=metadata, timeout=10),
                 lambda: channel.stream_unary("/dreamstyle.v1.Engine/UploadMedia", **raw)(
                     iter([header, b"\xff\xff"]), metadata=metadata, timeout=10),
                 lambda: list(channel.unary_stream("/dreamstyle.v1.Engine/WatchJob", **raw)(
                     b"\xff\xff", metadata=metadata, timeout=10))]
        for call in calls:
            with pytest.raises(grpc.RpcError) as refused:
                call()
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "request: not a /dreamstyle.v1.Engine/" in refused.value.details()
        assert pb_grpc.EngineStub(channel).GetCapabilities(pb.GetCapabilitiesRequest(), metadata=metadata).backends
