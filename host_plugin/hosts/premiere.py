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
original sequence. Rates and timecode are carried by the adapter exactly.
"""

from __future__ import annotations

import re
import uuid
from fractions import Fraction
from pathlib import Path, PurePosixPath
from urllib.parse import quote

import opentimelineio as otio

from dreamstyle.frames import MediaError, probe
from host_plugin.hosts.base import HostError
from host_plugin.timeline.media import url_to_path

__all__ = ["IMPORT_STEPS", "pathurl", "prepare"]

IMPORT_STEPS = (
    "Premiere Pro: 1. File > Export > Final Cut Pro XML... and open that file here. "
    "2. After the render, File > Import... the written <name>.dreamstyle-v<N>.xml: it opens as a new sequence "
    "with the restyled clips on the top video track."
)
_DRIVE = re.compile(r"^([A-Za-z]):[\\/]")
NS = "fcp_xml"


def pathurl(path: str | Path) -> str:
    """A local path as Premiere writes it in FCP7 XML: file://localhost/Users/a%20b/c.mov,
    file://localhost/D%3a/Media/c.mov; UNC shares as file://server/share/c.mov."""
    text = str(path)
    if text.startswith(("\\\\", "//")):
        return "file:" + quote(text.replace("\\", "/"))
    drive = _DRIVE.match(text)
    if drive:
        rest = text[2:].replace("\\", "/")
        return f"file://localhost/{drive.group(1).upper()}%3a{quote(rest)}"
    return "file://localhost" + quote(PurePosixPath(Path(text).absolute().as_posix()).as_posix())


def _characteristics(path: Path) -> dict[str, object] | None:
    try:
        info = probe(path)
    except MediaError:
        return None
    return {"rate": _rate(info.rate), "width": str(info.width), "height": str(info.height),
            "anamorphic": "FALSE", "pixelaspectratio": "square" if info.sample_aspect in (0, 1) else "NTSC-601",
            "fielddominance": "none"}


def _rate(rate: Fraction) -> dict[str, str]:
    ntsc = rate.denominator == 1001
    return {"timebase": str(round(rate)), "ntsc": "TRUE" if ntsc else "FALSE"}


def prepare(timeline: otio.schema.Timeline) -> None:
    """Sets, in the timeline's FCP7 metadata, what Premiere needs to import it (see the module doc)."""
    first: dict[str, object] | None = None
    for track in timeline.video_tracks():
        if track.name:
            track.metadata.setdefault(NS, {})["@MZ.TrackName"] = track.name
        for clip in track.find_clips():
            ref = clip.media_reference
            if not isinstance(ref, otio.schema.ExternalReference) or not ref.target_url:
                continue
            local = url_to_path(ref.target_url)
            ref.target_url = pathurl(local)
            media = ref.metadata.setdefault(NS, {}).setdefault("media", {})
            if not (media.get("video") or {}).get("samplecharacteristics"):
                chars = _characteristics(Path(local))
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
        rate = Fraction(timeline.duration().rate).limit_denominator(1001)
        video["format"] = {"samplecharacteristics": {**dict(first), "rate": _rate(rate)}}
