"""The command line as a script drives it: what a run leaves behind, what it says and when, and its exit codes."""

import json
import shutil
from importlib import metadata

import pytest

from edits import write_edit
from enginehelp import engine_thread
from host_plugin.cli import main
from host_plugin.sample import STYLE_IMAGE


@pytest.fixture(scope="module")
def edit(tmp_path_factory):
    return write_edit(tmp_path_factory.mktemp("edit"))


def test_commands_run_from_a_source_tree_never_installed(tmp_path, monkeypatch, capsys):
    """No package metadata (PYTHONPATH at a checkout): the commands run and --version says it is unknown."""
    def uninstalled(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", uninstalled)
    assert main(["shots", str(tmp_path / "missing.otio")]) == 2
    assert "timeline file not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out == "dreamstyle 0+unknown\n"


def test_a_backend_the_local_engine_lacks_is_said_alone(edit, tmp_path, capsys):
    """Refused before any shot is sent: one line on stderr, no progress bar drawn for shots never sent."""
    assert main(["stylize", str(edit), "--out", str(tmp_path / "out"), "--no-detect", "--backend", "nosuch"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dreamstyle: error: backend 'nosuch': the engine at 127.0.0.1:") and err.count("\n") == 1, err


def test_a_run_refused_before_any_shot_is_sent_leaves_no_output_folder(edit, tmp_path):
    """The local engine's state folder, made inside --out, goes with the folder the run made."""
    out = tmp_path / "out"
    assert main(["stylize", str(edit), "--out", str(out), "--no-detect", "--backend", "nosuch"]) == 2
    assert not out.exists()
    (out / "kept").mkdir(parents=True)  # a folder the user made is kept, and so is the engine's state in it
    assert main(["stylize", str(edit), "--out", str(out), "--no-detect", "--backend", "nosuch"]) == 2
    assert sorted(p.name for p in out.iterdir()) == [".engine", "kept"]


def test_a_style_image_or_output_folder_outside_a_shared_engines_roots_stops_the_run(edit, tmp_path, capsys):
    """Refused for every shot alike: exit 2 and said once, as any setting of the run, not a failure per shot."""
    inside = edit.parent / "out"
    with engine_thread(tmp_path / "state", [edit.parent]) as address:
        for extra, field in ((["--style-image", str(STYLE_IMAGE), "--out", str(inside)], "guidance.style_image"),
                             (["--prompt", "noir", "--out", str(tmp_path / "out")], "output.directory")):
            assert main(["stylize", str(edit), "--engine", address, "--no-detect", *extra]) == 2
            err = capsys.readouterr().err
            assert f"refused this run's settings: {field}" in err and err.count("outside the engine's media roots") == 1, err


def test_same_named_timelines_of_two_folders_sharing_out_keep_their_own_contact_sheets(tmp_path, capsys):
    """Both are v1 in their own folders; the second's sheet takes another name, and each report names its own."""
    edit = write_edit(tmp_path / "a")
    other = tmp_path / "b" / edit.name
    other.parent.mkdir()
    shutil.copy(edit, other)  # the same media, by absolute path
    sheets = []
    with engine_thread(tmp_path / "state", [tmp_path]) as address:
        for timeline, seed in ((edit, "1"), (other, "2")):
            args = ["stylize", str(timeline), "--engine", address, "--backend", "passthrough", "--no-detect",
                    "--seed", seed, "--out", str(tmp_path / "out"), "--format", "json"]
            assert main(args) == 0
            sheets.append(json.loads(capsys.readouterr().out)["contact_sheets"])
    first, second = (sheet for (sheet,) in sheets)
    assert first.endswith("/edit.dreamstyle-v1_contact_sheet.png")
    assert second.endswith("/edit.dreamstyle-v1 (2)_contact_sheet.png")


def test_an_interrupted_command_that_renders_nothing_promises_no_kept_shots(monkeypatch, capsys):
    """Ctrl-C in `shots` (a long detection pass): 130, and no word of finished shots to render again."""
    from host_plugin.commands import shots

    def stopped(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(shots, "run", stopped)
    assert main(["shots", "edit.otio"]) == 130
    assert capsys.readouterr().err == "dreamstyle: interrupted.\n"


def test_a_media_dir_that_is_a_file_is_named_so(edit, capsys):
    """Not "no such folder" for a path that is there."""
    with pytest.raises(SystemExit) as info:
        main(["shots", str(edit), "--media-dir", str(edit)])
    assert info.value.code == 2 and f"--media-dir: {edit}: a file, not a folder" in capsys.readouterr().err


def test_the_summary_piped_to_a_log_has_each_render_on_one_line(tmp_path, capsys):
    """Not folded at rich's 80 columns: a script or a grep of the log finds every output file whole."""
    import opentimelineio as otio

    edit = write_edit(tmp_path)
    timeline = otio.adapters.read_from_file(str(edit))
    for clip in timeline.find_clips():
        clip.name = f"{clip.name}001_C003_0612XY_interview_wide_graded_final"
    otio.adapters.write_to_file(timeline, str(edit))
    out = tmp_path / "out"
    with engine_thread(tmp_path / "state", [tmp_path]) as address:
        assert main(["stylize", str(edit), "--engine", address, "--backend", "passthrough", "--no-detect",
                     "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    renders = sorted(p.name for p in (out / "renders").iterdir())
    assert len(renders) == 2 and all(name in printed for name in renders), printed
