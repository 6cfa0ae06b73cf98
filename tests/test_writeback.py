"""Write-back: version timelines whose rendered clips sit frame-exactly over the originals, in each format."""

import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest
from opentimelineio.opentime import RationalTime, TimeRange
from mediagen import write_video

from dreamstyle.frames import probe
from host_plugin.pipeline import ShotResult, load_edit, plan_edit
from host_plugin.timeline import writeback
from host_plugin.timeline.writeback import version_title, write_version

R = 24000 / 1001


def test_an_edls_version_track_lines_up_with_its_record_timecodes(tmp_path):
    """The EDL reader gives a track that starts at record 10:00:00:00 a range starting at minus that;
    the version track takes the same range, so its clips sit where the originals do, whether a reader
    applies track ranges (OTIO) or lays children out from zero (an NLE's importer)."""
    media = write_video(tmp_path / "media" / "pal.mov", [60], rate=Fraction(25))
    edl = tmp_path / "pal.edl"
    edl.write_text(
        "TITLE: PAL\nFCM: NON-DROP FRAME\n\n"
        "001  AX       V     C        00:00:00:00 00:00:01:20 10:00:00:00 10:00:01:20\n* FROM CLIP NAME: pal.mov\n\n"
        "002  AX       V     C        00:00:01:00 00:00:01:10 10:00:01:20 10:00:02:05\n* FROM CLIP NAME: pal.mov\n"
    )
    edit = load_edit(edl, media_dirs=[media.parent], edl_rate=25)
    plan = plan_edit(edit, None)
    assert not plan.problems and len(plan.shots) == 2
    written = write_version(edl, edit.timeline, [ShotResult(s, "done", media) for s in plan.shots], "look", plan.rate)
    timeline = otio.adapters.read_from_file(str(written))
    source, version = timeline.tracks[0], timeline.tracks[1]
    assert version.source_range == source.source_range
    originals, renders = list(source.find_clips()), list(version.find_clips())
    assert [source.range_of_child(c).start_time for c in originals] == [version.range_of_child(c).start_time for c in renders]
    assert [c.transformed_time_range(c.trimmed_range(), timeline.tracks).start_time for c in originals] == [
        c.transformed_time_range(c.trimmed_range(), timeline.tracks).start_time for c in renders]


@pytest.mark.parametrize("as_url", [False, True])
def test_renders_are_referenced_in_the_form_the_source_clips_are(tmp_path, as_url):
    """Resolve's OTIO export writes raw absolute paths and its import is only known to read that form:
    a version of such a timeline references its renders the same way; a file:// timeline gets file:// URLs."""
    media = write_video(tmp_path / "media" / "a b.mov", [40], rate=Fraction(25), width=64, height=36)
    ref = otio.schema.ExternalReference(media.as_uri() if as_url else str(media),
                                        available_range=TimeRange(RationalTime(0, 25), RationalTime(40, 25)))
    track = otio.schema.Track("V1")
    track.append(otio.schema.Clip("a", media_reference=ref, source_range=TimeRange(RationalTime(5, 25), RationalTime(20, 25))))
    timeline = otio.schema.Timeline("forms")
    timeline.tracks.append(track)
    cut = tmp_path / "cut.otio"
    otio.adapters.write_to_file(timeline, str(cut))
    edit = load_edit(cut)
    plan = plan_edit(edit, None)
    render = write_video(tmp_path / "renders" / "a b_s001.mov", [20], rate=Fraction(25), width=64, height=36)
    written = write_version(cut, edit.timeline, [ShotResult(s, "done", render) for s in plan.shots], "look", plan.rate)
    (rendered,) = otio.adapters.read_from_file(str(written)).tracks[1].find_clips()
    assert rendered.media_reference.target_url == (render.resolve().as_uri() if as_url else str(render.resolve()))


def _one_track_version(tmp_path, clips, suffix=".otio", render_timecode=None):
    """Writes a timeline of `clips` (name, media, source start, duration, rate), renders each shot as a file
    of its frames (with `render_timecode`, as the engine stamps the source's) and returns the version's path."""
    track = otio.schema.Track("V1")
    for name, media, start, duration, rate in clips:
        info = probe(media)
        first = otio.opentime.from_timecode(info.timecode, float(info.rate)).value if info.timecode else 0
        available = TimeRange(RationalTime(first, rate), RationalTime(info.frames, rate))  # in frames, as NLEs label them
        track.append(otio.schema.Clip(name, media_reference=otio.schema.ExternalReference(str(media), available),
                                      source_range=TimeRange(RationalTime(start, rate), RationalTime(duration, rate))))
    timeline = otio.schema.Timeline("edit", global_start_time=RationalTime(0, clips[0][4]))
    timeline.tracks.append(track)
    cut = tmp_path / f"edit{suffix}"
    options = {".xml": {"adapter_name": "fcp_xml"}, ".aaf": {"adapter_name": "AAF", "use_empty_mob_ids": True}}
    otio.adapters.write_to_file(timeline, str(cut), **options.get(suffix, {}))
    edit = load_edit(cut)
    plan = plan_edit(edit, None, handles=2)
    assert not plan.problems, plan.problems
    results = [ShotResult(s, "done", write_video(tmp_path / "renders" / f"{s.name}.mov", [s.head + s.frames + s.tail],
                                                 rate=s.rate, width=64, height=36, timecode=render_timecode))
               for s in plan.shots]
    return write_version(cut, edit.timeline, results, "look", plan.rate), plan


@pytest.mark.parametrize("label", [24, 23.976])
@pytest.mark.parametrize("timecode", [None, "10:00:00:00"])
def test_clips_labelled_at_another_spelling_of_the_medias_rate_get_version_clips_frame_for_frame(tmp_path, label, timecode):
    """Some exporters write 23.976 media's source times at 24 (its NTSC twin: timecode labels, counted in
    frames), many at a rounded 23.976: the version clips count the same way, their renders' frames too, so
    each is as long as its original (through seconds each lost a frame) and starts on the frame it should."""
    media = write_video(tmp_path / "media" / "a.mov", [700], width=64, height=36, timecode=timecode)  # 24000/1001
    start = 10 * 3600 * 24 if timecode else 0  # the media's first frame, as a timecode label
    written, plan = _one_track_version(tmp_path, [("a", media, start + 10, 600, label), ("b", media, start + 20, 50, label)],
                                       render_timecode=timecode and "10:00:00:08")
    back = otio.adapters.read_from_file(str(written))
    originals, renders = (list(t.find_clips()) for t in back.tracks)
    assert [(c.range_in_parent().start_time.to_frames(), c.duration().to_frames()) for c in renders] == [
        (c.range_in_parent().start_time.to_frames(), c.duration().to_frames()) for c in originals] == [(0, 600), (600, 50)]
    for clip, shot in zip(renders, plan.shots):  # the render's first frame is source frame shot.start - shot.head
        available = clip.media_reference.available_range
        assert clip.source_range.start_time.rate == available.start_time.rate == label
        assert clip.source_range.start_time.value - available.start_time.value == shot.head == 2


@pytest.mark.parametrize("suffix", [".otio", ".aaf"])
def test_a_timeline_at_a_rounded_rate_keeps_every_clip_on_its_version_track(tmp_path, suffix):
    """Times at 23.976 (as many files write 24000/1001) compared with times at the exact rate are a hair
    apart: butted clips were taken for overlapping and dropped. The version track counts in whole frames,
    and writes its gaps at the timeline's own spelling (the AAF writer refuses any other)."""
    media = write_video(tmp_path / "media" / "a.mov", [300], width=64, height=36)
    clips = [("a", media, 10, 100, 23.976), ("b", media, 120, 50, 23.976), ("c", media, 200, 40, 23.976)]
    written, _ = _one_track_version(tmp_path, clips, suffix)
    assert written.suffix == suffix
    back = otio.adapters.read_from_file(str(written), **({"adapter_name": "AAF"} if suffix == ".aaf" else {}))
    originals, renders = (list(t.find_clips()) for t in back.video_tracks()[:2])
    assert [(c.range_in_parent().start_time.to_frames(), c.duration().to_frames()) for c in renders] == [
        (c.range_in_parent().start_time.to_frames(), c.duration().to_frames()) for c in originals] == [(0, 100), (100, 50), (150, 40)]


@pytest.mark.parametrize("suffix", [".otio", ".xml"])
def test_a_version_clip_says_the_timecode_its_render_carries(tmp_path, suffix):
    """Renders carry the source's timecode: the version timeline says the file starts there (drop-frame
    shown as drop-frame), so an NLE that conforms by timecode finds the frames it asks for."""
    ntsc = 30000 / 1001
    media = write_video(tmp_path / "media" / "a.mov", [90], rate=Fraction(30000, 1001), width=64, height=36,
                        timecode="01:00:00;00")
    hour = otio.opentime.from_timecode("01:00:00;00", ntsc).value
    # the render starts 2 frames (the handles) before source frame 30, and carries that frame's timecode
    written, _ = _one_track_version(tmp_path, [("a", media, hour + 30, 40, ntsc)], suffix, render_timecode="01:00:00;28")
    (render,) = otio.adapters.read_from_file(str(written)).tracks[1].find_clips()
    first = otio.opentime.from_timecode("01:00:00;28", ntsc)
    assert render.media_reference.available_range.start_time.to_frames() == first.to_frames()
    assert render.source_range.start_time.to_frames() == first.to_frames() + 2
    if suffix == ".xml":
        assert "<string>01:00:00;28</string>" in written.read_text()


@pytest.mark.parametrize("suffix", [".otio", ".xml"])
def test_a_version_clips_marker_is_on_its_first_frame(tmp_path, suffix):
    """OTIO counts a clip's marker in its media's time, which starts at the render's timecode; FCP7 XML counts it
    from the media's first frame, as a clip's <in>, and the adapter writes the time as it stands: the marker
    Premiere is to show on the version clip was an hour past its end."""
    media = write_video(tmp_path / "media" / "a.mov", [90], rate=Fraction(25), width=64, height=36, timecode="10:00:00:00")
    hour = 10 * 3600 * 25
    written, _ = _one_track_version(tmp_path, [("a", media, hour + 30, 40, 25)], suffix, render_timecode="10:00:01:03")
    if suffix == ".otio":
        (render,) = otio.adapters.read_from_file(str(written)).tracks[1].find_clips()
        assert [m.marked_range.start_time for m in render.markers] == [render.source_range.start_time]
    else:
        clip = [c for c in ET.parse(written).iter("clipitem") if c.findtext("name").endswith("DreamStyle v1")][0]
        assert (clip.findtext("marker/in"), clip.findtext("in")) == ("2", "2")


def test_a_version_number_is_taken_by_any_formats_file(tmp_path):
    """edit.xml's v1 beside edit.otio: the OTIO's version is v2, so their contact sheets never share a name."""
    media = write_video(tmp_path / "media" / "a.mov", [40], rate=Fraction(25), width=64, height=36)
    (tmp_path / "edit.dreamstyle-v1.xml").write_text("another format's version")
    written, _ = _one_track_version(tmp_path, [("a", media, 5, 20, 25)])
    assert written.name == "edit.dreamstyle-v2.otio"
    assert (tmp_path / "edit.dreamstyle-v1.xml").read_text() == "another format's version"


def test_renders_of_media_at_another_rate_stay_on_their_record_frames(tmp_path):
    """25 fps media in a 29.97 timeline: each render spans its shot's record range exactly, so twenty of
    them in a row do not drift (25 frames at 25 fps are 29.97 frames, not 30)."""
    ntsc = 30000 / 1001
    media = write_video(tmp_path / "media" / "pal.mp4", [60], rate=Fraction(25), width=64, height=36)
    track = otio.schema.Track("V1")
    for index in range(20):
        ref = otio.schema.ExternalReference(str(media), available_range=TimeRange(RationalTime(0, 25), RationalTime(60, 25)))
        track.append(otio.schema.Clip(f"c{index}", media_reference=ref,
                                      source_range=TimeRange(RationalTime(12, ntsc), RationalTime(30, ntsc))))
    timeline = otio.schema.Timeline("mixed")
    timeline.tracks.append(track)
    cut = tmp_path / "mixed.otio"
    otio.adapters.write_to_file(timeline, str(cut))
    _, back = _version_track(cut)
    originals, renders = list(back.tracks[0].find_clips()), list(back.tracks[1].find_clips())
    assert [round(back.tracks[1].range_of_child(c).start_time.value_rescaled_to(ntsc)) for c in renders] == [
        round(back.tracks[0].range_of_child(c).start_time.value_rescaled_to(ntsc)) for c in originals]


def test_a_version_the_source_format_cannot_hold_is_written_as_otio(tmp_path, caplog):
    """The AAF writer refuses a clip at another rate than the edit's: the renders are done, so the
    version comes out as .otio beside the AAF (with a warning), never a lost run or an overwrite."""
    pal = write_video(tmp_path / "media" / "pal.mov", [60], rate=Fraction(25), width=64, height=36)
    ntsc = write_video(tmp_path / "media" / "ntsc.mp4", [60], rate=Fraction(30000, 1001), width=64, height=36)
    track = otio.schema.Track("V1")
    for name, media in (("pal", pal), ("ntsc", ntsc)):
        ref = otio.schema.ExternalReference(media.as_uri(), available_range=TimeRange(RationalTime(0, 25), RationalTime(50, 25)))
        track.append(otio.schema.Clip(name, media_reference=ref, source_range=TimeRange(RationalTime(5, 25), RationalTime(20, 25))))
    timeline = otio.schema.Timeline("mixed", global_start_time=RationalTime(10 * 3600 * 25, 25))
    timeline.tracks.append(track)
    cut = tmp_path / "cut.aaf"
    otio.adapters.write_to_file(timeline, str(cut), adapter_name="AAF", use_empty_mob_ids=True)
    (tmp_path / "cut.dreamstyle-v1.otio").write_text("an earlier version")
    written, back = _version_track(cut)
    assert written == tmp_path / "cut.dreamstyle-v2.otio" and not written.with_suffix(".aaf").exists()
    assert (tmp_path / "cut.dreamstyle-v1.otio").read_text() == "an earlier version"
    assert len(list(back.tracks[1].find_clips())) == 2
    assert "cannot be written as .aaf" in caplog.text


def test_fades_from_and_to_black_are_carried_to_the_version_track(tmp_path):
    """The renders above would hide the source's fades: the version track fades as the source does."""
    media = write_video(tmp_path / "media" / "a.mp4", [60], width=64, height=36)
    ref = otio.schema.ExternalReference(str(media), available_range=TimeRange(RationalTime(0, R), RationalTime(60, R)))
    track = otio.schema.Track("V1")
    track.append(otio.schema.Transition("fade in", in_offset=RationalTime(0, R), out_offset=RationalTime(10, R)))
    track.append(otio.schema.Clip("a", media_reference=ref.clone(), source_range=TimeRange(RationalTime(5, R), RationalTime(20, R))))
    track.append(otio.schema.Clip("b", media_reference=ref.clone(), source_range=TimeRange(RationalTime(30, R), RationalTime(20, R))))
    track.append(otio.schema.Transition("fade out", in_offset=RationalTime(10, R), out_offset=RationalTime(0, R)))
    timeline = otio.schema.Timeline("fades")
    timeline.tracks.append(track)
    cut = tmp_path / "fades.otio"
    otio.adapters.write_to_file(timeline, str(cut))
    _, back = _version_track(cut)
    version = back.tracks[1]
    assert [type(item).__name__ for item in version] == ["Transition", "Clip", "Clip", "Transition"]
    assert [item.name for item in version if isinstance(item, otio.schema.Transition)] == ["fade in", "fade out"]


def test_fades_at_the_edges_of_media_at_another_rate_are_carried_too(tmp_path):
    """41 frames of 25 fps media last 39.36 frames of a 24 fps timeline (as Resolve's export writes a clip in whole
    frames of its media): the shot ends on a whole frame, and its clip's fade to black was lost."""
    media = write_video(tmp_path / "media" / "pal.mp4", [60], rate=Fraction(25), width=64, height=36)
    ref = otio.schema.ExternalReference(str(media), available_range=TimeRange(RationalTime(0, 25), RationalTime(60, 25)))
    track = otio.schema.Track("V1")
    track.append(otio.schema.Transition("fade in", in_offset=RationalTime(0, 24), out_offset=RationalTime(6, 24)))
    track.append(otio.schema.Clip("pal", media_reference=ref, source_range=TimeRange(RationalTime(10, 25), RationalTime(41, 25))))
    track.append(otio.schema.Transition("fade out", in_offset=RationalTime(6, 24), out_offset=RationalTime(0, 24)))
    cut = tmp_path / "fades.otio"
    otio.adapters.write_to_file(otio.schema.Timeline("fades", global_start_time=RationalTime(86400, 24), tracks=[track]),
                                str(cut))
    _, back = _version_track(cut)
    assert [item.name for item in back.tracks[1] if isinstance(item, otio.schema.Transition)] == ["fade in", "fade out"]


def test_a_dissolve_into_a_shot_not_rendered_is_no_fade_on_the_version_track(tmp_path):
    """b dissolves into c, whose render failed: b's render must not fade to black there (c shows through)."""
    media = write_video(tmp_path / "media" / "a.mp4", [60], width=64, height=36)
    ref = otio.schema.ExternalReference(str(media), available_range=TimeRange(RationalTime(0, R), RationalTime(60, R)))
    track = otio.schema.Track("V1")
    for name, start in (("b", 5), ("c", 30)):
        if name == "c":
            track.append(otio.schema.Transition("dissolve", in_offset=RationalTime(4, R), out_offset=RationalTime(4, R)))
        track.append(otio.schema.Clip(name, media_reference=ref.clone(), source_range=TimeRange(RationalTime(start, R), RationalTime(20, R))))
    cut = tmp_path / "dissolve.otio"
    otio.adapters.write_to_file(otio.schema.Timeline("dissolve", tracks=[track]), str(cut))
    edit = load_edit(cut)
    plan = plan_edit(edit, None)
    written = write_version(cut, edit.timeline, [ShotResult(plan.shots[0], "done", media)], "look", plan.rate)
    version = otio.adapters.read_from_file(str(written)).tracks[1]
    assert [type(item).__name__ for item in version] == ["Clip"]


def test_a_version_written_meanwhile_by_another_run_is_never_replaced(tmp_path, monkeypatch):
    """Two editors write versions of one edit at once: the number each looked up free is taken by the
    other between the look and the write; the later one takes the next number."""
    media = write_video(tmp_path / "media" / "a.mp4", [30], width=64, height=36)
    track = otio.schema.Track("V1")
    track.append(otio.schema.Clip("a", media_reference=otio.schema.ExternalReference(str(media)),
                                  source_range=TimeRange(RationalTime(0, R), RationalTime(20, R))))
    timeline = otio.schema.Timeline("edit")
    timeline.tracks.append(track)
    cut = tmp_path / "edit.otio"
    otio.adapters.write_to_file(timeline, str(cut))
    theirs = tmp_path / "edit.dreamstyle-v1.otio"
    write = otio.adapters.write_to_file

    def meanwhile(*args, **kwargs):
        if not theirs.exists():
            theirs.write_text("the other editor's version")
        return write(*args, **kwargs)

    monkeypatch.setattr(writeback.otio.adapters, "write_to_file", meanwhile)
    written, back = _version_track(cut)
    assert written.name == "edit.dreamstyle-v2.otio" and back.tracks[1].name.startswith("DreamStyle v2")
    assert theirs.read_text() == "the other editor's version"
    assert sorted(p.name for p in tmp_path.glob(".edit*")) == [], "no temporary file left"


def _version_track(cut: Path) -> tuple[Path, otio.schema.Timeline]:
    """Plans `cut`, 'renders' each shot as its own media (a real clip) and writes its version; returns
    the file and the timeline read back."""
    edit = load_edit(cut)
    plan = plan_edit(edit, None)
    written = write_version(cut, edit.timeline, [ShotResult(s, "done", s.media) for s in plan.shots], "look", plan.rate)
    return written, otio.adapters.read_from_file(str(written))


def test_each_source_track_gets_its_version_track_right_above_it(tmp_path):
    media = write_video(tmp_path / "media" / "a.mov", [40], rate=Fraction(25), width=64, height=36)
    timeline = otio.schema.Timeline("two tracks")
    for name, start in (("V1", 0), ("V2", 20)):
        ref = otio.schema.ExternalReference(str(media), available_range=TimeRange(RationalTime(0, 25), RationalTime(40, 25)))
        track = otio.schema.Track(name)
        track.append(otio.schema.Clip(f"clip {name}", media_reference=ref,
                                      source_range=TimeRange(RationalTime(start, 25), RationalTime(10, 25))))
        timeline.tracks.append(track)
    cut = tmp_path / "cut.otio"
    otio.adapters.write_to_file(timeline, str(cut))
    edit = load_edit(cut)
    plan = plan_edit(edit, None)
    assert not plan.problems and len(plan.shots) == 2
    written = write_version(cut, edit.timeline, [ShotResult(s, "done", media) for s in plan.shots], "look", plan.rate)
    tracks = otio.adapters.read_from_file(str(written)).tracks
    assert [t.name for t in tracks] == ["V1", "DreamStyle v1 - look", "V2", "DreamStyle v1 - look"]
    for source, version in ((tracks[0], tracks[1]), (tracks[2], tracks[3])):
        (original,), (render,) = list(source.find_clips()), list(version.find_clips())
        assert render.name.startswith(f"{original.name}_s")  # "clip V2_s002 DreamStyle v1" over "clip V2"


def test_a_new_version_goes_above_the_earlier_versions_of_its_track(tmp_path):
    """A version of a version (an edit imported back and restyled): v2 goes above v1, which would hide it."""
    media = write_video(tmp_path / "media" / "a.mov", [40], rate=Fraction(25), width=64, height=36)
    ref = otio.schema.ExternalReference(str(media), available_range=TimeRange(RationalTime(0, 25), RationalTime(40, 25)))
    clip = otio.schema.Clip("a", media_reference=ref, source_range=TimeRange(RationalTime(5, 25), RationalTime(20, 25)))
    cut = tmp_path / "cut.otio"
    otio.adapters.write_to_file(otio.schema.Timeline("cut", tracks=[otio.schema.Track("V1", children=[clip]),
                                                                   otio.schema.Track("V2")]), str(cut))
    first, _ = _version_track(cut)
    second, back = _version_track(first)
    assert [t.name for t in back.tracks] == ["V1", "DreamStyle v1 - look", "DreamStyle v2 - look", "V2"]
    assert (second.name, back.name) == ("cut.dreamstyle-v2.otio", "cut DreamStyle v2")  # the edit's next version
    assert version_title(back, second, second) == "cut DreamStyle v2"  # as the panel names it in Resolve


def test_a_version_written_beside_a_link_to_the_timeline_keeps_relative_media_found(tmp_path):
    """Relative media paths are read from the timeline's real folder: written beside a link in another folder,
    the version names them absolutely, from there."""
    project, links = tmp_path / "project", tmp_path / "links"
    write_video(project / "media" / "a.mov", [40], rate=Fraction(25), width=64, height=36)
    ref = otio.schema.ExternalReference("media/a.mov", available_range=TimeRange(RationalTime(0, 25), RationalTime(40, 25)))
    clip = otio.schema.Clip("a", media_reference=ref, source_range=TimeRange(RationalTime(5, 25), RationalTime(20, 25)))
    timeline = otio.schema.Timeline("linked", tracks=[otio.schema.Track("V1", children=[clip])])
    otio.adapters.write_to_file(timeline, str(project / "cut.otio"))
    links.mkdir()
    (links / "cut.otio").symlink_to(project / "cut.otio")
    edit = load_edit(links / "cut.otio")
    plan = plan_edit(edit, None)
    assert not plan.problems
    render = write_video(tmp_path / "renders" / "a_s001.mov", [20], rate=Fraction(25), width=64, height=36)
    written = write_version(links / "cut.otio", edit.timeline, [ShotResult(s, "done", render) for s in plan.shots],
                            "look", plan.rate)
    assert written.parent == links
    source = otio.adapters.read_from_file(str(written)).tracks[0].find_clips()[0]
    assert Path(source.media_reference.target_url) == project / "media" / "a.mov"


def test_an_xml_version_written_as_otio_instead_keeps_its_markers_in_media_time(tmp_path, monkeypatch):
    """The FCP7 XML writer fails and the version comes out as .otio: its markers are OTIO's (media time), not
    shifted to the first frame as they would have been for the XML."""
    write = writeback._atomic_write

    def no_xml(timeline: otio.schema.Timeline, path: Path) -> None:
        if path.suffix == ".xml":
            raise ValueError("the FCP7 XML writer cannot hold this")
        write(timeline, path)

    monkeypatch.setattr(writeback, "_atomic_write", no_xml)
    media = write_video(tmp_path / "media" / "a.mov", [90], rate=Fraction(25), width=64, height=36, timecode="10:00:00:00")
    written, _ = _one_track_version(tmp_path, [("a", media, 10 * 3600 * 25 + 30, 40, 25)], ".xml",
                                    render_timecode="10:00:01:03")
    assert written.suffix == ".otio"
    (render,) = otio.adapters.read_from_file(str(written)).video_tracks()[1].find_clips()
    assert [m.marked_range.start_time for m in render.markers] == [render.source_range.start_time]
