"""Premiere Pro round trip through FCP7 XML (and its OTIO export), with real media and OTIO's adapters."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

from host_plugin.hosts import HostError
from host_plugin.hosts.premiere import finalize_fcp7, pathurl, prepare
from host_plugin.timeline.media import url_to_path
from mediagen import write_video
from premiere_export import fcp7_xml, premiere_otio

NTSC = 24000 / 1001


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("premiere media")
    return {"a": write_video(root / "shot a.mp4", [100], width=64, height=36),
            "b": write_video(root / "b.mp4", [100], width=64, height=36),
            "out": write_video(root / "out" / "shot a_dreamstyle_v1.mp4", [20], width=64, height=36)}


def add_version_track(timeline: otio.schema.Timeline, media: Path, record: int, frames: int) -> None:
    """What write-back does: a new track above the others, the rendered clip at its record range."""
    track = otio.schema.Track("DreamStyle v1", kind=otio.schema.TrackKind.Video)
    if record:
        track.append(otio.schema.Gap(duration=otio.opentime.RationalTime(record, NTSC)))
    ref = otio.schema.ExternalReference(str(media), otio.opentime.TimeRange(
        otio.opentime.RationalTime(0, NTSC), otio.opentime.RationalTime(frames, NTSC)))
    track.append(otio.schema.Clip(media.stem, ref, ref.available_range))
    timeline.tracks.append(track)


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
    source.write_text(fcp7_xml("Seq 1", [(media["a"], 4, 20, 0), (media["b"], 0, 24, 20)]))
    timeline = otio.adapters.read_from_file(str(source))
    assert [url_to_path(c.media_reference.target_url) for c in timeline.find_clips()] == [
        str(media["a"]), str(media["b"])]
    add_version_track(timeline, media["out"], 0, 20)
    result = tmp_path / "Seq 1_dreamstyle_v1.xml"
    prepare(timeline)
    otio.adapters.write_to_file(timeline, str(result))

    root = ET.parse(result).getroot()
    urls = [e.text for e in root.iter("pathurl")]
    assert urls and all(u.startswith("file://localhost/") for u in urls)
    assert pathurl(media["out"]) in urls
    chars = root.find("./project/children/sequence/media/video/format/samplecharacteristics")
    assert (chars.findtext("width"), chars.findtext("rate/timebase"), chars.findtext("rate/ntsc")) == (
        "64", "24", "TRUE")
    tracks = root.findall("./project/children/sequence/media/video/track")
    assert [t.get("MZ.TrackName") for t in tracks] == ["V1", "DreamStyle v1"]
    rendered = [f for f in root.iter("file") if f.findtext("pathurl") == pathurl(media["out"])][0]
    assert rendered.find("media/audio") is None and rendered.findtext("media/video/samplecharacteristics/width") == "64"
    assert root.findtext(".//sequence/uuid") != "6f7b1a55-8d0e-4b43-9a53-3cf0d1e8a001"
    assert source.read_text() == fcp7_xml("Seq 1", [(media["a"], 4, 20, 0), (media["b"], 0, 24, 20)])

    back = otio.adapters.read_from_file(str(result))
    assert Fraction(back.duration().rate).limit_denominator(1001) == Fraction(24000, 1001)
    assert otio.opentime.to_timecode(back.global_start_time, NTSC) == "00:00:00:00"
    ranges = [[(r.start_time.to_frames(), r.duration.to_frames()) for r in
               (t.range_of_child(c) for c in t.find_clips())] for t in back.video_tracks()]
    assert ranges == [[(0, 20), (20, 24)], [(0, 20)]]


def test_otio_source_gets_a_format_from_its_media(media, tmp_path):
    timeline = premiere_otio("From OTIO", [(media["a"], 0, 20, 0)])
    for clip in timeline.find_clips():
        clip.media_reference.target_url = url_to_path(clip.media_reference.target_url)
    add_version_track(timeline, media["out"], 0, 20)
    result = tmp_path / "cut.xml"
    otio.adapters.write_to_file(timeline, str(result))
    assert ET.parse(result).getroot().find(".//format/samplecharacteristics") is None
    finalize_fcp7(result)
    chars = ET.parse(result).getroot().find(".//sequence/media/video/format/samplecharacteristics")
    assert (chars.findtext("width"), chars.findtext("height"), chars.findtext("rate/ntsc")) == ("64", "36", "TRUE")


def test_premiere_otio_export_urls_resolve_to_the_media(media):
    timeline = premiere_otio("Seq", [(media["a"], 0, 20, 0), (media["b"], 5, 10, 30)])
    text = otio.adapters.write_to_string(timeline, "otio_json")
    assert "file:///" in text and "%20" in text
    for clip in otio.adapters.read_from_string(text, "otio_json").find_clips():
        assert Path(url_to_path(clip.media_reference.target_url)).is_file()


def test_unreadable_result_is_named(tmp_path):
    bad = tmp_path / "broken.xml"
    bad.write_text("<xmeml><nothing/></xmeml>")
    with pytest.raises(HostError, match="broken.xml"):
        finalize_fcp7(bad)
