"""The gRPC client the CLI and the panel use to talk to an engine."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from dreamstyle.v1 import engine_pb2 as pb
from dreamstyle.v1 import engine_pb2_grpc as pb_grpc

from .errors import DreamStyleError, EngineUnavailable

__all__ = ["EngineClient", "EngineCallError", "is_loopback"]

CHUNK = 1 << 20


class EngineCallError(DreamStyleError):
    """The engine refused a call; carries its status code and message."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def is_loopback(address: str) -> bool:
    host = address.rsplit(":", 1)[0].strip("[]")
    return host in ("localhost", "::1") or host.startswith("127.")


class EngineClient:
    """A connection to one engine. Token auth travels as `authorization: Bearer` metadata."""

    def __init__(self, address: str, *, token: str | None = None, tls_ca: Path | None = None) -> None:
        self.address = address
        options = [("grpc.max_receive_message_length", 8 << 20), ("grpc.max_send_message_length", 8 << 20)]
        if tls_ca is not None:
            credentials = grpc.ssl_channel_credentials(root_certificates=tls_ca.read_bytes())
            self._channel = grpc.secure_channel(address, credentials, options=options)
        else:
            self._channel = grpc.insecure_channel(address, options=options)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self._stub = pb_grpc.EngineStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> EngineClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method, request, timeout: float | None = 30):
        try:
            return method(request, metadata=self._metadata, timeout=timeout)
        except grpc.RpcError as exc:
            raise self._error(exc) from None

    def _error(self, exc: grpc.RpcError) -> DreamStyleError:
        if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return EngineUnavailable(
                f"no engine answers at {self.address}: start one with `dreamstyle engine serve --port PORT`, "
                f"or leave out --engine to run a local one ({exc.details()})."
            )
        return EngineCallError(exc.code(), exc.details() or exc.code().name)

    def healthy(self, timeout: float = 2.0) -> bool:
        """True when the engine's health service says SERVING."""
        try:
            reply = self._health.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        except grpc.RpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    def wait_ready(self, timeout: float = 10.0) -> None:
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            raise EngineUnavailable(
                f"no engine answers at {self.address} after {timeout:.0f} s: is `dreamstyle engine serve` running there?"
            ) from None

    def capabilities(self) -> pb.Capabilities:
        return self._call(self._stub.GetCapabilities, pb.GetCapabilitiesRequest())

    def submit(self, request: pb.SubmitShotRequest) -> pb.SubmitShotResponse:
        return self._call(self._stub.SubmitShot, request)

    def watch(self, job_id: str) -> Iterator[pb.JobEvent]:
        try:
            yield from self._stub.WatchJob(pb.WatchJobRequest(job_id=job_id), metadata=self._metadata)
        except grpc.RpcError as exc:
            raise self._error(exc) from None

    def get(self, job_id: str) -> pb.Job:
        return self._call(self._stub.GetJob, pb.GetJobRequest(job_id=job_id))

    def cancel(self, job_id: str) -> pb.Job:
        return self._call(self._stub.CancelJob, pb.CancelJobRequest(job_id=job_id))

    def list_jobs(self) -> list[pb.Job]:
        return list(self._call(self._stub.ListJobs, pb.ListJobsRequest()).jobs)

    def upload(self, path: Path) -> str:
        """Streams a file to the engine in 1 MiB chunks; returns its upload id."""
        digest = hashlib.sha256()
        with open(path, "rb") as source:
            for block in iter(lambda: source.read(CHUNK), b""):
                digest.update(block)
        header = pb.UploadHeader(filename=path.name, size_bytes=path.stat().st_size, sha256=digest.hexdigest())

        def chunks() -> Iterator[pb.UploadChunk]:
            yield pb.UploadChunk(header=header)
            with open(path, "rb") as source:
                for block in iter(lambda: source.read(CHUNK), b""):
                    yield pb.UploadChunk(data=block)

        return self._call(self._stub.UploadMedia, chunks(), timeout=None).upload_id

    def download(self, job_id: str, dest: Path) -> Path:
        """Streams a finished job's clip to `dest`, atomically."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        partial = dest.with_name(f".{dest.name}.partial")
        try:
            with open(partial, "wb") as out:
                for chunk in self._stub.DownloadResult(pb.DownloadResultRequest(job_id=job_id), metadata=self._metadata):
                    out.write(chunk.data)
        except grpc.RpcError as exc:
            partial.unlink(missing_ok=True)
            raise self._error(exc) from None
        os.replace(partial, dest)
        return dest
