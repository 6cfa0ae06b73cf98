"""Path maps on both sides: Windows drives and UNC shares from a workstation, folder boundaries, trailing
separators, and results named back in the workstation's own style."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.storage import OutsideRoots, Storage
from dreamstyle.pathmap import PathMap


@pytest.fixture
def show(tmp_path: Path) -> Path:
    """A media root holding a/clip.mov, with a sibling folder show2 (also a root) holding clip.mov."""
    for name in ("show/a/clip.mov", "show2/clip.mov"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    return tmp_path / "show"


def storage(show: Path, source: str, target: str | None = None) -> Storage:
    target = str(show) if target is None else target
    return Storage([show, show.parent / "show2"], show.parent / "state", [PathMap.of(source, target)])


@pytest.mark.parametrize(
    ("source", "path"),
    [
        ("D:\\Footage", "D:\\Footage\\a\\clip.mov"),
        ("D:\\Footage", "d:\\footage\\a\\clip.mov"),  # drive letters and folders in any case
        ("d:/footage", "D:\\Footage\\a\\clip.mov"),  # either slash
        ("D:\\Footage\\", "D:/Footage/a/clip.mov"),
        ("\\\\server\\share", "\\\\server\\share\\a\\clip.mov"),
        ("\\\\SERVER\\Share", "//server/share/a/clip.mov"),  # a UNC share as url_to_path writes it
        ("/Volumes/Show/", "/Volumes/Show/a/clip.mov"),  # a trailing slash on FROM
    ],
)
def test_workstation_paths_map_into_the_engine(show, source, path):
    assert storage(show, source).resolve(path, "media") == (show / "a" / "clip.mov").resolve()


def test_a_trailing_slash_on_the_engine_side_is_ignored(show):
    assert storage(show, "/Volumes/Show", f"{show}/").resolve("/Volumes/Show/a/clip.mov", "media") == show / "a" / "clip.mov"


@pytest.mark.parametrize(("source", "path"), [("/Volumes/Show", "/Volumes/Show2/clip.mov"), ("D:\\Footage", "D:\\Footage2\\clip.mov")])
def test_only_whole_folder_names_match(show, source, path):
    with pytest.raises(OutsideRoots, match="outside the engine's media roots"):
        storage(show, source).resolve(path, "media")  # not show + "2/clip.mov", which is show2/clip.mov


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("D:\\Footage", "D:\\Footage\\out\\x.mp4"),
        ("d:/Footage/", "d:\\Footage\\out\\x.mp4"),  # the workstation's separator, its own case
        ("\\\\server\\share", "\\\\server\\share\\out\\x.mp4"),
        ("/Volumes/Show/", "/Volumes/Show/out/x.mp4"),
    ],
)
def test_results_are_named_back_in_the_workstations_style(show, source, expected):
    assert storage(show, source, f"{show}/").client_path(show / "out" / "x.mp4") == expected


def test_the_most_specific_map_wins_both_ways(show):
    maps = [PathMap.of("/Volumes/Show", str(show.parent)), PathMap.of("/Volumes/Cache", str(show))]
    both = Storage([show.parent], show.parent / "state", maps)
    assert both.client_path(show / "x.mp4") == "/Volumes/Cache/x.mp4"
    assert both.client_path(show.parent / "show2" / "x.mp4") == "/Volumes/Show/show2/x.mp4"
    nested = Storage([show.parent], show.parent / "state", [PathMap.of("/V", str(show.parent)), PathMap.of("/V/Show", str(show))])
    assert nested.resolve("/V/Show/a/clip.mov", "media") == show / "a" / "clip.mov"


@pytest.mark.parametrize(
    ("rule", "path", "expected"),
    [
        ("D:\\Footage=/srv/show", "d:/footage/a/clip.mov", "/srv/show/a/clip.mov"),
        ("D:\\Footage=/srv/show", "D:\\Footage\\a\\clip.mov", "/srv/show/a/clip.mov"),
        ("\\\\server\\share=/srv/show", "//SERVER/share/a/clip.mov", "/srv/show/a/clip.mov"),
        ("/Volumes/Show/=/srv/show/", "/Volumes/Show/a/clip.mov", "/srv/show/a/clip.mov"),
        ("/Volumes/Show=/srv/show", "/Volumes/Show2/clip.mov", None),
        ("/Volumes/Show=D:\\Show", "/Volumes/Show/a/clip.mov", "D:\\Show\\a\\clip.mov"),
        ("D:=/srv/d", "D:\\a\\clip.mov", "/srv/d/a/clip.mov"),  # a whole drive
        ("//server/share=/srv/show", "\\\\SERVER\\share\\a\\clip.mov", "/srv/show/a/clip.mov"),  # UNC, forward slashes
        ("/Volumes/Show=/srv/show", "/Volumes/Show/a\\b.mov", "/srv/show/a\\b.mov"),  # a POSIX name may hold "\\"
    ],
)
def test_the_hosts_path_maps_match_the_engines(rule, path, expected):
    assert PathMap.parse(rule).apply(path) == expected


@pytest.mark.parametrize("rule", ["=/srv/show", "/Volumes/Show=", " = ", "/Volumes/Show"])
def test_a_rule_without_both_sides_is_refused(rule):
    with pytest.raises(ValueError, match="must look like FROM=TO"):
        PathMap.parse(rule)


@pytest.mark.skipif(os.name == "nt", reason="a drive letter is this engine's own path on Windows")
@pytest.mark.parametrize("path", ["C:\\clip.mov", "\\\\server\\share\\clip.mov"])
def test_a_windows_path_no_map_translates_is_never_read_from_the_engines_working_folder(show, monkeypatch, path):
    """On a POSIX engine a drive or UNC path is one relative file name: with the engine started in a media root,
    it named a file (or made an output folder) there."""
    (show / path).write_bytes(b"x")
    monkeypatch.chdir(show)
    with pytest.raises(OutsideRoots, match="no --path-map translates"):
        storage(show, "/Volumes/Show").resolve(path, "media")
