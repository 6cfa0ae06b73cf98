"""Premiere Pro through files: FCP7 XML in and out (and Premiere 25+'s OTIO export in).

Premiere's scripting (UXP) cannot start this product, so an editor makes two clicks:
1. in Premiere, File > Export > Final Cut Pro XML... (or, Premiere 25+, its OpenTimelineIO export) and open
   that file in the panel (or `dreamstyle stylize`);
2. after the render, File > Import... the written `<name>.dreamstyle-v<N>.xml`: it arrives as a new sequence
   with the rendered clips on a new video track above the originals.

`prepare` (called by write-back before OTIO's FCP7 adapter writes) makes the XML import cleanly in Premiere:
every `<pathurl>` in the form Premiere writes (`file://localhost/...`, drive letters as `D%3a`), a filled
`<format>` element (Resolve refuses the file without one), video-only file descriptions for the rendered clips,
the track names Premiere reads (`MZ.TrackName`) and a fresh sequence uuid so the import never merges into the
original sequence. Rates and timecode are carried by the adapter exactly. A relative media path (an edit
bundled with its media) is read from the timeline's folder, as the reader does.
"""

from __future__ import annotations

import os
import re
import uuid
from fractions import Fraction
from pathlib import Path, PurePosixPath
from urllib.parse import quote

import opentimelineio as otio

from dreamstyle.frames import MediaError, probe
from host_plugin.hosts.base import HostError
from host_plugin.timeline.media import is_relative, url_to_path

__all__ = ["IMPORT_STEPS", "pathurl", "pixel_aspect", "prepare"]

IMPORT_STEPS = (
    "Premiere Pro: 1. File > Export > Final Cut Pro XML... and open that file here. "
    "2. After the render, File > Import... the written <name>.dreamstyle-v<N>.xml: it opens as a new sequence "
    "with the restyled clips on the top video track."
)
_DRIVE = re.compile(r"^([A-Za-z]):[\\/]")
NS = "fcp_xml"


def pathurl(path: str | Path) -> str:
    """A local path as Premiere writes it in FCP7 XML: file://localhost/Users/a%20b/c.mov,
    file://localhost/D%3a/Media/c.mov; UNC shares as file://server/share/c.mov. A relative path is taken from
    the working folder: `prepare` anchors media paths to the timeline's folder first."""
    text = str(path)
    if text.startswith(("\\\\", "//")):
        return "file:" + quote(text.replace("\\", "/"))
    drive = _DRIVE.match(text)
    if drive:
        rest = text[2:].replace("\\", "/")
        return f"file://localhost/{drive.group(1).upper()}%3a{quote(rest)}"
    return "file://localhost" + quote(PurePosixPath(Path(text).absolute().as_posix()).as_posix())


# FCP7 XML's named pixel aspect ratios (<pixelaspectratio>, with <anamorphic> for 16:9 SD), by the ratios files
# carry for them: the MPEG-4/ITU value first, then the Rec.601 and "generic" variants encoders also write.
_SD_PAR = {
    "NTSC-601": [Fraction(10, 11), Fraction(9, 10), Fraction(8, 9), Fraction(4320, 4739)],
    "PAL-601": [Fraction(59, 54), Fraction(12, 11), Fraction(16, 15), Fraction(128, 117)],
}
_ANAMORPHIC_PAR = {
    "NTSC-601": [Fraction(40, 33), Fraction(6, 5), Fraction(32, 27), Fraction(5760, 4739)],
    "PAL-601": [Fraction(118, 81), Fraction(16, 11), Fraction(64, 45), Fraction(512, 351)],
}


def pixel_aspect(ratio: Fraction, height: int) -> dict[str, str]:
    """`<pixelaspectratio>` and `<anamorphic>` for a pixel aspect `ratio` (width:height of one pixel).

    square (1:1; 0 means unknown, read as square); NTSC-601 (10:11) and PAL-601 (59:54), with
    `<anamorphic>TRUE</anamorphic>` for their 16:9 ratios (40:33, 118:81); HD-(1440x1080) for 4:3, or
    HD-(960x720) when the frame is 720 lines; HD-(1280x1080) for 3:2. FCP7 XML has no free-form value: for any
    other ratio (e.g. a 2:1 anamorphic lens) both elements are left out (empty dict) rather than naming a wrong
    one, so the importing NLE takes the pixel aspect from the media file itself.
    """
    if ratio in (0, 1):
        return {"pixelaspectratio": "square", "anamorphic": "FALSE"}
    for table, anamorphic in ((_SD_PAR, "FALSE"), (_ANAMORPHIC_PAR, "TRUE")):
        for name, ratios in table.items():
            if ratio in ratios:
                return {"pixelaspectratio": name, "anamorphic": anamorphic}
    if ratio == Fraction(4, 3):
        return {"pixelaspectratio": "HD-(960x720)" if height == 720 else "HD-(1440x1080)", "anamorphic": "FALSE"}
    if ratio == Fraction(3, 2):
        return {"pixelaspectratio": "HD-(1280x1080)", "anamorphic": "FALSE"}
    return {}


def _characteristics(path: Path) -> dict[str, object] | None:
    """A media file's `<samplecharacteristics>` as the adapter writes them; None when it cannot be read."""
    try:
        info = probe(path)
    except MediaError:
        return None
    return {"rate": _rate(info.rate), "width": str(info.width), "height": str(info.height),
            **pixel_aspect(info.sample_aspect, info.height), "fielddominance": "none"}


def _rate(rate: Fraction) -> dict[str, str]:
    ntsc = rate.denominator == 1001
    return {"timebase": str(round(rate)), "ntsc": "TRUE" if ntsc else "FALSE"}


def _anchor(ref: otio.schema.ExternalReference, base: Path) -> Path:
    """Rewrites `ref`'s URL as Premiere writes it, a relative path read from `base` (the timeline's folder,
    never the working folder); returns the media's path."""
    local = url_to_path(ref.target_url)
    if is_relative(local):
        local = os.path.normpath(base.absolute() / local.replace("\\", "/"))
    ref.target_url = pathurl(local)
    return Path(local)


def prepare(timeline: otio.schema.Timeline, base: Path) -> None:
    """Sets, in the timeline's FCP7 metadata, what Premiere needs to import it (see the module doc); `base`:
    the folder relative media paths are read from (the timeline file's)."""
    first: dict[str, object] | None = None
    for track in timeline.video_tracks():
        if track.name:
            track.metadata.setdefault(NS, {})["@MZ.TrackName"] = track.name
        for clip in track.find_clips():
            ref = clip.media_reference
            if not isinstance(ref, otio.schema.ExternalReference) or not ref.target_url:
                continue
            local = _anchor(ref, base)
            media = ref.metadata.setdefault(NS, {}).setdefault("media", {})
            if not (media.get("video") or {}).get("samplecharacteristics"):
                chars = _characteristics(local)
                if chars:
                    media["video"] = {"samplecharacteristics": chars}
                    media.pop("audio", None)
            first = first or (media.get("video") or {}).get("samplecharacteristics")
    meta = timeline.metadata.setdefault(NS, {})
    meta["uuid"] = str(uuid.uuid4())
    video = meta.setdefault("media", {}).setdefault("video", {})
    if not (video.get("format") or {}).get("samplecharacteristics"):
        if first is None:
            raise HostError(f"'{timeline.name}': no readable video clip to take the sequence format from.")
        # The sequence's <rate>, as the adapter writes it (its start time's; a clip of other media may come first)
        rate = Fraction((timeline.global_start_time or timeline.duration()).rate).limit_denominator(1001)
        video["format"] = {"samplecharacteristics": {**dict(first), "rate": _rate(rate)}}
