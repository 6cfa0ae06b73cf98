"""The look anchor and generated first frames, as the panel uses them, against a real engine on 127.0.0.1."""

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
from opentimelineio.opentime import RationalTime, TimeRange
from PIL import Image

from dreamstyle.frames import iter_frames
from enginehelp import engine_thread
from host_plugin.anchor import generate_first_frame, render_anchored
from host_plugin.cli import main
from host_plugin.client import EngineClient
from host_plugin.pipeline import Renderer, StyleSettings, load_edit, plan_edit
from mediagen import write_video

R = 24


@pytest.fixture(scope="module")
def cut(tmp_path_factory) -> Path:
    """Three clips: two of a.mp4 (A, A2), one of b.mp4 (B)."""
    root = tmp_path_factory.mktemp("anchor")
    media = [write_video(root / name, [40], rate=R) for name in ("a.mp4", "b.mp4")]
    track = otio.schema.Track("V1")
    for name, path, start in (("A", media[0], 0), ("A2", media[0], 20), ("B", media[1], 5)):
        ref = otio.schema.ExternalReference(str(path), TimeRange(RationalTime(0, R), RationalTime(40, R)))
        track.append(otio.schema.Clip(name, media_reference=ref, source_range=TimeRange(RationalTime(start, R), RationalTime(12, R))))
    timeline = otio.schema.Timeline("anchor", tracks=[track])
    otio.adapters.write_to_file(timeline, str(root / "anchor.otio"))
    return root / "anchor.otio"


@pytest.fixture(scope="module")
def shots(cut):
    return plan_edit(load_edit(cut), None).shots


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    roots = [tmp_path_factory.getbasetemp()]  # the tests' own folders hold their style images
    with engine_thread(tmp_path_factory.mktemp("state"), roots) as address:
        yield address


@pytest.fixture(scope="module")
def renderer(engine, cut):
    with EngineClient(engine) as client:
        yield Renderer(client, cut.parent / "out")


def test_the_others_take_the_heros_still_as_their_style_image(shots, renderer, tmp_path):
    hero, *others = shots
    style = StyleSettings(prompt="anchored", backend="passthrough", seed=3)
    still = tmp_path / "look_anchor.png"
    results = render_anchored(renderer, hero, others, style, still)
    assert [r.status for r in results] == ["done"] * 3 and {r.look for r in results} == {style.label}
    hero_first = next(iter_frames(results[0].output, hero.head, hero.head + 1))
    assert np.array_equal(np.asarray(Image.open(still)), hero_first)
    # The others were rendered with the still as style image: asked so now, they are already there.
    look = dataclasses.replace(style, style_image=still)
    assert [r.status for r in renderer.render(others, look)] == ["cached", "cached"]


def test_a_failed_or_cancelled_hero_sends_none_of_the_others(shots, renderer, tmp_path):
    hero, *others = shots
    offline = dataclasses.replace(hero, media=tmp_path / "gone.mp4")
    style = StyleSettings(prompt="offline hero", backend="passthrough")
    jobs, updates = len(renderer.client.list_jobs()), []
    results = render_anchored(renderer, offline, others, style, tmp_path / "still.png", updates.append)
    assert [r.status for r in results] == ["failed"] * 3
    assert all(f"look anchor {hero.name} failed" in r.error for r in results[1:])
    assert {(u.shot.number, u.status) for u in updates} >= {(s.number, "failed") for s in others}, "each said ended"
    renderer.expect([hero])  # as the panel does for a render it is about to start
    renderer.cancel(hero)
    results = render_anchored(renderer, hero, others, dataclasses.replace(style, prompt="cancelled hero"), tmp_path / "still.png")
    assert [r.status for r in results] == ["cancelled"] * 3 and "was cancelled" in results[1].error
    assert not (tmp_path / "still.png").exists()
    assert len(renderer.client.list_jobs()) == jobs, "nothing was sent for these looks"


def test_a_first_frame_generated_from_a_style_image_is_the_shots_first_frame_stylized(shots, renderer, tmp_path):
    style_image = tmp_path / "style.png"
    Image.fromarray(np.full((32, 32, 3), (200, 40, 90), np.uint8)).save(style_image)
    style = StyleSettings(style_image=style_image, backend="classic", first_frame=tmp_path / "ignored.png")
    png = generate_first_frame(renderer, shots[2], style, tmp_path / "first.png")
    frame = np.asarray(Image.open(png))
    source = next(iter_frames(shots[2].media, shots[2].start, shots[2].start + 1))
    assert frame.shape == source.shape and not np.array_equal(frame, source)


def test_stylize_with_a_look_anchor_renders_the_clip_named_first_and_the_others_in_its_look(cut, engine, tmp_path, capsys):
    args = ["stylize", str(cut), "--engine", engine, "--backend", "passthrough", "--prompt", "cli anchor",
            "--no-detect", "--out", str(tmp_path), "--format", "json", "--look-anchor", "B"]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert [(s["clip"], s["status"]) for s in report["shots"]] == [("A", "done"), ("A2", "done"), ("B", "done")]
    still = tmp_path / "anchor" / "look_anchor.png"
    b_first = next(iter_frames(Path(report["shots"][2]["output"]), 0, 1))
    assert np.array_equal(np.asarray(Image.open(still)), b_first)
    again = ["stylize", str(cut), "--engine", engine, "--backend", "passthrough", "--prompt", "cli anchor",
             "--no-detect", "--out", str(tmp_path / "again"), "--style-image", str(still)]
    assert main([*again, "--format", "json"]) == 0  # A and A2 were rendered with B's still as style image
    assert [s["status"] for s in json.loads(capsys.readouterr().out)["shots"][:2]] == ["cached", "cached"]


def test_a_look_anchor_naming_no_shot_is_refused_before_any_render(cut, engine, tmp_path, capsys):
    args = ["stylize", str(cut), "--engine", engine, "--backend", "passthrough", "--prompt", "no such anchor",
            "--no-detect", "--out", str(tmp_path / "out"), "--look-anchor", "C"]
    assert main(args) == 2
    assert not (tmp_path / "out").exists(), "no output folder left behind"
    err = capsys.readouterr().err
    assert "look anchor 'C': no shot or clip of that name" in err and "(its shots: A_s001, A2_s002, B_s003;" in err
    assert not list(tmp_path.rglob("*.mp4"))


def test_a_look_anchor_whose_clip_is_offline_says_why(cut, engine, tmp_path, capsys):
    timeline = otio.adapters.read_from_file(str(cut))
    timeline.tracks[0][2].media_reference.target_url = str(tmp_path / "gone.mp4")
    offline = tmp_path / "offline.otio"
    otio.adapters.write_to_file(timeline, str(offline))
    args = ["stylize", str(offline), "--engine", engine, "--backend", "passthrough", "--prompt", "x", "--no-detect",
            "--look-anchor", "B"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "look anchor 'B' has no shot to render:" in err and "gone.mp4" in err


def test_a_still_written_again_is_uploaded_again_to_a_remote_engine(engine, tmp_path):
    """The look anchor's still keeps its name from batch to batch: a streaming renderer must send the new one."""
    with EngineClient(engine) as client:
        renderer = Renderer(client, tmp_path / "out", stream_media=True)
        still = tmp_path / "look_anchor.png"
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(still)
        first = renderer._ref(still).upload_id
        assert renderer._ref(still).upload_id == first, "uploaded once per version"
        Image.fromarray(np.full((8, 8, 3), 255, np.uint8)).save(still)
        stat = still.stat()
        os.utime(still, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a later batch's still
        assert renderer._ref(still).upload_id != first
