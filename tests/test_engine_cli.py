"""`dreamstyle engine serve|backends`: what it refuses at start, before the engine is started."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import engine.server
from engine.cli import main
from engine.server import EngineConfig


@pytest.fixture
def started(monkeypatch) -> list[EngineConfig]:
    """The configs the engine was started with (it returns at once instead of serving)."""
    configs: list[EngineConfig] = []

    async def serve(config: EngineConfig) -> None:
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
    argv = ["serve", "--port", "65535", "--state-dir", str(tmp_path / "new" / "state"), "--media-root", str(tmp_path),
            "--backend-option", "dtype=fp16", "--backend-option", "cache=fbc:0.1"]
    assert main(argv) == 0
    assert started[0].port == 65535 and started[0].media_roots == [tmp_path]
    assert started[0].backend.options == {"dtype": "fp16", "cache": "fbc:0.1"}
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


@pytest.mark.parametrize("command", ["serve", "backends"])
def test_a_backend_option_without_a_value_is_refused(tmp_path, capsys, started, command):
    argv = serve_args(tmp_path) if command == "serve" else [command]
    err = usage_error([*argv, "--backend-option", "dtype"], capsys)
    assert "argument --backend-option: 'dtype' is not KEY=VALUE" in err
    assert not started


@pytest.mark.parametrize("command", ["serve", "backends"])
def test_an_unknown_backend_option_is_refused_listing_the_known_ones(tmp_path, capsys, started, command):
    argv = serve_args(tmp_path) if command == "serve" else [command]
    err = usage_error([*argv, "--backend-option", "dtype=bf16", "--backend-option", "bogus=1"], capsys)
    assert "argument --backend-option: unknown key 'bogus'; known keys: cache, compile," in err and "dtype" in err
    assert not started


def test_a_media_root_that_is_a_file_is_refused_and_a_missing_one_warned_of(tmp_path, capsys, started):
    """A missing root may be a client's output folder made later (the panel's): the operator is warned."""
    (tmp_path / "afile").write_text("hi")
    err = usage_error(serve_args(tmp_path, "--media-root", str(tmp_path / "afile")), capsys)
    assert f"argument --media-root: {tmp_path / 'afile'} is not a folder; give a folder" in err and not started
    assert main(serve_args(tmp_path, "--media-root", str(tmp_path / "later"))) == 0
    assert f"warning: --media-root {tmp_path / 'later'} does not exist (yet)" in capsys.readouterr().err
    assert started[0].media_roots == [tmp_path / "later"]


def test_the_known_option_keys_include_the_vace_controls():
    from engine.backends._diffusion import OPTION_KEYS
    from engine.control import CONTROLS

    assert {"control", *(key for key, _ in CONTROLS.values())} <= OPTION_KEYS
