"""One whole run: timeline file in, version timeline + renders + contact sheet out.

The CLI's `stylize` and `sample` commands call `stylize()`; the panel drives the same steps from
`pipeline` itself so it can select, cancel and restyle shots one by one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path

from .anchor import render_anchored
from .client import EngineClient, read_token_file
from .contact_sheet import write_contact_sheets
from .errors import SettingsError, TimelineError
from .local_engine import LocalEngine, StateFolderInUse
from .pipeline import RENDERED, Edit, Renderer, ShotResult, ShotUpdate, StyleSettings, load_edit, plan_edit
from .plan import Plan, Shot
from .shots import DetectionSettings
from .timeline.media import PathMap
from .timeline.writeback import write_version

__all__ = ["EngineSettings", "Report", "stylize", "connect"]


@dataclass(frozen=True)
class EngineSettings:
    """Where the engine is: None starts a private local one for the run."""

    address: str | None = None
    token_file: Path | None = None
    tls_ca: Path | None = None
    stream_media: bool | None = None
    """Upload media and download renders; default: only when the engine is not on this machine."""
    priority: int = 0
    """Higher renders first on a shared engine (-1000..1000)."""


@dataclass
class Report:
    edit: Edit
    plan: Plan
    out_dir: Path
    results: list[ShotResult] = field(default_factory=list)
    timeline_out: Path | None = None
    contact_sheets: list[Path] = field(default_factory=list)
    """Before | after, 100 shots a sheet: the first is named as the version timeline, the others add _2, _3..."""

    @property
    def contact_sheet(self) -> Path | None:
        """The first contact sheet (the only one up to 100 shots)."""
        return self.contact_sheets[0] if self.contact_sheets else None

    @property
    def failed(self) -> list[ShotResult]:
        return [r for r in self.results if r.status not in RENDERED]


def connect(settings: EngineSettings, stack: ExitStack, out_dir: Path, roots: Sequence[Path]) -> EngineClient:
    """A ready client: to the engine named, or to a local engine started for the life of `stack`, keeping its
    state in `out_dir` (so one run at a time renders into a folder)."""
    address = settings.address
    if address is None:
        try:
            address = stack.enter_context(LocalEngine(out_dir / ".engine", roots))
        except StateFolderInUse:
            raise SettingsError(f"another dreamstyle run is rendering into {out_dir}; wait for it to finish or use "
                                "another --out") from None
    token = read_token_file(settings.token_file) if settings.token_file else None
    client = stack.enter_context(EngineClient(address, token=token, tls_ca=settings.tls_ca))
    client.wait_ready()
    return client


def check_engine_takes(client: EngineClient, style: StyleSettings) -> None:
    """Refuses once, before any shot is sent, what the engine would refuse for every shot: an unknown
    backend, or one that cannot run there."""
    backends = {b.name: b for b in client.capabilities().backends}
    info = backends.get(style.backend)
    if info is None:
        raise SettingsError(f"backend {style.backend!r}: the engine at {client.address} has {', '.join(sorted(backends))}")
    if info.missing:
        raise SettingsError(f"backend {style.backend!r} cannot run on the engine at {client.address}: needs "
                            f"{'; '.join(info.missing)}")


def check_timeline_folder(timeline: Path) -> None:
    """SettingsError unless the version timeline can be written beside `timeline`."""
    if not os.access(timeline.absolute().parent, os.W_OK):
        raise SettingsError(f"timeline folder {timeline.absolute().parent}: not writable, and the version timeline "
                            "is written beside the timeline: copy the timeline to a folder you can write to and "
                            "stylize the copy (media it names by a relative path: add their folder to search, "
                            "--media-dir)")


def output_folder(folder: Path) -> Path:
    """`folder`, made if missing; SettingsError unless it can be written to."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise PermissionError(13, "not writable")
    except OSError as exc:
        problem = "a file, not a folder" if isinstance(exc, FileExistsError) else exc.strerror or exc
        raise SettingsError(f"output folder {folder}: {problem}; choose one you can write to") from None
    return folder


def _anchor_shot(plan: Plan, name: str, timeline: Path) -> Shot:
    """The shot named `name`, else the first shot of the clip named so; SettingsError naming some otherwise."""
    found = next((s for s in plan.shots if s.name == name), None) or next(
        (s for s in plan.shots if s.clip_name == name), None)
    if found is None and (problem := next((p for p in plan.problems if p.clip_name == name), None)):
        raise SettingsError(f"look anchor {name!r} has no shot to render: {problem.message}")
    if found is None:
        known = ", ".join(s.name for s in plan.shots[:5]) + (", ..." if len(plan.shots) > 5 else "")
        raise SettingsError(f"look anchor {name!r}: no shot or clip of that name in {timeline} (its shots: {known}; "
                            f"`dreamstyle shots {timeline}` lists them all)")
    return found


def _sheet_path(out_dir: Path, version: Path) -> Path:
    """The first contact sheet of `version`, named as it (one per version); where a same-named timeline of
    another folder sharing this `out_dir` wrote that name, it is kept and this one adds " (2)", " (3)"..."""
    sheet, number = out_dir / f"{version.stem}_contact_sheet.png", 1
    while sheet.exists():
        number += 1
        sheet = out_dir / f"{version.stem} ({number})_contact_sheet.png"
    return sheet


def _remove_if_unused(folder: Path) -> None:
    """Removes `folder`, made by this run, unless the run wrote something there: with no renders folder no shot
    was sent, so its local engine's state holds no job to keep."""
    if not (folder / "renders").exists():
        shutil.rmtree(folder / ".engine", ignore_errors=True)
    with suppress(OSError):  # not empty: the run wrote something there
        folder.rmdir()


def stylize(
    timeline: Path,
    style: StyleSettings,
    *,
    engine: EngineSettings = EngineSettings(),
    out_dir: Path | None = None,
    media_dirs: Sequence[Path] = (),
    path_maps: Sequence[PathMap] = (),
    edl_rate: float | None = None,
    detection: DetectionSettings | None = DetectionSettings(),
    handles: int = 0,
    look_anchor: str | None = None,
    on_plan: Callable[[Plan], None] = lambda plan: None,
    on_update: Callable[[ShotUpdate], None] = lambda update: None,
) -> Report:
    """Plans, renders and writes back every shot of `timeline`; one bad shot never stops the others. With
    `look_anchor` (a shot's name, or a clip's for its first shot) that shot renders first and its stylized
    first frame is every other shot's style image: one look across the edit."""
    style.check()
    # Every check that holds for the whole run comes before a long detection pass and before any render.
    edit = load_edit(timeline, media_dirs, path_maps, edl_rate)
    if not edit.clips:
        why = f" ({'; '.join(edit.skipped[:3])}{'; ...' if len(edit.skipped) > 3 else ''})" if edit.skipped else ""
        raise TimelineError(f"{timeline}: its video tracks hold no clip to render{why}; check that this is the "
                            "timeline you meant, or enable its tracks and clips in the NLE and export it again")
    check_timeline_folder(timeline)
    out_dir = out_dir or timeline.parent / f"{timeline.stem}_dreamstyle"
    made = not out_dir.exists()
    output_folder(out_dir)
    with ExitStack() as stack:
        if made:  # a run that ends before sending a shot (every clip offline, a refusal) leaves no folder
            stack.callback(_remove_if_unused, out_dir)
        client = connect(engine, stack, out_dir, []) if engine.address else None
        if client is not None:
            check_engine_takes(client, style)
        plan = plan_edit(edit, detection, handles)
        hero = _anchor_shot(plan, look_anchor, timeline) if look_anchor else None
        if client is None and plan.shots:  # a local engine for the folders the shots read, refusing as above
            roots = {out_dir.resolve(), *(s.media.resolve().parent for s in plan.shots)}
            roots.update(p.resolve().parent for p in (style.style_image, style.first_frame) if p)
            client = connect(engine, stack, out_dir, sorted(roots))
            check_engine_takes(client, style)
        on_plan(plan)
        report = Report(edit, plan, out_dir)
        if not plan.shots:
            return report
        renderer = Renderer(client, out_dir, stream_media=engine.stream_media, priority=engine.priority)
        if hero is None:
            report.results = renderer.render(plan.shots, style, on_update)
        else:
            others = [shot for shot in plan.shots if shot is not hero]
            results = render_anchored(renderer, hero, others, style, out_dir / "anchor" / "look_anchor.png", on_update)
            report.results = sorted(results, key=lambda result: result.shot.number)
    rendered = [r for r in report.results if r.output is not None]
    if rendered:
        report.timeline_out = write_version(timeline, edit.timeline, rendered, style.label, plan.rate)
        report.contact_sheets = write_contact_sheets(rendered, _sheet_path(out_dir, report.timeline_out))
    return report
