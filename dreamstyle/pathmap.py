"""Path maps, shared by the host and the engine: one folder as a workstation names it and as another
machine (an engine, a farm, this machine after a move) names it.

Whole folder names only (`/Volumes/Show` never maps `/Volumes/Show2`); Windows drive letters and UNC
shares match in any case and with either slash; trailing separators do not matter; a mapped path is
written in its side's own style (`D:\\Footage\\out\\x.mp4` back to a Windows workstation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath, PurePosixPath, PureWindowsPath

__all__ = ["PathMap"]

_WINDOWS = re.compile(r"^(?:[A-Za-z]:|[\\/]{2}[^\\/])|\\")  # a drive letter, a UNC share, or a backslash


def _pure(text: str) -> PurePath:
    """`text` as a Windows path (drive letter, UNC share or backslashes; case-insensitive) or a POSIX one."""
    if not _WINDOWS.search(text):
        return PurePosixPath(text)
    path = PureWindowsPath(text)
    if path.drive and not path.root:  # "D:" means the drive's top folder, not its current folder
        path = PureWindowsPath(path.drive + "\\", *path.parts[1:])
    return path


def _move(path: str, source: PurePath, target: PurePath) -> str | None:
    """`path` moved from under `source` to under `target`, in `target`'s style; None when not inside `source`."""
    inside = type(source)(path)
    if not inside.is_relative_to(source):
        return None
    return str(target.joinpath(*inside.relative_to(source).parts))


@dataclass(frozen=True)
class PathMap:
    """`FROM=TO`: the folder `source` (a workstation's) is the folder `target` here."""

    source: PurePath
    target: PurePath

    @classmethod
    def of(cls, source: str, target: str) -> PathMap:
        return cls(_pure(source), _pure(target))

    @classmethod
    def parse(cls, rule: str) -> PathMap:
        """Parses `FROM=TO`; ValueError says what a rule looks like."""
        source, sep, target = rule.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise ValueError(f"path map {rule!r} must look like FROM=TO, e.g. /Volumes/Media=/mnt/media")
        return cls.of(source.strip(), target.strip())

    def apply(self, path: str) -> str | None:
        """`path` as `target`'s side names it, or None when it is not under `source`."""
        return _move(path, self.source, self.target)

    def reverse(self, path: str) -> str | None:
        """`path` as `source`'s side names it, or None when it is not under `target`."""
        return _move(path, self.target, self.source)

    @property
    def depth(self) -> int:
        """How specific the rule is: with several rules, the deepest that matches wins."""
        return len(self.source.parts)
