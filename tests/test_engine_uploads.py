"""Uploads under way at once: each counts the room the others will still take."""

from __future__ import annotations

import threading
import time

import grpc
import pytest
from enginehelp import engine_thread

from dreamstyle.v1 import engine_pb2 as pb
from dreamstyle.v1 import engine_pb2_grpc as pb_grpc

SIZE = 1000


def chunks(size: int, sent: threading.Event | None = None, go_on: threading.Event | None = None):
    """An upload of `size` bytes; with the events, it stops after its first chunk until `go_on` is set."""
    yield pb.UploadChunk(header=pb.UploadHeader(filename="clip.mov", size_bytes=size))
    yield pb.UploadChunk(data=b"x" * 100)
    if sent and go_on:
        sent.set()
        go_on.wait(30)
    yield pb.UploadChunk(data=b"x" * (size - 100))


def test_uploads_under_way_together_cannot_overfill_the_storage_folder(tmp_path, monkeypatch):
    """Room for one upload and a half: the second one is refused at once while the first still needs its room
    (each was checked alone against the free space, so together they filled the disk the job store is on)."""
    monkeypatch.setattr("engine.storage._free_bytes", lambda folder: SIZE * 3 // 2)
    sent, go_on = threading.Event(), threading.Event()
    with engine_thread(tmp_path / "state", []) as address, grpc.insecure_channel(address) as channel:
        stub = pb_grpc.EngineStub(channel)
        first = stub.UploadMedia.future(chunks(SIZE, sent, go_on))
        assert sent.wait(30)
        while not any((tmp_path / "state" / "uploads").glob("*/.clip.mov.partial")):  # the engine took it on
            time.sleep(0.01)
        try:
            with pytest.raises(grpc.RpcError) as refused:
                stub.UploadMedia(chunks(SIZE), timeout=30)
        finally:
            go_on.set()
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, refused.value.details()
        assert first.result(timeout=30).size_bytes == SIZE
        assert stub.UploadMedia(chunks(SIZE), timeout=30).size_bytes == SIZE  # its room is free again
