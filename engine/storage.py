"""Where the engine may read and write: its media roots and its state folder (`StateFolder`: the job
store, uploads, results and the jobs' work).

Client paths go through the path maps first (`dreamstyle.pathmap`: workstation folder -> engine folder,
the most specific rule first), must then be absolute (the engine's working folder is no folder of the
client's), and are resolved (`..` and symlinks) and must land inside a media root or the engine's own
state folder. Result paths go back through the maps the other way, so a workstation finds its renders,
named in its own style.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import BinaryIO, ClassVar

from dreamstyle.pathmap import PathMap

__all__ = ["MAX_UPLOAD_BYTES", "OutsideRoots", "RelativePath", "StateFolder", "Storage", "StorageFull",
           "UploadError", "UploadNotStored", "UploadTooLarge"]

MAX_UPLOAD_BYTES = 8 << 30
"""The largest upload an engine accepts unless its operator sets another limit."""

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
_DIGEST = ".sha256"  # beside each upload: its data's hex SHA-256, for FindUpload


@dataclass(frozen=True)
class StateFolder:
    """The layout of an engine's state folder `root`: every part of the engine finds its files here."""

    root: Path
    FOLDERS: ClassVar[tuple[str, ...]] = ("results", "uploads", "work")
    """The folder's own folders: a path through one of them is the engine's, wherever the folder is."""

    @property
    def jobs_db(self) -> Path:
        """The job store (`engine.store`)."""
        return self.root / "jobs.sqlite3"

    @property
    def results(self) -> Path:
        """Clips rendered for clients that name no output folder."""
        return self.root / "results"

    @property
    def uploads(self) -> Path:
        """Uploaded files, one folder each."""
        return self.root / "uploads"

    @property
    def work(self) -> Path:
        """Each unfinished job's encoded parts and condition frames, one folder each."""
        return self.root / "work"


class OutsideRoots(Exception):
    """A path resolves outside every configured media root."""


class RelativePath(Exception):
    """A client path is relative once mapped: the engine's working folder is no folder of the client's."""


class UploadError(Exception):
    """An upload was refused: incomplete, malformed, or its checksum does not match."""


class UploadTooLarge(UploadError):
    """An upload is over the engine's size limit."""


class UploadNotStored(Exception):
    """The engine could not write an upload to its storage folder (a disk or permission error)."""


class StorageFull(UploadNotStored):
    """The engine's storage folder has no room for an upload (full disk, quota, file size limit)."""


class Storage:
    """Resolves client paths inside media roots and keeps uploads and results in `state_dir`. Made only
    once the state folder is this engine's (its job store holds the lock): it removes the uploads a killed
    engine cut off, which would be those under way in another engine on the folder."""

    def __init__(self, media_roots: list[Path], state_dir: Path, path_maps: Sequence[PathMap] = ()) -> None:
        self.path_maps = sorted(path_maps, key=lambda rule: -rule.depth)  # the most specific first
        self.state = StateFolder(state_dir.resolve())
        self.uploads = self.state.uploads
        self.results = self.state.results
        for folder in (self.uploads, self.results):
            folder.mkdir(parents=True, exist_ok=True)
        self.roots = [root.resolve() for root in media_roots] + [self.uploads, self.results]
        self._owed: dict[str, int] = {}  # each upload under way: the bytes it announced and has not yet written
        for folder in self.uploads.iterdir():  # uploads cut off by a killed engine: a partial file, or none yet
            if folder.is_dir() and (any(folder.glob(".*.partial")) or not any(folder.glob("[!.]*"))):
                shutil.rmtree(folder, ignore_errors=True)

    def resolve(self, path: str, what: str) -> Path:
        """The real path of `path` (symlinks and `..` resolved) if it is absolute and lies inside a media root."""
        for rule in self.path_maps:
            if (mapped := rule.apply(path)) is not None:
                path = mapped
                break
        # A path relative on both systems, or to a home folder (~), would be read from the engine's own folders.
        if path.startswith("~") or not any(flavour(path).is_absolute() for flavour in (PurePosixPath, PureWindowsPath)):
            raise RelativePath(f"{what}: {path} is a relative path, which the engine would read from its own "
                               f"{'home' if path.startswith('~') else 'working'} folder; give an absolute path as the "
                               "engine sees it (or one its --path-map translates)")
        if not Path(path).is_absolute():  # the other system's (D:\Footage on a Linux engine): here, a relative name
            raise OutsideRoots(f"{what} {path} is outside the engine's media roots: a path of another system that no "
                               "--path-map translates; add a --path-map for its folder on the engine")
        return self._inside(Path(path), what)

    def _inside(self, path: Path, what: str) -> Path:
        try:
            real = path.resolve()
        except (OSError, RuntimeError, ValueError) as exc:  # symlink loops, NUL bytes
            raise OutsideRoots(f"{what} {path} cannot be resolved on the engine: {exc}") from None
        if not any(real == root or real.is_relative_to(root) for root in self.roots):
            raise OutsideRoots(
                f"{what} {path} is outside the engine's media roots ({', '.join(map(str, self.roots))}); "
                "add a --media-root or a path mapping for it."
            )
        return real

    def recheck(self, *paths: Path | None, output: Path | None = None) -> None:
        """Checks again, when a job starts, the real paths `resolve` gave at submit: still inside the roots
        (the engine may have restarted with fewer) and still real (no symlink swapped in since); and the
        `output` folder, if it exists, still writable (PermissionError), so a share remounted read-only fails
        the job before it renders, not after."""
        for path in (*paths, output):
            if path is not None and self._inside(path, "path") != path:
                raise OutsideRoots(f"path {path} now leads to {path.resolve()} (a symlink changed since the job was "
                                   "submitted); submit the shot again")
        if output is not None and output.is_dir() and not os.access(output, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, "the folder is no longer writable by the engine (read-only, or its "
                                  "permissions changed since the shot was submitted)", str(output))

    def open_inside(self, path: Path) -> BinaryIO:
        """`path`, a real path `resolve` gave, opened for reading once what was opened is that file, still inside
        the roots: OutsideRoots when a symlink was swapped in for it or for a folder on its way."""
        source = open(path, "rb")
        try:
            self.recheck(path)
            if not os.path.samestat(os.fstat(source.fileno()), os.stat(path, follow_symlinks=False)):
                raise OutsideRoots(f"path {path} was swapped while the engine opened it (a symlink?); submit the shot again")
        except BaseException:
            source.close()
            raise
        return source

    def client_path(self, path: Path) -> str:
        """`path` as the client names it: the most specific path map whose engine folder holds it, reversed."""
        for rule in sorted(self.path_maps, key=lambda rule: -len(rule.target.parts)):
            if (mapped := rule.reverse(str(path))) is not None:
                return mapped
        return str(path)

    def upload_path(self, upload_id: str) -> Path:
        """The uploaded file; its folder's time is set to now, so retention counts from its last use (a
        panel reuses an upload id for as long as it is open)."""
        if not re.fullmatch(r"[0-9a-f]{32}", upload_id):
            raise UploadError(f"upload id {upload_id!r} is malformed")
        folder = self.uploads / upload_id
        matches = sorted(folder.glob("[!.]*")) if folder.is_dir() else []  # not the digest, nor a .partial
        if not matches:
            raise UploadError(f"upload {upload_id} does not exist on this engine; upload the file again.")
        try:
            os.utime(folder)
        except OSError:  # a folder another user made (an earlier run as root): retention counts from its upload
            pass
        return matches[0]

    async def receive(self, filename: str, size: int, sha256: str, chunks: AsyncIterator[bytes], limit: int) -> Path:
        """Writes an upload atomically under uploads/<id>/<safe name>, checking size, room and checksum."""
        if size > limit:
            raise UploadTooLarge(f"{filename}: {size} bytes is over the engine's upload limit of {limit} bytes")
        self._check_room(filename, size)
        upload_id = uuid.uuid4().hex
        self._owed[upload_id] = size
        folder = self.uploads / upload_id
        name = _SAFE_NAME.sub("_", Path(filename).name).strip(" .") or "upload"  # never "..", never hidden
        partial = folder / f".{name}.partial"
        try:
            folder.mkdir()
            digest = await self._write(partial, upload_id, filename, size, sha256, chunks, limit)
            (folder / _DIGEST).write_text(digest)  # first: FindUpload finds every upload that is in place
            os.replace(partial, folder / name)
        except BaseException as exc:
            shutil.rmtree(folder, ignore_errors=True)
            if isinstance(exc, OSError):
                raise self._not_stored(filename, exc) from None
            raise
        finally:
            del self._owed[upload_id]
        return folder / name

    def _check_room(self, filename: str, size: int) -> None:
        """Refuses an upload at once when the storage folder has not `size` bytes free beside the bytes the
        uploads under way still need (each checked alone, together they would fill the disk)."""
        free = _free_bytes(self.uploads) - sum(self._owed.values())
        if size > free:
            raise StorageFull(
                f"{filename}: {size / 1e6:,.1f} MB will not fit in the engine's storage folder {self.uploads} "
                f"({free / 1e6:,.1f} MB free): free space there or give the engine another --state-dir"
            )

    def _not_stored(self, filename: str, exc: OSError) -> UploadNotStored:
        """`exc`, raised while writing `filename`, as the error the client is told."""
        why = exc.strerror or str(exc)
        if exc.errno in _FULL:
            return StorageFull(f"{filename}: the engine's storage folder {self.uploads} has no room for it ({why}): "
                               "free space there, raise the engine's file size or disk quota, or give another --state-dir")
        return UploadNotStored(f"{filename}: the engine cannot write it to its storage folder {self.uploads} ({why}); "
                               "check that folder on the engine machine and upload again")

    async def _write(self, partial: Path, upload_id: str, filename: str, size: int, sha256: str,
                     chunks: AsyncIterator[bytes], limit: int) -> str:
        """Streams `chunks` into `partial`, refusing more or fewer bytes than announced or a wrong checksum;
        returns the data's hex SHA-256."""
        digest = hashlib.sha256()
        received = 0
        with open(partial, "wb") as out:
            async for data in chunks:
                received += len(data)
                if received > limit:
                    raise UploadTooLarge(f"{filename}: over the engine's upload limit of {limit} bytes")
                if received > size:
                    raise UploadError(f"{filename}: more data than the {size} bytes announced")
                digest.update(data)
                out.write(data)
                self._owed[upload_id] = size - received
        if received != size:
            raise UploadError(f"{filename}: received {received} of the {size} bytes announced; upload again")
        if sha256 and digest.hexdigest() != sha256.lower():
            raise UploadError(f"{filename}: the data's SHA-256 is not the header's sha256; upload again")
        return digest.hexdigest()

    def find_upload(self, sha256: str, size: int) -> str | None:
        """The id of a kept upload of these bytes (its use counted as now for retention), or None."""
        try:
            folders = list(self.uploads.iterdir())
        except OSError:  # the storage folder is missing or not one: an upload will say so
            return None
        for folder in folders:
            try:
                if (folder / _DIGEST).read_text() == sha256.lower() and self.upload_path(folder.name).stat().st_size == size:
                    return folder.name
            except (OSError, UploadError):  # no digest (an upload from before digests were kept), or being removed
                continue
        return None


def _free_bytes(folder: Path) -> int:
    """Bytes free for this process in `folder`'s file system."""
    return shutil.disk_usage(folder).free
