"""Where the engine may read and write: its media roots, its uploads and its results.

Client paths go through the path maps first (workstation prefix -> engine prefix, longest first), then
are resolved (`..` and symlinks) and must land inside a media root or the engine's own state folder.
Result paths go back through the maps the other way, so a workstation finds its renders.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

__all__ = ["OutsideRoots", "Storage", "UploadError", "UploadTooLarge"]

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class OutsideRoots(Exception):
    """A path resolves outside every configured media root."""


class UploadError(Exception):
    """An upload was refused: incomplete, malformed, or its checksum does not match."""


class UploadTooLarge(UploadError):
    """An upload is over the engine's size limit."""


class Storage:
    """Resolves client paths inside media roots and keeps uploads and results under `state_dir`."""

    def __init__(self, media_roots: list[Path], state_dir: Path, path_maps: list[tuple[str, str]] = ()) -> None:
        self.path_maps = sorted(path_maps, key=lambda rule: -len(rule[0]))
        self.state_dir = state_dir.resolve()
        self.uploads = self.state_dir / "uploads"
        self.results = self.state_dir / "results"
        for folder in (self.uploads, self.results):
            folder.mkdir(parents=True, exist_ok=True)
        self.roots = [root.resolve() for root in media_roots] + [self.uploads, self.results]
        for partial in self.uploads.glob("*/.*.partial"):  # uploads cut off by a killed engine
            shutil.rmtree(partial.parent, ignore_errors=True)

    def resolve(self, path: str, what: str) -> Path:
        """The real path of `path` (symlinks and `..` resolved) if it lies inside a media root."""
        for workstation, engine in self.path_maps:
            if path.startswith(workstation):
                path = engine + path[len(workstation) :]
                break
        try:
            real = Path(path).expanduser().resolve()
        except (OSError, RuntimeError, ValueError) as exc:  # symlink loops, NUL bytes
            raise OutsideRoots(f"{what} {path} cannot be resolved on the engine: {exc}") from None
        if not any(real == root or real.is_relative_to(root) for root in self.roots):
            raise OutsideRoots(
                f"{what} {path} is outside the engine's media roots ({', '.join(map(str, self.roots))}); "
                "add a --media-root or a path mapping for it."
            )
        return real

    def client_path(self, path: Path) -> str:
        """`path` as the client names it: the first path map whose engine prefix matches, reversed."""
        text = str(path)
        for workstation, engine in sorted(self.path_maps, key=lambda rule: -len(rule[1])):
            if text.startswith(engine):
                return workstation + text[len(engine) :]
        return text

    def upload_path(self, upload_id: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{32}", upload_id):
            raise UploadError(f"upload id {upload_id!r} is malformed")
        matches = list((self.uploads / upload_id).glob("*"))
        if not matches:
            raise UploadError(f"upload {upload_id} does not exist on this engine; upload the file again.")
        return matches[0]

    async def receive(self, filename: str, size: int, sha256: str, chunks: AsyncIterator[bytes], limit: int) -> Path:
        """Writes an upload atomically under uploads/<id>/<safe name>, checking size and checksum."""
        if size > limit:
            raise UploadTooLarge(f"{filename}: {size} bytes is over the engine's upload limit of {limit} bytes")
        upload_id = uuid.uuid4().hex
        folder = self.uploads / upload_id
        folder.mkdir()
        name = _SAFE_NAME.sub("_", Path(filename).name).strip(" .") or "upload"  # never "..", never hidden
        partial = folder / f".{name}.partial"
        digest = hashlib.sha256()
        received = 0
        try:
            with open(partial, "wb") as out:
                async for data in chunks:
                    received += len(data)
                    if received > limit:
                        raise UploadTooLarge(f"{filename}: over the engine's upload limit of {limit} bytes")
                    if received > size:
                        raise UploadError(f"{filename}: more data than the {size} bytes announced")
                    digest.update(data)
                    out.write(data)
            if received != size:
                raise UploadError(f"{filename}: received {received} of the {size} bytes announced; upload again")
            if sha256 and digest.hexdigest() != sha256.lower():
                raise UploadError(f"{filename}: the data's SHA-256 is not the header's sha256; upload again")
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        os.replace(partial, folder / name)
        return folder / name
