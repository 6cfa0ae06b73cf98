"""DaVinci Resolve through its scripting API (Resolve Studio 18.5+). The only module that imports
Resolve's library, and it does so inside `load_scripting_module`, never at import time.

Reading uses Resolve's native OTIO export (`Timeline.Export(..., EXPORT_OTIO, EXPORT_NONE)`); on a Resolve
without it the timeline is exported as FCP7 XML instead, and the log says so. Writing back either imports a
written timeline file as a new timeline (`MediaPool.ImportTimelineFromFile`) or places the rendered clips on
a new track of the open timeline (`ImportMedia` + `AddTrack` + `AppendToTimeline` with absolute
`recordFrame`). `AppendToTimeline`'s `endFrame` is inclusive up to Resolve 18 and exclusive from 19 on:
the convention is chosen by version and checked on the first clip placed. Renders that carry an alpha
channel get the Clip Attribute "Alpha mode" set to "Straight" (Resolve imports clips with "None").
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import opentimelineio as otio

from host_plugin.hosts.base import HostError, HostUnavailable, Placement

__all__ = ["ResolveHost", "connect", "load_scripting_module", "scripting_paths", "utility_scripts_dir"]

log = logging.getLogger(__name__)

NOT_REACHABLE = (
    "DaVinci Resolve did not answer. Check that: (1) Resolve is running with a project open; "
    "(2) it is DaVinci Resolve Studio: the free version does not accept scripts from outside the "
    "application (and 21.1 moved Python scripting to Studio); (3) Preferences > System > General > "
    "'External scripting using' is set to 'Local', then restart Resolve."
)

_DEFAULTS = {  # (RESOLVE_SCRIPT_API, RESOLVE_SCRIPT_LIB) per OS, from Resolve's Developer/Scripting README
    "darwin": (
        "/Library/Application Support/Blackmagic Design/DaVinci Resolve/Developer/Scripting",
        "/Applications/DaVinci Resolve/DaVinci Resolve.app/Contents/Libraries/Fusion/fusionscript.so",
    ),
    "win32": (
        r"%PROGRAMDATA%\Blackmagic Design\DaVinci Resolve\Support\Developer\Scripting",
        r"C:\Program Files\Blackmagic Design\DaVinci Resolve\fusionscript.dll",
    ),
}
# Linux: /opt/resolve, or /home/resolve where a standard ISO installation put Resolve (the same README).
LINUX_ROOTS = (Path("/opt/resolve"), Path("/home/resolve"))


def scripting_paths() -> tuple[Path, Path]:
    """Resolve's scripting folder and library: `RESOLVE_SCRIPT_API`/`RESOLVE_SCRIPT_LIB` or the OS default."""
    if sys.platform in _DEFAULTS:
        api, lib = _DEFAULTS[sys.platform]
    else:
        root = next((r for r in LINUX_ROOTS if r.exists()), LINUX_ROOTS[0])
        api, lib = str(root / "Developer/Scripting"), str(root / "libs/Fusion/fusionscript.so")
    api = os.environ.get("RESOLVE_SCRIPT_API") or os.path.expandvars(api)
    lib = os.environ.get("RESOLVE_SCRIPT_LIB") or lib
    return Path(api), Path(lib)


def utility_scripts_dir(home: Path | None = None) -> Path:
    """The per-user folder whose scripts appear under Workspace > Scripts > Utility."""
    home = home or Path.home()
    if sys.platform == "darwin":
        base = home / "Library/Application Support/Blackmagic Design/DaVinci Resolve/Fusion/Scripts"
    elif sys.platform == "win32":
        appdata = Path(os.environ.get("APPDATA", home / "AppData/Roaming"))
        base = appdata / "Blackmagic Design/DaVinci Resolve/Support/Fusion/Scripts"
    else:
        base = home / ".local/share/DaVinciResolve/Fusion/Scripts"
    return base / "Utility"


def load_scripting_module() -> ModuleType:
    """Imports `DaVinciResolveScript` from Resolve's installation (or `PYTHONPATH`)."""
    api, lib = scripting_paths()
    modules = api / "Modules"
    if str(modules) not in sys.path:
        sys.path.append(str(modules))
    os.environ.setdefault("RESOLVE_SCRIPT_LIB", str(lib))
    try:
        return importlib.import_module("DaVinciResolveScript")
    except ImportError as exc:
        raise HostUnavailable(
            f"DaVinci Resolve's scripting library was not found ({exc}); looked in {modules} with "
            f"library {lib}. Install DaVinci Resolve Studio 18.5 or later, or set RESOLVE_SCRIPT_API and "
            "RESOLVE_SCRIPT_LIB to your installation (see Resolve's Developer/Scripting README)."
        ) from exc


def connect(module: ModuleType | None = None) -> ResolveHost:
    """Connects to the running Resolve; `module` stands in for `DaVinciResolveScript` (tests, embedding)."""
    dvr = module or load_scripting_module()
    resolve = dvr.scriptapp("Resolve")
    if resolve is None:
        raise HostUnavailable(NOT_REACHABLE)
    return ResolveHost(resolve, lambda: dvr.scriptapp("Resolve"))


class ResolveHost:
    """The open project and timeline of one running Resolve."""

    name = "DaVinci Resolve"

    def __init__(self, resolve: Any, reconnect: Callable[[], Any] | None = None) -> None:
        """`reconnect` asks for Resolve again (`scriptapp`) once this connection answers no more."""
        self._resolve, self._reconnect = resolve, reconnect
        self.version: tuple[int, ...] = tuple(int(v) for v in resolve.GetVersion()[:3] if str(v).isdigit())
        self.product: str = resolve.GetProductName()
        self._exported: tuple[str, str] | None = None  # (unique id, name) of the timeline last exported
        self._exported_project: tuple[str, str] | None = None  # (unique id, name) of its project

    def _project(self) -> Any:
        manager = self._resolve.GetProjectManager()
        if manager is None and self._reconnect is not None:  # Resolve quit or restarted since this connection was made
            self._resolve = self._reconnect() or self._resolve
            manager = self._resolve.GetProjectManager()
        if manager is None:
            raise HostUnavailable(NOT_REACHABLE)
        project = manager.GetCurrentProject()
        if project is None:
            raise HostError("No project is open in DaVinci Resolve: open the project, then try again.")
        return project

    def _timeline(self) -> Any:
        timeline = self._project().GetCurrentTimeline()
        if timeline is None:
            raise HostError("No timeline is open in DaVinci Resolve: open the edit to restyle in the Edit page.")
        return timeline

    def timeline_name(self) -> str:
        return str(self._timeline().GetName())

    def export_timeline(self, dest: Path) -> Path:
        timeline = self._timeline()
        if self.version >= (18, 5) and hasattr(self._resolve, "EXPORT_OTIO"):
            path, kind = dest.with_name(dest.name + ".otio"), self._resolve.EXPORT_OTIO
        else:
            path, kind = dest.with_name(dest.name + ".xml"), self._resolve.EXPORT_FCP_7_XML
            log.warning("Resolve %s has no OTIO export; exporting FCP7 XML instead", self.version_text)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not timeline.Export(str(path), kind, self._resolve.EXPORT_NONE) or not path.is_file():
            raise HostError(f"Resolve could not export timeline '{timeline.GetName()}' to {path}: "
                            "check that the folder exists and is writable.")
        if path.suffix == ".otio":
            _note_drop_frame(path, str(timeline.GetSetting("timelineDropFrameTimecode")))
        project = self._project()
        self._exported = (_identity(timeline), str(timeline.GetName()))
        self._exported_project = (_identity(project), str(project.GetName()))
        log.info("exported Resolve timeline '%s' to %s", timeline.GetName(), path)
        return path

    def import_new_version(self, timeline_path: Path, name: str, renders: Sequence[Path] = ()) -> str:
        project = self._source_project()
        taken = {str(project.GetTimelineByIndex(i).GetName()) for i in range(1, int(project.GetTimelineCount()) + 1)}
        base, n = name, 2
        while name in taken:  # another workstation may have imported a version of the same number
            name, n = f"{base} ({n})", n + 1
        pool = project.GetMediaPool()
        # In the media pool first: a scripted timeline import has been seen to leave clips offline that it
        # would have had to import itself, and a render Resolve cannot read is named before anything changes.
        self._pool_items(pool, renders)
        options = {"timelineName": name, "importSourceClips": True}
        timeline = pool.ImportTimelineFromFile(str(timeline_path), options)
        if timeline is None:
            raise HostError(f"Resolve could not import {timeline_path} as timeline '{name}': check that the "
                            "file exists and that no timeline of that name is already in the project.")
        wanted, found = {Path(r).resolve(): Path(r) for r in renders}, {}
        for track in range(1, int(timeline.GetTrackCount("video")) + 1):
            for item in timeline.GetItemListInTrack("video", track) or []:
                pool_item = item.GetMediaPoolItem()
                path = Path(pool_item.GetClipProperty("File Path")).resolve() if pool_item else None
                if path in wanted:
                    found.setdefault(path, pool_item)
        _straight_alpha(found.values())
        project.SetCurrentTimeline(timeline)
        if offline := [wanted[path].name for path in wanted if path not in found]:
            raise HostError(
                f"Resolve imported timeline '{timeline.GetName()}' but left {len(offline)} render(s) unlinked "
                f"({', '.join(offline[:3])}{', ...' if len(offline) > 3 else ''}): select the offline clips in "
                f"the media pool and use Relink Clips on {Path(next(iter(wanted))).parent} (the renders folder).")
        return str(timeline.GetName())

    def add_version_track(self, placements: Sequence[Placement], track_name: str) -> list[int]:
        if not placements:
            raise HostError("Nothing to place: no shot has a rendered clip yet.")
        pool = self._source_project().GetMediaPool()
        items = self._pool_items(pool, [p.media for p in placements])  # first: a render missing switches no timeline
        timeline = self._rendered_timeline()
        _straight_alpha(items.values())
        groups: dict[int, list[Placement]] = {}
        for placement in placements:
            groups.setdefault(placement.track, []).append(placement)
        added: list[int] = []
        placed: list[Any] = []
        try:
            for source, group in sorted(groups.items()):
                name = track_name if len(groups) == 1 else f"{track_name} (V{source + 1})"
                added.append(self._add_track(timeline, name))
                self._place(timeline, pool, items, group, added[-1], placed)
        except BaseException:
            if placed:
                timeline.DeleteClips(placed, False)
            for track in reversed(added):
                if not callable(getattr(timeline, "DeleteTrack", None)) or not timeline.DeleteTrack("video", track):
                    log.warning("Resolve %s could not remove the empty video track %d: delete it by hand",
                                self.version_text, track)
            raise
        return added

    def _source_project(self) -> Any:
        """The open project, refused when it is not the one the timeline was exported from (the editor
        switched projects since): a write-back there would land in another show."""
        project = self._project()
        if self._exported_project is not None and _identity(project) != self._exported_project[0]:
            raise HostError(
                f"Resolve has project '{project.GetName()}' open, but the renders were made from a timeline of "
                f"project '{self._exported_project[1]}': open project '{self._exported_project[1]}' in Resolve, "
                "then write back again.")
        return project

    def _rendered_timeline(self) -> Any:
        """The timeline last exported, made current (AppendToTimeline places on the current one)."""
        if self._exported is None:
            return self._timeline()
        project = self._source_project()
        current = project.GetCurrentTimeline()  # None, too, while timelines exist: then the rendered one opens
        if current is not None and _identity(current) == self._exported[0]:
            return current
        for index in range(1, int(project.GetTimelineCount()) + 1):
            timeline = project.GetTimelineByIndex(index)
            if _identity(timeline) == self._exported[0]:
                if not project.SetCurrentTimeline(timeline):
                    raise HostError(f"Resolve would not open timeline '{self._exported[1]}': open it and write back again.")
                log.info("switched to timeline '%s', which the renders were made from", self._exported[1])
                return timeline
        raise HostError(f"The timeline '{self._exported[1]}' the renders were made from is no longer in the project: "
                        "write them back as a new timeline version instead.")

    @staticmethod
    def _add_track(timeline: Any, track_name: str) -> int:
        if not timeline.AddTrack("video"):
            raise HostError(f"Resolve refused to add a video track to timeline '{timeline.GetName()}'.")
        track = int(timeline.GetTrackCount("video"))
        taken = {timeline.GetTrackName("video", i) for i in range(1, track)}
        name, n = track_name, 2
        while name in taken:  # each render is a new version track, never a second one of the same name
            name, n = f"{track_name} ({n})", n + 1
        timeline.SetTrackName("video", track, name)
        return track

    def _place(self, timeline: Any, pool: Any, items: dict[Path, Any], placements: Sequence[Placement],
               track: int, placed: list[Any]) -> None:
        """Places `placements` on `track`, adding each timeline item to `placed` as it lands."""
        exclusive = self.version >= (19,)
        first = self._append(pool, items, placements[0], track, exclusive)
        if first is None or first.GetDuration() != placements[0].duration:  # this build counts endFrame otherwise
            if first is not None:
                timeline.DeleteClips([first], False)
            exclusive = not exclusive
            log.warning("Resolve %s: AppendToTimeline endFrame is %s here", self.version_text,
                        "exclusive" if exclusive else "inclusive")
            first = self._append(pool, items, placements[0], track, exclusive)
        for placement in placements:
            item = first if placement is placements[0] else self._append(pool, items, placement, track, exclusive)
            if item is None:
                raise HostError(f"Resolve refused to place '{placement.name}' ({placement.media}) at frame "
                                f"{placement.record_frame} on video track {track}.")
            placed.append(item)
            if item.GetStart() != placement.record_frame or item.GetDuration() != placement.duration:
                raise HostError(
                    f"Resolve placed '{placement.name}' at frame {item.GetStart()} for {item.GetDuration()} "
                    f"frames instead of {placement.record_frame} for {placement.duration}: check the clip's "
                    f"frame rate against the timeline's ({timeline.GetSetting('timelineFrameRate')} fps)."
                )

    @property
    def version_text(self) -> str:
        return f"{self.product} {'.'.join(map(str, self.version))}"

    def _append(self, pool: Any, items: dict[Path, Any], p: Placement, track: int, exclusive: bool) -> Any | None:
        info = {
            "mediaPoolItem": items[p.media],
            "startFrame": p.source_in,
            "endFrame": p.source_out if exclusive else p.source_out - 1,
            "trackIndex": track,
            "recordFrame": p.record_frame,
            "mediaType": 1,  # video only: rendered clips carry no audio
        }
        appended = pool.AppendToTimeline([info])
        return appended[0] if appended else None

    def _pool_items(self, pool: Any, media: Sequence[Path]) -> dict[Path, Any]:
        wanted = {Path(m).resolve(): Path(m) for m in media}
        found: dict[Path, Any] = {}
        imported = pool.ImportMedia([str(p) for p in dict.fromkeys(wanted)]) or []
        for item in [*imported, *_walk_clips(pool.GetRootFolder())]:
            path = Path(item.GetClipProperty("File Path")).resolve()
            if path in wanted:
                found.setdefault(wanted[path], item)
        missing = [str(m) for m in wanted.values() if m not in found]
        if missing:
            raise HostError(f"Resolve could not import {', '.join(missing)}: check that the files exist and "
                            "that Resolve can read them (the media storage locations in Preferences).")
        return found


def _identity(item: Any) -> str:
    """A timeline's or project's unique id (Resolve 18.5+), else its name (unique within a project, or a
    project folder, too)."""
    unique_id = getattr(item, "GetUniqueId", None)
    return str(unique_id()) if callable(unique_id) else f"name:{item.GetName()}"


def _note_drop_frame(path: Path, setting: str) -> None:
    """Resolve's OTIO export does not say whether the timeline counts drop-frame (OTIO would infer it from
    29.97, where Resolve counts non-drop unless the project says so): its setting goes into the file."""
    if setting not in ("0", "1"):
        return
    timeline = otio.adapters.read_from_file(str(path))
    timeline.metadata.setdefault("dreamstyle", {})["drop_frame"] = setting == "1"
    otio.adapters.write_to_file(timeline, str(path))


def _straight_alpha(items: Iterable[Any]) -> None:
    """Resolve uses a clip's alpha only when its "Alpha mode" attribute says how (it is "None" when
    imported): a render of a source with alpha carries straight alpha (`engine.media`), so it says so."""
    from dreamstyle.frames import probe  # PyAV, only once clips are placed: this module imports bare

    for item in items:
        path = Path(item.GetClipProperty("File Path"))
        if probe(path).alpha and not item.SetClipProperty("Alpha mode", "Straight"):
            log.warning("Resolve did not take Alpha mode 'Straight' for %s: set it in Clip Attributes", path.name)


def _walk_clips(folder: Any) -> Iterator[Any]:
    yield from folder.GetClipList() or []
    for sub in folder.GetSubFolderList() or []:
        yield from _walk_clips(sub)
