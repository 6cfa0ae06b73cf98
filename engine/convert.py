"""Translation between v1 messages and engine objects, with every field of a request validated."""

from __future__ import annotations

import errno
import hashlib
import math
import os
import re
import stat
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

from dreamstyle.names import file_name
from dreamstyle.v1 import engine_pb2 as pb

import numpy as np

from .backends.base import FIRST_FRAME, STYLE_IMAGE, TEXT, BackendConfig, BackendError, Guidance
from .backends.registry import BACKENDS, DEFAULT_BACKEND, backend_class
from .drift import DRIFT_DEFAULTS, canonical_params, drift_options
from .jobs import Job, JobState
from .render import MAX_SIDE, MediaMismatch, RenderError, ShotRequest, check_image, check_media
from .storage import Storage, UploadError

__all__ = [
    "GUIDANCE_TO_PB",
    "LIMITS",
    "STATE_FROM_PB",
    "InvalidRequest",
    "check_find_upload",
    "check_runnable",
    "check_upload_header",
    "job_id",
    "job_to_pb",
    "limits",
    "list_page",
    "shot_request",
]


class InvalidRequest(ValueError):
    """A request field is missing or out of range; the message names the field."""


LIMITS = pb.Limits(  # the upload limit is each engine's own: see `limits`
    max_shot_frames=200_000,
    max_width=MAX_SIDE,
    max_height=MAX_SIDE,
    max_prompt_chars=2000,
)


def limits(max_upload_bytes: int) -> pb.Limits:
    """The limits an engine announces, with its configured upload limit."""
    announced = pb.Limits()
    announced.CopyFrom(LIMITS)
    announced.max_upload_bytes = max_upload_bytes
    return announced


GUIDANCE_TO_PB = {
    TEXT: pb.GUIDANCE_TYPE_TEXT,
    STYLE_IMAGE: pb.GUIDANCE_TYPE_STYLE_IMAGE,
    FIRST_FRAME: pb.GUIDANCE_TYPE_FIRST_FRAME,
}
_CODECS = {pb.CODEC_UNSPECIFIED: "h264", pb.CODEC_H264: "h264", pb.CODEC_PRORES_422_HQ: "prores"}
_STATE_TO_PB = {
    JobState.QUEUED: pb.JOB_STATE_QUEUED,
    JobState.RUNNING: pb.JOB_STATE_RUNNING,
    JobState.DONE: pb.JOB_STATE_DONE,
    JobState.FAILED: pb.JOB_STATE_FAILED,
    JobState.CANCELLED: pb.JOB_STATE_CANCELLED,
}
STATE_FROM_PB = {v: k for k, v in _STATE_TO_PB.items()}
_TIMECODE = re.compile(r"(\d\d):[0-5]\d:[0-5]\d[:;](\d{2,3})")  # 3 digits of frames at 100 fps and up
MAX_PAGE = 256  # jobs of longest fields (~10 KB) stay under gRPC's default 4 MiB a message
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def _check(ok: bool, field: str, problem: str) -> None:
    if not ok:
        raise InvalidRequest(f"{field}: {problem}")


_DENIED = (errno.EACCES, errno.EPERM)


def _stat(path: Path, field: str) -> os.stat_result | None:
    """What is at `path`, None when nothing is; InvalidRequest naming `field` when the engine cannot tell
    (a name longer than its file system takes, a folder it may not search)."""
    try:
        return path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        searchable = ", and that its folders are searchable by the engine's user" if exc.errno in _DENIED else ""
        raise InvalidRequest(f"{field}: {path} cannot be looked up on the engine ({exc.strerror or exc}); "
                             f"check the path{searchable}") from None


def _media(ref: pb.MediaRef, field: str, storage: Storage, required: bool) -> Path | None:
    kind = ref.WhichOneof("ref")
    if kind is None:
        _check(not required, field, "is required (a path or an upload id)")
        return None
    if kind == "upload_id":
        try:
            return storage.upload_path(ref.upload_id)
        except UploadError as exc:
            raise InvalidRequest(f"{field}.upload_id: {exc}") from None
    _check(0 < len(ref.path) <= 4096 and "\0" not in ref.path, f"{field}.path", "must be 1-4096 characters, no NUL")
    return storage.resolve(ref.path, field)


def shot_request(msg: pb.SubmitShotRequest, storage: Storage) -> ShotRequest:
    """Validates a SubmitShotRequest and resolves its paths inside the engine's roots."""
    _check(0 < len(msg.idempotency_key) <= 256, "idempotency_key", "must be 1-256 characters")
    _check(msg.backend == "" or msg.backend in BACKENDS, "backend", f"unknown; choose one of {sorted(BACKENDS)}")
    shot = msg.shot
    _check(msg.HasField("shot"), "shot", "is required")
    _check(shot.end_frame > shot.start_frame, "shot.end_frame", "must be greater than shot.start_frame")
    frames = shot.end_frame - shot.start_frame
    _check(frames <= LIMITS.max_shot_frames, "shot", f"{frames} frames is over the limit of {LIMITS.max_shot_frames}")
    _check(len(shot.label) <= 512, "shot.label", "must be at most 512 characters")
    rate = None
    if shot.HasField("rate"):
        _check(shot.rate.num > 0 and shot.rate.den > 0, "shot.rate", "numerator and denominator must be positive")
        rate = Fraction(shot.rate.num, shot.rate.den)
        _check(rate <= 1000, "shot.rate", "must be at most 1000 fps")
    _check(len(msg.guidance.prompt) <= LIMITS.max_prompt_chars, "guidance.prompt", "is too long")
    _check(msg.output.codec in _CODECS, "output.codec", "unknown codec")
    if msg.output.timecode:
        tc = _TIMECODE.fullmatch(msg.output.timecode)
        _check(tc is not None and int(tc[1]) < 24 and int(tc[2]) < (math.ceil(rate) if rate else 60), "output.timecode",
               "must be HH:MM:SS:FF (;FF for drop-frame) under 24 hours, with fewer frames than the rate")
    _check(len(msg.output.name) <= 200, "output.name", "must be at most 200 characters")
    _check(-1000 <= msg.priority <= 1000, "priority", "must be between -1000 and 1000")
    _check(len(msg.params) <= 32, "params", "at most 32 entries")
    for key, value in msg.params.items():
        _check(0 < len(key) <= 64 and len(value) <= 256, f"params[{key[:64]!r}]", "key 1-64, value up to 256 characters")
    backend = msg.backend or DEFAULT_BACKEND
    try:
        params = canonical_params(dict(msg.params))
        overlap = drift_options(params)["overlap"]
    except BackendError as exc:
        raise InvalidRequest(f"params: {exc}") from None
    segment = backend_class(backend).segment_frames
    _check(overlap < segment, "params['overlap']", f"must be below the {backend} backend's segment of {segment} frames")
    directory = msg.output.directory
    _check(len(directory) <= 4096 and "\0" not in directory, "output.directory", "must be at most 4096 characters, no NUL")
    folder = storage.resolve(directory, "output.directory") if directory else storage.results
    _check(not folder.is_relative_to(storage.uploads), "output.directory", "must not be the engine's upload store")
    if found := _stat(folder, "output.directory"):
        _check(stat.S_ISDIR(found.st_mode), "output.directory", f"{folder} is a file, not a folder")
        _check(os.access(folder, os.W_OK | os.X_OK), "output.directory",
               f"{folder} is not writable by the engine: make it writable or choose another folder")
    if msg.output.name:
        name = msg.output.name
    else:  # a label may name many shots: the key's digest makes the file this job's own
        digest = hashlib.sha256(msg.idempotency_key.encode()).hexdigest()[:10]
        name = f"{file_name(shot.label, 'shot', 160)}_{digest}"
    stem = file_name(name, "shot", 200)
    return ShotRequest(
        key=msg.idempotency_key,
        media=_media(shot.media, "shot.media", storage, required=True),
        start=shot.start_frame,
        end=shot.end_frame,
        rate=rate,
        label=shot.label,
        backend=backend,
        out_path_stem=folder / stem,
        prompt=msg.guidance.prompt,
        style_image=_media(msg.guidance.style_image, "guidance.style_image", storage, required=False),
        first_frame=_media(msg.guidance.first_frame, "guidance.first_frame", storage, required=False),
        seed=msg.seed,
        params=params,
        codec=_CODECS[msg.output.codec],
        timecode=msg.output.timecode or None,
        priority=msg.priority,
    )


def check_runnable(request: ShotRequest, config: BackendConfig) -> None:
    """What can be told before a job is queued: the backend runs here (BackendError), takes this guidance
    and these params, and the files named exist and fit the request (InvalidRequest, the field named)."""
    cls = backend_class(request.backend)
    takes = cls.params | set(DRIFT_DEFAULTS)
    if unknown := sorted(set(request.params) - takes):  # a misspelt key would be ignored by every shot
        raise InvalidRequest(f"params[{unknown[0]!r}]: the {request.backend} backend takes no such param; it takes "
                             f"{', '.join(sorted(takes))}")
    missing = cls.missing(config)
    if missing:
        raise BackendError(f"backend {request.backend!r} cannot run on this engine: needs {'; '.join(missing)}")
    for path, field in ((request.media, "shot.media"), (request.style_image, "guidance.style_image"),
                        (request.first_frame, "guidance.first_frame")):
        if path is not None:
            found = _stat(path, field)
            _check(found is not None and stat.S_ISREG(found.st_mode), field, f"{path} is not a file on the engine; "
                   "check the path (or the engine's --path-map), or upload it")
    try:
        check_media(request, count=False)  # within the client's deadline: a header's count, not a whole file's
    except MediaMismatch as exc:
        raise InvalidRequest(f"{exc.field}: {exc}") from None
    for path, role, field in ((request.style_image, "style image", "guidance.style_image"),
                              (request.first_frame, "first frame", "guidance.first_frame")):
        try:
            if path is not None:
                check_image(path, role)
        except RenderError as exc:
            raise InvalidRequest(f"{field}: {exc}") from None
    image = np.zeros((2, 2, 3), np.uint8)  # the images are decoded when the job runs; here only their presence counts
    guidance = Guidance(request.prompt, image if request.style_image else None, image if request.first_frame else None)
    backend = cls(config)
    for field, params in (("guidance", {}), ("params", request.params)):
        try:
            backend.check(guidance, params)
        except BackendError as exc:
            raise InvalidRequest(f"{field}: {exc}") from None


def job_id(text: str) -> str:
    """A job id from a request; InvalidRequest when it cannot be one."""
    _check(0 < len(text) <= 64, "job_id", "is required: the id SubmitShot returned (at most 64 characters)")
    return text


def list_page(jobs: list[Job], keep: Callable[[Job], bool], size: int, token: str) -> tuple[list[Job], str]:
    """The next page of the `jobs` that `keep` takes, after the job `token` names (from the first when
    empty), and the token of the page after it ("" when none is left)."""
    size = size if 0 < size <= MAX_PAGE else MAX_PAGE
    start = 0
    if token:
        ids = [job.id for job in jobs]
        _check(token in ids, "page_token", "names no job (removed by retention?); list again from the first page")
        start = ids.index(token) + 1
    page: list[Job] = []
    for job in jobs[start:]:
        if keep(job):
            if len(page) == size:
                return page, page[-1].id
            page.append(job)
    return page, ""


def check_upload_header(header: pb.UploadHeader) -> None:
    """Validates an upload's header; the size limit is the storage's to enforce."""
    _check(0 < len(header.filename) <= 255 and "\0" not in header.filename, "header.filename", "must be 1-255 characters, no NUL")
    _check(header.size_bytes > 0, "header.size_bytes", "is required: the file's size in bytes (an empty file holds no media)")
    _check(not header.sha256 or bool(_SHA256.fullmatch(header.sha256)), "header.sha256", "must be 64 hex digits")


def check_find_upload(request: pb.FindUploadRequest) -> None:
    _check(bool(_SHA256.fullmatch(request.sha256)), "sha256", "must be 64 hex digits")
    _check(request.size_bytes > 0, "size_bytes", "is required: the file's size in bytes")


def job_to_pb(job: Job, storage: Storage | None = None) -> pb.Job:
    """The job as a message; with `storage`, its result path as the client knows it (path maps)."""
    message = pb.Job(
        job_id=job.id,
        idempotency_key=job.request.key,
        state=_STATE_TO_PB[job.state],
        label=job.request.label,
        segments_done=job.segments_done,
        segments_total=job.segments_total,
        frames_done=job.frames_done,
        frames_total=job.request.frames,
        error=job.error,
        backend=job.request.backend,
    )
    if job.result:
        r = job.result
        message.result.CopyFrom(
            pb.ResultRef(
                path=storage.client_path(r.path) if storage else str(r.path),
                size_bytes=r.path.stat().st_size if r.path.exists() else 0,
                frames=r.frames,
                rate=pb.Rational(num=r.rate.numerator, den=r.rate.denominator),
                width=r.width,
                height=r.height,
            )
        )
    return message
