"""The gRPC engine: a grpc.aio servicer that only translates, plus health, reflection and `serve`."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from dreamstyle.pathmap import PathMap
from dreamstyle.v1 import engine_pb2 as pb
from dreamstyle.v1 import engine_pb2_grpc as pb_grpc
from dreamstyle.wire import CHUNK_BYTES, MESSAGE_SIZE_OPTIONS

from .auth import TokenAuth, UnsafeConfig, check_exposure, is_loopback, server_credentials
from .backends.base import BackendConfig, BackendError
from .backends.registry import BACKENDS, DEFAULT_BACKEND, backend_class
from .convert import (
    GUIDANCE_TO_PB,
    STATE_FROM_PB,
    InvalidRequest,
    check_find_upload,
    check_runnable,
    check_upload_header,
    job_id,
    job_to_pb,
    limits,
    list_page,
    shot_request,
)
from .jobs import MAX_QUEUED, Conflict, JobManager, JobNotFound, JobState, QueueFull
from .storage import (
    MAX_UPLOAD_BYTES,
    OutsideRoots,
    RelativePath,
    StateFolder,
    Storage,
    StorageFull,
    UploadError,
    UploadNotStored,
    UploadTooLarge,
)
from .store import JobStore, StoreFailed
from .well_formed import WellFormedRequests
from .workers import Backends, LocalRunner, Runner, gpu_count

__all__ = ["EngineConfig", "PortUnavailable", "UnsafeConfig", "host_port", "running_engine", "serve"]

try:
    VERSION = metadata.version("dreamstyle")
except metadata.PackageNotFoundError:  # run from a source tree that was never installed
    VERSION = "0+unknown"


class PortUnavailable(Exception):
    """The engine cannot listen where it was asked to."""


class JobNotDone(Exception):
    """A job's result was asked for before the job was done."""


class ResultMissing(Exception):
    """A done job's clip is no longer on disk."""


class UploadMissing(Exception):
    """No kept upload holds the bytes asked for."""


# Domain errors map to status codes here and nowhere else.
_STATUS = {
    JobNotDone: grpc.StatusCode.FAILED_PRECONDITION,
    ResultMissing: grpc.StatusCode.NOT_FOUND,
    UploadMissing: grpc.StatusCode.NOT_FOUND,
    InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    UploadTooLarge: grpc.StatusCode.RESOURCE_EXHAUSTED,
    UploadError: grpc.StatusCode.INVALID_ARGUMENT,
    StorageFull: grpc.StatusCode.RESOURCE_EXHAUSTED,  # before its base class: the first match wins
    UploadNotStored: grpc.StatusCode.FAILED_PRECONDITION,
    JobNotFound: grpc.StatusCode.NOT_FOUND,
    OutsideRoots: grpc.StatusCode.PERMISSION_DENIED,
    RelativePath: grpc.StatusCode.INVALID_ARGUMENT,
    BackendError: grpc.StatusCode.FAILED_PRECONDITION,
    QueueFull: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Conflict: grpc.StatusCode.ALREADY_EXISTS,
    StoreFailed: grpc.StatusCode.INTERNAL,
}
_DOMAIN_ERRORS = tuple(_STATUS)


async def _abort(context: grpc.aio.ServicerContext, exc: Exception) -> None:
    code = next(code for kind, code in _STATUS.items() if isinstance(exc, kind))
    detail = f"job {exc.args[0][:64]!r} not found" if isinstance(exc, JobNotFound) else str(exc)
    if isinstance(exc, QueueFull):
        context.set_trailing_metadata((("retry-after-s", str(exc.retry_after)),))
    await context.abort(code, detail)


@dataclass
class EngineConfig:
    state_dir: Path
    media_roots: list[Path] = field(default_factory=list)
    host: str = "127.0.0.1"
    port: int = 0
    token: str | None = None
    workers: int = 1
    backend: BackendConfig = field(default_factory=BackendConfig)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    insecure: bool = False
    """The operator's explicit choice to serve off loopback without TLS or a token."""
    path_maps: list[PathMap] = field(default_factory=list)
    """Workstation folder -> engine folder, applied to every path a client sends."""
    max_upload_bytes: int = MAX_UPLOAD_BYTES
    max_queued: int = MAX_QUEUED
    retention_days: float | None = None
    farm: str | None = None
    """None: render in this process; "local" or "ray://HEAD:PORT": dispatch to Ray actors."""
    farm_workers: int | None = None
    """Ray actors; default: one per GPU of the cluster."""
    farm_gpus: float = 1.0
    """GPUs each Ray actor reserves; 0 runs CPU actors."""


class EngineService(pb_grpc.EngineServicer):
    """The v1 Engine service: each RPC translates its request (`engine.convert`), calls the job manager or
    storage, and maps domain errors to status codes (`_abort`)."""

    def __init__(self, jobs: JobManager, storage: Storage, config: EngineConfig, runner: Runner) -> None:
        self.jobs = jobs
        self.storage = storage
        self.backend_config = config.backend
        self.limits = limits(config.max_upload_bytes)
        self.farm = config.farm or "local"
        self.shared_storage = is_loopback(config.host) or bool(config.path_maps)
        self.runner = runner

    async def GetCapabilities(self, request: pb.GetCapabilitiesRequest, context: grpc.aio.ServicerContext) -> pb.Capabilities:
        infos = []
        for name in sorted(BACKENDS):
            cls = backend_class(name)
            infos.append(
                pb.BackendInfo(
                    name=name,
                    description=cls.description,
                    guidances=[GUIDANCE_TO_PB[g] for g in sorted(cls.guidances)],
                    segment_frames=cls.segment_frames,
                    missing=cls.missing(self.backend_config),
                    named_looks=list(cls.named_looks),
                )
            )
        return pb.Capabilities(
            engine_version=VERSION,
            backends=infos,
            limits=self.limits,
            gpus=gpu_count(),
            shared_storage=self.shared_storage,
            default_backend=DEFAULT_BACKEND,
        )

    async def SubmitShot(self, request: pb.SubmitShotRequest, context: grpc.aio.ServicerContext) -> pb.SubmitShotResponse:
        try:
            shot = shot_request(request, self.storage)
            # Off the event loop: it reads the model folder's JSON and safetensors headers and checks the files.
            await asyncio.to_thread(check_runnable, shot, self.backend_config)
            job, created = await self.jobs.submit(shot)
        except _DOMAIN_ERRORS as exc:
            await _abort(context, exc)
        return pb.SubmitShotResponse(job=job_to_pb(job, self.storage), created=created)

    async def WatchJob(self, request: pb.WatchJobRequest, context: grpc.aio.ServicerContext) -> AsyncIterator[pb.JobEvent]:
        kinds = {
            JobState.QUEUED: pb.JobEvent.KIND_QUEUED,
            JobState.RUNNING: pb.JobEvent.KIND_PROGRESS,
            JobState.DONE: pb.JobEvent.KIND_DONE,
            JobState.FAILED: pb.JobEvent.KIND_FAILED,
            JobState.CANCELLED: pb.JobEvent.KIND_CANCELLED,
        }
        try:
            async for job in self.jobs.watch(job_id(request.job_id)):
                yield pb.JobEvent(kind=kinds[job.state], job=job_to_pb(job, self.storage), message=job.error or job.message)
        except _DOMAIN_ERRORS as exc:
            await _abort(context, exc)

    async def GetJob(self, request: pb.GetJobRequest, context: grpc.aio.ServicerContext) -> pb.Job:
        try:
            return job_to_pb(self.jobs.get(job_id(request.job_id)), self.storage)
        except _DOMAIN_ERRORS as exc:
            await _abort(context, exc)

    async def CancelJob(self, request: pb.CancelJobRequest, context: grpc.aio.ServicerContext) -> pb.Job:
        try:
            return job_to_pb(await self.jobs.cancel(job_id(request.job_id)), self.storage)
        except _DOMAIN_ERRORS as exc:
            await _abort(context, exc)

    async def ListJobs(self, request: pb.ListJobsRequest, context: grpc.aio.ServicerContext) -> pb.ListJobsResponse:
        unknown = [s for s in request.states if s not in STATE_FROM_PB]
        if unknown:
            await _abort(context, InvalidRequest(f"states: unknown value {unknown[0]}; use the JobState values"))
        states = {STATE_FROM_PB[s] for s in request.states}
        try:
            page, token = list_page(self.jobs.list(), lambda job: not states or job.state in states,
                                    request.page_size, request.page_token)
        except InvalidRequest as exc:
            await _abort(context, exc)
        return pb.ListJobsResponse(jobs=[job_to_pb(job, self.storage) for job in page], next_page_token=token)

    async def UploadMedia(self, request_iterator: AsyncIterator[pb.UploadChunk],
                          context: grpc.aio.ServicerContext) -> pb.UploadResponse:
        try:
            first = await anext(aiter(request_iterator), None)
            if first is None or first.WhichOneof("part") != "header":
                raise InvalidRequest("header: the first message of an upload must be its header")
            header = first.header
            check_upload_header(header)

            async def chunks() -> AsyncIterator[bytes]:
                async for message in request_iterator:
                    if message.WhichOneof("part") != "data":
                        raise InvalidRequest("data: only data chunks may follow the header")
                    yield message.data

            path = await self.storage.receive(
                header.filename, header.size_bytes, header.sha256, chunks(), self.limits.max_upload_bytes
            )
        except _DOMAIN_ERRORS as exc:
            await _abort(context, exc)
        return pb.UploadResponse(upload_id=path.parent.name, size_bytes=path.stat().st_size)

    async def FindUpload(self, request: pb.FindUploadRequest, context: grpc.aio.ServicerContext) -> pb.UploadResponse:
        try:
            check_find_upload(request)
            # Off the event loop: it reads a small file per kept upload (a slow share must not stall other calls).
            upload_id = await asyncio.to_thread(self.storage.find_upload, request.sha256, request.size_bytes)
            if upload_id is None:
                raise UploadMissing(f"no upload of these bytes (sha256 {request.sha256[:12]}...) is kept: upload them")
        except _DOMAIN_ERRORS as exc:
            await _abort(context, exc)
        return pb.UploadResponse(upload_id=upload_id, size_bytes=request.size_bytes)

    async def DownloadResult(self, request: pb.DownloadResultRequest, context: grpc.aio.ServicerContext) -> None:
        try:
            job = self.jobs.get(job_id(request.job_id))
            if job.state is not JobState.DONE:
                then = "submit it again" if job.state.final else "watch it until it finishes"
                raise JobNotDone(f"job {job.id} is {job.state.value}, not done; {then}")
            path = job.result.path
            try:  # off the event loop, as every read here: a slow share would stall every other call
                source = await asyncio.to_thread(self.storage.open_inside, path)  # no symlink out of the roots
            except FileNotFoundError:
                raise ResultMissing(f"job {job.id}: its clip {path.name} is gone from the engine (removed by the "
                                    "retention rule or by hand); submit the shot again to render it again") from None
            except OSError as exc:
                raise ResultMissing(f"job {job.id}: its clip {path} cannot be read on the engine ({exc.strerror or exc}); "
                                    "check that file on the engine machine") from None
        except _DOMAIN_ERRORS as exc:
            await _abort(context, exc)
        try:
            total = (await asyncio.to_thread(os.fstat, source.fileno())).st_size
            reading = asyncio.ensure_future(asyncio.to_thread(source.read, CHUNK_BYTES))  # a chunk ahead
            try:
                first = True
                while data := await asyncio.shield(reading):  # a cancel leaves the read under way to end
                    reading = asyncio.ensure_future(asyncio.to_thread(source.read, CHUNK_BYTES))
                    # Written, not yielded: gRPC logs a client gone mid-stream as an ERROR for a generator's write.
                    await context.write(pb.DataChunk(data=data, total_bytes=total if first else 0,
                                                     filename=path.name if first else ""))
                    first = False
            finally:  # a client that went away: its file closes once the read under way has ended
                await asyncio.wait([reading])
        finally:
            await asyncio.to_thread(source.close)

    async def GetFarmStatus(self, request: pb.GetFarmStatusRequest, context: grpc.aio.ServicerContext) -> pb.FarmStatus:
        workers = await asyncio.to_thread(self.runner.workers)
        return pb.FarmStatus(
            farm=self.farm,
            workers=[pb.WorkerInfo(name=w.name, node=w.node, gpus=w.gpus, state=w.state, shot=w.shot) for w in workers],
            running=[job_to_pb(job, self.storage) for job in self.jobs.list({JobState.RUNNING})],
            queued=len(self.jobs.list({JobState.QUEUED})),
        )


def host_port(host: str, port: int) -> str:
    """HOST:PORT as gRPC and clients read it: a bare IPv6 address goes in brackets ("::1" -> "[::1]:50051")."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def _runner(config: EngineConfig) -> Runner:
    if config.farm is None:
        return LocalRunner(Backends(config.backend), slots=config.workers)
    from .farm import RayRunner

    return RayRunner(config.farm, config.backend, workers=config.farm_workers, gpus=config.farm_gpus)


@asynccontextmanager
async def running_engine(config: EngineConfig) -> AsyncIterator[int]:
    """Starts the engine, yields the bound port, and stops it gracefully on exit."""
    check_exposure(config.host, config.token, config.tls_cert is not None, config.insecure)
    tls = server_credentials(config.tls_cert, config.tls_key) if config.tls_cert and config.tls_key else None
    # The store first: it refuses a state folder another engine uses before anything in it is touched (Storage
    # clears the uploads a killed engine cut off: those of the engine at work there would go).
    store = JobStore(StateFolder(config.state_dir.resolve()).jobs_db)
    try:
        storage = Storage(config.media_roots, config.state_dir, config.path_maps)
        async with _serving(config, tls, storage, store) as port:
            yield port
    finally:
        store.close()  # also when starting fails (a taken port, an unreachable farm): the folder is free again


@asynccontextmanager
async def _serving(config: EngineConfig, tls: grpc.ServerCredentials | None, storage: Storage,
                   store: JobStore) -> AsyncIterator[int]:
    # The workers first: a local Ray farm forks its processes, which gRPC's threads (a bound port has them) must
    # not be running for (Ray's head then timed out starting); a taken port is said before they start all the same.
    address = host_port(config.host, config.port)
    _check_listenable(config.host, config.port, address)
    runner = await asyncio.to_thread(_runner, config)
    jobs = JobManager(
        store,
        runner,
        storage.state.work,
        results_root=storage.results,
        uploads_root=storage.uploads,
        max_queued=config.max_queued,
        retention_days=config.retention_days,
        admit=lambda r: storage.recheck(r.media, r.style_image, r.first_frame, output=r.out_path_stem.parent),
        engine_id=config.backend.fingerprint(),
    )
    engine_service = pb.DESCRIPTOR.services_by_name["Engine"].full_name
    server = grpc.aio.server(
        interceptors=[*([TokenAuth(config.token)] if config.token else []), WellFormedRequests(engine_service)],
        options=[*MESSAGE_SIZE_OPTIONS, ("grpc.so_reuseport", 0)],  # gRPC's default would let a second engine share the port
    )
    pb_grpc.add_EngineServicer_to_server(EngineService(jobs, storage, config, runner), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = (engine_service, health.SERVICE_NAME, reflection.SERVICE_NAME)
    reflection.enable_server_reflection(names, server)
    started = False
    try:  # whatever fails from here, what started stops (jobs.stop closes the runner: a local Ray farm, say)
        try:
            if tls is not None:  # checked above: a bad certificate or key would read as "the port is taken" here
                port = server.add_secure_port(address, tls)
            else:
                port = server.add_insecure_port(address)
        except RuntimeError:
            raise _unavailable(address) from None
        await jobs.start()
        await server.start()
        started = True
        for name in ("", names[0]):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        yield port
    finally:
        await health_servicer.enter_graceful_shutdown()
        await _release(server, started, grace=2)
        await jobs.stop()


def _unavailable(address: str) -> PortUnavailable:
    return PortUnavailable(f"cannot listen on {address}: the port is taken (another engine?) or the host is not this "
                           "machine's; choose another --port or --host")


def _check_listenable(host: str, port: int, address: str) -> None:
    """Refuses a port another program listens on, or a host with no address of this machine's, at once: a farm's
    workers take seconds to start before the port is bound (that bind still decides, a port can go meanwhile)."""
    if port == 0:
        return
    try:
        places = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError:
        raise _unavailable(address) from None
    refused = []
    for family, kind, proto, _, place in places:
        try:  # a family this kernel lacks (::1 of "localhost" without IPv6) refuses the socket itself
            with socket.socket(family, kind, proto) as probe:
                if os.name != "nt":  # as gRPC binds: a closed connection's TIME_WAIT does not hold the port
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(place)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise _unavailable(address) from None
            refused.append(exc)
    if len(refused) == len(places):  # gRPC listens where it can (localhost without IPv6, say)
        raise _unavailable(address)


async def _release(server: grpc.aio.Server, started: bool, grace: float | None = None) -> None:
    """Stops `server` and frees its port, which gRPC keeps for a server stopped before it started."""
    if not started:
        await server.start()
    await server.stop(grace)


async def serve(config: EngineConfig, ready: asyncio.Event | None = None, stop: asyncio.Event | None = None) -> None:
    """Runs the engine until `stop` is set (or the task is cancelled), then stops it gracefully; prints
    the address it listens on."""
    async with running_engine(config) as port:
        print(f"dreamstyle engine listening on {host_port(config.host, port)}", flush=True)
        if ready:
            ready.set()
        await (stop or asyncio.Event()).wait()
