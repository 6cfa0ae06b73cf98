"""What the client says when a connection cannot be made as asked, and how it rides out an engine restart:
TLS set up on one side only or for another name, a look-alike loopback name, a download across a restart."""

from __future__ import annotations

import os
import threading
import time

import pytest
from certs import self_signed
from enginehelp import engine_thread
from mediagen import write_video

from dreamstyle.frames import probe
from dreamstyle.v1 import engine_pb2 as pb
from host_plugin.client import EngineClient, is_loopback, read_token_file
from host_plugin.errors import EngineUnavailable, SettingsError

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    return write_video(tmp_path_factory.mktemp("media") / "clip.mp4", [24])


@pytest.mark.parametrize(("address", "loopback"), [
    ("127.0.0.1:5", True), ("127.8.9.10:5", True), ("[::1]:5", True), ("localhost:5", True), ("LOCALHOST:5", True),
    ("127.attacker.example:5", False), ("127.0.0.1.nip.io:5", False), ("10.0.0.1:5", False), ("[::2]:5", False),
])
def test_only_loopback_addresses_count_as_loopback(address, loopback):
    assert is_loopback(address) is loopback
    if not loopback:
        with pytest.raises(SettingsError, match="refusing to send the engine token"):
            EngineClient(address, token=TOKEN)


def refusal(address: str, **client) -> str:
    with EngineClient(address, reconnect_s=0, **client) as engine, pytest.raises(EngineUnavailable) as refused:
        engine.wait_ready()
    return str(refused.value)


def test_a_certificate_for_another_name_is_said_to_be_one(tmp_path, media):
    cert, key = self_signed(tmp_path, names=("gpu-box.example",))
    with engine_thread(tmp_path / "state", [media.parent], token=TOKEN, tls_cert=cert, tls_key=key) as address:
        said = refusal(address, token=TOKEN, tls_ca=cert)
    assert said.startswith(f"the engine at {address} has a certificate that does not name 127.0.0.1: connect by a")


def test_a_tls_engine_asked_without_tls_ca_suggests_it(tmp_path, media):
    cert, key = self_signed(tmp_path)
    with engine_thread(tmp_path / "state", [media.parent], token=TOKEN, tls_cert=cert, tls_key=key) as address:
        said = refusal(address)
    assert said.startswith(f"the engine at {address} closed the connection: if it serves TLS (--tls-cert), give --tls-ca")


def test_tls_asked_of_a_plaintext_engine_is_said_to_be_that(tmp_path, media):
    cert, _ = self_signed(tmp_path)
    with engine_thread(tmp_path / "state", [media.parent]) as address:
        said = refusal(address, tls_ca=cert)
    assert said.startswith(f"the engine at {address} does not use TLS (started without --tls-cert) but --tls-ca")


def test_a_download_started_while_the_engine_restarts_completes(tmp_path, media):
    state = tmp_path / "state"
    request = pb.SubmitShotRequest(idempotency_key="k", backend="passthrough", guidance=pb.Guidance(prompt="x"),
                                   shot=pb.ShotSpec(media=pb.MediaRef(path=str(media)), start_frame=0, end_frame=12))
    with engine_thread(state, [media.parent]) as address:
        with EngineClient(address) as client:
            job_id = client.submit(request).job.job_id
            assert list(client.watch(job_id))[-1].job.state == pb.JOB_STATE_DONE
    port = int(address.rsplit(":", 1)[1])
    back, done = threading.Event(), threading.Event()

    def restart() -> None:
        time.sleep(1.5)
        with engine_thread(state, [media.parent], port=port):
            back.set()
            done.wait(60)

    restarting = threading.Thread(target=restart)
    restarting.start()
    try:
        with EngineClient(address, reconnect_s=60) as client:
            clip = client.download(job_id, tmp_path / "out" / "clip.mp4")
    finally:
        done.set()
        restarting.join(60)
    assert back.is_set() and probe(clip).frames == 12
    assert [p.name for p in clip.parent.iterdir()] == ["clip.mp4"]


def test_a_shot_cancelled_while_its_submit_waits_for_a_restarting_engine_ends_at_once(tmp_path, media):
    """The engine went away after answering: the submit waits for it to come back (up to reconnect_s); the
    editor's cancel ends the shot now, never sent."""
    from host_plugin.pipeline import Renderer, StyleSettings
    from host_plugin.plan import plan_media

    with engine_thread(tmp_path / "state", [media.parent]) as address:
        client = EngineClient(address, reconnect_s=60)
        client.capabilities()  # it answered: a lost engine is now waited for
    shot = plan_media(media, None).shots[0]
    renderer = Renderer(client, media.parent / "out")
    results: list = []
    waiting = threading.Thread(target=lambda: results.extend(
        renderer.render([shot], StyleSettings(backend="passthrough", prompt="x"))))
    try:
        waiting.start()
        time.sleep(1.5)  # its submit is waiting for the engine
        started = time.monotonic()
        renderer.cancel(shot)
        waiting.join(10)
        assert not waiting.is_alive() and time.monotonic() - started < 3
    finally:
        client.close()
    assert [r.status for r in results] == ["cancelled"]


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_a_token_file_others_can_read_is_used_with_a_warning(tmp_path, caplog):
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    path.chmod(0o600)
    assert read_token_file(path) == TOKEN and not caplog.records
    path.chmod(0o644)
    assert read_token_file(path) == TOKEN
    assert [r.getMessage() for r in caplog.records] == [
        f"the token file {path} can be read by other users of this machine (mode 644), who could use the engine "
        f"with it: chmod 600 {path}"]
