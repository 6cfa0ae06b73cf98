"""Media links as NLEs write them: URL forms, path maps, relative paths, search folders, same-named files
and clips whose media the timeline does not name."""

import json
from pathlib import Path

import opentimelineio as otio
import pytest
from opentimelineio.opentime import RationalTime, TimeRange
from mediagen import write_video

from host_plugin.cli import main as cli_main
from host_plugin.errors import MediaNotFound
from host_plugin.timeline.media import PathMap, Relinker, url_to_path

R = 24000 / 1001


@pytest.mark.parametrize(
    "url,path",
    [
        ("/Volumes/Media/a.mov", "/Volumes/Media/a.mov"),
        ("file:///Users/me/My%20Clips/a.mov", "/Users/me/My Clips/a.mov"),
        ("file://localhost/D%3a/Media/a.mov", "D:/Media/a.mov"),
        ("file:///C:/Media/a.mov", "C:/Media/a.mov"),
        ("D:\\Media\\a.mov", "D:\\Media\\a.mov"),
        ("file://server/share/a.mov", "//server/share/a.mov"),
        ("file://LOCALHOST/Volumes/Media/a.mov", "/Volumes/Media/a.mov"),
        ("FILE://Localhost/D%3a/Media/a.mov", "D:/Media/a.mov"),
        ("file:///Media/take%2520two%25.mov", "/Media/take%20two%.mov"),  # "%" in a name: decoded once
        ("file://localhost/D%3a/Media/100%25%20a.mov", "D:/Media/100% a.mov"),
        ("file://NAS/Media/Project%20A/clip%2001.mov", "//NAS/Media/Project A/clip 01.mov"),  # UNC, escaped
        ("file://D:/Media/a%20b.mov", "D:/Media/a b.mov"),  # the drive where the host goes
        ("file://D%3a/Media/a%20b.mov", "D:/Media/a b.mov"),
        ("file:/Volumes/Media/a%20b.mov", "/Volumes/Media/a b.mov"),
        ("file:///Media/Take #1?.mov", "/Media/Take #1?.mov"),  # unescaped, as some NLEs write them
        ("file:////NAS/Media/a.mov", "//NAS/Media/a.mov"),
        ("file://///NAS/Media/a.mov", "//NAS/Media/a.mov"),
    ],
)
def test_url_forms(url, path):
    assert url_to_path(url) == path


def test_path_maps_and_search_folders(tmp_path):
    (tmp_path / "farm" / "proj").mkdir(parents=True)
    (tmp_path / "farm" / "proj" / "a.mov").write_bytes(b"x")
    (tmp_path / "search" / "deep").mkdir(parents=True)
    (tmp_path / "search" / "deep" / "B001_C002.mov").write_bytes(b"x")
    relinker = Relinker([tmp_path / "search"], [PathMap.parse(f"D:\\Media={tmp_path / 'farm'}")])
    assert relinker.find("D:\\Media\\proj\\a.mov") == tmp_path / "farm" / "proj" / "a.mov"
    assert relinker.find("/old/volume/B001_C002.mov") == tmp_path / "search" / "deep" / "B001_C002.mov"
    assert relinker.find(None, ["b001_c002"]) == tmp_path / "search" / "deep" / "B001_C002.mov"  # EDL reel/clip name
    assert relinker.find("/nowhere/else.mov") is None
    with pytest.raises(ValueError, match="FROM=TO"):
        PathMap.parse("no-equals")


def test_relative_media_paths_are_read_from_the_timelines_folder(tmp_path, monkeypatch, capsys):
    """A bundled edit (timeline plus media folders) names its media relative to itself: from any working
    folder, and never the same-named file of another folder."""
    edit = tmp_path / "bundle"
    write_video(edit / "clip.mov", [30])  # found first by a search of the bundle's folder
    write_video(edit / "B" / "clip.mov", [40])
    ref = otio.schema.ExternalReference(target_url="B/clip.mov", available_range=TimeRange(RationalTime(0, R), RationalTime(40, R)))
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    track.append(otio.schema.Clip("b", media_reference=ref, source_range=TimeRange(RationalTime(5, R), RationalTime(20, R))))
    timeline = otio.schema.Timeline("bundle")
    timeline.tracks.append(track)
    otio.adapters.write_to_file(timeline, str(edit / "cut.otio"))
    monkeypatch.chdir(tmp_path)  # neither the bundle's folder nor where its media are
    assert cli_main(["shots", "bundle/cut.otio", "--format", "json"]) == 0
    (shot,) = json.loads(capsys.readouterr().out)["shots"]
    assert Path(shot["media"]) == (edit / "B" / "clip.mov").absolute()
    (tmp_path / "links").mkdir()
    (tmp_path / "links" / "cut.otio").symlink_to(edit / "cut.otio")  # opened through a link: still the file's own
    assert cli_main(["shots", "links/cut.otio", "--format", "json"]) == 0
    (shot,) = json.loads(capsys.readouterr().out)["shots"]
    assert Path(shot["media"]) == (edit / "B" / "clip.mov").resolve()
    assert cli_main(["stylize", "links/cut.otio", "--backend", "passthrough", "--no-detect", "--format", "json"]) == 0
    version = otio.adapters.read_from_file(json.loads(capsys.readouterr().out)["version_timeline"])
    assert [url_to_path(c.media_reference.target_url) for c in version.video_tracks()[0].find_clips()] == [
        str((edit / "B" / "clip.mov").resolve())], "beside the link, its media named as the link's folder cannot"


def test_a_media_name_holding_a_percent_escape_links_to_that_file_not_its_decoded_twin(tmp_path, capsys):
    """`Path.as_uri()` writes "take%20two.mp4" as take%2520two.mp4: decoded once, it is that file (decoded twice,
    it would be "take two.mp4", another take beside it)."""
    wanted = write_video(tmp_path / "take%20two.mp4", [30], width=64, height=36)
    write_video(tmp_path / "take two.mp4", [30], width=64, height=36)
    ref = otio.schema.ExternalReference(wanted.as_uri(), available_range=TimeRange(RationalTime(0, R), RationalTime(30, R)))
    track = otio.schema.Track("V1")
    track.append(otio.schema.Clip("take", media_reference=ref, source_range=TimeRange(RationalTime(5, R), RationalTime(10, R))))
    timeline = otio.schema.Timeline("percent")
    timeline.tracks.append(track)
    cut = tmp_path / "cut.otio"
    otio.adapters.write_to_file(timeline, str(cut))
    assert cli_main(["shots", str(cut), "--format", "json", "--no-detect"]) == 0
    (shot,) = json.loads(capsys.readouterr().out)["shots"]
    assert shot["media"] == str(wanted)


def test_the_media_folders_an_editor_names_are_searched_before_the_timelines(tmp_path, capsys):
    """A stale copy beside the timeline must not win over the folder given with --media-dir."""
    write_video(tmp_path / "edit" / "old" / "a.mp4", [40], width=64, height=36)
    fresh = write_video(tmp_path / "media" / "a.mp4", [60], width=64, height=36)
    ref = otio.schema.ExternalReference("/offline/volume/a.mp4", available_range=TimeRange(RationalTime(0, R), RationalTime(60, R)))
    track = otio.schema.Track("V1")
    track.append(otio.schema.Clip("a", media_reference=ref, source_range=TimeRange(RationalTime(45, R), RationalTime(10, R))))
    timeline = otio.schema.Timeline("offline")
    timeline.tracks.append(track)
    cut = tmp_path / "edit" / "cut.otio"
    otio.adapters.write_to_file(timeline, str(cut))
    assert cli_main(["shots", str(cut), "--media-dir", str(tmp_path / "media"), "--format", "json", "--no-detect"]) == 0
    (shot,) = json.loads(capsys.readouterr().out)["shots"]
    assert shot["media"] == str(fresh.absolute())


def test_a_clip_with_no_media_reference_says_so_and_is_found_by_name_in_a_media_folder(tmp_path, capsys):
    """A MissingReference (the clip was offline when the NLE exported): the problem says the timeline names no
    file, not that a file named like the clip is missing; a media folder holding a file of its name links it."""
    media = write_video(tmp_path / "media" / "B007.mov", [30], width=64, height=36)
    track = otio.schema.Track("V1")
    track.append(otio.schema.Clip("B007", otio.schema.MissingReference(), TimeRange(RationalTime(5, R), RationalTime(10, R))))
    timeline = otio.schema.Timeline("missing")
    timeline.tracks.append(track)
    cut = tmp_path / "edit" / "cut.otio"
    cut.parent.mkdir()
    otio.adapters.write_to_file(timeline, str(cut))
    assert cli_main(["shots", str(cut), "--format", "json", "--no-detect"]) == 1
    (problem,) = json.loads(capsys.readouterr().out)["problems"]
    assert problem["message"] == ("clip B007: the timeline names no media file for this clip (offline in the NLE when exported); "
                                  "relink it in the NLE and export again, or give --media-dir FOLDER (in the panel: "
                                  "Add search folder) holding a file named B007.")
    assert cli_main(["shots", str(cut), "--media-dir", str(media.parent), "--format", "json", "--no-detect"]) == 0
    (shot,) = json.loads(capsys.readouterr().out)["shots"]
    assert shot["media"] == str(media.absolute()) and (shot["start_frame"], shot["end_frame"]) == (5, 15)


def test_offline_media_is_named_by_its_path_not_its_url(tmp_path, capsys):
    """An NLE writes file URLs percent-encoded; the editor relinks by the path its file system shows."""
    ref = otio.schema.ExternalReference("file:///Volumes/M%C3%A9dia%20A/b%20c.mov",
                                        available_range=TimeRange(RationalTime(0, R), RationalTime(60, R)))
    track = otio.schema.Track("V1")
    track.append(otio.schema.Clip("b", media_reference=ref, source_range=TimeRange(RationalTime(5, R), RationalTime(10, R))))
    cut = tmp_path / "cut.otio"
    otio.adapters.write_to_file(otio.schema.Timeline("offline", tracks=[track]), str(cut))
    assert cli_main(["shots", str(cut), "--format", "json", "--no-detect"]) == 1
    (problem,) = json.loads(capsys.readouterr().out)["problems"]
    assert problem["message"].startswith("clip b: media /Volumes/Média A/b c.mov not found (offline); relink with")


def test_same_named_files_are_chosen_by_the_original_paths_folders_or_reported(tmp_path):
    """Cards reuse file names: the folders of the path the NLE wrote pick the copy, never the first found."""
    for card in ("CARD1", "CARD2"):
        (tmp_path / "search" / "Day1" / card).mkdir(parents=True)
        (tmp_path / "search" / "Day1" / card / "C0001.MP4").write_bytes(b"x")
    relinker = Relinker([tmp_path / "search"])
    assert relinker.find("E:\\Shoot\\Day1\\CARD2\\C0001.MP4") == tmp_path / "search" / "Day1" / "CARD2" / "C0001.MP4"
    assert relinker.find(None, ["CARD1", "C0001"]) == tmp_path / "search" / "Day1" / "CARD1" / "C0001.MP4"  # EDL reel
    with pytest.raises(MediaNotFound, match=r"ambiguous: 2 files named C0001.MP4: .*CARD1.*, .*CARD2.*narrow --media-dir"):
        relinker.find("/Volumes/Shoot/Day1/C0001.MP4")


def test_a_clip_linked_to_a_file_that_is_not_video_is_named_with_what_to_do(tmp_path, capsys):
    """Audio-only, text and empty files: each problem names its clip and says what to do."""
    import av
    import numpy as np

    with av.open(str(tmp_path / "sound.mov"), "w") as container:
        stream = container.add_stream("aac", rate=48000)
        for index in range(8):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 48000, index * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    (tmp_path / "notes.mov").write_text("not a movie")
    (tmp_path / "empty.mov").write_bytes(b"")
    track = otio.schema.Track("V1")
    for name in ("sound", "notes", "empty"):
        track.append(otio.schema.Clip(name, otio.schema.ExternalReference(str(tmp_path / f"{name}.mov")),
                                      TimeRange(RationalTime(0, R), RationalTime(10, R))))
    timeline = otio.schema.Timeline("not video")
    timeline.tracks.append(track)
    otio.adapters.write_to_file(timeline, str(tmp_path / "cut.otio"))
    assert cli_main(["shots", str(tmp_path / "cut.otio"), "--no-detect", "--format", "json"]) == 1
    problems = json.loads(capsys.readouterr().out)["problems"]
    assert [p["clip"] for p in problems] == ["sound", "notes", "empty"]
    assert problems[0]["message"] == (f"clip sound: {tmp_path / 'sound.mov'}: has no video stream. Relink the clip "
                                      "to its video file in the NLE and export the timeline again.")
    for problem in problems[1:]:
        assert problem["message"].startswith(f"clip {problem['clip']}: ") and "Relink the clip to its video file" in problem["message"]


def test_an_exact_file_name_wins_over_a_stem_in_an_earlier_folder(tmp_path):
    """--media-dir proxies/ holding A001.mp4 does not stand in for the A001.mov the timeline names."""
    for path in (tmp_path / "proxies" / "A001.mp4", tmp_path / "media" / "A001.mov"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    relinker = Relinker([tmp_path / "proxies", tmp_path / "media"])
    assert relinker.find("/Volumes/Gone/A001.mov") == (tmp_path / "media" / "A001.mov").absolute()
    assert relinker.find(None, ["A001"]) == (tmp_path / "proxies" / "A001.mp4").absolute()
