"""CMX3600 EDLs as Avid and others write them: media named by comments, cards that reuse file names, the
frame count mode, media at its NTSC twin rate."""

import json
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest
from mediagen import write_video

from host_plugin.cli import main as cli_main
from host_plugin.pipeline import ShotResult, load_edit, plan_edit
from host_plugin.timeline.reader import read_timeline
from host_plugin.timeline.writeback import write_version


def event(number: int, reel: str, source: str, record: str, *comments: str) -> str:
    """One cut event: source and record are "IN OUT" timecodes."""
    return f"{number:03d}  {reel:<8} V     C        {source} {record}\n" + "".join(f"* {c}\n" for c in comments) + "\n"


def edl(tmp_path: Path, *events: str, fcm: str = "FCM: NON-DROP FRAME\n") -> Path:
    path = tmp_path / "cut.edl"
    path.write_text(f"TITLE: CUT\n{fcm}\n" + "".join(events))
    return path


def shots(path: Path, rate: str, *media_dirs: Path, capsys) -> dict:
    folders = [arg for folder in media_dirs for arg in ("--media-dir", str(folder))]
    cli_main(["shots", str(path), "--edl-rate", rate, "--no-detect", "--format", "json", *folders])
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("source_file", ["A001C003_220101_R1AB.mov", "A001C003_220101_R1AB",
                                         "C:\\Media\\CARD1\\A001C003_220101_R1AB.mov", "/Volumes/RAID/A001C003_220101_R1AB.mov"])
def test_an_avid_source_file_comment_finds_the_media(tmp_path, capsys, source_file):
    """Avid names the file only in `* SOURCE FILE:` (with or without its extension): the reel column holds an
    8-character tape name and FROM CLIP NAME the bin clip's name."""
    media = write_video(tmp_path / "media" / "A001C003_220101_R1AB.mov", [60], width=64, height=36, rate=Fraction(25),
                        timecode="11:00:00:00")
    cut = edl(tmp_path, event(1, "A001C003", "11:00:01:00 11:00:02:00", "01:00:00:00 01:00:01:00",
                              "FROM CLIP NAME:  Interview take 3", f"SOURCE FILE: {source_file}"))
    data = shots(cut, "25", media.parent, capsys=capsys)
    assert data["problems"] == []
    assert [(s["media"], s["start_frame"], s["end_frame"]) for s in data["shots"]] == [(str(media.absolute()), 25, 50)]


@pytest.mark.parametrize("m2,why", [("M2   A001     050.0                11:00:01:00", "a speed change to 200%"),
                                    ("M2   Take 3   000.0                11:00:01:00", "a freeze frame")])
def test_an_m2_speed_change_with_equal_source_and_record_durations_is_skipped_not_played_at_full_speed(
        tmp_path, capsys, m2, why):
    """Avid writes a motion effect's event with the source as long as the record side, its speed only in the M2
    line (named by reel, or clip name as OTIO writes it): OTIO's reader then drops it, and the render would
    show the media at its own speed. A 100% M2 changes nothing."""
    media = write_video(tmp_path / "media" / "A001.mov", [80], width=64, height=36, rate=Fraction(25),
                        timecode="11:00:00:00")
    retimed = event(1, "A001", "11:00:01:00 11:00:02:00", "01:00:00:00 01:00:01:00", "FROM CLIP NAME: Take 3")
    normal = event(2, "A001", "11:00:02:00 11:00:02:10", "01:00:01:00 01:00:01:10", "FROM CLIP NAME: Take 4")
    cut = edl(tmp_path, retimed.replace("\n", f"\n{m2}\n", 1), normal.replace("\n", "\nM2   A001     025.0    11:00:02:00\n", 1))
    data = shots(cut, "25", media.parent, capsys=capsys)
    assert [s["clip"] for s in data["shots"]] == ["Take 4"]
    assert data["skipped"] == [f"clip Take 3: {why}; a styled clip plays its media at its own speed, so it would not "
                               "match. Render the retime first (Resolve: Render in Place; Premiere: Render and "
                               "Replace) and stylize that clip."]


def test_an_m2_retimes_its_own_event_not_another_of_the_same_source(tmp_path, capsys):
    """The same take cut in twice, the second time slowed down: the first plays as cut."""
    media = write_video(tmp_path / "media" / "A001.mov", [80], width=64, height=36, rate=Fraction(25),
                        timecode="11:00:00:00")
    normal = event(1, "A001", "11:00:01:00 11:00:02:00", "01:00:00:00 01:00:01:00", "FROM CLIP NAME: Take 1")
    slowed = event(2, "A001", "11:00:01:00 11:00:02:00", "01:00:01:00 01:00:02:00", "FROM CLIP NAME: Take 1")
    cut = edl(tmp_path, normal, slowed.replace("\n", "\nM2   A001     012.5                11:00:01:00\n", 1))
    data = shots(cut, "25", media.parent, capsys=capsys)
    assert [(s["clip"], s["record_start"]) for s in data["shots"]] == [("Take 1", "01:00:00:00")]
    assert [s.split(";")[0] for s in data["skipped"]] == ["clip Take 1: a speed change to 50%"]


@pytest.mark.parametrize("events,retimed", [
    (  # OTIO's writer repeats the outgoing clip's M2 after the dissolve's lines: the incoming clip is not slowed
        """001  Slow     V     C        00:00:04:00 00:00:04:22 00:00:00:00 00:00:01:20
M2   Slow\t\t50.0\t\t\t00:00:04:00
* FROM CLIP NAME:  Slow
002  Slow     V     C        00:00:04:22 00:00:04:22 00:00:01:20 00:00:01:20
002  Plain    V     D 010    00:00:19:20 00:00:22:00 00:00:01:20 00:00:04:00
M2   Slow\t\t50.0\t\t\t00:00:04:00
* TO CLIP NAME:  Plain
""", {"Slow": True, "Plain": False}),
    (  # the sound leads the picture: record positions count from the first picture event, as OTIO's track does
        """001  A009     AA    C        01:00:05:00 01:00:10:00 01:00:00:00 01:00:05:00
002  A001     V     C        01:00:05:00 01:00:10:00 01:00:05:00 01:00:10:00
* FROM CLIP NAME: First
003  A001     V     C        01:00:05:00 01:00:10:00 01:00:10:00 01:00:15:00
M2   A001       050.0                01:00:05:00
* FROM CLIP NAME: Second
""", {"First": False, "Second": True}),
    (  # an M2 after an audio line retimes the sound, not the picture cut from the same source
        """001  A001     V     C        01:00:05:00 01:00:10:00 01:00:00:00 01:00:05:00
* FROM CLIP NAME: Picture
002  A001     AA    C        01:00:05:00 01:00:10:00 01:00:00:00 01:00:05:00
M2   A001       050.0                01:00:05:00
""", {"Picture": False}),
])
def test_an_m2_finds_its_own_clip_in_dissolves_leading_sound_and_audio_events(tmp_path, events, retimed):
    timeline = read_timeline(edl(tmp_path, events), edl_rate=25)
    assert {c.name: bool(c.effects) for t in timeline.video_tracks() for c in t.find_clips()} == retimed


def test_an_m2_at_the_nominal_rate_of_an_ntsc_edl_is_no_speed_change(tmp_path, capsys):
    """A 23.976 EDL (read at its default rate) counts timecode at 24: an M2 of 024.0 is 100%, not 100.1%."""
    media = write_video(tmp_path / "media" / "A001.mov", [80], width=64, height=36, timecode="11:00:00:00")
    normal = event(1, "A001", "11:00:01:00 11:00:02:00", "01:00:00:00 01:00:01:00", "FROM CLIP NAME: Take 1")
    faster = event(2, "A001", "11:00:02:00 11:00:02:12", "01:00:01:00 01:00:01:12", "FROM CLIP NAME: Take 2")
    cut = edl(tmp_path, normal.replace("\n", "\nM2   A001     024.0    11:00:01:00\n", 1),
              faster.replace("\n", "\nM2   A001     024.1    11:00:02:00\n", 1))
    cli_main(["shots", str(cut), "--no-detect", "--format", "json", "--media-dir", str(media.parent)])
    data = json.loads(capsys.readouterr().out)
    assert [s["clip"] for s in data["shots"]] == ["Take 1"]
    assert [s.split(":")[0] for s in data["skipped"]] == ["clip Take 2"]


def test_same_named_files_are_told_apart_by_folder_and_timecode_or_reported(tmp_path, capsys):
    """Cameras name clips per card (C0001.MP4 on every card): the card folder named like the reel, else the one
    file whose timecode holds the event's source range, is the clip's media; otherwise the clip is a problem
    naming every candidate, never one picked silently."""
    def card(folder: str, timecode: str | None) -> Path:
        return write_video(tmp_path / folder / "C0001.MP4", [60], width=64, height=36, rate=Fraction(25), timecode=timecode)

    card_a, card_b = card("reels/CARDA", "11:00:00:00"), card("reels/CARDB", "11:00:00:00")
    for reel, media in (("CARDA", card_a), ("CARDB", card_b)):
        cut = edl(tmp_path, event(1, reel, "11:00:01:00 11:00:02:00", "01:00:00:00 01:00:01:00", "FROM CLIP NAME: C0001.MP4"))
        assert [s["media"] for s in shots(cut, "25", tmp_path / "reels", capsys=capsys)["shots"]] == [str(media.absolute())]

    card("cards/card1", "11:00:00:00")
    later = card("cards/card2", "15:00:00:00")
    cut = edl(tmp_path, event(1, "A001", "15:00:01:00 15:00:02:00", "01:00:00:00 01:00:01:00", "FROM CLIP NAME: C0001.MP4"))
    assert [s["media"] for s in shots(cut, "25", tmp_path / "cards", capsys=capsys)["shots"]] == [str(later.absolute())]

    same = [card("untimed/card1", None), card("untimed/card2", None)]
    cut = edl(tmp_path, event(1, "A001", "00:00:01:00 00:00:02:00", "01:00:00:00 01:00:01:00", "FROM CLIP NAME: C0001.MP4"))
    data = shots(cut, "25", tmp_path / "untimed", capsys=capsys)
    assert data["shots"] == [] and data["problems"] == [{"clip": "C0001.MP4", "message": (
        f"clip C0001.MP4: ambiguous: 2 files named C0001.MP4: {same[0]}, {same[1]}; relink by hand or narrow --media-dir.")}]


@pytest.mark.parametrize("fcm,timecodes,shown", [
    ("FCM: NON-DROP FRAME\n", ("00:00:01:00 00:00:02:00", "01:00:00:00 01:00:01:00"), ("01:00:00:00", "01:00:01:00")),
    ("", ("00:00:01:00 00:00:02:00", "01:00:00:00 01:00:01:00"), ("01:00:00:00", "01:00:01:00")),
    ("", ("00:00:01;00 00:00:02;00", "01:00:00;00 01:00:01;00"), ("01:00:00;00", "01:00:01;00")),
])
def test_a_2997_edl_shows_record_timecode_in_its_own_frame_count_mode(tmp_path, capsys, fcm, timecodes, shown):
    """29.97 timecode is drop-frame or not as the EDL's FCM line says, else as its timecodes are written."""
    write_video(tmp_path / "A001.mov", [90], width=64, height=36, rate=Fraction(30000, 1001))
    cut = edl(tmp_path, event(1, "A001", *timecodes, "FROM CLIP NAME: A001.mov"), fcm=fcm)
    data = shots(cut, "29.97", capsys=capsys)
    assert [(s["start_frame"], s["end_frame"]) for s in data["shots"]] == [(30, 60)]
    assert [(s["record_start"], s["record_end"]) for s in data["shots"]] == [shown]


def test_butted_events_of_24_fps_media_in_a_23976_edl_leave_no_hole(tmp_path):
    """24 fps media cut in a 23.976 EDL (read at 23.976: mixed rates) plays frame for frame, as its equal
    source and record durations say: each clip's shots span exactly its record range, so the version track
    has no one-frame hole at each cut (600 frames are 599.4 frames at the other rate)."""
    media = write_video(tmp_path / "L024.mov", [1320], width=32, height=18, rate=Fraction(24), timecode="01:00:00:00", gop=250)
    cut = edl(tmp_path,
              event(1, "L024", "01:00:00:00 01:00:25:00", "01:00:00:00 01:00:25:00", "FROM CLIP NAME: L024.mov"),
              event(2, "L024", "01:00:30:00 01:00:55:00", "01:00:25:00 01:00:50:00", "FROM CLIP NAME: L024.mov"))
    edit = load_edit(cut, edl_rate=24000 / 1001)
    plan = plan_edit(edit, None)
    assert not plan.problems
    assert [(s.start, s.end) for s in plan.shots] == [(0, 600), (720, 1320)]
    assert [s.record for s in plan.shots] == [c.record for c in edit.clips]
    assert plan.shots[0].record.end_time_exclusive() == plan.shots[1].record.start_time
    written = write_version(cut, edit.timeline, [ShotResult(s, "done", media) for s in plan.shots], "look", plan.rate)
    version = otio.adapters.read_from_file(str(written)).tracks[1]
    assert all(isinstance(item, otio.schema.Clip) for item in version), "no gap between the renders"
    ranges = [version.range_of_child(clip) for clip in version]
    assert [(round(r.start_time.value_rescaled_to(plan.rate)), round(r.duration.value_rescaled_to(plan.rate)))
            for r in ranges] == [(0, 600), (600, 600)]


@pytest.mark.parametrize(("encoding", "bom"), [("cp1252", b""), ("utf-8", b"\xef\xbb\xbf")])
def test_an_edl_written_on_windows_is_read(tmp_path, capsys, encoding, bom):
    """Avid and Premiere on Windows write accented clip names in its Western code page, Notepad saves UTF-8
    with a byte order mark: OTIO's reader refused both."""
    media = write_video(tmp_path / "media" / "Café crème.mov", [30], width=64, height=36, rate=Fraction(25))
    cut = edl(tmp_path, event(1, "AX", "00:00:00:10 00:00:01:00", "01:00:00:00 01:00:00:15", "FROM CLIP NAME: Café crème.mov"))
    cut.write_bytes(bom + cut.read_text().encode(encoding))
    data = shots(cut, "25", media.parent, capsys=capsys)
    assert data["problems"] == [] and [(s["clip"], s["media"], s["start_frame"]) for s in data["shots"]] == [
        ("Café crème.mov", str(media.absolute()), 10)]


def test_an_edl_event_otios_reader_refuses_is_named_with_what_to_do_not_blamed_on_the_rate(tmp_path, capsys):
    """A C-mode EDL (events in source order) is no rate problem: the hint says how to export one OTIO reads."""
    cut = edl(tmp_path, event(1, "B", "00:00:00:00 00:00:01:00", "01:00:01:00 01:00:02:00"),
              event(2, "A", "00:00:00:00 00:00:01:00", "01:00:00:00 01:00:01:00"))
    assert cli_main(["shots", str(cut), "--edl-rate", "25", "--format", "json"]) == 2
    said = capsys.readouterr().err
    assert "Overlapping record in value: 01:00:00:00" in said and "in record order (A-mode)" in said
    assert "--edl-rate" not in said
