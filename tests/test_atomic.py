"""`written_as`: a file appears whole under its name or not at all, and a failed write changes nothing."""

import errno
import os

import pytest

from dreamstyle.atomic import written_as


def test_a_written_file_takes_its_name_and_leaves_no_partial(tmp_path):
    target = tmp_path / "clip.mp4"
    target.write_bytes(b"old")
    with written_as(target) as partial:
        assert partial.parent == tmp_path and partial.name.startswith(".")
        partial.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


@pytest.mark.parametrize("replace", [True, False])
def test_a_failed_write_leaves_neither_a_partial_file_nor_a_changed_target(tmp_path, replace):
    target = tmp_path / "sheet.png"
    target.write_bytes(b"kept")
    with pytest.raises(RuntimeError), written_as(target, replace=replace) as partial:
        partial.write_bytes(b"half")
        raise RuntimeError("the writer failed")
    assert target.read_bytes() == b"kept"
    assert [p.name for p in tmp_path.iterdir()] == ["sheet.png"]


def test_two_writers_of_one_file_each_write_their_own_partial(tmp_path):
    with written_as(tmp_path / "a.otio") as first, written_as(tmp_path / "a.otio") as second:
        assert first != second
        first.write_text("1")
        second.write_text("2")
    assert (tmp_path / "a.otio").read_text() == "1"  # the outer writer renamed last


@pytest.mark.parametrize("hard_links", [True, False])
def test_a_new_file_never_replaces_one_already_there(tmp_path, monkeypatch, hard_links):
    """`replace=False`: another run's version timeline is kept, also on a volume without hard links (exFAT)."""
    if not hard_links:
        def no_link(*args):
            raise OSError(errno.EPERM, "no hard links here")
        monkeypatch.setattr(os, "link", no_link)
    with written_as(tmp_path / "edit.dreamstyle-v1.otio", replace=False) as partial:
        partial.write_text("first")
    with pytest.raises(FileExistsError), written_as(tmp_path / "edit.dreamstyle-v1.otio", replace=False) as partial:
        partial.write_text("second")
    assert (tmp_path / "edit.dreamstyle-v1.otio").read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["edit.dreamstyle-v1.otio"]


def test_a_failed_cache_write_leaves_nothing_behind(tmp_path):
    """The shot-detection cache once left its temporary file behind when writing failed."""
    from host_plugin.shots import cache
    from host_plugin.shots.base import Detection

    with pytest.raises(TypeError):
        cache.store(tmp_path, "digest", "key", Detection((object(),), ()))  # not JSON
    assert not list((tmp_path / "digest").iterdir())


def test_partial_files_abandoned_by_killed_writers_are_removed_and_live_ones_kept(tmp_path):
    """A download killed outright leaves a whole clip's partial file; the next download of that clip clears it."""
    from dreamstyle.atomic import remove_abandoned

    clip = tmp_path / "A001_s001.mov"
    abandoned, live = (tmp_path / f".A001_s001.mov.{pid}-0a1b2c3d.partial" for pid in (4711, 4712))
    other = tmp_path / ".A001_s002.mov.4711-0a1b2c3d.partial"  # another clip's
    for partial in (abandoned, live, other):
        partial.write_bytes(b"half a clip")
    an_hour_ago = os.stat(abandoned).st_mtime - 3700
    for partial in (abandoned, other):
        os.utime(partial, (an_hour_ago, an_hour_ago))
    remove_abandoned(clip, 3600)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name])
