"""Timeline reading through OTIO and its adapters: formats, rates and timecode, nesting, retimes, skips."""

import json
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest
from opentimelineio.opentime import RationalTime, TimeRange
from mediagen import write_video
from premiere_export import fcp7_xml

from host_plugin.cli import main as cli_main
from host_plugin.errors import TimelineError
from host_plugin.timeline.media import url_to_path
from host_plugin.timeline.reader import read_timeline, video_clips


R = 24000 / 1001


def clip(name, start, duration, url=None):
    ref = otio.schema.ExternalReference(target_url=url or f"/media/{name}.mov", available_range=TimeRange(RationalTime(0, R), RationalTime(500, R)))
    return otio.schema.Clip(name, media_reference=ref, source_range=TimeRange(RationalTime(start, R), RationalTime(duration, R)))


def test_visible_clips_with_gaps_transitions_nesting_and_skips():
    timeline = otio.schema.Timeline("t", global_start_time=RationalTime(86400, R))
    v1 = otio.schema.Track("V1")
    v1.append(otio.schema.Gap(source_range=TimeRange(RationalTime(0, R), RationalTime(10, R))))
    v1.append(clip("a", 100, 48))
    # Asymmetric, as an EDL dissolve that starts at the cut: in_offset is b's head, out_offset a's tail.
    v1.append(otio.schema.Transition(in_offset=RationalTime(4, R), out_offset=RationalTime(6, R)))
    v1.append(clip("b", 200, 30))
    off = clip("off", 0, 12)
    off.enabled = False
    v1.append(off)
    v1.append(otio.schema.Clip("bars", media_reference=otio.schema.GeneratorReference(generator_kind="SMPTEBars"),
                               source_range=TimeRange(RationalTime(0, R), RationalTime(24, R))))
    nest = otio.schema.Stack("nest", source_range=TimeRange(RationalTime(5, R), RationalTime(20, R)))
    inner = otio.schema.Track("inner")
    inner.append(clip("n", 50, 40))
    nest.append(inner)
    v1.append(nest)
    v2 = otio.schema.Track("V2")
    v2.enabled = False
    v2.append(clip("hidden", 0, 10))
    audio = otio.schema.Track("A1", kind=otio.schema.TrackKind.Audio)
    audio.append(clip("sound", 0, 100))
    timeline.tracks.extend([v1, v2, audio])
    clips, skipped = video_clips(timeline)
    by_name = {c.name: c for c in clips}
    assert list(by_name) == ["a", "b", "n"]
    assert by_name["a"].record == TimeRange(RationalTime(10, R), RationalTime(48, R))
    assert by_name["a"].transition_out.value == 6 and by_name["b"].transition_in.value == 4
    for ref in (by_name["a"], by_name["b"]):  # as OTIO's own visible_range says
        visible = ref.clip.visible_range()
        assert visible.start_time == ref.source.start_time - ref.transition_in
        assert visible.end_time_exclusive() == ref.source.end_time_exclusive() + ref.transition_out
    assert by_name["b"].record.start_time.value == 58
    # The nested stack shows 20 frames of "n", starting 5 frames into it.
    assert by_name["n"].source == TimeRange(RationalTime(55, R), RationalTime(20, R))
    assert by_name["n"].record == TimeRange(RationalTime(124, R), RationalTime(20, R))  # after "off" and "bars"
    assert any("off" in s for s in skipped) and any("generator" in s for s in skipped) and any("V2" in s for s in skipped)


def test_a_clip_names_its_track_as_the_nle_shows_it():
    """Video tracks count from the bottom, V1 first, whatever precedes them in the stack; a named track keeps its name."""
    timeline = otio.schema.Timeline("t")
    timeline.tracks.append(otio.schema.Track("", kind=otio.schema.TrackKind.Audio))
    for name, clip_name in (("", "a"), ("Grade", "b"), ("", "c")):
        track = otio.schema.Track(name)
        track.append(clip(clip_name, 0, 10))
        timeline.tracks.append(track)
    hidden = otio.schema.Track("")
    hidden.enabled = False
    timeline.tracks.append(hidden)
    clips, skipped = video_clips(timeline)
    assert [(c.name, c.track_name) for c in clips] == [("a", "V1"), ("b", "Grade"), ("c", "V3")]
    assert skipped == ["track V4: disabled"]  # as the shot list names tracks, not counting the audio one


def test_an_image_sequence_is_skipped_with_what_to_do():
    timeline = otio.schema.Timeline("t")
    track = otio.schema.Track("V1")
    frames = otio.schema.ImageSequenceReference(
        target_url_base="/vfx/sh010/", name_prefix="sh010.", name_suffix=".exr", start_frame=1001,
        frame_zero_padding=4, rate=24, available_range=TimeRange(RationalTime(1001, 24), RationalTime(48, 24)),
    )
    track.append(otio.schema.Clip("sh010", frames, TimeRange(RationalTime(1001, 24), RationalTime(24, 24))))
    track.append(clip("plate", 0, 24))
    timeline.tracks.append(track)
    clips, skipped = video_clips(timeline)
    assert [c.name for c in clips] == ["plate"]
    assert skipped == [
        "clip sh010: an image sequence (/vfx/sh010/sh010.####.exr); DreamStyle reads movie files, so render it to "
        "a movie (e.g. ProRes 4444), relink the clip to that and export the timeline again."
    ]


EDL_WITH_RETIMES = """TITLE: SPEED
FCM: NON-DROP FRAME

001  A001     V     C        01:00:00:00 01:00:04:00 00:00:00:00 00:00:02:00
M2   A001       048.0                01:00:00:00
* FROM CLIP NAME: fast.mov

002  A002     V     C        01:00:10:00 01:00:12:00 00:00:02:00 00:00:04:00
* FROM CLIP NAME: normal.mov

003  A003     V     C        01:00:20:00 01:00:20:01 00:00:04:00 00:00:05:00
M2   A003       000.0                01:00:20:00
* FROM CLIP NAME: held.mov
"""


# Premiere's FCP7 XML export of a clip's Speed/Duration.


TIME_REMAP = """<filter><effect><name>Time Remap</name><effectid>timeremap</effectid><effectcategory>motion</effectcategory>
<effecttype>motion</effecttype><mediatype>video</mediatype>
<parameter authoringApp="PremierePro"><parameterid>variablespeed</parameterid><name>variablespeed</name><valuemin>0</valuemin>
<valuemax>1</valuemax><value>0</value></parameter>
<parameter authoringApp="PremierePro"><parameterid>speed</parameterid><name>speed</name><valuemin>-100000</valuemin>
<valuemax>100000</valuemax><value>{speed}</value></parameter>
<parameter authoringApp="PremierePro"><parameterid>reverse</parameterid><name>reverse</name><value>{reverse}</value></parameter>
</effect></filter>"""


def test_retimed_clips_are_skipped_with_what_to_do(tmp_path):
    """A speed change, reverse or freeze frame would play wrong on the version track: the EDL adapter reads
    M2 lines as OTIO time effects, the FCP7 XML adapter keeps Premiere's time remap filter as metadata."""
    edl = tmp_path / "speed.edl"
    edl.write_text(EDL_WITH_RETIMES)
    clips, skipped = video_clips(read_timeline(edl, edl_rate=24))
    assert [c.name for c in clips] == ["normal.mov"]
    assert any("fast.mov: a speed change to 200%" in s and "Render in Place" in s for s in skipped), skipped
    assert any("held.mov: a freeze frame" in s for s in skipped), skipped
    xml = fcp7_xml("seq", [(Path("/m/fast.mov"), 0, 24, 0), (Path("/m/same.mov"), 0, 24, 24), (Path("/m/back.mov"), 0, 24, 48)])
    items = xml.split("</clipitem>")
    xml = "</clipitem>".join(
        [items[0] + TIME_REMAP.format(speed=250, reverse="FALSE"), items[1] + TIME_REMAP.format(speed=100, reverse="FALSE"),
         items[2] + TIME_REMAP.format(speed=100, reverse="TRUE"), *items[3:]]
    )
    (tmp_path / "speed.xml").write_text(xml)
    clips, skipped = video_clips(read_timeline(tmp_path / "speed.xml"))
    assert [c.name for c in clips] == ["same.mov"]
    assert any("fast.mov: a speed change to 250%" in s for s in skipped) and any("back.mov: a reversed clip" in s for s in skipped)
    timeline = otio.schema.Timeline("t")
    track = otio.schema.Track("V1")
    same_speed = clip("same", 0, 24)
    same_speed.effects.append(otio.schema.LinearTimeWarp(time_scalar=1.0))
    track.append(same_speed)
    timeline.tracks.append(track)
    assert [c.name for c in video_clips(timeline)[0]] == ["same"]


def test_a_time_effect_on_a_nested_sequence_or_track_skips_the_clips_it_retimes():
    """OTIO's AAF reader puts an Avid motion effect over several clips on the stack it makes of them: those
    clips play at its speed, not their media's; an effect that is no time effect (a grade) changes no timing."""
    def nest(effect):
        stack = otio.schema.Stack("nest", children=[otio.schema.Track("inside", children=[clip("in", 0, 20)])])
        stack.effects.append(effect)
        return stack

    held = otio.schema.Track("held", children=[clip("frozen", 0, 10)])
    held.effects.append(otio.schema.FreezeFrame())
    v1 = otio.schema.Track("V1", children=[nest(otio.schema.LinearTimeWarp(time_scalar=2.0)), held, clip("plain", 0, 10)])
    v2 = otio.schema.Track("V2", children=[nest(otio.schema.Effect("grade", "ColorCorrection"))])
    timeline = otio.schema.Timeline("t")
    timeline.tracks.extend([v1, v2])
    clips, skipped = video_clips(timeline)
    assert [c.name for c in clips] == ["plain", "in"]
    assert [s.split(";")[0] for s in skipped] == ["clip in: a speed change to 200% on its nested sequence nest",
                                                  "clip frozen: a freeze frame on its track held"]


PAL_EDL = """TITLE: PAL
FCM: NON-DROP FRAME

001  AX       V     C        00:00:00:00 00:00:01:24 10:00:00:00 10:00:01:24
* FROM CLIP NAME: pal.mov
"""


def test_an_edl_is_read_at_the_rate_it_is_given(tmp_path, capsys):
    """EDLs do not state their rate: 23.976 unless --edl-rate says otherwise, and a failure says so."""
    edl = tmp_path / "pal.edl"
    edl.write_text(PAL_EDL)
    with pytest.raises(TimelineError, match=r"read at 23.976 fps: if that is not its rate, give it \(--edl-rate"):
        read_timeline(edl)
    (clip_ref,), _ = video_clips(read_timeline(edl, edl_rate=25))
    assert clip_ref.source.duration == RationalTime(49, 25) and clip_ref.record.start_time.rate == 25
    assert cli_main(["shots", str(edl), "--format", "json"]) == 2
    assert "--edl-rate" in capsys.readouterr().err
    assert cli_main(["shots", str(edl), "--edl-rate", "25", "--format", "json"]) == 1  # read; its media is offline
    data = json.loads(capsys.readouterr().out)
    assert "pal.mov" in data["problems"][0]["message"] and "offline" in data["problems"][0]["message"]
    with pytest.raises(SystemExit):
        cli_main(["shots", str(edl), "--edl-rate", "fast"])
    assert "'fast' is not a frame rate" in capsys.readouterr().err


def test_an_assumed_edl_rate_is_checked_against_the_media(tmp_path, capsys):
    """A 25 fps EDL whose timecodes all parse at 23.976 would be read mistimed: its clips wait for a rate."""
    write_video(tmp_path / "media" / "pal.mov", [60], rate=Fraction(25))
    edl = tmp_path / "pal.edl"
    edl.write_text(PAL_EDL.replace("01:24", "01:20"))

    def shots(*extra):
        code = cli_main(["shots", str(edl), "--media-dir", str(tmp_path / "media"), "--format", "json", *extra])
        return code, json.loads(capsys.readouterr().out)

    code, data = shots()
    assert code == 1 and data["shots"] == []
    assert "read at 23.976 fps (EDLs do not say) but pal.mov runs at 25 fps" in data["problems"][0]["message"]
    code, data = shots("--edl-rate", "25")
    assert code == 0 and [(s["start_frame"], s["end_frame"], s["record_end"]) for s in data["shots"]] == [(0, 45, "10:00:01:20")]
    code, data = shots("--edl-rate", "23.976")  # the editor says so: mixed rates, the media at its own speed
    assert code == 0 and data["shots"][0]["end_frame"] == 46


def test_errors_name_the_file(tmp_path):
    with pytest.raises(TimelineError, match="unsupported"):
        read_timeline(tmp_path / "cut.prproj")
    with pytest.raises(TimelineError, match="not found"):
        read_timeline(tmp_path / "missing.otio")
    broken = tmp_path / "broken.xml"
    broken.write_text("<xmeml><sequence>")
    with pytest.raises(TimelineError, match="broken.xml"):
        read_timeline(broken)
    audio_only = otio.schema.Timeline("a")
    audio_only.tracks.append(otio.schema.Track("A1", kind=otio.schema.TrackKind.Audio))
    with pytest.raises(TimelineError, match="no video track"):
        video_clips(audio_only)


def test_an_edl_that_cannot_be_read_names_the_file(tmp_path, monkeypatch):
    """As any other format: a file the system refuses (permissions, a lost share) is a TimelineError."""
    import host_plugin.timeline.reader as reader

    def refused(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(reader, "edl_text", refused)
    edl = tmp_path / "cut.edl"
    edl.write_text("TITLE: cut\n")
    with pytest.raises(TimelineError, match="cut.edl: cannot be read as cmx_3600 .*Permission denied") as refusal:
        read_timeline(edl)
    assert "frame rate" not in str(refusal.value)  # its rate has nothing to do with it


@pytest.mark.parametrize("suffix,adapter", [(".otio", "otio_json"), (".xml", "fcp_xml"), (".edl", "cmx_3600"), (".aaf", "AAF")])
def test_each_format_reads_to_the_same_clips(tmp_path, suffix, adapter):
    timeline = otio.schema.Timeline("fmt", global_start_time=RationalTime(86400, R))
    track = otio.schema.Track("V1")
    track.extend([clip("a", 12, 40, "/media/a.mov"), clip("b", 30, 24, "/media/b.mov")])
    timeline.tracks.append(track)
    path = tmp_path / f"cut{suffix}"
    options = {"use_empty_mob_ids": True} if adapter == "AAF" else {}
    otio.adapters.write_to_file(timeline, str(path), adapter_name=adapter, **options)
    clips, _ = video_clips(read_timeline(path))
    assert [(c.source.start_time.value, c.source.duration.value, c.record.start_time.value) for c in clips] == [(12, 40, 0), (30, 24, 40)]
    assert [Path(url_to_path(c.media_url)).name for c in clips] == ["a.mov", "b.mov"]


@pytest.mark.parametrize("rate,media_rate", [(23.976, Fraction(24000, 1001)), (29.97, Fraction(2997, 100)),
                                             (59.94, Fraction(60000, 1001))])
def test_a_timeline_rate_written_rounded_still_finds_the_media_timecode(tmp_path, capsys, rate, media_rate):
    """Files often say 23.976 for 24000/1001 (timelines, and some muxers' media rates); a clip without an
    available range is placed by the media's start timecode, read at the exact NTSC rate (OTIO refuses
    SMPTE timecode at 23.976)."""
    media = write_video(tmp_path / "a.mov", [60], rate=media_rate, timecode="01:00:00:00", width=64, height=36)
    hour = 3600 * round(rate)  # 01:00:00:00 in frames (non-drop timecode counts whole frames a second)
    clip = otio.schema.Clip("a", otio.schema.ExternalReference(str(media)),
                            TimeRange(RationalTime(hour + 12, rate), RationalTime(30, rate)))
    track = otio.schema.Track("V1")
    track.append(clip)
    timeline = otio.schema.Timeline("rounded")
    timeline.tracks.append(track)
    cut = tmp_path / "cut.otio"
    otio.adapters.write_to_file(timeline, str(cut))
    assert cli_main(["shots", str(cut), "--format", "json", "--no-detect"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["fps"] == f"{round(rate) * 1000}/1001"
    assert [(s["start_frame"], s["end_frame"]) for s in data["shots"]] == [(12, 42)]


def test_a_compound_clip_shows_its_upper_layers_over_lower_ones_and_never_its_hidden_or_audio_tracks():
    """A nested stack (Resolve compound clip, Premiere nested sequence) without compositing: where an
    upper layer has a clip, that is what the timeline shows; disabled layers and audio show nothing, and a
    title (a generator) covers nothing."""
    nest = otio.schema.Stack("compound")
    low, top, hidden, title = (otio.schema.Track(n) for n in ("low", "top", "hidden", "title"))
    low.append(clip("low", 100, 8))
    top.append(otio.schema.Gap(source_range=TimeRange(RationalTime(0, R), RationalTime(3, R))))
    top.append(clip("top", 200, 5))
    hidden.enabled = False
    hidden.append(clip("hidden", 0, 8))
    title.append(otio.schema.Clip("title", media_reference=otio.schema.GeneratorReference(generator_kind="Text"),
                                  source_range=TimeRange(RationalTime(0, R), RationalTime(8, R))))
    sound = otio.schema.Track("sound", kind=otio.schema.TrackKind.Audio)
    sound.append(clip("sound", 0, 8))
    nest.extend([low, top, hidden, title, sound])
    v1 = otio.schema.Track("V1")
    v1.append(clip("before", 0, 10))
    v1.append(nest)
    timeline = otio.schema.Timeline("compound")
    timeline.tracks.append(v1)
    clips, skipped = video_clips(timeline)
    assert [(c.name, c.source.start_time.value, c.record.start_time.value, c.record.duration.value) for c in clips] == [
        ("before", 0, 0, 10), ("low", 100, 10, 3), ("top", 200, 13, 5)]
    assert skipped == ["clip title: a generator (Text), not media"]


def test_a_clip_without_a_name_is_named_for_its_file(tmp_path):
    track = otio.schema.Track("V1")
    track.extend([clip("", 0, 5, url="file:///Media/My%20Take%20%C3%A9.mov"), clip("", 0, 5, url="D:\\Media\\B001.mov")])
    timeline = otio.schema.Timeline("unnamed")
    timeline.tracks.append(track)
    otio.adapters.write_to_file(timeline, str(tmp_path / "unnamed.otio"))
    clips, _ = video_clips(read_timeline(tmp_path / "unnamed.otio"))
    assert [c.name for c in clips] == ["My Take é", "B001"]


def test_a_sequence_nested_in_a_track_shows_its_clips_within_its_own_range():
    """A Track inside a Track (OTIO's AAF reader makes one of a sequence in a sequence) plays its clips in
    turn, trimmed by its own range; a disabled one shows nothing."""
    inner = otio.schema.Track("inner", source_range=TimeRange(RationalTime(2, R), RationalTime(9, R)))
    inner.extend([clip("in1", 40, 5), clip("in2", 60, 6)])
    off = otio.schema.Track("off")
    off.enabled = False
    off.append(clip("off", 0, 4))
    v1 = otio.schema.Track("V1")
    v1.extend([clip("before", 0, 10), inner, off, clip("after", 80, 3)])
    timeline = otio.schema.Timeline("sequence in a sequence")
    timeline.tracks.append(v1)
    clips, _ = video_clips(timeline)
    assert [(c.name, c.source.start_time.value, c.record.start_time.value, c.record.duration.value) for c in clips] == [
        ("before", 0, 0, 10), ("in1", 42, 10, 3), ("in2", 60, 13, 6), ("after", 80, 23, 3)]


def test_a_transition_with_negative_offsets_widens_no_handle():
    """OTIO takes any offset; a negative one would have planned negative handles (fewer frames than the shot)."""
    v1 = otio.schema.Track("V1", children=[clip("a", 10, 20), otio.schema.Transition(
        in_offset=RationalTime(-5, R), out_offset=RationalTime(-5, R)), clip("b", 10, 20)])
    timeline = otio.schema.Timeline("t")
    timeline.tracks.append(v1)
    clips, _ = video_clips(timeline)
    assert [(c.transition_in.value, c.transition_out.value) for c in clips] == [(0, 0), (0, 0)]


def test_a_nested_sequence_read_empty_is_named_not_dropped_silently():
    track = otio.schema.Track("V1")
    track.append(clip("a", 0, 10))
    track.append(otio.schema.Stack("Nested Sequence 01", source_range=TimeRange(RationalTime(0, R), RationalTime(10, R))))
    timeline = otio.schema.Timeline("nest")
    timeline.tracks.append(track)
    clips, skipped = video_clips(timeline)
    assert [c.name for c in clips] == ["a"]
    assert skipped == ["nested sequence Nested Sequence 01: read with no video inside (OTIO's FCP7 XML reader leaves "
                       "nested sequences empty); flatten or render it in the NLE and export again"]


@pytest.mark.parametrize("rate", [24, 24000 / 1001])
def test_timecode_labels_at_the_ntsc_twin_rate_count_in_frames(tmp_path, rate):
    """23.976 media starting at 01:00:00:00 under a 24 fps timeline whose exporter wrote the clip's source
    range at 24 (01:00:00:10): NLEs count timecode labels in frames, so this is the media's frame 10."""
    from host_plugin.pipeline import load_edit, plan_edit
    from mediagen import frame_number

    media = write_video(tmp_path / "ntsc.mov", [60], rate=Fraction(24000, 1001), timecode="01:00:00:00")
    track = otio.schema.Track("V1")
    track.append(otio.schema.Clip("a", otio.schema.ExternalReference(str(media)),
                                  TimeRange(RationalTime(86410, rate), RationalTime(20, rate))))
    timeline = otio.schema.Timeline("edit", global_start_time=RationalTime(86400, 24))
    timeline.tracks.append(track)
    otio.adapters.write_to_file(timeline, str(tmp_path / "edit.otio"))
    plan = plan_edit(load_edit(tmp_path / "edit.otio"), None)
    assert not plan.problems and [(s.start, s.end) for s in plan.shots] == [(10, 30)]
    from dreamstyle.frames import iter_frames

    assert frame_number(next(iter_frames(media, 10, 11))) == 10


def test_a_timeline_start_written_at_the_ntsc_twin_rate_counts_in_frames(tmp_path, capsys):
    """A 23.976 edit whose start 01:00:00:00 is written at 24: its shots keep the clips' rate (whole frames on
    the version track) and record timecodes count the start in frames, as the NLE shows them."""
    from host_plugin.pipeline import ShotResult, load_edit, plan_edit
    from host_plugin.timeline.writeback import write_version

    ntsc = 24000 / 1001
    media = write_video(tmp_path / "ntsc.mov", [60], width=64, height=36, timecode="01:00:00:00")
    track = otio.schema.Track("V1")
    track.append(otio.schema.Gap(source_range=TimeRange(RationalTime(0, ntsc), RationalTime(2000, ntsc))))
    for name in ("a", "b"):
        track.append(otio.schema.Clip(name, otio.schema.ExternalReference(str(media)),
                                      TimeRange(RationalTime(86410, ntsc), RationalTime(7, ntsc))))
    timeline = otio.schema.Timeline("twin", global_start_time=RationalTime(86400, 24))
    timeline.tracks.append(track)
    otio.adapters.write_to_file(timeline, str(tmp_path / "edit.otio"))
    assert cli_main(["shots", str(tmp_path / "edit.otio"), "--no-detect", "--format", "json"]) == 0
    shots = json.loads(capsys.readouterr().out)["shots"]
    assert [(s["record_start"], s["record_end"]) for s in shots] == [("01:01:23:08", "01:01:23:15"),
                                                                      ("01:01:23:15", "01:01:23:22")]
    edit = load_edit(tmp_path / "edit.otio")
    plan = plan_edit(edit, None)
    version = otio.adapters.read_from_file(str(write_version(
        edit.path, edit.timeline, [ShotResult(s, "done", media) for s in plan.shots], "look", plan.rate)))
    placed = [(c.range_in_parent().start_time, c.source_range.duration) for c in version.tracks[1].find_clips()]
    assert placed == [(RationalTime(2000 + 7 * i, ntsc), RationalTime(7, ntsc)) for i in range(2)]


@pytest.mark.parametrize("start", [RationalTime(3600, 1), RationalTime(3600 * 90000, 90000), RationalTime(3600 * 600, 600)])
def test_a_timeline_start_written_in_seconds_or_ticks_is_not_the_frame_rate(tmp_path, capsys, start):
    """`RationalTime.from_seconds` writes rate 1, and some tools count in 600ths or 90000ths: the shots keep the
    clips' 25 fps, their whole frames and their record timecodes from 01:00:00:00."""
    media = write_video(tmp_path / "a.mov", [60], width=64, height=36, rate=Fraction(25))
    track = otio.schema.Track("V1")
    track.append(otio.schema.Gap(source_range=TimeRange(RationalTime(0, 25), RationalTime(13, 25))))
    track.append(otio.schema.Clip("a", otio.schema.ExternalReference(str(media)),
                                  TimeRange(RationalTime(3, 25), RationalTime(41, 25))))
    timeline = otio.schema.Timeline("seconds", global_start_time=start)
    timeline.tracks.append(track)
    otio.adapters.write_to_file(timeline, str(tmp_path / "edit.otio"))
    assert cli_main(["shots", str(tmp_path / "edit.otio"), "--no-detect", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    (shot,) = data["shots"]
    assert (shot["record_start"], shot["record_end"], shot["start_frame"], shot["end_frame"]) == (
        "01:00:00:13", "01:00:02:04", 3, 44)


def test_a_clip_with_no_length_is_skipped_and_the_clips_before_it_still_plan(tmp_path, capsys):
    """A clip with neither a source range nor a media range (a MissingReference, as pipeline tools leave for
    offline shots) has no length: it is listed with what to do, as is a clip after it on its track (whose
    place depends on it); the others plan."""
    media = write_video(tmp_path / "a.mp4", [30], width=64, height=36)
    v1, v2 = otio.schema.Track("V1"), otio.schema.Track("V2")
    v1.append(otio.schema.Clip("good", otio.schema.ExternalReference(str(media)), TimeRange(RationalTime(0, R), RationalTime(10, R))))
    v1.append(otio.schema.Clip("no range", otio.schema.MissingReference()))
    v1.append(otio.schema.Clip("after", otio.schema.ExternalReference(str(media)), TimeRange(RationalTime(0, R), RationalTime(10, R))))
    v2.append(otio.schema.Clip("above", otio.schema.ExternalReference(str(media)), TimeRange(RationalTime(5, R), RationalTime(10, R))))
    timeline = otio.schema.Timeline("holes")
    timeline.tracks.extend([v1, v2])
    otio.adapters.write_to_file(timeline, str(tmp_path / "cut.otio"))
    assert cli_main(["shots", str(tmp_path / "cut.otio"), "--no-detect", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(s["clip"], s["start_frame"], s["end_frame"]) for s in data["shots"]] == [("good", 0, 10), ("above", 5, 15)]
    assert [s.split(":")[0] for s in data["skipped"]] == ["clip no range", "clip after"]
    assert all("relink or trim it in the NLE and export the timeline again" in s for s in data["skipped"])


@pytest.mark.parametrize("start_tc,display", [("01:00:00:00", "NDF"), ("01:00:00;00", "DF")])
def test_ntsc_2997_timecode_keeps_the_timelines_drop_frame_setting(tmp_path, capsys, start_tc, display):
    rate = 30000 / 1001
    media = write_video(tmp_path / "m.mp4", [60], rate=Fraction(30000, 1001))
    timeline = otio.schema.Timeline("ntsc", global_start_time=otio.opentime.from_timecode(start_tc, rate))
    track = otio.schema.Track("V1")
    ref = otio.schema.ExternalReference(str(media), TimeRange(RationalTime(0, rate), RationalTime(60, rate)))
    track.append(otio.schema.Clip("c", media_reference=ref, source_range=TimeRange(RationalTime(0, rate), RationalTime(45, rate))))
    timeline.tracks.append(track)
    xml = tmp_path / "ntsc.xml"
    otio.adapters.write_to_file(timeline, str(xml), adapter_name="fcp_xml")
    xml.write_text(xml.read_text().replace("<displayformat>NDF</displayformat>", f"<displayformat>{display}</displayformat>"))
    assert cli_main(["shots", str(xml), "--format", "json", "--no-detect"]) == 0
    shot = json.loads(capsys.readouterr().out)["shots"][0]
    assert (shot["record_start"], shot["end_frame"]) == (start_tc, 45)
    assert shot["record_end"] == ("01:00:01:15" if display == "NDF" else "01:00:01;15")


def test_a_timeline_that_cannot_be_read_leaves_no_output_folder(tmp_path, capsys):
    notes, edl = tmp_path / "notes.txt", tmp_path / "broken.edl"
    notes.write_text("not a timeline\n")
    edl.write_text("TITLE: broken\n001  AX       V     C        01:00:00:00 bad\n")
    for path, said in ((tmp_path / "sampel.otio", "timeline file not found"), (notes, "unsupported timeline format"),
                       (edl, "cannot be read as cmx_3600")):
        assert cli_main(["stylize", str(path), "--prompt", "noir"]) == 2
        assert said in capsys.readouterr().err
    assert sorted(tmp_path.iterdir()) == [edl, notes], "no *_dreamstyle folder"


def test_a_timeline_with_no_clip_to_render_is_said_to_be_one(tmp_path, capsys):
    """Not exit 1 ("a shot failed") with nothing named: exit 2 and why, before any folder is made."""
    timeline = otio.schema.Timeline("empty")
    track = otio.schema.Track("V1", kind=otio.schema.TrackKind.Video)
    track.append(otio.schema.Clip("off", otio.schema.ExternalReference(str(tmp_path / "x.mov")),
                                  TimeRange(RationalTime(0, R), RationalTime(10, R))))
    track[0].enabled = False
    timeline.tracks.append(track)
    cut = tmp_path / "empty.otio"
    otio.adapters.write_to_file(timeline, str(cut))
    assert cli_main(["stylize", str(cut), "--backend", "passthrough", "--format", "json"]) == 2
    said = capsys.readouterr()
    assert said.out == "" and said.err == (f"dreamstyle: error: {cut}: its video tracks hold no clip to render (clip off: "
                                           "disabled); check that this is the timeline you meant, or enable its tracks "
                                           "and clips in the NLE and export it again\n")
    assert not (tmp_path / "empty_dreamstyle").exists()


@pytest.mark.parametrize(("rate", "frames", "shown"), [(12.5, 13, "00:00:01:00"), (12.5, 12, "00:00:00:12"),
                                                       (119.88, 120, "00:00:01:00"), (15, 15, "00:00:01:00")])
def test_rates_otio_does_not_know_count_whole_timecode_seconds(rate, frames, shown):
    """12.5 fps (PAL's half rate) counts frames 0-12 in a timecode second, 119.88 counts 0-119."""
    from host_plugin.timeline.timecode import from_timecode, timecode

    assert timecode(RationalTime(frames, rate), rate) == shown
    assert from_timecode(shown, rate).value == frames


@pytest.mark.parametrize("text", ["0.5", "0", "1001", "-24", "fast"])
def test_a_frame_rate_outside_1_to_1000_fps_or_not_a_number_is_refused(text):
    from host_plugin.timeline.timecode import parse_rate

    with pytest.raises(ValueError, match="is not a frame rate"):
        parse_rate(text)


def test_handles_stop_at_the_medias_first_and_last_frames(tmp_path, capsys):
    media = write_video(tmp_path / "a.mp4", [40], rate=Fraction(24000, 1001))
    timeline = otio.schema.Timeline("handles")
    timeline.tracks.append(otio.schema.Track("V1", children=[clip("a", 2, 36, str(media))]))
    otio.adapters.write_to_file(timeline, str(tmp_path / "handles.otio"))
    assert cli_main(["shots", str(tmp_path / "handles.otio"), "--handles", "8", "--no-detect", "--format", "json"]) == 0
    (shot,) = json.loads(capsys.readouterr().out)["shots"]
    assert (shot["start_frame"], shot["end_frame"], shot["handles"]) == (2, 38, [2, 2])


def test_an_edl_without_events_is_named_with_what_to_do(tmp_path, capsys):
    """An empty export: the file is named (OTIO's reader names no timeline) and the advice is to export again."""
    empty = tmp_path / "empty.edl"
    empty.write_text("TITLE: EMPTY\nFCM: NON-DROP FRAME\n")
    assert cli_main(["shots", str(empty), "--edl-rate", "25"]) == 2
    err = capsys.readouterr().err
    assert f"{empty}: timeline" in err and "has no video track. Export the timeline again from the NLE" in err

