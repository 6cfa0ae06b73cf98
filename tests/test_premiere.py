"""Premiere Pro round trip: a sequence exported as Premiere writes it -> the pipeline's reader, planner and
write-back -> an FCP7 XML that Premiere's File > Import takes (and Premiere 25+'s OTIO export read too)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import opentimelineio as otio
import pytest

from host_plugin.hosts import HostError
from host_plugin.hosts.premiere import pathurl, pixel_aspect, prepare
from host_plugin.pipeline import ShotResult, load_edit, plan_edit
from host_plugin.timeline.media import url_to_path
from host_plugin.timeline.reader import video_clips
from host_plugin.timeline.writeback import next_version, write_version
from mediagen import write_video
from premiere_export import fcp7_xml, premiere_otio

NTSC = 24000 / 1001
CUT = [("a", 4, 20, 0), ("b", 0, 24, 20)]  # media, source in, frames, record start


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("premiere media")
    return {"a": write_video(root / "shot a.mp4", [100], width=64, height=36),
            "b": write_video(root / "b.mp4", [100], width=64, height=36),
            "ra": write_video(root / "renders" / "a render.mp4", [20], width=64, height=36),
            "rb": write_video(root / "renders" / "b_render.mp4", [24], width=64, height=36)}


def render_all(source: Path, media: dict[str, Path]) -> Path:
    """Reads `source` with the pipeline, 'renders' every shot (pre-made clips) and writes the version."""
    edit = load_edit(source)
    plan = plan_edit(edit, None)
    assert not plan.problems and len(plan.shots) == 2
    results = [ShotResult(shot, "done", media["r" + key]) for shot, key in zip(plan.shots, "ab")]
    return write_version(source, edit.timeline, results, "classic style_night", plan.rate)


@pytest.mark.parametrize("path,url", [
    ("/Users/ed/My Media/a.mov", "file://localhost/Users/ed/My%20Media/a.mov"),
    ("D:\\Media\\shot 1.mov", "file://localhost/D%3a/Media/shot%201.mov"),
    ("\\\\nas\\media\\a.mov", "file://nas/media/a.mov"),
])
def test_pathurl_is_premieres_form_and_reads_back(path, url):
    assert pathurl(path) == url
    assert url_to_path(url).replace("\\", "/") == path.replace("\\", "/")


def test_premiere_xml_round_trip(media, tmp_path):
    source = tmp_path / "Seq 1.xml"
    exported = fcp7_xml("Seq 1", [(media[m], *rest) for m, *rest in CUT])
    source.write_text(exported)
    result = render_all(source, media)
    assert result.name == "Seq 1.dreamstyle-v1.xml" and source.read_text() == exported

    root = ET.parse(result).getroot()
    urls = {e.text for e in root.iter("pathurl")}
    assert urls == {pathurl(m) for m in media.values()}
    chars = root.find("./project/children/sequence/media/video/format/samplecharacteristics")
    assert (chars.findtext("width"), chars.findtext("rate/timebase"), chars.findtext("rate/ntsc")) == (
        "64", "24", "TRUE")
    tracks = root.findall("./project/children/sequence/media/video/track")
    assert [t.get("MZ.TrackName") for t in tracks] == ["V1", "DreamStyle v1 - classic style_night"]
    rendered = [f for f in root.iter("file") if f.findtext("pathurl") == pathurl(media["ra"])][0]
    assert rendered.find("media/audio") is None and rendered.findtext("media/video/samplecharacteristics/width") == "64"
    assert root.findtext(".//sequence/uuid") != "6f7b1a55-8d0e-4b43-9a53-3cf0d1e8a001"
    assert root.findtext(".//sequence/name") == "Seq 1 DreamStyle v1"

    back = otio.adapters.read_from_file(str(result))
    assert Fraction(back.duration().rate).limit_denominator(1001) == Fraction(24000, 1001)
    assert otio.opentime.to_timecode(back.global_start_time, NTSC) == "00:00:00:00"
    ranges = [[(r.start_time.to_frames(), r.duration.to_frames()) for r in
               (t.range_of_child(c) for c in t.find_clips())] for t in back.video_tracks()]
    assert ranges == [[(0, 20), (20, 24)], [(0, 20), (20, 24)]]
    assert [c.name for c in back.video_tracks()[1].find_clips()] == [
        "shot a.mp4_s001 DreamStyle v1", "b.mp4_s002 DreamStyle v1"]


def test_premiere_otio_export_is_read_and_written_as_otio(media, tmp_path):
    source = tmp_path / "Seq 2.otio"
    otio.adapters.write_to_file(premiere_otio("Seq 2", [(media[m], *rest) for m, *rest in CUT]), str(source))
    assert "file:///" in source.read_text() and "%20" in source.read_text()
    result = render_all(source, media)
    assert result.suffix == ".otio"
    tracks = otio.adapters.read_from_file(str(result)).video_tracks()
    assert [Path(url_to_path(c.media_reference.target_url)) for c in tracks[1].find_clips()] == [
        media["ra"], media["rb"]]


def test_sequence_format_comes_from_the_media_when_missing(media):
    timeline = premiere_otio("From OTIO", [(media["a"], 0, 20, 0)])
    prepare(timeline, media["a"].parent)
    chars = timeline.metadata["fcp_xml"]["media"]["video"]["format"]["samplecharacteristics"]
    assert (chars["width"], chars["height"], chars["rate"]["ntsc"]) == ("64", "36", "TRUE")
    assert timeline.video_tracks()[0].metadata["fcp_xml"]["@MZ.TrackName"] == "Video 1"


def test_a_missing_sequence_format_takes_the_sequences_rate_not_its_first_clips(tmp_path):
    """25 fps media in a 23.976 sequence with no <format> (an XML OTIO wrote): the adapter writes the sequence's
    rate from its start time, and so does the format filled in for Resolve, which took the first clip's 25."""
    pal = write_video(tmp_path / "pal.mp4", [50], width=64, height=36, rate=Fraction(25))
    ref = otio.schema.ExternalReference(str(pal), otio.opentime.TimeRange(otio.opentime.RationalTime(0, 25),
                                                                          otio.opentime.RationalTime(50, 25)))
    clip = otio.schema.Clip("pal", ref, otio.opentime.TimeRange(otio.opentime.RationalTime(0, 25),
                                                                otio.opentime.RationalTime(25, 25)))
    timeline = otio.schema.Timeline("mixed", global_start_time=otio.opentime.RationalTime(86400, NTSC),
                                    tracks=[otio.schema.Track("V1", children=[clip])])
    prepare(timeline, tmp_path)
    sequence = ET.fromstring(otio.adapters.write_to_string(timeline, "fcp_xml")).find("./project/children/sequence")
    rates = [(e.findtext("timebase"), e.findtext("ntsc"))
             for e in (sequence.find("rate"), sequence.find("media/video/format/samplecharacteristics/rate"))]
    assert rates == [("24", "TRUE"), ("24", "TRUE")]


def test_a_sequence_without_readable_video_is_named(tmp_path):
    timeline = premiere_otio("Offline", [(tmp_path / "gone.mov", 0, 10, 0)])
    with pytest.raises(HostError, match="Offline"):
        prepare(timeline, tmp_path)


def test_drop_frame_sequence_keeps_its_timecode(tmp_path):
    media = {"a": write_video(tmp_path / "a.mp4", [100], width=64, height=36, rate=Fraction(30000, 1001)),
             "b": write_video(tmp_path / "b.mp4", [100], width=64, height=36, rate=Fraction(30000, 1001)),
             "ra": write_video(tmp_path / "ra.mp4", [20], width=64, height=36, rate=Fraction(30000, 1001)),
             "rb": write_video(tmp_path / "rb.mp4", [24], width=64, height=36, rate=Fraction(30000, 1001))}
    source = tmp_path / "DF.xml"
    source.write_text(fcp7_xml("DF", [(media[m], *rest) for m, *rest in CUT], timebase=30,
                               start=("01:00:00;00", 107892, "DF")))
    root = ET.parse(render_all(source, media)).getroot()
    sequence = root.find("./project/children/sequence")
    assert (sequence.findtext("timecode/string"), sequence.findtext("timecode/displayformat")) == ("01:00:00;00", "DF")
    assert (sequence.findtext("rate/timebase"), sequence.findtext("rate/ntsc")) == ("30", "TRUE")
    starts = [[c.findtext("start") for c in t.findall("clipitem")] for t in sequence.findall("media/video/track")]
    assert starts == [["0", "20"], ["0", "20"]]


def test_premieres_hidden_tracks_disabled_clips_and_version_tracks_are_not_restyled(tmp_path, media):
    """FCP7 XML's <enabled>FALSE</enabled> and Premiere's track names (MZ.TrackName) live only in the
    adapter's metadata: hidden material is not rendered, and a written version is not restyled again."""
    source = tmp_path / "seq.xml"
    source.write_text(fcp7_xml("seq", [(media["a"], 0, 20, 0), (media["b"], 10, 24, 20)]))
    timeline = otio.adapters.read_from_file(str(source))
    clips = list(timeline.video_tracks()[0].find_clips())
    clips[1].metadata.setdefault("fcp_xml", {})["enabled"] = "FALSE"
    hidden = timeline.video_tracks()[0].deepcopy()
    hidden.metadata.setdefault("fcp_xml", {})["enabled"] = "FALSE"
    version = timeline.video_tracks()[0].deepcopy()
    version.name = ""
    version.metadata.setdefault("fcp_xml", {})["@MZ.TrackName"] = "DreamStyle v3 - classic noir"
    timeline.tracks.extend([hidden, version])
    clips_seen, skipped = video_clips(timeline)
    assert [c.name for c in clips_seen] == [clips[0].name]
    assert sum("disabled" in s for s in skipped) == 2 and any("DreamStyle version 3" in s for s in skipped)
    assert next_version(timeline) == 4


def relative_bundle(root: Path, media: dict[str, Path]) -> Path:
    """An edit bundled with its media: `root/Seq 1.xml` whose <pathurl>s are relative ("media/a.mp4")."""
    xml = fcp7_xml("Seq 1", [(media[m], *rest) for m, *rest in CUT])
    for key in "ab":
        bundled = root / "media" / f"{key}.mp4"
        bundled.parent.mkdir(parents=True, exist_ok=True)
        bundled.write_bytes(media[key].read_bytes())
        xml = xml.replace(pathurl(media[key]), f"media/{key}.mp4")
    (root / "Seq 1.xml").write_text(xml)
    return root / "Seq 1.xml"


@pytest.fixture
def elsewhere(tmp_path, monkeypatch) -> Path:
    """The working folder: another one than the timeline's, holding a same-named decoy of other size."""
    folder = tmp_path / "elsewhere"
    write_video(folder / "media" / "a.mp4", [5], width=32, height=18)
    monkeypatch.chdir(folder)
    return folder


def test_relative_media_paths_are_written_from_the_timelines_folder(media, tmp_path, elsewhere):
    source = relative_bundle(tmp_path / "bundle", media)
    result = render_all(source, media)
    urls = {e.text for e in ET.parse(result).getroot().iter("pathurl")}
    bundled = [tmp_path / "bundle" / "media" / name for name in ("a.mp4", "b.mp4")]
    assert urls == {*map(pathurl, bundled), pathurl(media["ra"]), pathurl(media["rb"])}
    assert not any(str(elsewhere) in url_to_path(u) for u in urls)
    assert (result.parent / "media" / "a.mp4").read_bytes() == media["a"].read_bytes()
    plan = plan_edit(load_edit(result), None)  # the version, read like the original: the bundled files
    assert not plan.problems and {s.media for s in plan.shots} == {
        tmp_path / "bundle" / "media" / "a.mp4", tmp_path / "bundle" / "media" / "b.mp4"}


def test_prepare_anchors_relative_media_to_the_given_folder(media, tmp_path, elsewhere):
    bundle = relative_bundle(tmp_path / "bundle", media).parent
    timeline = premiere_otio("From OTIO", [(Path("media/a.mp4"), 0, 20, 0)])
    timeline.video_tracks()[0].find_clips()[0].media_reference.target_url = "media/a.mp4"
    prepare(timeline, bundle)
    ref = timeline.video_tracks()[0].find_clips()[0].media_reference
    assert ref.target_url == pathurl(bundle / "media" / "a.mp4")
    chars = ref.metadata["fcp_xml"]["media"]["video"]["samplecharacteristics"]  # probed there, not the decoy
    assert (chars["width"], chars["height"]) == ("64", "36")


def render_with_aspect(path: Path, frames: int, width: int, height: int, aspect: Fraction) -> Path:
    """A real H.264 render whose stream carries the pixel aspect `aspect` (sample aspect ratio)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(24000, 1001))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.sample_aspect_ratio = aspect
        stream.options = {"preset": "ultrafast"}
        for _ in range(frames):
            frame = av.VideoFrame.from_ndarray(np.zeros((height, width, 3), np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def rendered_characteristics(media: dict[str, Path], folder: Path, width: int, height: int,
                              aspect: Fraction) -> ET.Element:
    """Writes the version of a Premiere sequence whose renders carry `aspect`; the first render's
    <samplecharacteristics> in that FCP7 XML (which OTIO's adapter must read back)."""
    renders = {f"r{key}": render_with_aspect(folder / f"r{key}.mp4", frames, width, height, aspect)
               for key, frames in (("a", 20), ("b", 24))}
    source = folder / "Seq.xml"
    source.write_text(fcp7_xml("Seq", [(media[m], *rest) for m, *rest in CUT]))
    result = render_all(source, {**media, **renders})
    assert len(otio.adapters.read_from_file(str(result)).video_tracks()) == 2
    return next(f.find("media/video/samplecharacteristics") for f in ET.parse(result).getroot().iter("file")
                if f.findtext("pathurl") == pathurl(renders["ra"]))


@pytest.mark.parametrize("width,height,aspect,expected", [
    (64, 36, Fraction(1), ("square", "FALSE")),
    (72, 48, Fraction(10, 11), ("NTSC-601", "FALSE")),  # NTSC DV/D1 4:3
    (72, 58, Fraction(59, 54), ("PAL-601", "FALSE")),  # PAL 4:3 (Rec.601)
    (72, 58, Fraction(16, 15), ("PAL-601", "FALSE")),  # PAL 4:3 as 720x576 -> 768x576 encoders write it
    (72, 48, Fraction(40, 33), ("NTSC-601", "TRUE")),  # NTSC 16:9 anamorphic
    (72, 58, Fraction(118, 81), ("PAL-601", "TRUE")),  # PAL 16:9 anamorphic
    (72, 58, Fraction(64, 45), ("PAL-601", "TRUE")),  # PAL 16:9 as 720x576 -> 1024x576
    (144, 108, Fraction(4, 3), ("HD-(1440x1080)", "FALSE")),  # HDV / XDCAM 1080
    (96, 720, Fraction(4, 3), ("HD-(960x720)", "FALSE")),  # DVCPRO HD 720
    (128, 108, Fraction(3, 2), ("HD-(1280x1080)", "FALSE")),  # DVCPRO HD 1080i60
])
def test_renders_keep_their_pixel_aspect_in_premiere_xml(media, tmp_path, width, height, aspect, expected):
    chars = rendered_characteristics(media, tmp_path, width, height, aspect)
    assert (chars.findtext("pixelaspectratio"), chars.findtext("anamorphic")) == expected
    assert (chars.findtext("width"), chars.findtext("height")) == (str(width), str(height))


def test_a_pixel_aspect_without_a_name_is_left_to_the_media(media, tmp_path):
    """FCP7 XML has no value for 2:1 (an anamorphic lens): nothing is named rather than a wrong value."""
    assert pixel_aspect(Fraction(2), 540) == {}
    chars = rendered_characteristics(media, tmp_path, 96, 54, Fraction(2))
    assert chars.find("pixelaspectratio") is None and chars.find("anamorphic") is None
    assert chars.findtext("width") == "96"
