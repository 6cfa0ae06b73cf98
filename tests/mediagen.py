"""Generates real encoded test footage: frame-numbered patterns and synthetic scenes with known cuts.

Each scene is a moving textured image of its own palette, so detectors see real motion inside shots and
a real change at each cut. `frame_number(frame)` reads back the number stamped into a frame.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

BITS = 12


def stamp(frame: np.ndarray, number: int) -> None:
    """Writes `number` as BITS black/white blocks along the top rows of an RGB frame."""
    width = frame.shape[1] // BITS
    for bit in range(BITS):
        frame[:8, bit * width : (bit + 1) * width] = 255 if (number >> bit) & 1 else 0


def frame_number(frame: np.ndarray) -> int:
    width = frame.shape[1] // BITS
    return sum(1 << b for b in range(BITS) if frame[2:6, b * width + width // 4 : (b + 1) * width - width // 4].mean() > 127)


def scene_frame(scene: int, t: int, width: int, height: int) -> np.ndarray:
    """Frame t of synthetic scene `scene`: a drifting pattern with a palette and layout of its own."""
    rng = np.random.default_rng(scene)
    base = rng.integers(30, 225, size=3)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    fx, fy = rng.uniform(0.01, 0.05, size=2)
    phase = t * rng.uniform(0.05, 0.15)
    wave = np.sin(xx * fx + phase) * np.cos(yy * fy - phase * 0.7)
    img = np.empty((height, width, 3), np.float32)
    for c in range(3):
        img[..., c] = base[c] + 60 * wave * (1 if c == scene % 3 else 0.5)
    cx = int((0.2 + 0.6 * ((t * 3 + scene * 37) % 100) / 100) * width)
    cy = int(height * (0.3 + 0.4 * rng.random()))
    r = max(4, height // 6)
    img[max(0, cy - r) : cy + r, max(0, cx - r) : cx + r] = 255 - base
    return np.clip(img, 0, 255).astype(np.uint8)


def write_video(
    path: Path,
    scenes: list[int],
    *,
    width: int = 320,
    height: int = 180,
    rate: Fraction = Fraction(24000, 1001),
    codec: str = "libx264",
    gop: int = 48,
    numbered: bool = True,
    timecode: str | None = None,
) -> Path:
    """Writes consecutive scenes (frame counts) as one file; frame i is stamped with i when `numbered`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    container = av.open(str(path), "w")
    stream = container.add_stream(codec, rate=rate)
    stream.width, stream.height = width, height
    stream.pix_fmt = "yuv420p" if codec == "libx264" else "yuv422p10le"
    if codec == "libx264":
        stream.options = {"g": str(gop), "bf": "2", "crf": "18", "preset": "ultrafast"}
    if timecode:
        stream.metadata["timecode"] = timecode
    index = 0
    for scene, count in enumerate(scenes):
        for t in range(count):
            frame = scene_frame(scene, t, width, height)
            if numbered:
                stamp(frame, index)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
            index += 1
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def write_frames(path: Path, frames: list[np.ndarray], *, rate: Fraction = Fraction(24)) -> Path:
    """Writes RGB frames exactly as given, any size (1x1 included), as lossless PNG video."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("png", rate=rate)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "rgb24"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def damage_frame(path: Path, number: int) -> Path:
    """Overwrites the middle half of frame `number`'s packet (frames counted in presentation order) with
    noise, as a bad copy from a card does; the rest of the file is left intact. Not for MPEG-TS, whose
    packets are interleaved with transport headers."""
    with av.open(str(path)) as container:
        packets = sorted((p for p in container.demux(video=0) if p.size), key=lambda p: p.pts)
        offset, size = packets[number].pos, packets[number].size
    data = bytearray(path.read_bytes())
    noise = np.random.default_rng(number).integers(0, 256, size // 2, np.uint8).tobytes()
    data[offset + size // 4 : offset + size // 4 + len(noise)] = noise
    path.write_bytes(bytes(data))
    return path


def png_header(path: Path, width: int, height: int) -> Path:
    """A PNG that states its size and holds no pixels: what an image reader sees before decoding."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


def with_cover_art_first(path: Path, frames: int, *, width: int = 64, height: int = 32, rotation: int = 0) -> Path:
    """An MP4 of `frames` numbered H.264 frames (none: no picture stream) whose first video stream is a JPEG
    cover (an attached picture): its `udta` box, where a tagger keeps the cover, is moved before the tracks."""
    import struct

    with av.open(str(path), "w", format="mp4") as container:
        cover = container.add_stream("mjpeg", rate=1)
        cover.width, cover.height, cover.pix_fmt = 16, 16, "yuvj420p"
        cover.disposition = av.stream.Disposition.attached_pic
        video = container.add_stream("libx264", rate=Fraction(24)) if frames else None
        if video is not None:
            video.width, video.height, video.pix_fmt, video.options = width, height, "yuv420p", {"bf": "2"}
            if rotation:
                video.set_display_rotation(rotation)
        container.mux(cover.encode(av.VideoFrame.from_ndarray(np.full((16, 16, 3), 200, np.uint8), format="rgb24")))
        container.mux(cover.encode())
        for index in range(frames):
            frame = scene_frame(0, index, width, height)
            stamp(frame, index)
            container.mux(video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        if video is not None:
            container.mux(video.encode())

    def boxes(data: bytes) -> list[tuple[bytes, bytes]]:
        found, at = [], 0
        while at < len(data):
            size = struct.unpack(">I", data[at : at + 4])[0]
            found.append((data[at + 4 : at + 8], data[at : at + size]))
            at += size
        return found

    top = boxes(path.read_bytes())  # moov after mdat: moving boxes inside it moves no sample offsets
    for index, (kind, box) in enumerate(top):
        if kind == b"moov":
            inner = sorted(boxes(box[8:]), key=lambda kb: kb[0] not in (b"mvhd", b"udta"))
            body = b"".join(b for _, b in inner)
            top[index] = (kind, struct.pack(">I", len(body) + 8) + b"moov" + body)
    path.write_bytes(b"".join(b for _, b in top))
    return path
