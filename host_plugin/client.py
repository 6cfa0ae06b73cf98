"""The gRPC client the CLI and the panel use to talk to an engine.

Watching, submitting, uploading and downloading survive an engine restart (jobs are durable there, submits
idempotent by key, uploads found by digest): once the engine has answered, a lost engine is waited for up to
`reconnect_s` seconds. A full queue answers RESOURCE_EXHAUSTED with a `retry-after-s` hint, which `submit`
honours while the queue stays full, up to QUEUE_WAIT_S. The token is only sent over TLS or to a loopback engine.
"""

from __future__ import annotations

import hashlib
import shutil
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from dreamstyle import network
from dreamstyle.atomic import remove_abandoned, written_as
from dreamstyle.token import checked_token
from dreamstyle.token import read_token_file as token_file
from dreamstyle.v1 import engine_pb2 as pb
from dreamstyle.v1 import engine_pb2_grpc as pb_grpc
from dreamstyle.wire import CHUNK_BYTES, MESSAGE_SIZE_OPTIONS

from .errors import DreamStyleError, EngineUnavailable, SettingsError

__all__ = ["EngineCallError", "EngineClient", "RunSettingRefused", "is_loopback", "read_token_file"]

QUEUE_WAIT_S = 600
"""How long a submit waits in line, as the engine's retry hints ask, while its queue stays full."""
_TLS_FAILURES = ("certificate_verify_failed", "handshake", "ssl_error", "certificate verify failed", "ssl routines")
_RUN_FIELDS = ("params", "guidance", "backend", "output.directory")
"""What a submit's refusal names first when a setting every shot of a run shares is wrong."""
_RUN_REFUSALS = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED)
"""A bad value, or a file outside the engine's media roots (a style image, the output folder)."""
_LOCAL_ENGINE_HINT = ("start it (`dreamstyle engine serve --port PORT`) or use a local engine (the panel's Local "
                      "choice; without --engine on the command line)")


class EngineCallError(DreamStyleError):
    """The engine refused a call; carries its status code and message."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class RunSettingRefused(EngineCallError):
    """The engine refused a shot for a setting every shot of the run shares (its params, guidance or backend)."""


def is_loopback(address: str) -> bool:
    """True when HOST:PORT names a loopback host (`dreamstyle.network.is_loopback`)."""
    return network.is_loopback(address.rsplit(":", 1)[0])


def read_token_file(path: Path) -> str:
    """The engine token in `path` (see `dreamstyle.token`); SettingsError says what is wrong with the file."""
    try:
        return token_file(path)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def _read_tls_ca(path: Path) -> bytes:
    """The certificates in the --tls-ca file `path`; SettingsError, naming the option, when it cannot be read or
    holds no PEM certificate (checked with the standard library's OpenSSL, before any connection)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"cannot read --tls-ca {path}: {exc.strerror or exc}") from None
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)  # text around the PEM is allowed
    except (ssl.SSLError, ValueError):
        raise SettingsError(f"--tls-ca {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----): give the "
                            "engine's certificate, or the CA certificate that signed it") from None
    return data


class EngineClient:
    """A connection to one engine. Token auth travels as `authorization: Bearer` metadata. `unreachable_hint`
    says what to do when no engine answers, in the words of the command that connects."""

    def __init__(
        self,
        address: str,
        *,
        token: str | None = None,
        tls_ca: Path | None = None,
        reconnect_s: float = 300,
        unreachable_hint: str = _LOCAL_ENGINE_HINT,
    ) -> None:
        if token and tls_ca is None and not is_loopback(address):
            raise SettingsError(
                f"refusing to send the engine token to {address} unencrypted: give --tls-ca with the engine's certificate"
            )
        if token is not None:
            try:
                token = checked_token(token, "the engine token (--token-file)")
            except ValueError as exc:
                raise SettingsError(str(exc)) from None
        self.address = address
        self.reconnect_s = reconnect_s
        self.unreachable_hint = unreachable_hint
        options = [
            *MESSAGE_SIZE_OPTIONS,
            ("grpc.initial_reconnect_backoff_ms", 300),
            ("grpc.max_reconnect_backoff_ms", 3000),
        ]
        self._tls = tls_ca is not None
        self._answered = False  # set once the engine has answered in plaintext or TLS, as asked
        if tls_ca is not None:
            credentials = grpc.ssl_channel_credentials(root_certificates=_read_tls_ca(tls_ca))
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
            reply = method(request, metadata=self._metadata, timeout=timeout)
        except grpc.RpcError as exc:
            raise self._error(exc) from None
        self._answered = True
        return reply

    def _error(self, exc: grpc.RpcError) -> DreamStyleError:
        details = exc.details() or ""
        if exc.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            return EngineCallError(exc.code(), details or exc.code().name)
        said, host = details.lower(), self.address.rsplit(":", 1)[0]
        if "wrong_version_number" in said:  # a TLS hello answered in plain HTTP/2
            message = (f"the engine at {self.address} does not use TLS (started without --tls-cert) but --tls-ca asks "
                       "for it: leave --tls-ca out for it, or start it with --tls-cert and --tls-key")
        elif "hostname verification" in said:
            message = (f"the engine at {self.address} has a certificate that does not name {host}: connect by a name "
                       f"or address the certificate holds (its subject alternative names), or have it reissued for {host}")
        elif any(word in said for word in _TLS_FAILURES):
            message = (f"TLS verification failed for the engine at {self.address}: its certificate is not signed by "
                       "--tls-ca, or has expired; give --tls-ca the engine's certificate (or its CA) and check the "
                       "certificate's dates")
        elif self._answered and "socket closed" in said:
            message = (f"the engine at {self.address} stopped answering (it stopped or restarted during a call): "
                       f"{self.unreachable_hint}; then run the same command again (finished shots are kept)")
        elif not self._tls and "socket closed" in said:  # how a TLS engine drops a plaintext hello
            message = (f"the engine at {self.address} closed the connection: if it serves TLS (--tls-cert), give "
                       f"--tls-ca with its certificate (or its CA); otherwise {self.unreachable_hint}")
        else:
            message = f"no engine answers at {self.address}: {self.unreachable_hint}"
        return EngineUnavailable(f"{message} ({details}).")

    def healthy(self, timeout: float = 2.0) -> bool:
        """True when the engine's health service says SERVING."""
        try:
            reply = self._health.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        except grpc.RpcError:
            return False
        return reply.status == health_pb2.HealthCheckResponse.SERVING

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Asks the health service once; an address where nothing listens fails at once, not after `timeout`."""
        try:
            reply = self._health.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        except grpc.RpcError as exc:
            raise self._error(exc) from None
        self._answered = True
        if reply.status != health_pb2.HealthCheckResponse.SERVING:
            raise EngineUnavailable(f"the engine at {self.address} is not serving (it may be shutting down); try again.")

    def capabilities(self) -> pb.Capabilities:
        return self._call(self._stub.GetCapabilities, pb.GetCapabilitiesRequest())

    def submit(self, request: pb.SubmitShotRequest,
               stop_waiting: Callable[[], bool] = lambda: False) -> pb.SubmitShotResponse | None:
        """Submits a shot; waits as the engine asks while its queue is full (up to QUEUE_WAIT_S), and while it
        restarts; None once `stop_waiting()` says so while it waits (the shot was cancelled meanwhile)."""
        lost_at = full_since = None
        while True:
            try:
                reply = self._stub.SubmitShot(request, metadata=self._metadata, timeout=30)
                self._answered = True
                return reply
            except grpc.RpcError as exc:
                if exc.code() == grpc.StatusCode.UNAVAILABLE and self._answered:
                    lost_at = self._wait_for_restart(exc, lost_at)
                    if stop_waiting():
                        return None
                    continue
                hint = dict(exc.trailing_metadata() or ()).get("retry-after-s")
                if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or not hint:
                    raise self._submit_error(exc) from None
                full_since = full_since or time.monotonic()
                if time.monotonic() - full_since > QUEUE_WAIT_S:
                    raise EngineCallError(exc.code(), f"the engine at {self.address} kept its queue full for "
                                          f"{QUEUE_WAIT_S} s ({exc.details()}); run again later, or ask its "
                                          "operator to raise --max-queued") from None
            waited = time.monotonic() + float(hint)
            while time.monotonic() < waited:
                if stop_waiting():
                    return None
                time.sleep(min(0.2, max(0.0, waited - time.monotonic())))

    def _submit_error(self, exc: grpc.RpcError) -> DreamStyleError:
        """A refusal naming params, guidance, backend or the output folder holds for every shot of the run; others
        are the shot's."""
        details = exc.details() or ""
        if exc.code() in _RUN_REFUSALS and details.startswith(_RUN_FIELDS):
            return RunSettingRefused(exc.code(), f"the engine at {self.address} refused this run's settings: {details}")
        return self._error(exc)

    def _wait_for_restart(self, exc: grpc.RpcError, lost_at: float | None) -> float:
        """After a stream broke: waits a moment and returns when the engine was first lost, while it is
        restarting (UNAVAILABLE) for less than `reconnect_s`; otherwise raises the error in words."""
        lost_at = lost_at or time.monotonic()
        if exc.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() - lost_at > self.reconnect_s:
            raise self._error(exc) from None
        time.sleep(0.5)
        return lost_at

    def watch(self, job_id: str) -> Iterator[pb.JobEvent]:
        """Streams a job's events to its end, reconnecting while the engine restarts."""
        lost_at: float | None = None
        while True:
            try:
                for event in self._stub.WatchJob(pb.WatchJobRequest(job_id=job_id), metadata=self._metadata):
                    lost_at, self._answered = None, True
                    yield event
                return
            except grpc.RpcError as exc:
                lost_at = self._wait_for_restart(exc, lost_at)

    def get(self, job_id: str) -> pb.Job:
        return self._call(self._stub.GetJob, pb.GetJobRequest(job_id=job_id))

    def cancel(self, job_id: str) -> pb.Job:
        return self._call(self._stub.CancelJob, pb.CancelJobRequest(job_id=job_id))

    def list_jobs(self, page_size: int = 0) -> list[pb.Job]:
        """Every job the engine keeps, asked for `page_size` at a time (0: the engine's page)."""
        jobs, token = [], ""
        while True:
            page = self._call(self._stub.ListJobs, pb.ListJobsRequest(page_size=page_size, page_token=token))
            jobs += page.jobs
            token = page.next_page_token
            if not token:
                return jobs

    def farm_status(self) -> pb.FarmStatus:
        return self._call(self._stub.GetFarmStatus, pb.GetFarmStatusRequest())

    def upload(self, path: Path) -> str:
        """The upload id of a file's bytes on the engine: an earlier upload of them still kept there (a re-run),
        else the file streamed in 1 MiB chunks."""
        digest = hashlib.sha256()
        with open(path, "rb") as source:
            for block in iter(lambda: source.read(CHUNK_BYTES), b""):
                digest.update(block)
        header = pb.UploadHeader(filename=path.name, size_bytes=path.stat().st_size, sha256=digest.hexdigest())

        def chunks() -> Iterator[pb.UploadChunk]:
            yield pb.UploadChunk(header=header)
            with open(path, "rb") as source:
                for block in iter(lambda: source.read(CHUNK_BYTES), b""):
                    yield pb.UploadChunk(data=block)

        lost_at: float | None = None
        while True:
            try:
                return self._kept_upload(header) or self._stub.UploadMedia(chunks(), metadata=self._metadata).upload_id
            except grpc.RpcError as exc:
                if not self._answered:
                    raise self._error(exc) from None
                lost_at = self._wait_for_restart(exc, lost_at)

    def _kept_upload(self, header: pb.UploadHeader) -> str | None:
        """The id of an upload of these bytes the engine keeps, or None."""
        try:
            return self._stub.FindUpload(pb.FindUploadRequest(sha256=header.sha256, size_bytes=header.size_bytes),
                                         metadata=self._metadata, timeout=30).upload_id
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNIMPLEMENTED):  # UNIMPLEMENTED: an older engine
                self._answered = True
                return None
            raise

    def download(self, job_id: str, dest: Path) -> Path:
        """Streams a finished job's clip to `dest`, atomically, starting again while the engine restarts. A disk
        without room for the whole clip is refused before any byte is written; an interrupted download leaves
        nothing behind."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        remove_abandoned(dest, max(3600, 2 * self.reconnect_s))  # a live download may wait out a restart
        lost_at: float | None = None
        with written_as(dest) as partial:
            while True:
                try:
                    with open(partial, "wb") as out:  # "wb": a new start drops what the lost stream wrote
                        for chunk in self._stub.DownloadResult(pb.DownloadResultRequest(job_id=job_id),
                                                               metadata=self._metadata):
                            lost_at = None
                            if chunk.total_bytes:
                                _check_room(dest, chunk.total_bytes)
                            out.write(chunk.data)
                    break
                except grpc.RpcError as exc:
                    lost_at = self._wait_for_restart(exc, lost_at)
        return dest


def _check_room(dest: Path, size: int) -> None:
    free = shutil.disk_usage(dest.parent).free
    if size > free:
        raise DreamStyleError(
            f"{dest.name} needs {size / 1e6:,.0f} MB but {dest.parent} has {free / 1e6:,.0f} MB free: "
            "free some space or choose another output folder and run again (finished shots are kept)"
        )
