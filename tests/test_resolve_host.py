"""The Resolve host against a faithful fake of Resolve's scripting objects, with real OTIO files and media."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

import fake_resolve
from host_plugin.hosts import HostError, HostUnavailable, Placement
from host_plugin.hosts.resolve import ResolveHost, connect, load_scripting_module, utility_scripts_dir
from mediagen import write_video

NTSC = Fraction(24000, 1001)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> list[Path]:
    root = tmp_path_factory.mktemp("resolve_media")
    return [write_video(root / "a.mp4", [30], width=64, height=36),
            write_video(root / "b v2.mp4", [40], width=64, height=36)]


@pytest.fixture
def resolve(media) -> fake_resolve.Resolve:
    app = fake_resolve.Resolve()
    app.add_timeline("Edit 1", [(media[0], 4, 20, 0), (media[1], 10, 24, 20)])
    return app


def host_for(app: fake_resolve.Resolve) -> ResolveHost:
    return connect(fake_resolve.scripting_module(app))


def test_export_writes_real_otio_with_absolute_start(resolve, media, tmp_path):
    path = host_for(resolve).export_timeline(tmp_path / "export" / "edit")
    assert path == tmp_path / "export" / "edit.otio"
    timeline = otio.adapters.read_from_file(str(path))
    assert timeline.global_start_time.to_frames() == 86400
    assert otio.opentime.to_timecode(timeline.global_start_time, NTSC) == "01:00:00:00"
    clips = list(timeline.find_clips())
    assert [c.media_reference.target_url for c in clips] == [str(m) for m in media]
    assert [(c.source_range.start_time.to_frames(), c.source_range.duration.to_frames()) for c in clips] == [
        (4, 20), (10, 24)]
    assert Fraction(clips[0].source_range.start_time.rate).limit_denominator(1001) == NTSC


def test_old_resolve_falls_back_to_fcp7_xml(media, tmp_path, caplog):
    app = fake_resolve.Resolve(version=(18, 1, 4))
    app.add_timeline("Old", [(media[0], 0, 30, 0)])
    path = host_for(app).export_timeline(tmp_path / "old")
    assert path.suffix == ".xml" and "<format" in path.read_text()
    assert "no OTIO export" in caplog.text


@pytest.mark.parametrize("version", [(18, 6, 6), (19, 1, 3), (20, 2, 1)])
@pytest.mark.parametrize("rate,start", [("23.976", 86400), ("29.97", 108000), ("24", 0)])
def test_version_track_lands_on_exact_record_frames(tmp_path, version, rate, start):
    fps = fake_resolve.rate_of(rate)
    media = [write_video(tmp_path / f"{n}.mp4", [frames], width=64, height=36, rate=fps)
             for n, frames in (("a", 30), ("b", 40))]
    app = fake_resolve.Resolve(version=version)
    timeline = app.add_timeline("Edit", [(media[0], 0, 30, 0)], rate=rate, start_frame=start)
    placements = [Placement(media[1], start + 2, 3, 15, "a_dreamstyle_v1"),
                  Placement(media[0], start + 14, 0, 16, "b_dreamstyle_v1")]
    tracks = host_for(app).add_version_track(placements, "DreamStyle v1")
    assert tracks == [2] and timeline.GetTrackName("video", 2) == "DreamStyle v1"
    placed = timeline.GetItemListInTrack("video", 2)
    assert [(i.GetStart(), i.GetDuration(), i.GetLeftOffset()) for i in placed] == [
        (start + 2, 12, 3), (start + 14, 16, 0)]
    assert [(i.GetStart(), i.GetDuration()) for i in timeline.GetItemListInTrack("video", 1)] == [(start, 30)]


def test_wrong_endframe_convention_is_detected_and_corrected(media, caplog):
    app = fake_resolve.Resolve(version=(18, 6, 0))
    timeline = app.add_timeline("Edit", [(media[0], 0, 30, 0)])
    host = ResolveHost(app)
    host.version = (19, 0, 0)  # a build that reports 19 but counts endFrame like 18
    host.add_version_track([Placement(media[0], 86400, 5, 25, "x")], "DreamStyle v1")
    assert [(i.GetStart(), i.GetDuration()) for i in timeline.GetItemListInTrack("video", 2)] == [(86400, 20)]
    assert "endFrame is inclusive" in caplog.text


def test_convention_is_corrected_when_the_first_clip_is_refused(media, caplog):
    app = fake_resolve.Resolve(version=(18, 6, 0))
    timeline = app.add_timeline("Edit", [(media[0], 0, 30, 0)])
    host = ResolveHost(app)
    host.version = (19, 0, 0)  # endFrame 30 (exclusive) is past the last frame for an inclusive build
    host.add_version_track([Placement(media[0], 86400, 0, 30, "whole")], "DreamStyle v1")
    assert [(i.GetStart(), i.GetDuration()) for i in timeline.GetItemListInTrack("video", 2)] == [(86400, 30)]
    assert "endFrame is inclusive" in caplog.text


def test_a_refused_clip_is_named(resolve, media):
    with pytest.raises(HostError, match="refused to place 'too long'"):
        host_for(resolve).add_version_track([Placement(media[0], 86400, 0, 500, "too long")], "DreamStyle v1")


def test_each_render_gets_its_own_track(resolve, media):
    host = host_for(resolve)
    for version in (1, 2, 2):
        host.add_version_track([Placement(media[0], 86400, 0, 10, f"v{version}")], f"DreamStyle v{version}")
    timeline = resolve.project.GetCurrentTimeline()
    assert [timeline.GetTrackName("video", i) for i in (1, 2, 3, 4)] == [
        "Video 1", "DreamStyle v1", "DreamStyle v2", "DreamStyle v2 (2)"]


def test_import_new_version_round_trips_the_export(resolve, media, tmp_path):
    host = host_for(resolve)
    path = host.export_timeline(tmp_path / "edit")
    assert host.import_new_version(path, "Edit 1 DreamStyle v1") == "Edit 1 DreamStyle v1"
    current = resolve.project.GetCurrentTimeline()
    assert current.GetName() == "Edit 1 DreamStyle v1" and current.GetStartFrame() == 86400
    assert current.GetSetting("timelineFrameRate") == "23.976"
    assert [(i.GetStart(), i.GetDuration()) for i in current.GetItemListInTrack("video", 1)] == [
        (86400, 20), (86420, 24)]
    # another workstation's v1 is already in the project: the import takes a free name, never fails
    assert host.import_new_version(path, "Edit 1 DreamStyle v1") == "Edit 1 DreamStyle v1 (2)"


def test_import_new_version_puts_the_renders_in_the_pool_first_and_names_any_left_unlinked(
        resolve, media, tmp_path, monkeypatch):
    """A scripted OTIO import has been seen to leave clips offline that it had to import itself: the renders
    go into the media pool before the import, and one the imported timeline does not link to is named."""
    host = host_for(resolve)
    host.add_version_track([Placement(media[1], 86400, 0, 10, "b")], "v1")  # the export holds a "render"
    edit = host.export_timeline(tmp_path / "edit")
    pool = resolve.project.pool.root
    pool.clips = [c for c in pool.clips if c.path != media[1]]
    imports = []
    monkeypatch.setattr(fake_resolve.MediaPool, "ImportTimelineFromFile",
                        lambda self, *a, real=fake_resolve.MediaPool.ImportTimelineFromFile: imports.append(
                            [c.path for c in self.root.clips]) or real(self, *a))
    assert host.import_new_version(edit, "Edit 1 DreamStyle v1", [media[1]]) == "Edit 1 DreamStyle v1"
    assert media[1] in imports[0]  # in the pool before the timeline came in

    monkeypatch.setattr(fake_resolve.TimelineItem, "GetMediaPoolItem",
                        lambda self: None if self.item.path == media[1] else self.item)  # offline after import
    with pytest.raises(HostError, match=r"left 1 render\(s\) unlinked \(b v2.mp4\).*Relink"):
        host.import_new_version(edit, "Edit 1 DreamStyle v2", [media[1]])
    assert resolve.project.GetCurrentTimeline().GetName() == "Edit 1 DreamStyle v2"


def test_each_source_track_gets_its_own_version_track(resolve, media):
    """An insert on V2 overlaps V1: their renders on one track would overwrite each other."""
    timeline = resolve.project.GetCurrentTimeline()
    tracks = host_for(resolve).add_version_track(
        [Placement(media[0], 86400, 0, 20, "v1 shot", track=0), Placement(media[1], 86405, 0, 10, "insert", track=1)],
        "DreamStyle v1")
    assert tracks == [2, 3]
    assert [timeline.GetTrackName("video", i) for i in tracks] == ["DreamStyle v1 (V1)", "DreamStyle v1 (V2)"]
    assert [(i.GetStart(), i.GetDuration()) for i in timeline.GetItemListInTrack("video", 2)] == [(86400, 20)]
    assert [(i.GetStart(), i.GetDuration()) for i in timeline.GetItemListInTrack("video", 3)] == [(86405, 10)]


def test_renders_go_to_the_timeline_they_were_made_from(resolve, media, tmp_path):
    host = host_for(resolve)
    host.export_timeline(tmp_path / "edit")
    rendered = resolve.project.GetCurrentTimeline()
    other = resolve.add_timeline("Reel 2", [(media[1], 0, 40, 0)])  # the editor opens another timeline
    assert resolve.project.GetCurrentTimeline() is other
    host.add_version_track([Placement(media[0], 86400, 0, 10, "a")], "DreamStyle v1")
    assert rendered.GetTrackCount("video") == 2 and other.GetTrackCount("video") == 1
    assert resolve.project.GetCurrentTimeline() is rendered and host.timeline_name() == "Edit 1"
    resolve.project.timelines.remove(rendered)  # deleted in the media pool; Resolve opens another
    resolve.project.SetCurrentTimeline(other)
    with pytest.raises(HostError, match="'Edit 1' the renders were made from is no longer in the project"):
        host.add_version_track([Placement(media[0], 86400, 0, 10, "a")], "DreamStyle v1")


def test_a_write_back_whose_render_cannot_be_imported_leaves_the_editors_timeline_open(resolve, media, tmp_path):
    host = host_for(resolve)
    host.export_timeline(tmp_path / "edit")
    other = resolve.add_timeline("Reel 2", [(media[1], 0, 40, 0)])  # the editor works on another timeline
    with pytest.raises(HostError, match="ghost.mov"):
        host.add_version_track([Placement(tmp_path / "ghost.mov", 86400, 0, 10, "a")], "DreamStyle v1")
    assert resolve.project.GetCurrentTimeline() is other


def test_a_failed_write_back_leaves_nothing_behind(resolve, media):
    timeline = resolve.project.GetCurrentTimeline()
    before = [list(t) for t in timeline.tracks], list(timeline.track_names)
    placements = [Placement(media[0], 86400, 0, 10, "fits", track=0), Placement(media[1], 86400, 0, 10, "v2", track=1),
                  Placement(media[1], 86410, 0, 500, "too long", track=1)]
    with pytest.raises(HostError, match="refused to place 'too long'"):
        host_for(resolve).add_version_track(placements, "DreamStyle v1")
    assert ([list(t) for t in timeline.tracks], timeline.track_names) == before


def test_media_at_another_rate_is_checked_in_timeline_frames(media, tmp_path):
    """50 frames of 25 fps media last 48 frames of a 23.976 timeline (Resolve plays them in real time)."""
    pal = write_video(tmp_path / "pal.mp4", [60], width=64, height=36, rate=25)
    app = fake_resolve.Resolve()
    timeline = app.add_timeline("Edit", [(media[0], 0, 30, 0)])
    host_for(app).add_version_track([Placement(pal, 86400, 5, 55, "pal", record_frames=48)], "DreamStyle v1")
    assert [(i.GetStart(), i.GetDuration(), i.GetLeftOffset()) for i in timeline.GetItemListInTrack("video", 2)] == [
        (86400, 48, 5)]


def test_missing_media_and_empty_project_are_named(resolve, tmp_path):
    host = host_for(resolve)
    with pytest.raises(HostError, match="ghost.mov"):
        host.add_version_track([Placement(tmp_path / "ghost.mov", 86400, 0, 5, "g")], "v1")
    resolve.project.current = None
    with pytest.raises(HostError, match="No timeline is open"):
        host.timeline_name()
    resolve.project = None
    with pytest.raises(HostError, match="No project is open"):
        host.export_timeline(tmp_path / "x")


def test_resolve_not_answering_names_studio_and_preference():
    with pytest.raises(HostUnavailable, match="Studio.*External scripting using"):
        connect(fake_resolve.scripting_module(None))


def test_missing_library_names_paths_and_env(tmp_path, monkeypatch):
    monkeypatch.setenv("RESOLVE_SCRIPT_API", str(tmp_path / "nowhere"))
    monkeypatch.delitem(sys.modules, "DaVinciResolveScript", raising=False)
    with pytest.raises(HostUnavailable, match="nowhere.*RESOLVE_SCRIPT_API"):
        load_scripting_module()


def test_library_is_loaded_from_resolve_script_api(tmp_path, monkeypatch):
    modules = tmp_path / "Scripting" / "Modules"
    modules.mkdir(parents=True)
    (modules / "DaVinciResolveScript.py").write_text("def scriptapp(name):\n    return None\n")
    monkeypatch.setenv("RESOLVE_SCRIPT_API", str(tmp_path / "Scripting"))
    monkeypatch.delitem(sys.modules, "DaVinciResolveScript", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert load_scripting_module().__file__ == str(modules / "DaVinciResolveScript.py")
    with pytest.raises(HostUnavailable, match="did not answer"):
        connect()
    monkeypatch.delitem(sys.modules, "DaVinciResolveScript")


def test_linux_finds_resolve_installed_under_home_resolve(tmp_path, monkeypatch):
    """Resolve's README: a standard ISO installation is under /home/resolve instead of /opt/resolve."""
    from host_plugin.hosts import resolve as resolve_host

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("RESOLVE_SCRIPT_API", raising=False)
    monkeypatch.delenv("RESOLVE_SCRIPT_LIB", raising=False)
    opt, home = tmp_path / "opt_resolve", tmp_path / "home_resolve"
    monkeypatch.setattr(resolve_host, "LINUX_ROOTS", (opt, home))
    assert resolve_host.scripting_paths() == (opt / "Developer/Scripting", opt / "libs/Fusion/fusionscript.so")
    home.mkdir()
    assert resolve_host.scripting_paths() == (home / "Developer/Scripting", home / "libs/Fusion/fusionscript.so")
    opt.mkdir()
    assert resolve_host.scripting_paths()[0] == opt / "Developer/Scripting"


def test_utility_scripts_folder_is_per_user(tmp_path):
    path = utility_scripts_dir(tmp_path)
    assert path.name == "Utility" and path.parent.name == "Scripts" and tmp_path in path.parents


@pytest.mark.parametrize("rate,start", [("23.976", 86400), ("29.97", 108000)])
def test_pipeline_round_trip_through_resolve(tmp_path, rate, start):
    """Resolve's export -> the pipeline's reader and planner -> placements -> the same record frames."""
    from host_plugin.hosts import placements_for
    from host_plugin.pipeline import ShotResult, load_edit, plan_edit

    fps = fake_resolve.rate_of(rate)
    media = [write_video(tmp_path / f"{n}.mp4", [frames], width=64, height=36, rate=fps)
             for n, frames in (("a", 30), ("b", 40))]
    app = fake_resolve.Resolve()
    timeline = app.add_timeline("Edit", [(media[0], 4, 20, 0), (media[1], 10, 24, 26)], rate=rate, start_frame=start)
    host = host_for(app)
    edit = load_edit(host.export_timeline(tmp_path / "edit"))
    plan = plan_edit(edit, None)
    assert [(s.start, s.end) for s in plan.shots] == [(4, 24), (10, 34)]
    results = [ShotResult(shot, "done", shot.media) for shot in plan.shots]  # stand-ins for renders
    placements = placements_for(results, edit.timeline.global_start_time.to_frames())
    host.add_version_track(placements, "DreamStyle v1")
    originals = [(i.GetStart(), i.GetDuration()) for i in timeline.GetItemListInTrack("video", 1)]
    assert [(i.GetStart(), i.GetDuration()) for i in timeline.GetItemListInTrack("video", 2)] == originals
    assert originals == [(start, 20), (start + 26, 24)]


def test_a_track_the_panel_added_is_not_restyled_again(resolve, media, tmp_path):
    from host_plugin.pipeline import load_edit, plan_edit

    host = host_for(resolve)
    host.add_version_track([Placement(media[1], 86400, 0, 20, "a render")], "DreamStyle - classic noir")
    plan = plan_edit(load_edit(host.export_timeline(tmp_path / "again")), None)
    assert {s.track_index for s in plan.shots} == {0} and len(plan.shots) == 2


def test_host_modules_import_without_torch_qt_or_resolve():
    import subprocess

    code = ("import sys, host_plugin.hosts.resolve, host_plugin.hosts.premiere, host_plugin.commands.doctor; "
            "print([m for m in ('torch', 'PySide6', 'DaVinciResolveScript') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


@pytest.fixture(scope="module")
def graphic(tmp_path_factory) -> Path:
    """A render of a source with alpha: ProRes 4444 with an alpha channel, as the engine writes it."""
    import numpy as np

    from engine.media import ClipWriter

    path = tmp_path_factory.mktemp("alpha") / "title_s001.mov"
    with ClipWriter(path, rate=NTSC, width=64, height=36, codec="prores", alpha=True) as writer:
        for index in range(20):
            writer.write(np.full((36, 64, 4), (200, 40, 40, 12 * index), np.uint8))
    return path


def test_renders_with_alpha_are_marked_straight_and_nothing_else_is(resolve, media, graphic, tmp_path):
    """Resolve imports clips with Alpha mode "None", which would show a lower third's render opaque."""
    host = host_for(resolve)
    host.add_version_track([Placement(graphic, 86400, 0, 10, "title"), Placement(media[1], 86410, 0, 10, "b")], "v1")
    modes = {Path(c.GetClipProperty("File Path")).name: c.GetClipProperty("Alpha mode")
             for c in resolve.project.pool.root.GetClipList()}
    assert modes == {"a.mp4": "None", "b v2.mp4": "None", "title_s001.mov": "Straight"}
    edit = host.export_timeline(tmp_path / "edit")  # the version track is in it now
    host.import_new_version(edit, "Edit 1 DreamStyle v1", [graphic])
    imported = resolve.project.GetCurrentTimeline()
    items = [i.GetMediaPoolItem() for t in (1, 2) for i in imported.GetItemListInTrack("video", t)]
    assert {(i.path.name, i.GetClipProperty("Alpha mode")) for i in items} == {
        ("a.mp4", "None"), ("b v2.mp4", "None"), ("title_s001.mov", "Straight")}


def test_a_resolve_without_unique_ids_or_track_deletion_still_writes_to_the_rendered_timeline(
        resolve, media, tmp_path, monkeypatch, caplog):
    monkeypatch.delattr(fake_resolve.Timeline, "GetUniqueId")
    monkeypatch.delattr(fake_resolve.Timeline, "DeleteTrack")
    host = host_for(resolve)
    host.export_timeline(tmp_path / "edit")
    rendered = resolve.project.GetCurrentTimeline()
    resolve.add_timeline("Reel 2", [(media[1], 0, 40, 0)])
    host.add_version_track([Placement(media[0], 86400, 0, 10, "a")], "DreamStyle v1")
    assert rendered.GetTrackCount("video") == 2 and resolve.project.GetCurrentTimeline() is rendered
    with pytest.raises(HostError, match="refused to place 'too long'"):
        host.add_version_track([Placement(media[0], 86400, 0, 500, "too long")], "DreamStyle v2")
    assert "could not remove the empty video track 3" in caplog.text


def test_write_back_refuses_another_project_than_the_renders_came_from(resolve, media, tmp_path):
    """The editor opened another project since the timeline was read: nothing is written into it."""
    host = host_for(resolve)
    edit = host.export_timeline(tmp_path / "edit")
    first = resolve.project
    resolve.project = fake_resolve.Project(resolve, "Other show")
    resolve.add_timeline("Edit 1", [(media[1], 0, 40, 0)])  # a timeline of the same name, even
    with pytest.raises(HostError, match="project 'Other show' open.*open project 'Project'"):
        host.add_version_track([Placement(media[0], 86400, 0, 10, "a")], "DreamStyle v1")
    with pytest.raises(HostError, match="open project 'Project'"):
        host.import_new_version(edit, "Edit 1 DreamStyle v1")
    assert [t.GetName() for t in resolve.project.timelines] == ["Edit 1"]
    assert resolve.project.timelines[0].GetTrackCount("video") == 1
    resolve.project = first  # back in the project: the write-back goes through
    assert host.add_version_track([Placement(media[0], 86400, 0, 10, "a")], "DreamStyle v1") == [2]


def test_renders_go_to_their_timeline_when_no_timeline_is_open(resolve, media, tmp_path):
    """Resolve can have no current timeline (the open one was deleted, the project reopened on the Media page)."""
    host = host_for(resolve)
    host.export_timeline(tmp_path / "edit")
    rendered, resolve.project.current = resolve.project.current, None
    assert host.add_version_track([Placement(media[0], 86400, 0, 10, "a")], "DreamStyle v1") == [2]
    assert resolve.project.GetCurrentTimeline() is rendered and rendered.GetTrackCount("video") == 2


def test_a_restarted_resolve_is_found_again(resolve, media, tmp_path):
    """Resolve quit and started again while the panel stayed open: the old connection answers nothing (its
    project manager is None), so the host asks for Resolve again rather than failing until the panel restarts."""
    module = fake_resolve.scripting_module(resolve)
    host = connect(module)
    host.export_timeline(tmp_path / "edit")
    resolve.GetProjectManager = lambda: None
    module.scriptapp = lambda app: None  # still down
    with pytest.raises(HostUnavailable, match="did not answer"):
        host.add_version_track([Placement(media[0], 86400, 0, 10, "a")], "DreamStyle v1")
    restarted = fake_resolve.Resolve()
    restarted.project = resolve.project  # the editor reopened the project
    module.scriptapp = lambda app: restarted
    assert host.add_version_track([Placement(media[0], 86400, 0, 10, "a")], "DreamStyle v1") == [2]


@pytest.mark.parametrize("drop_frame,start,first", [(False, 108000, "01:00:00:00"), (True, 107892, "01:00:00;00")])
def test_record_timecodes_follow_resolves_drop_frame_setting(tmp_path, drop_frame, start, first):
    """Resolve's OTIO export does not say drop-frame; OTIO would infer it from 29.97, while Resolve's 29.97
    timelines count non-drop unless the project says otherwise (01:00:00:00 is frame 108000 then)."""
    from host_plugin.pipeline import load_edit, plan_edit
    from host_plugin.timeline.timecode import drop_frame_of, record_timecodes

    clip = write_video(tmp_path / "a.mp4", [30], width=64, height=36, rate=fake_resolve.rate_of("29.97"))
    app = fake_resolve.Resolve()
    timeline = app.add_timeline("Edit", [(clip, 0, 30, 0)], rate="29.97", start_frame=start, drop_frame=drop_frame)
    assert timeline.GetStartTimecode() == first
    edit = load_edit(host_for(app).export_timeline(tmp_path / "edit"))
    shot = plan_edit(edit, None).shots[0]
    assert drop_frame_of(edit.timeline) is drop_frame
    assert record_timecodes(shot.record, edit.timeline.global_start_time, drop_frame_of(edit.timeline))[0] == first
