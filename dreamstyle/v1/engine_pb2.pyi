from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GuidanceType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GUIDANCE_TYPE_UNSPECIFIED: _ClassVar[GuidanceType]
    GUIDANCE_TYPE_TEXT: _ClassVar[GuidanceType]
    GUIDANCE_TYPE_STYLE_IMAGE: _ClassVar[GuidanceType]
    GUIDANCE_TYPE_FIRST_FRAME: _ClassVar[GuidanceType]

class Codec(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CODEC_UNSPECIFIED: _ClassVar[Codec]
    CODEC_H264: _ClassVar[Codec]
    CODEC_PRORES_422_HQ: _ClassVar[Codec]

class JobState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JOB_STATE_UNSPECIFIED: _ClassVar[JobState]
    JOB_STATE_QUEUED: _ClassVar[JobState]
    JOB_STATE_RUNNING: _ClassVar[JobState]
    JOB_STATE_DONE: _ClassVar[JobState]
    JOB_STATE_FAILED: _ClassVar[JobState]
    JOB_STATE_CANCELLED: _ClassVar[JobState]
GUIDANCE_TYPE_UNSPECIFIED: GuidanceType
GUIDANCE_TYPE_TEXT: GuidanceType
GUIDANCE_TYPE_STYLE_IMAGE: GuidanceType
GUIDANCE_TYPE_FIRST_FRAME: GuidanceType
CODEC_UNSPECIFIED: Codec
CODEC_H264: Codec
CODEC_PRORES_422_HQ: Codec
JOB_STATE_UNSPECIFIED: JobState
JOB_STATE_QUEUED: JobState
JOB_STATE_RUNNING: JobState
JOB_STATE_DONE: JobState
JOB_STATE_FAILED: JobState
JOB_STATE_CANCELLED: JobState

class GetCapabilitiesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class BackendInfo(_message.Message):
    __slots__ = ("name", "description", "guidances", "segment_frames", "missing", "named_looks")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    GUIDANCES_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FRAMES_FIELD_NUMBER: _ClassVar[int]
    MISSING_FIELD_NUMBER: _ClassVar[int]
    NAMED_LOOKS_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    guidances: _containers.RepeatedScalarFieldContainer[GuidanceType]
    segment_frames: int
    missing: _containers.RepeatedScalarFieldContainer[str]
    named_looks: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., guidances: _Optional[_Iterable[_Union[GuidanceType, str]]] = ..., segment_frames: _Optional[int] = ..., missing: _Optional[_Iterable[str]] = ..., named_looks: _Optional[_Iterable[str]] = ...) -> None: ...

class Limits(_message.Message):
    __slots__ = ("max_upload_bytes", "max_shot_frames", "max_width", "max_height", "max_prompt_chars")
    MAX_UPLOAD_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_SHOT_FRAMES_FIELD_NUMBER: _ClassVar[int]
    MAX_WIDTH_FIELD_NUMBER: _ClassVar[int]
    MAX_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    MAX_PROMPT_CHARS_FIELD_NUMBER: _ClassVar[int]
    max_upload_bytes: int
    max_shot_frames: int
    max_width: int
    max_height: int
    max_prompt_chars: int
    def __init__(self, max_upload_bytes: _Optional[int] = ..., max_shot_frames: _Optional[int] = ..., max_width: _Optional[int] = ..., max_height: _Optional[int] = ..., max_prompt_chars: _Optional[int] = ...) -> None: ...

class Capabilities(_message.Message):
    __slots__ = ("engine_version", "backends", "limits", "gpus", "shared_storage", "default_backend")
    ENGINE_VERSION_FIELD_NUMBER: _ClassVar[int]
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    SHARED_STORAGE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_BACKEND_FIELD_NUMBER: _ClassVar[int]
    engine_version: str
    backends: _containers.RepeatedCompositeFieldContainer[BackendInfo]
    limits: Limits
    gpus: int
    shared_storage: bool
    default_backend: str
    def __init__(self, engine_version: _Optional[str] = ..., backends: _Optional[_Iterable[_Union[BackendInfo, _Mapping]]] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., gpus: _Optional[int] = ..., shared_storage: _Optional[bool] = ..., default_backend: _Optional[str] = ...) -> None: ...

class MediaRef(_message.Message):
    __slots__ = ("path", "upload_id")
    PATH_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    path: str
    upload_id: str
    def __init__(self, path: _Optional[str] = ..., upload_id: _Optional[str] = ...) -> None: ...

class Rational(_message.Message):
    __slots__ = ("num", "den")
    NUM_FIELD_NUMBER: _ClassVar[int]
    DEN_FIELD_NUMBER: _ClassVar[int]
    num: int
    den: int
    def __init__(self, num: _Optional[int] = ..., den: _Optional[int] = ...) -> None: ...

class Guidance(_message.Message):
    __slots__ = ("prompt", "style_image", "first_frame")
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    STYLE_IMAGE_FIELD_NUMBER: _ClassVar[int]
    FIRST_FRAME_FIELD_NUMBER: _ClassVar[int]
    prompt: str
    style_image: MediaRef
    first_frame: MediaRef
    def __init__(self, prompt: _Optional[str] = ..., style_image: _Optional[_Union[MediaRef, _Mapping]] = ..., first_frame: _Optional[_Union[MediaRef, _Mapping]] = ...) -> None: ...

class OutputSpec(_message.Message):
    __slots__ = ("codec", "directory", "name", "timecode")
    CODEC_FIELD_NUMBER: _ClassVar[int]
    DIRECTORY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TIMECODE_FIELD_NUMBER: _ClassVar[int]
    codec: Codec
    directory: str
    name: str
    timecode: str
    def __init__(self, codec: _Optional[_Union[Codec, str]] = ..., directory: _Optional[str] = ..., name: _Optional[str] = ..., timecode: _Optional[str] = ...) -> None: ...

class ShotSpec(_message.Message):
    __slots__ = ("media", "start_frame", "end_frame", "rate", "label")
    MEDIA_FIELD_NUMBER: _ClassVar[int]
    START_FRAME_FIELD_NUMBER: _ClassVar[int]
    END_FRAME_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    media: MediaRef
    start_frame: int
    end_frame: int
    rate: Rational
    label: str
    def __init__(self, media: _Optional[_Union[MediaRef, _Mapping]] = ..., start_frame: _Optional[int] = ..., end_frame: _Optional[int] = ..., rate: _Optional[_Union[Rational, _Mapping]] = ..., label: _Optional[str] = ...) -> None: ...

class SubmitShotRequest(_message.Message):
    __slots__ = ("idempotency_key", "shot", "guidance", "backend", "seed", "output", "priority", "params")
    class ParamsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    SHOT_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    idempotency_key: str
    shot: ShotSpec
    guidance: Guidance
    backend: str
    seed: int
    output: OutputSpec
    priority: int
    params: _containers.ScalarMap[str, str]
    def __init__(self, idempotency_key: _Optional[str] = ..., shot: _Optional[_Union[ShotSpec, _Mapping]] = ..., guidance: _Optional[_Union[Guidance, _Mapping]] = ..., backend: _Optional[str] = ..., seed: _Optional[int] = ..., output: _Optional[_Union[OutputSpec, _Mapping]] = ..., priority: _Optional[int] = ..., params: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SubmitShotResponse(_message.Message):
    __slots__ = ("job", "created")
    JOB_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    job: Job
    created: bool
    def __init__(self, job: _Optional[_Union[Job, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class ResultRef(_message.Message):
    __slots__ = ("path", "size_bytes", "frames", "rate", "width", "height")
    PATH_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    path: str
    size_bytes: int
    frames: int
    rate: Rational
    width: int
    height: int
    def __init__(self, path: _Optional[str] = ..., size_bytes: _Optional[int] = ..., frames: _Optional[int] = ..., rate: _Optional[_Union[Rational, _Mapping]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class Job(_message.Message):
    __slots__ = ("job_id", "idempotency_key", "state", "label", "segments_done", "segments_total", "frames_done", "frames_total", "error", "result", "backend")
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_DONE_FIELD_NUMBER: _ClassVar[int]
    SEGMENTS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    FRAMES_DONE_FIELD_NUMBER: _ClassVar[int]
    FRAMES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    idempotency_key: str
    state: JobState
    label: str
    segments_done: int
    segments_total: int
    frames_done: int
    frames_total: int
    error: str
    result: ResultRef
    backend: str
    def __init__(self, job_id: _Optional[str] = ..., idempotency_key: _Optional[str] = ..., state: _Optional[_Union[JobState, str]] = ..., label: _Optional[str] = ..., segments_done: _Optional[int] = ..., segments_total: _Optional[int] = ..., frames_done: _Optional[int] = ..., frames_total: _Optional[int] = ..., error: _Optional[str] = ..., result: _Optional[_Union[ResultRef, _Mapping]] = ..., backend: _Optional[str] = ...) -> None: ...

class JobEvent(_message.Message):
    __slots__ = ("kind", "job", "message")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[JobEvent.Kind]
        KIND_QUEUED: _ClassVar[JobEvent.Kind]
        KIND_PROGRESS: _ClassVar[JobEvent.Kind]
        KIND_DONE: _ClassVar[JobEvent.Kind]
        KIND_FAILED: _ClassVar[JobEvent.Kind]
        KIND_CANCELLED: _ClassVar[JobEvent.Kind]
    KIND_UNSPECIFIED: JobEvent.Kind
    KIND_QUEUED: JobEvent.Kind
    KIND_PROGRESS: JobEvent.Kind
    KIND_DONE: JobEvent.Kind
    KIND_FAILED: JobEvent.Kind
    KIND_CANCELLED: JobEvent.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    JOB_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    kind: JobEvent.Kind
    job: Job
    message: str
    def __init__(self, kind: _Optional[_Union[JobEvent.Kind, str]] = ..., job: _Optional[_Union[Job, _Mapping]] = ..., message: _Optional[str] = ...) -> None: ...

class WatchJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class GetJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class CancelJobRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class ListJobsRequest(_message.Message):
    __slots__ = ("states", "page_size", "page_token")
    STATES_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    states: _containers.RepeatedScalarFieldContainer[JobState]
    page_size: int
    page_token: str
    def __init__(self, states: _Optional[_Iterable[_Union[JobState, str]]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListJobsResponse(_message.Message):
    __slots__ = ("jobs", "next_page_token")
    JOBS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    jobs: _containers.RepeatedCompositeFieldContainer[Job]
    next_page_token: str
    def __init__(self, jobs: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class UploadHeader(_message.Message):
    __slots__ = ("filename", "size_bytes", "sha256")
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    filename: str
    size_bytes: int
    sha256: str
    def __init__(self, filename: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ...) -> None: ...

class UploadChunk(_message.Message):
    __slots__ = ("header", "data")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    header: UploadHeader
    data: bytes
    def __init__(self, header: _Optional[_Union[UploadHeader, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class FindUploadRequest(_message.Message):
    __slots__ = ("sha256", "size_bytes")
    SHA256_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    sha256: str
    size_bytes: int
    def __init__(self, sha256: _Optional[str] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class UploadResponse(_message.Message):
    __slots__ = ("upload_id", "size_bytes")
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    size_bytes: int
    def __init__(self, upload_id: _Optional[str] = ..., size_bytes: _Optional[int] = ...) -> None: ...

class DownloadResultRequest(_message.Message):
    __slots__ = ("job_id",)
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    job_id: str
    def __init__(self, job_id: _Optional[str] = ...) -> None: ...

class DataChunk(_message.Message):
    __slots__ = ("data", "total_bytes", "filename")
    DATA_FIELD_NUMBER: _ClassVar[int]
    TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    total_bytes: int
    filename: str
    def __init__(self, data: _Optional[bytes] = ..., total_bytes: _Optional[int] = ..., filename: _Optional[str] = ...) -> None: ...

class GetFarmStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WorkerInfo(_message.Message):
    __slots__ = ("name", "node", "gpus", "state", "shot")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    GPUS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SHOT_FIELD_NUMBER: _ClassVar[int]
    name: str
    node: str
    gpus: float
    state: str
    shot: str
    def __init__(self, name: _Optional[str] = ..., node: _Optional[str] = ..., gpus: _Optional[float] = ..., state: _Optional[str] = ..., shot: _Optional[str] = ...) -> None: ...

class FarmStatus(_message.Message):
    __slots__ = ("farm", "workers", "running", "queued")
    FARM_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    farm: str
    workers: _containers.RepeatedCompositeFieldContainer[WorkerInfo]
    running: _containers.RepeatedCompositeFieldContainer[Job]
    queued: int
    def __init__(self, farm: _Optional[str] = ..., workers: _Optional[_Iterable[_Union[WorkerInfo, _Mapping]]] = ..., running: _Optional[_Iterable[_Union[Job, _Mapping]]] = ..., queued: _Optional[int] = ...) -> None: ...
