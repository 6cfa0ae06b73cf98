"""The command line as a script drives it: what a run leaves behind, what it says and when, and its exit codes."""

from importlib import metadata

import pytest

from host_plugin.cli import main


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
