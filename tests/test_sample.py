"""`dreamstyle sample`: the README's first command. It runs again from its finished renders, never replaces a
file it did not write, takes an earlier version's sample, and is never left half written."""

import hashlib
from pathlib import Path

import pytest

from dreamstyle.frames import probe
from host_plugin.cli import main
from mediagen import write_video


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_sample_runs_again_from_its_finished_renders(tmp_path, capsys):
    """A second `dreamstyle sample` keeps its media and the editor's sample.otio, and renders nothing again."""
    folder = tmp_path / "sample"
    assert main(["sample", "--dir", str(folder), "--backend", "passthrough"]) == 0
    media = {p: p.stat().st_mtime_ns for p in (folder / "media").iterdir()}
    renders = sorted((folder / "out" / "renders").iterdir())
    (folder / "sample.otio").write_text((folder / "sample.otio").read_text())  # the editor saved it
    edited = (folder / "sample.otio").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["sample", "--dir", str(folder), "--backend", "passthrough"]) == 0
    assert "cached" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in (folder / "media").iterdir()} == media
    assert sorted((folder / "out" / "renders").iterdir()) == renders
    assert (folder / "sample.otio").stat().st_mtime_ns == edited


@pytest.mark.parametrize("name", ["media/clip_a.mp4", "sample.otio"])
def test_the_sample_never_replaces_a_file_it_did_not_write(tmp_path, capsys, name):
    """A folder holding the user's own clip_a.mp4 or sample.otio: refused before anything is written."""
    folder = tmp_path / "project"
    mine = folder / name
    if name.endswith(".mp4"):
        write_video(mine, [50], width=64, height=36)
    else:
        mine.parent.mkdir(parents=True)
        mine.write_text("my own notes\n")
    before = _digest(mine)
    assert main(["sample", "--dir", str(folder), "--backend", "passthrough"]) == 2
    err = capsys.readouterr().err
    assert f"{mine} is not a file `dreamstyle sample` wrote, and it is left alone: choose an empty folder" in err
    assert _digest(mine) == before and {p for p in folder.rglob("*") if p.is_file()} == {mine}


def test_a_sample_folder_made_before_samples_were_marked_is_still_taken(tmp_path, monkeypatch):
    """The README's first command, run again after an upgrade, finds the sample an earlier version wrote."""
    from host_plugin import sample

    with monkeypatch.context() as earlier:  # files as an earlier version wrote them: no mark of this one
        earlier.setattr(sample, "MARK", "")
        earlier.setattr(sample, "_MADE_BY", "")
        timeline = sample.make_sample(tmp_path / "sample")
    before = {p: _digest(p) for p in (tmp_path / "sample").rglob("*") if p.is_file()}
    assert sample.make_sample(tmp_path / "sample") == timeline
    assert {p: _digest(p) for p in (tmp_path / "sample").rglob("*") if p.is_file()} == before


def test_two_samples_made_in_one_folder_at_once_both_succeed(tmp_path):
    """Two scripts (or a script and the panel) setting up the same sample folder: each writes its own partial
    files; the second rename replaces the first with the same bytes."""
    from concurrent.futures import ThreadPoolExecutor

    from host_plugin import sample

    with ThreadPoolExecutor(2) as pool:
        timelines = list(pool.map(lambda _: sample.make_sample(tmp_path / "sample"), range(2)))
    assert timelines[0] == timelines[1]
    assert probe(tmp_path / "sample" / "media" / "clip_a.mp4").frames == 132
    assert not [p for p in (tmp_path / "sample").rglob("*") if p.name.endswith(".partial")]


def test_an_interrupted_sample_leaves_no_half_written_clip(tmp_path, monkeypatch):
    from host_plugin import sample

    drawn, landscape = [], sample.landscape

    def interrupted(scene, t):
        drawn.append(t)
        if len(drawn) == 30:
            raise KeyboardInterrupt  # Ctrl-C mid-clip
        return landscape(scene, t)

    monkeypatch.setattr(sample, "landscape", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sample.make_sample(tmp_path)
    assert list((tmp_path / "media").iterdir()) == [], "no clip, no temporary file"
    monkeypatch.undo()
    timeline = sample.make_sample(tmp_path)
    assert probe(tmp_path / "media" / "clip_a.mp4").frames == 132 and timeline.is_file()
