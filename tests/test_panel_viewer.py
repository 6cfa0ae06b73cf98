"""The before/after viewer on real encoded footage, without an engine: frames are read off the GUI thread,
fast scrubbing reads only the newest frame, and unreadable media shows as words in the viewer."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from opentimelineio.opentime import RationalTime, TimeRange
from PySide6.QtGui import QImage

import host_plugin.panel.viewer as viewer_module
from dreamstyle.frames import iter_frames
from host_plugin.panel.viewer import BeforeAfter
from host_plugin.pipeline import ShotResult
from host_plugin.plan import Shot
from mediagen import frame_number, write_video

RATE = Fraction(24000, 1001)
START, HEAD, FRAMES = 10, 4, 30  # the shot is source frames 10..39; the render holds 4 handle frames first


def shot_result(media: Path, output: Path) -> ShotResult:
    shot = Shot(number=1, clip_name="clip", track_index=0, media=media, rate=RATE, start=START, end=START + FRAMES,
                head=HEAD, tail=0, record=TimeRange(RationalTime(0, 24), RationalTime(FRAMES, 24)))
    return ShotResult(shot, "done", output)


@pytest.fixture(scope="module")
def footage(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("viewer")
    return write_video(folder / "source.mp4", [25, 25]), write_video(folder / "render.mp4", [20, 20])


def on_screen(viewer: BeforeAfter) -> np.ndarray:
    image = viewer.picture.pixmap().toImage().convertToFormat(QImage.Format_RGB888)
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), image.bytesPerLine())
    return rows[:, : image.width() * 3].reshape(image.height(), image.width(), 3).copy()  # outlives the QImage


def decoded(path: Path, index: int) -> np.ndarray:
    return next(iter_frames(path, index, index + 1))


def test_scrubbing_shows_the_newest_frame_only(footage, qtbot, monkeypatch):
    source, render = footage
    reads: list[int] = []

    def counted(result, index, size=None):
        reads.append(index)
        return read_pair(result, index, size)

    read_pair = viewer_module.read_pair
    monkeypatch.setattr(viewer_module, "read_pair", counted)
    viewer = BeforeAfter(shot_result(source, render))
    qtbot.addWidget(viewer)
    viewer.mode.setCurrentIndex(1)  # side by side: before | 4 px gap | after
    qtbot.waitUntil(lambda: viewer.shown == 0, timeout=30_000)
    assert reads == [0]

    for value in range(1, 25):  # a fast scrub: no event is processed between the steps
        viewer.frame.setValue(value)
    qtbot.waitUntil(lambda: viewer.shown == 24, timeout=30_000)
    assert reads == [0, 1, 24]  # the read of frame 1 was running; 2..23 were never read, 1 was never shown

    picture = on_screen(viewer)
    before, after = picture[:, :320], picture[:, 324:]
    assert frame_number(before) == START + 24 and frame_number(after) == HEAD + 24
    np.testing.assert_array_equal(before, decoded(source, START + 24))
    np.testing.assert_array_equal(after, decoded(render, HEAD + 24))
    assert "frame 25 of 30" in viewer.label.text()

    viewer.mode.setCurrentIndex(0)  # the divider moves without decoding again
    viewer.split.setValue(25)
    split = on_screen(viewer)
    assert split.shape[1] == 320 and reads == [0, 1, 24]
    np.testing.assert_array_equal(split[:, :70], decoded(source, START + 24)[:, :70])
    np.testing.assert_array_equal(split[:, 90:], decoded(render, HEAD + 24)[:, 90:])


@pytest.mark.parametrize("problem", ["missing", "corrupt"])
def test_unreadable_media_is_shown_in_words(footage, tmp_path, qtbot, problem):
    media = tmp_path / "source.mp4"
    if problem == "corrupt":
        media.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, np.uint8).tobytes())
    viewer = BeforeAfter(shot_result(media, footage[1]))
    qtbot.addWidget(viewer)
    qtbot.waitUntil(lambda: "Cannot show frame 1" in viewer.picture.text(), timeout=30_000)
    text = viewer.picture.text()
    assert str(media) in text
    assert ("file not found" if problem == "missing" else "cannot be opened as media") in text
    assert viewer.shown is None and "cannot be shown" in viewer.label.text()


def video(path: Path, width: int, height: int, aspect: Fraction = Fraction(1)) -> Path:
    """A short H.264 clip of `width` x `height` pixels whose stream says the pixel aspect `aspect`."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=RATE)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.sample_aspect_ratio = aspect
        stream.options = {"preset": "ultrafast"}
        for _ in range(START + 1):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((height, width, 3), np.uint8), "rgb24")))
        container.mux(stream.encode())
    return path


@pytest.mark.parametrize("width, height, aspect, shown", [
    (320, 180, Fraction(2), (640, 180)),  # 2x anamorphic: shown unsqueezed, as the NLE shows it
    (540, 960, Fraction(1), (404, 720)),  # portrait: fitted to the height too, so it stays on the screen
])
def test_the_viewer_shows_the_display_aspect_fitted_to_the_screen(tmp_path, width, height, aspect, shown):
    media = video(tmp_path / "source.mp4", width, height, aspect)
    before, after = viewer_module.read_pair(shot_result(media, video(tmp_path / "render.mp4", width, height, aspect)), 0)
    assert before.shape[1::-1] == after.shape[1::-1] == shown


def test_a_phones_clip_is_shown_upright_as_its_player_turns_it(tmp_path):
    """Stored landscape with a 90-degree display matrix: the viewer (and the thumbnails, sized the same way)
    show it portrait, as the NLE does, and the frame's top-left corner turns to its bottom-left."""
    from engine.media import ClipWriter

    frames = np.zeros((START + 1, 90, 160, 3), np.uint8)
    frames[:, :30, :40] = 255  # a white top-left corner, as stored
    paths = []
    for name in ("phone.mp4", "render.mp4"):
        paths.append(tmp_path / name)
        with ClipWriter(paths[-1], rate=RATE, width=160, height=90, rotation=90) as writer:
            for frame in frames:
                writer.write(frame)
    before, after = viewer_module.read_pair(shot_result(*paths), 0)
    assert before.shape == after.shape == (160, 90, 3)  # portrait
    assert before[-10:, :10].mean() > 200 and before[:10, :10].mean() < 50  # turned counter-clockwise
