"""Timeline -> shots -> engine jobs -> rendered clips: the one service layer the CLI and the panel share.

    edit = load_edit(path, media_dirs=[...])
    plan = plan_edit(edit, detection, handles=0)
    with Renderer(client, out_dir) as renderer:
        results = renderer.render(plan.shots, style, on_update)
    written = write_version(edit.path, edit.timeline, [r for r in results if r.output], style.label, plan.rate)

Every failure is per shot (a `ShotResult` with status "failed" and a message naming the clip, file and
what to do), except a setting the engine refuses for every shot: that stops the run (`RunSettingRefused`).
Nothing the user had is modified: renders and timelines are new files written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import opentimelineio as otio
from PIL import Image, UnidentifiedImageError

from dreamstyle.frames import MediaError, not_found, probe
from dreamstyle.names import file_name
from dreamstyle.v1 import engine_pb2 as pb

from .client import EngineClient, RunSettingRefused, is_loopback
from .errors import DreamStyleError, SettingsError, TimelineError
from .plan import ClipProblem, Plan, Shot, plan_shots
from .shots import DetectionSettings
from .timeline.media import PathMap, Relinker
from .timeline.reader import DEFAULT_EDL_RATE, ClipRef, read_timeline, video_clips
from .timeline.timecode import exact_rate, from_timecode, timecode, timecode_labels

__all__ = [
    "ENDED",
    "RENDERED",
    "StyleSettings",
    "Edit",
    "ShotResult",
    "ShotUpdate",
    "load_edit",
    "timeline_rate",
    "plan_edit",
    "Renderer",
    "job_key",
    "style_fingerprint",
]

_CODECS = {"h264": pb.CODEC_H264, "prores": pb.CODEC_PRORES_422_HQ}


@dataclass(frozen=True)
class StyleSettings:
    """A look: what the engine is asked for, identical settings giving identical job keys."""

    prompt: str = ""
    style_image: Path | None = None
    first_frame: Path | None = None
    backend: str = "classic"
    seed: int = 0
    codec: str = "h264"
    params: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        parts = [self.backend]
        if self.prompt:
            parts.append(self.prompt[:40])
        if self.style_image:
            parts.append(self.style_image.stem)
        if self.first_frame:
            parts.append(f"ff:{self.first_frame.stem}")
        return " ".join(parts)

    def check(self) -> None:
        """Raises SettingsError for unreadable images or a codec the engine does not know."""
        if self.codec not in _CODECS:
            raise SettingsError(f"codec {self.codec!r}: choose one of {', '.join(_CODECS)}")
        for role, path in (("style image", self.style_image), ("first frame", self.first_frame)):
            if path is None:
                continue
            try:
                with Image.open(path) as image:
                    image.verify()
            except FileNotFoundError:
                raise SettingsError(f"{role} {path}: file not found.") from None
            except Image.DecompressionBombError as exc:
                raise SettingsError(f"{role} {path}: more pixels than an image reader should decode ({exc}); scale "
                                    "it down (the models need no more than 4K).") from None
            except (UnidentifiedImageError, OSError) as exc:
                raise SettingsError(f"{role} {path}: not an image PIL can read (use PNG, JPEG or TIFF): {exc}") from None


@dataclass
class Edit:
    path: Path
    timeline: otio.schema.Timeline
    clips: list[ClipRef]
    skipped: list[str]
    relinker: Relinker
    assumed_edl_rate: bool = False
    """An EDL read at DEFAULT_EDL_RATE because no rate was given: planning checks it against the media."""


RENDERED = frozenset({"done", "cached"})
"""The states of a shot whose clip is there: rendered now, or found already rendered with its settings."""
ENDED = RENDERED | {"failed", "cancelled"}
"""The states a shot's render ends in (`ShotResult.status`); before them it is queued or running."""


@dataclass(frozen=True)
class ShotUpdate:
    shot: Shot
    status: str  # queued | running, then one of ENDED
    frames_done: int
    frames_total: int
    message: str = ""
    output: Path | None = None  # done and cached: the clip, already there (downloaded when streamed)


@dataclass(frozen=True)
class ShotResult:
    shot: Shot
    status: str  # one of ENDED
    output: Path | None = None
    error: str = ""
    look: str = ""  # the label of the look it was rendered with (done and cached)


def load_edit(
    path: Path, media_dirs: Sequence[Path] = (), path_maps: Sequence[PathMap] = (), edl_rate: float | None = None
) -> Edit:
    """Reads a timeline file and lists its visible video clips (TimelineError when it cannot); an EDL is
    read at `edl_rate`, or at DEFAULT_EDL_RATE when None."""
    timeline = read_timeline(path, edl_rate or DEFAULT_EDL_RATE)
    try:
        clips, skipped = video_clips(timeline)
    except TimelineError as exc:
        raise TimelineError(f"{path}: {exc} Export the timeline again from the NLE, with its video tracks.") from None
    folder = path.resolve().parent  # a relative media path is the file's own: also when it is opened through a link
    search = [*media_dirs, folder]  # the folders the editor names come first
    assumed = edl_rate is None and path.suffix.lower() == ".edl"
    return Edit(path, timeline, clips, skipped, Relinker(search, path_maps, base=folder), assumed)


EDIT_RATES = (8.0, 240.0)
"""The frame rates NLEs edit at, lowest and highest: a timeline start at another rate is written in seconds
(`RationalTime.from_seconds`: rate 1) or in ticks (600, 24000, 90000), not frames."""


def timeline_rate(edit: Edit) -> float:
    """The timeline's frame rate: its start time's, else its first clip's record rate, which also wins over a
    start written at its NTSC twin (01:00:00:00 at 24 for a 23.976 edit): its clips then last whole frames."""
    start = edit.timeline.global_start_time
    record = edit.clips[0].record.duration.rate if edit.clips else None
    if (start is None or not EDIT_RATES[0] <= start.rate <= EDIT_RATES[1]
            or (record and timecode_labels(start, exact_rate(record)))):
        return record or 24.0
    return start.rate


def plan_edit(edit: Edit, detection: DetectionSettings | None, handles: int = 0) -> Plan:
    """The shots of every clip; clips whose media cannot be used are listed in `plan.problems`.

    An EDL read at an assumed rate whose media runs at another is most likely at the media's rate: those
    clips are held back as problems until a rate is given (the assumed one keeps mixed rates).
    """
    plan = plan_shots(edit.clips, edit.relinker, timeline_rate(edit), detection, handles)
    if edit.assumed_edl_rate:
        held = {s.clip_name: s for s in plan.shots if s.rate != plan.rate}  # one problem per clip
        plan.shots = [s for s in plan.shots if s.clip_name not in held]
        plan.problems += [ClipProblem(name, (
            f"clip {name}: the EDL was read at {float(plan.rate):.5g} fps (EDLs do not say) but "
            f"{shot.media.name} runs at {float(shot.rate):.5g} fps; give the EDL's rate with --edl-rate (or "
            f"EDL fps in the panel): {float(shot.rate):.5g} if the EDL is at its media's rate, "
            f"{float(plan.rate):.5g} to keep this reading.")) for name, shot in held.items()]
    return plan


def _file_digest(path: Path | None) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path else ""


def style_fingerprint(style: StyleSettings) -> str:
    """A hash of everything in a look that changes a render (guidance images by content); one per run."""
    payload = {
        "backend": style.backend,
        "seed": style.seed,
        "prompt": style.prompt,
        "style_image": _file_digest(style.style_image),
        "first_frame": _file_digest(style.first_frame),
        "params": sorted(style.params.items()),
        "codec": style.codec,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def job_key(shot: Shot, fingerprint: str) -> str:
    """Same media range + look (`style_fingerprint`) => same key."""
    try:
        stat = shot.media.stat()
    except FileNotFoundError:  # gone since the timeline was read
        raise not_found(shot.media) from None
    payload = {
        "media": [str(shot.media.resolve()), stat.st_size, stat.st_mtime_ns],
        "range": [shot.start - shot.head, shot.end + shot.tail],
        "style": fingerprint,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:32]


def _start_timecode(shot: Shot) -> str | None:
    """The source timecode of the first rendered frame, in the source's drop-frame mode (29.97 cameras
    record either), so the render carries the source's TC."""
    if not shot.media_timecode:
        return None
    rate = float(shot.rate)
    try:
        start = from_timecode(shot.media_timecode, rate) + otio.opentime.RationalTime(shot.start - shot.head, rate)
    except ValueError:  # not a timecode: the render goes without one
        return None
    return timecode(start, rate, drop_frame=";" in shot.media_timecode)


def _cached(shot: Shot, output: Path, style: StyleSettings, on_update: Callable[[ShotUpdate], None]) -> ShotResult:
    """The result of a shot already rendered with these settings."""
    total = shot.frames + shot.head + shot.tail
    on_update(ShotUpdate(shot, "cached", total, total, "already rendered with these settings", output))
    return ShotResult(shot, "cached", output, look=style.label)


class Renderer:
    """Submits shots to one engine and follows them to the end, a watcher thread per shot."""

    def __init__(
        self, client: EngineClient, out_dir: Path, *, stream_media: bool | None = None, priority: int = 0
    ) -> None:
        """`stream_media`: send media as bytes rather than paths; None streams to all but a loopback engine
        (which shares this machine's storage)."""
        self.client = client
        self.renders = out_dir / "renders"
        self.stream_media = not is_loopback(client.address) if stream_media is None else stream_media
        self.priority = priority
        self._jobs: dict[int, str] = {}
        self._cancelled: set[int] = set()
        self._ended: set[int] = set()  # shots whose last render has ended (renders may overlap: the panel's)
        self._renders: dict[int, int] = {}  # per shot, how many renders were asked for: which one is the latest
        self._lock = threading.Lock()  # for the three above, which the render threads and the caller change
        self._interrupted = False
        self._uploads: dict[tuple[Path, int, int], str] = {}  # by path, size and time
        self._upload_locks: dict[Path, threading.Lock] = {}
        self._uploads_lock = threading.Lock()

    def __enter__(self) -> Renderer:
        return self

    def __exit__(self, *exc: object) -> None:
        """Jobs keep running on the engine; only an explicit cancel stops them."""

    def cancel(self, shot: Shot) -> None:
        """Cancels a shot's job, or stops it from being submitted if it has not been yet (also by a render
        still to come); a cancel that arrives after the shot's render ended is dropped."""
        with self._lock:  # not between a render's end and its spending of the shot's cancels
            if shot.number in self._ended:
                return
            self._cancelled.add(shot.number)
        job_id = self._jobs.get(shot.number)
        if job_id:
            self.client.cancel(job_id)

    def expect(self, shots: Iterable[Shot]) -> dict[int, int]:
        """A cancel of `shots` holds from now until their render ends (for a render started on another thread);
        returns the render's tokens for `forget`."""
        with self._lock:
            for shot in shots:
                self._renders[shot.number] = self._renders.get(shot.number, 0) + 1
                self._ended.discard(shot.number)
            return {shot.number: self._renders[shot.number] for shot in shots}

    def forget(self, shots: Iterable[Shot], tokens: dict[int, int]) -> None:
        """`shots` ended (rendered, or not sent after all): a cancel still held for them is spent, unless a later
        render of the shot has been asked for meanwhile (its cancels are its own)."""
        with self._lock:
            for shot in shots:
                if self._renders.get(shot.number) == tokens.get(shot.number):
                    self._ended.add(shot.number)
                    self._cancelled.discard(shot.number)

    def render(
        self, shots: Sequence[Shot], style: StyleSettings, on_update: Callable[[ShotUpdate], None] = lambda u: None
    ) -> list[ShotResult]:
        """Renders every shot, skipping those already rendered with the same settings. A cancellation holds
        for one render of its shot: asked again later, the shot renders. Raises RunSettingRefused, once the shots
        on their way are answered, when the engine refuses a setting they share; the others are not sent."""
        style.check()
        self.renders.mkdir(parents=True, exist_ok=True)
        if not os.access(self.renders, os.W_OK | os.X_OK):
            raise SettingsError(f"renders folder {self.renders}: not writable; make it writable or choose another "
                                "output folder")
        fingerprint = style_fingerprint(style)  # reads the guidance images once, not once per shot
        refused: list[RunSettingRefused] = []  # this render's own: another under way has its settings
        tokens = self.expect(shots)

        def one(shot: Shot) -> ShotResult:
            try:
                return self._render_one(shot, style, fingerprint, on_update, refused)
            finally:  # a cancel holds for one render: spent at the shot's own end, so that a later render of
                self.forget([shot], tokens)  # it (the panel's, while this one goes on) keeps the cancels it is given

        pool = ThreadPoolExecutor(max_workers=max(1, min(16, len(shots))))
        try:
            results = list(pool.map(one, shots))
        except KeyboardInterrupt:  # Ctrl-C: stop waiting now; the jobs are the engine's (see __exit__)
            self._interrupted = True
            pool.shutdown(wait=False, cancel_futures=True)
            self.client.close()  # ends the watches still streaming on the pool's threads
            raise
        finally:
            self.forget(shots, tokens)  # those never started too (a shot's later render keeps its own)
        pool.shutdown()
        if refused:
            raise refused[0]
        return results

    def _render_one(
        self, shot: Shot, style: StyleSettings, fingerprint: str, on_update: Callable[[ShotUpdate], None],
        refused: list[RunSettingRefused],
    ) -> ShotResult:
        total = shot.frames + shot.head + shot.tail
        try:
            key = job_key(shot, fingerprint)
            stem = self.renders / f"{file_name(shot.name, 'shot')}_{key[:10]}"
            cached = self._finished(stem, total)
            if cached:
                return _cached(shot, cached, style, on_update)
            if shot.number in self._cancelled:
                on_update(ShotUpdate(shot, "cancelled", 0, total, "cancelled before it was sent"))
                return ShotResult(shot, "cancelled")
            if refused:  # the run stops: `render` raises the refusal
                return ShotResult(shot, "cancelled", error=str(refused[0]))
            reply = self.client.submit(self._request(shot, style, key, stem),
                                       lambda: self._interrupted or shot.number in self._cancelled)
            if reply is None:  # cancelled (or Ctrl-C) while it waited for a place in the queue or for the engine
                if not self._interrupted:
                    on_update(ShotUpdate(shot, "cancelled", 0, total, "cancelled before it was sent"))
                return ShotResult(shot, "cancelled")
            if not reply.created and reply.job.state == pb.JOB_STATE_DONE:  # the same range earlier in the edit
                return _cached(shot, self._fetch(reply.job, stem), style, on_update)
            self._jobs[shot.number] = reply.job.job_id
            if shot.number in self._cancelled:  # cancelled while the request was in flight
                self.client.cancel(reply.job.job_id)
            for event in self.client.watch(reply.job.job_id):
                job = event.job
                state = pb.JobState.Name(job.state).removeprefix("JOB_STATE_").lower()
                if job.state == pb.JOB_STATE_DONE:  # reported once its clip is here
                    output = self._fetch(job, stem)
                    on_update(ShotUpdate(shot, state, job.frames_done, total, event.message, output))
                    return ShotResult(shot, "done", output, look=style.label)
                on_update(ShotUpdate(shot, state, job.frames_done, total, event.message))
                if job.state in (pb.JOB_STATE_FAILED, pb.JOB_STATE_CANCELLED):
                    return ShotResult(shot, state, error=job.error or event.message)
            raise DreamStyleError("the engine stopped reporting before the job ended; run again to resume")
        except RunSettingRefused as exc:
            refused.append(exc)
            return ShotResult(shot, "cancelled", error=str(exc))
        except (DreamStyleError, MediaError, OSError) as exc:
            if self._interrupted:
                return ShotResult(shot, "cancelled")
            message = str(exc) if str(exc).startswith("shot ") else f"shot {shot.name}: {exc}"
            on_update(ShotUpdate(shot, "failed", 0, total, message))
            return ShotResult(shot, "failed", error=message)

    @staticmethod
    def _finished(stem: Path, frames: int) -> Path | None:
        for suffix in (".mp4", ".mov"):
            path = stem.with_name(stem.name + suffix)  # not with_suffix: clip names hold dots (A001.mov)
            if path.exists():
                try:
                    if probe(path).frames == frames:
                        return path
                except MediaError:
                    return None
        return None

    def _ref(self, path: Path) -> pb.MediaRef:
        """The engine's reference to `path`: the path itself, or an upload made once per file version and
        renderer (shots of one clip, on their own threads, wait for the first one's upload; a file written
        again, such as the look anchor's still, is uploaded again)."""
        if not self.stream_media:
            return pb.MediaRef(path=str(path.resolve()))
        stat = path.stat()
        version = (path, stat.st_size, stat.st_mtime_ns)
        with self._uploads_lock:
            lock = self._upload_locks.setdefault(path, threading.Lock())
        with lock:
            if version not in self._uploads:
                self._uploads[version] = self.client.upload(path)
        return pb.MediaRef(upload_id=self._uploads[version])

    def _request(self, shot: Shot, style: StyleSettings, key: str, stem: Path) -> pb.SubmitShotRequest:
        guidance = pb.Guidance(prompt=style.prompt)
        if style.style_image:
            guidance.style_image.CopyFrom(self._ref(style.style_image))
        if style.first_frame:
            guidance.first_frame.CopyFrom(self._ref(style.first_frame))
        return pb.SubmitShotRequest(
            idempotency_key=key,
            shot=pb.ShotSpec(
                media=self._ref(shot.media),
                start_frame=shot.start - shot.head,
                end_frame=shot.end + shot.tail,
                rate=pb.Rational(num=shot.rate.numerator, den=shot.rate.denominator),
                label=shot.name,
            ),
            guidance=guidance,
            backend=style.backend,
            seed=style.seed,
            output=pb.OutputSpec(
                codec=_CODECS[style.codec],
                directory="" if self.stream_media else str(stem.parent.resolve()),
                name=stem.name,
                timecode=_start_timecode(shot) or "",
            ),
            priority=self.priority,
            params=style.params,
        )

    def _fetch(self, job: pb.Job, stem: Path) -> Path:
        """The finished clip on this machine: where the engine says (mapped back through its --path-map), else
        where this client asked for it (a client naming the engine's own folders, whom the map does not fit),
        or downloaded there."""
        reported = Path(job.result.path)
        asked = stem.with_name(stem.name + reported.suffix)
        if self.stream_media:
            return self.client.download(job.job_id, asked)
        return asked if not reported.exists() and asked.exists() else reported
