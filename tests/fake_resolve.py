"""A faithful fake of DaVinci Resolve's documented scripting objects, for tests that cannot run Resolve.

It follows Resolve's Developer/Scripting README: frames are absolute (a timeline starts at
`GetStartFrame()`, 86400 for 01:00:00:00 at 24 fps), `GetSetting('timelineFrameRate')` is a string,
`Timeline.Export(..., EXPORT_OTIO, ...)` writes a real OTIO file with raw absolute media paths and, as
Resolve's does, nothing of drop-frame timecode (`GetSetting('timelineDropFrameTimecode')` says it),
`ImportTimelineFromFile` reads one back, and `AppendToTimeline`'s `endFrame` is inclusive before Resolve 19
and exclusive from 19 on. Media pool items probe real media files. Media whose rate differs from the
timeline's plays in real time: a clip of N media frames lasts N x timeline rate / media rate timeline frames
(rounded half up), which is what `GetDuration` reports.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import opentimelineio as otio

from dreamstyle.frames import probe
from host_plugin.timeline.media import url_to_path

RATES = {"23.976": Fraction(24000, 1001), "29.97": Fraction(30000, 1001), "59.94": Fraction(60000, 1001)}


def rate_of(text: str) -> Fraction:
    return RATES.get(text, Fraction(text))


# Clip Attributes a script may set, with their values (Resolve's README: "MediaPoolItem:SetClipProperty").
SETTABLE = {"Alpha mode": {"None", "Premultiplied", "Straight"}}


class MediaPoolItem:
    def __init__(self, path: Path) -> None:
        self.path, self.info = Path(path), probe(Path(path))
        self.attributes = {"Alpha mode": "None"}  # what Resolve shows for a freshly imported clip

    def GetName(self) -> str:
        return self.path.name

    def GetClipProperty(self, key: str) -> str:
        rate = self.info.rate
        fps = {Fraction(24000, 1001): "23.976", Fraction(30000, 1001): "29.97"}.get(rate, str(int(rate)))
        return {"File Path": str(self.path), "FPS": fps, "Frames": str(self.info.frames),
                "Clip Name": self.path.name, **self.attributes}.get(key, "")

    def SetClipProperty(self, key: str, value: str) -> bool:
        """Like Resolve: False for a key or value it does not take; intrinsic properties are read-only."""
        if value not in SETTABLE.get(key, ()):
            return False
        self.attributes[key] = value
        return True


@dataclass
class TimelineItem:
    name: str
    item: MediaPoolItem
    start: int  # absolute record frame
    duration: int  # timeline frames
    left_offset: int  # source in, media frames
    source_frames: int = 0  # media frames used (0: the same as `duration`, media at the timeline's rate)

    def GetName(self) -> str:
        return self.name

    def GetStart(self) -> int:
        return self.start

    def GetEnd(self) -> int:
        return self.start + self.duration

    def GetDuration(self) -> int:
        return self.duration

    def GetLeftOffset(self) -> int:
        return self.left_offset

    def GetMediaPoolItem(self) -> MediaPoolItem:
        return self.item


@dataclass
class Timeline:
    name: str
    rate: str = "23.976"
    start_frame: int = 86400
    tracks: list[list[TimelineItem]] = field(default_factory=lambda: [[]])
    track_names: list[str] = field(default_factory=lambda: ["Video 1"])
    resolve: Resolve | None = None
    unique_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    drop_frame: bool = False  # Project Settings > "Use drop frame timecode" (off by default)

    def GetName(self) -> str:
        return self.name

    def GetUniqueId(self) -> str:
        return self.unique_id

    def GetStartFrame(self) -> int:
        return self.start_frame

    def GetEndFrame(self) -> int:
        return max([self.start_frame] + [i.GetEnd() for t in self.tracks for i in t])

    def GetSetting(self, key: str) -> str:
        return {"timelineFrameRate": self.rate, "timelineDropFrameTimecode": str(int(self.drop_frame))}.get(key, "")

    def GetStartTimecode(self) -> str:
        start = otio.opentime.RationalTime(self.start_frame, float(rate_of(self.rate)))
        return otio.opentime.to_timecode(start, start.rate, self.drop_frame)

    def GetTrackCount(self, kind: str) -> int:
        return len(self.tracks) if kind == "video" else 0

    def AddTrack(self, kind: str, sub_type: str | None = None) -> bool:
        if kind != "video":
            return False
        self.tracks.append([])
        self.track_names.append(f"Video {len(self.tracks)}")
        return True

    def DeleteTrack(self, kind: str, index: int) -> bool:
        if kind != "video" or not 1 <= index <= len(self.tracks):
            return False
        del self.tracks[index - 1], self.track_names[index - 1]
        return True

    def SetTrackName(self, kind: str, index: int, name: str) -> bool:
        self.track_names[index - 1] = name
        return True

    def GetTrackName(self, kind: str, index: int) -> str:
        return self.track_names[index - 1]

    def GetItemListInTrack(self, kind: str, index: int) -> list[TimelineItem]:
        return list(self.tracks[index - 1])

    def DeleteClips(self, items: list[TimelineItem], ripple: bool = False) -> bool:
        for track in self.tracks:
            track[:] = [i for i in track if all(i is not x for x in items)]
        return True

    def Export(self, path: str, kind: str, sub_type: str) -> bool:
        adapter = {"otio": "otio_json", "fcp7": "fcp_xml"}.get(kind)
        too_old = kind == "otio" and self.resolve is not None and self.resolve.version < (18, 5)
        if adapter is None or too_old or not Path(path).parent.is_dir():
            return False
        otio.adapters.write_to_file(self.to_otio(), path, adapter_name=adapter)
        return True

    def to_otio(self) -> otio.schema.Timeline:
        rate = float(rate_of(self.rate))
        out = otio.schema.Timeline(self.name, global_start_time=otio.opentime.RationalTime(self.start_frame, rate))
        for items, name in zip(self.tracks, self.track_names):
            track = otio.schema.Track(name, kind=otio.schema.TrackKind.Video)
            cursor = self.start_frame
            for item in sorted(items, key=lambda i: i.start):
                if item.start > cursor:
                    track.append(otio.schema.Gap(duration=otio.opentime.RationalTime(item.start - cursor, rate)))
                media_rate = float(item.item.info.rate)
                ref = otio.schema.ExternalReference(
                    target_url=str(item.item.path),  # Resolve writes raw absolute paths
                    available_range=otio.opentime.TimeRange(
                        otio.opentime.RationalTime(0, media_rate),
                        otio.opentime.RationalTime(item.item.info.frames, media_rate)))
                track.append(otio.schema.Clip(item.name, ref, otio.opentime.TimeRange(
                    otio.opentime.RationalTime(item.left_offset, media_rate),
                    otio.opentime.RationalTime(item.source_frames or item.duration, media_rate))))
                cursor = item.start + item.duration
            out.tracks.append(track)
        return out


class Folder:
    def __init__(self) -> None:
        self.clips: list[MediaPoolItem] = []

    def GetClipList(self) -> list[MediaPoolItem]:
        return list(self.clips)

    def GetSubFolderList(self) -> list[Folder]:
        return []


class MediaPool:
    def __init__(self, project: Project) -> None:
        self.project, self.root = project, Folder()

    def GetRootFolder(self) -> Folder:
        return self.root

    def ImportMedia(self, paths: list[str]) -> list[MediaPoolItem]:
        """Like Resolve: files already in the pool are not imported again (and not returned)."""
        known = {c.path for c in self.root.clips}
        new = [MediaPoolItem(Path(p)) for p in paths if Path(p).is_file() and Path(p) not in known]
        self.root.clips += new
        return new

    def AppendToTimeline(self, infos: list[dict[str, Any]]) -> list[TimelineItem] | None:
        """Like Resolve 21: a batch holding a clip it cannot place (past its media's end, on no track, at a
        fractional frame), or sent while no timeline is current, is refused whole with None."""
        timeline = self.project.GetCurrentTimeline()
        exclusive = self.project.resolve.version[0] >= 19
        placed: list[tuple[int, TimelineItem]] = []
        for info in infos:
            item, frames = info["mediaPoolItem"], (info["startFrame"], info["endFrame"], info["recordFrame"])
            start, end = int(info["startFrame"]), int(info["endFrame"]) + (0 if exclusive else 1)
            track = int(info.get("trackIndex", 1))
            if (timeline is None or any(f != int(f) for f in frames) or end <= start or end > item.info.frames
                    or not 1 <= track <= len(timeline.tracks)):
                return None
            duration = math.floor((end - start) * rate_of(timeline.rate) / item.info.rate + Fraction(1, 2))
            placed.append((track, TimelineItem(item.GetName(), item, int(info["recordFrame"]), duration, start,
                                               end - start)))
        for track, placement in placed:
            timeline.tracks[track - 1].append(placement)
        return [placement for _, placement in placed]

    def ImportTimelineFromFile(self, path: str, options: dict[str, Any]) -> Timeline | None:
        name = options.get("timelineName") or Path(path).stem
        if not Path(path).is_file() or any(t.name == name for t in self.project.timelines):
            return None
        source = otio.adapters.read_from_file(path)
        start = source.global_start_time
        rate = {Fraction(24000, 1001): "23.976", Fraction(30000, 1001): "29.97"}.get(
            Fraction(start.rate).limit_denominator(1001), str(int(start.rate)))
        timeline = Timeline(name, rate, int(start.value), tracks=[], track_names=[], resolve=self.project.resolve)
        for track in source.video_tracks():
            items = []
            for clip in track.find_clips():
                record = track.range_of_child(clip).start_time.rescaled_to(start.rate).to_frames()
                path = Path(url_to_path(clip.media_reference.target_url))
                pool_item = next((c for c in self.root.clips if c.path == path), None)  # already in the pool
                if pool_item is None:
                    pool_item = MediaPoolItem(path)
                    if options.get("importSourceClips"):
                        self.root.clips.append(pool_item)
                src = clip.source_range
                items.append(TimelineItem(clip.name, pool_item, int(start.value) + record,
                                          src.duration.to_frames(), src.start_time.to_frames()))
            timeline.tracks.append(items)
            timeline.track_names.append(track.name)
        self.project.timelines.append(timeline)
        return timeline


class Project:
    def __init__(self, resolve: Resolve, name: str = "Project") -> None:
        self.resolve, self.name = resolve, name
        self.timelines: list[Timeline] = []
        self.current: Timeline | None = None
        self.pool = MediaPool(self)
        self.unique_id = uuid.uuid4().hex

    def GetName(self) -> str:
        return self.name

    def GetUniqueId(self) -> str:
        return self.unique_id

    def GetMediaPool(self) -> MediaPool:
        return self.pool

    def GetCurrentTimeline(self) -> Timeline | None:
        return self.current

    def SetCurrentTimeline(self, timeline: Timeline) -> bool:
        self.current = timeline
        return True

    def GetTimelineCount(self) -> int:
        return len(self.timelines)

    def GetTimelineByIndex(self, index: int) -> Timeline:
        return self.timelines[index - 1]


class Resolve:
    EXPORT_OTIO, EXPORT_FCP_7_XML, EXPORT_NONE = "otio", "fcp7", "none"

    def __init__(self, version: tuple[int, int, int] = (19, 1, 3), product: str = "DaVinci Resolve Studio"):
        self.version, self.product = version, product
        self.project: Project | None = Project(self)
        self.manager = SimpleNamespace(GetCurrentProject=lambda: self.project)

    def GetProjectManager(self) -> Any:
        return self.manager

    def GetVersion(self) -> list[Any]:
        return [*self.version, 7, ""]

    def GetProductName(self) -> str:
        return self.product

    def add_timeline(self, name: str, clips: list[tuple[Path, int, int, int]], rate: str = "23.976",
                     start_frame: int = 86400, drop_frame: bool = False) -> Timeline:
        """Builds the editor's cut: (media, source in, frames, record offset from the timeline start)."""
        assert self.project is not None
        timeline = Timeline(name, rate, start_frame, resolve=self, drop_frame=drop_frame)
        for media, source_in, frames, offset in clips:
            item = MediaPoolItem(media)
            self.project.pool.root.clips.append(item)
            timeline.tracks[0].append(TimelineItem(item.GetName(), item, start_frame + offset, frames, source_in))
        self.project.timelines.append(timeline)
        self.project.current = timeline
        return timeline


def scripting_module(resolve: Resolve | None) -> SimpleNamespace:
    """Stands in for `DaVinciResolveScript`: `scriptapp` returns None when Resolve does not answer."""
    return SimpleNamespace(scriptapp=lambda app: resolve if app == "Resolve" else None)
