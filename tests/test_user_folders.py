"""The user's data and cache folders on each OS: platformdirs picks its answer for the OS it runs on, so each OS's
answer is checked by handing platformdirs that OS's rules."""

import platformdirs
import pytest
from platformdirs.macos import MacOS
from platformdirs.unix import Unix
from platformdirs.windows import Windows

from dreamstyle.user_folders import user_cache_folder, user_data_folder
from engine.cli import default_state_dir
from host_plugin.shots.cache import default_cache_dir


@pytest.fixture
def home(monkeypatch, tmp_path):
    for variable in ("HOME", "USERPROFILE"):
        monkeypatch.setenv(variable, str(tmp_path / "home"))
    for variable in ("XDG_DATA_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(variable, raising=False)
    return tmp_path / "home"


def _as(monkeypatch, system: type) -> None:
    monkeypatch.setattr(platformdirs, "PlatformDirs", system)


def test_linux_keeps_the_xdg_folders(monkeypatch, home, tmp_path):
    """The folders users' engine state and detection caches already live in."""
    _as(monkeypatch, Unix)
    assert default_state_dir() == home / ".local" / "share" / "dreamstyle" / "engine"
    assert default_cache_dir() == home / ".cache" / "dreamstyle" / "shots"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert (user_data_folder(), user_cache_folder()) == (tmp_path / "data", tmp_path / "cache")


def test_macos_uses_application_support_and_caches(monkeypatch, home):
    _as(monkeypatch, MacOS)
    assert default_state_dir() == home / "Library" / "Application Support" / "dreamstyle" / "engine"
    assert default_cache_dir() == home / "Library" / "Caches" / "dreamstyle" / "shots"


def test_windows_uses_local_appdata_for_both(monkeypatch, home, tmp_path):
    """Not the roaming %APPDATA%: job state and caches are large and belong to this machine."""
    local = tmp_path / "AppData" / "Local"
    known = {"CSIDL_LOCAL_APPDATA": str(local), "CSIDL_APPDATA": str(tmp_path / "AppData" / "Roaming")}
    monkeypatch.setattr(platformdirs.windows, "get_win_folder", known.__getitem__)
    _as(monkeypatch, Windows)
    assert default_state_dir() == local / "dreamstyle" / "engine"
    assert default_cache_dir() == local / "dreamstyle" / "shots"
