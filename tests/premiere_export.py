"""Writes timelines the way Premiere Pro exports them: FCP7 XML (File > Export > Final Cut Pro XML) with
`file://localhost/` path URLs, NTSC rates as timebase + ntsc flag, a full `<format>` element and pproTicks;
and Premiere 25+'s OTIO export with `file:///` URLs."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import opentimelineio as otio

TICKS_PER_SECOND = 254016000000


def _rate(timebase: int, ntsc: bool) -> str:
    return f"<rate><timebase>{timebase}</timebase><ntsc>{'TRUE' if ntsc else 'FALSE'}</ntsc></rate>"


def fcp7_xml(name: str, clips: list[tuple[Path, int, int, int]], *, timebase: int = 24, ntsc: bool = True,
             width: int = 64, height: int = 36, media_frames: int = 100,
             start: tuple[str, int, str] = ("00:00:00:00", 0, "NDF")) -> str:
    """clips: (media, source in, frames, record start) at the sequence rate; `start`: the sequence's
    timecode as Premiere writes it (string, frame, NDF or DF)."""
    rate = _rate(timebase, ntsc)
    fps = timebase * 1000 / 1001 if ntsc else timebase
    items = []
    for index, (media, source_in, frames, record) in enumerate(clips, 1):
        url = "file://localhost" + quote(media.as_posix())
        ticks = round(frames / fps * TICKS_PER_SECOND)
        items.append(f"""
        <clipitem id="clipitem-{index}"><masterclipid>masterclip-{index}</masterclipid><name>{media.name}</name>
          <enabled>TRUE</enabled><duration>{media_frames}</duration>{rate}
          <start>{record}</start><end>{record + frames}</end><in>{source_in}</in><out>{source_in + frames}</out>
          <pproTicksIn>0</pproTicksIn><pproTicksOut>{ticks}</pproTicksOut><alphatype>none</alphatype>
          <pixelaspectratio>square</pixelaspectratio><anamorphic>FALSE</anamorphic>
          <file id="file-{index}"><name>{media.name}</name><pathurl>{url}</pathurl>{rate}
            <duration>{media_frames}</duration>
            <timecode>{rate}<string>00:00:00:00</string><frame>0</frame><displayformat>NDF</displayformat></timecode>
            <media><video><samplecharacteristics>{rate}<width>{width}</width><height>{height}</height>
              <anamorphic>FALSE</anamorphic><pixelaspectratio>square</pixelaspectratio>
              <fielddominance>none</fielddominance></samplecharacteristics></video></media>
          </file>
        </clipitem>""")
    end = max(r + f for _, _, f, r in clips)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE xmeml>
<xmeml version="4">
  <sequence id="sequence-1" explodedTracks="true">
    <uuid>6f7b1a55-8d0e-4b43-9a53-3cf0d1e8a001</uuid><duration>{end}</duration>{rate}<name>{name}</name>
    <media>
      <video>
        <format><samplecharacteristics>{rate}<codec><name>Apple ProRes 422</name></codec>
          <width>{width}</width><height>{height}</height><anamorphic>FALSE</anamorphic>
          <pixelaspectratio>square</pixelaspectratio><fielddominance>none</fielddominance>
          <colordepth>24</colordepth></samplecharacteristics></format>
        <track MZ.TrackName="V1">{''.join(items)}
          <enabled>TRUE</enabled><locked>FALSE</locked>
        </track>
      </video>
      <audio><numOutputChannels>2</numOutputChannels></audio>
    </media>
    <timecode>{rate}<string>{start[0]}</string><frame>{start[1]}</frame>
      <displayformat>{start[2]}</displayformat></timecode>
  </sequence>
</xmeml>
"""


def premiere_otio(name: str, clips: list[tuple[Path, int, int, int]], rate: float = 24000 / 1001,
                  media_frames: int = 100) -> otio.schema.Timeline:
    """What Premiere 25's OTIO export holds: `file:///` URLs (percent-encoded), a zero global start."""
    timeline = otio.schema.Timeline(name, global_start_time=otio.opentime.RationalTime(0, rate))
    track = otio.schema.Track("Video 1", kind=otio.schema.TrackKind.Video)
    cursor = 0
    for media, source_in, frames, record in clips:
        if record > cursor:
            track.append(otio.schema.Gap(duration=otio.opentime.RationalTime(record - cursor, rate)))
        ref = otio.schema.ExternalReference(
            target_url="file://" + quote(media.as_posix()),
            available_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, rate),
                                                    otio.opentime.RationalTime(media_frames, rate)))
        track.append(otio.schema.Clip(media.name, ref, otio.opentime.TimeRange(
            otio.opentime.RationalTime(source_in, rate), otio.opentime.RationalTime(frames, rate))))
        cursor = record + frames
    timeline.tracks.append(track)
    return timeline
