"""`dreamstyle engine serve|backends`: what it refuses at start, before the engine is started."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import engine.server
from dreamstyle.pathmap import PathMap
from engine.cli import main
from engine.server import EngineConfig


@pytest.fixture
def started(monkeypatch) -> list[EngineConfig]:
    """The configs the engine was started with (it returns at once instead of serving)."""
    configs: list[EngineConfig] = []

    async def serve(config: EngineConfig, **_: object) -> None:
        configs.append(config)

    monkeypatch.setattr(engine.server, "serve", serve)
    return configs


def serve_args(tmp_path: Path, *extra: str) -> list[str]:
    return ["serve", "--port", "0", "--state-dir", str(tmp_path / "state"), *extra]


def usage_error(argv: list[str], capsys) -> str:
    """stderr of a command refused as a usage error (exit 2)."""
    with pytest.raises(SystemExit) as refused:
        main(argv)
    assert refused.value.code == 2
    return capsys.readouterr().err


def test_valid_options_reach_the_engine(tmp_path, started):
    """The edges of each range too: --keep-days 0 keeps finished jobs forever, as leaving it out does."""
    argv = ["serve", "--port", "65535", "--state-dir", str(tmp_path / "new" / "state"), "--media-root", str(tmp_path),
            "--backend-option", "dtype=fp16", "--backend-option", "cache=fbc:0.1", "--keep-days", "0", "--workers", "1",
            "--max-queued", "1", "--max-upload-mb", "0.5", "--farm-gpus", "0", "--path-map", "/Volumes/Show=/mnt/show",
            "--path-map", "X:=D:\\Media"]
    assert main(argv) == 0
    config = started[0]
    assert config.port == 65535 and config.media_roots == [tmp_path]
    assert config.backend.options == {"dtype": "fp16", "cache": "fbc:0.1"}
    assert config.retention_days == 0 and config.workers == 1 and config.max_queued == 1 and config.farm_gpus == 0
    assert config.max_upload_bytes == 1 << 19
    assert config.path_maps == [PathMap.of("/Volumes/Show", "/mnt/show"), PathMap.of("X:", "D:\\Media")]
    assert (tmp_path / "new" / "state").is_dir() and not list((tmp_path / "new" / "state").iterdir())


@pytest.mark.parametrize("state, reason", [
    ("afile/sub", "Not a directory"),
    ("afile", "not a folder"),
    pytest.param("/proc/self", "", marks=pytest.mark.skipif(sys.platform != "linux", reason="an unwritable folder")),
    pytest.param("/proc/x", "", marks=pytest.mark.skipif(sys.platform != "linux", reason="a folder that cannot be made")),
])
def test_an_unusable_state_folder_is_refused_naming_it(tmp_path, monkeypatch, capsys, started, state, reason):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("hi")
    assert main(["serve", "--port", "0", "--state-dir", state]) == 2
    err = capsys.readouterr().err
    assert f"dreamstyle engine: state folder {state}: {reason}" in err and "choose a writable --state-dir" in err
    assert not started


@pytest.mark.parametrize("port", ["70000", "65536", "-1", "http"])
def test_a_port_outside_0_to_65535_is_a_usage_error(tmp_path, capsys, started, port):
    err = usage_error(["serve", "--port", port, "--state-dir", str(tmp_path)], capsys)
    assert f"argument --port: {port!r} is not a port: give 0-65535" in err
    assert not started


@pytest.mark.parametrize("option, value, needle", [
    ("--workers", "0", "'0' is out of range: give a whole number, 1 or more"),
    ("--workers", "-2", "'-2' is out of range: give a whole number, 1 or more"),
    ("--workers", "1.5", "'1.5' is not a whole number: give a whole number, 1 or more"),
    ("--max-upload-mb", "-5", "'-5' is out of range: give megabytes over 0, at most 1e9"),
    ("--max-upload-mb", "0", "'0' is out of range: give megabytes over 0"),
    ("--max-upload-mb", "1e20", "'1e20' is out of range: give megabytes over 0, at most 1e9"),
    ("--keep-days", "-1", "'-1' is out of range: give days, 0 or more (0 keeps finished jobs forever)"),
    ("--keep-days", "nan", "'nan' is out of range: give days, 0 or more"),
    ("--max-queued", "-1", "'-1' is out of range: give a whole number, 1 or more"),
    ("--max-queued", "0", "'0' is out of range: give a whole number, 1 or more"),
    ("--farm-workers", "-1", "'-1' is out of range: give a whole number, 1 or more"),
    ("--farm-gpus", "-1", "'-1' is out of range: give GPUs, 0 or more (0 for CPU actors)"),
    ("--path-map", "/Volumes/Show=", "'/Volumes/Show=': TO '' is not an absolute folder on this engine"),
    ("--path-map", "/Volumes/Show=mnt/show", "'/Volumes/Show=mnt/show': TO 'mnt/show' is not an absolute folder"),
    ("--path-map", "=/mnt/show", "'=/mnt/show' is not FROM=TO (e.g. /Volumes/Show=/mnt/show)"),
    ("--path-map", "/Volumes/Show", "'/Volumes/Show' is not FROM=TO"),
    ("--farm", "bogus", "'bogus': give local, or ray://HEAD:PORT"),  # was a traceback
    ("--farm", "head:10001", "'head:10001': give local, or ray://HEAD:PORT"),  # Ray retried it forever
])
def test_an_option_out_of_its_range_is_a_usage_error_naming_the_range(tmp_path, capsys, started, option, value, needle):
    """A negative --keep-days deleted every finished job at start; --workers 0 was a traceback."""
    err = usage_error(serve_args(tmp_path, option, value), capsys)
    assert f"argument {option}: {needle}" in err, err
    assert "Traceback" not in err and not started


@pytest.mark.parametrize("command", ["serve", "backends"])
def test_a_backend_option_without_a_value_is_refused(tmp_path, capsys, started, command):
    argv = serve_args(tmp_path) if command == "serve" else [command]
    err = usage_error([*argv, "--backend-option", "dtype"], capsys)
    assert "argument --backend-option: 'dtype' is not KEY=VALUE" in err
    assert not started


def test_an_option_is_never_taken_for_a_longer_one_it_begins(tmp_path, capsys, started):
    """`--backend classic` (the backend is the client's choice) is an unknown option, not `--backend-option`."""
    err = usage_error([*serve_args(tmp_path), "--backend", "classic"], capsys)
    assert "unrecognized arguments: --backend classic" in err and not started


@pytest.mark.parametrize("command", ["serve", "backends"])
def test_an_unknown_backend_option_is_refused_listing_the_known_ones(tmp_path, capsys, started, command):
    argv = serve_args(tmp_path) if command == "serve" else [command]
    err = usage_error([*argv, "--backend-option", "dtype=bf16", "--backend-option", "bogus=1"], capsys)
    assert "argument --backend-option: unknown key 'bogus'; known keys: attention, cache, compile," in err and "dtype" in err
    assert not started


def test_a_media_root_that_is_a_file_is_refused_and_a_missing_one_warned_of(tmp_path, capsys, started):
    """A missing root may be a client's output folder made later (the panel's): the operator is warned."""
    (tmp_path / "afile").write_text("hi")
    err = usage_error(serve_args(tmp_path, "--media-root", str(tmp_path / "afile")), capsys)
    assert f"argument --media-root: {tmp_path / 'afile'} is not a folder; give a folder" in err and not started
    assert main(serve_args(tmp_path, "--media-root", str(tmp_path / "later"))) == 0
    assert f"warning: --media-root {tmp_path / 'later'} does not exist (yet)" in capsys.readouterr().err
    assert started[0].media_roots == [tmp_path / "later"]


def test_a_path_map_to_a_missing_folder_is_warned_of(tmp_path, capsys, started):
    """A share not mounted yet starts the engine, but the operator is told before shots fail on it."""
    assert main(serve_args(tmp_path, "--path-map", f"/Volumes/Show={tmp_path / 'show'}")) == 0
    assert f"warning: --path-map /Volumes/Show={tmp_path / 'show'}: {tmp_path / 'show'} does not exist" in capsys.readouterr().err
    (tmp_path / "show").mkdir()
    assert main(serve_args(tmp_path, "--path-map", f"/Volumes/Show={tmp_path / 'show'}")) == 0
    assert "warning" not in capsys.readouterr().err


def test_the_known_option_keys_include_the_vace_controls():
    from engine.backends._diffusion import OPTION_KEYS
    from engine.control import CONTROLS

    assert {"control", *(key for key, _ in CONTROLS.values())} <= OPTION_KEYS


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="XDG folders are the Linux defaults")
@pytest.mark.parametrize("value", ["", "relative/data"])
def test_an_empty_or_relative_xdg_folder_is_ignored(monkeypatch, tmp_path, value):
    """A cron job's environment: an empty or relative XDG_DATA_HOME / XDG_CACHE_HOME put the engine's jobs
    and the detection cache under whatever folder the job started in."""
    from engine.cli import default_state_dir
    from host_plugin.shots.cache import default_cache_dir

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_DATA_HOME", value)
    monkeypatch.setenv("XDG_CACHE_HOME", value)
    assert default_state_dir() == tmp_path / "home" / ".local" / "share" / "dreamstyle" / "engine"
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "dreamstyle" / "shots"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert default_state_dir() == tmp_path / "data" / "dreamstyle" / "engine"
