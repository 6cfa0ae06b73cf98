"""Where the engine may read and write: its media roots, its uploads and its results."""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

__all__ = ["OutsideRoots", "UploadError", "Storage"]

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class OutsideRoots(Exception):
    """A path resolves outside every configured media root."""


class UploadError(Exception):
    """An upload was refused: too large, incomplete, or its checksum does not match."""


class Storage:
    """Resolves client paths inside media roots and keeps uploads and results under `state_dir`."""

    def __init__(self, media_roots: list[Path], state_dir: Path) -> None:
        self.state_dir = state_dir.resolve()
        self.uploads = self.state_dir / "uploads"
        self.results = self.state_dir / "results"
        for folder in (self.uploads, self.results):
            folder.mkdir(parents=True, exist_ok=True)
        self.roots = [root.resolve() for root in media_roots] + [self.state_dir]

    def resolve(self, path: str, what: str) -> Path:
        """The real path of `path` (symlinks and `..` resolved) if it lies inside a media root."""
        real = Path(path).expanduser().resolve()
        if not any(real == root or real.is_relative_to(root) for root in self.roots):
            raise OutsideRoots(
                f"{what} {path} is outside the engine's media roots ({', '.join(map(str, self.roots))}); "
                "add a --media-root or a path mapping for it."
            )
        return real

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
            raise UploadError(f"{filename}: {size} bytes is over the engine's upload limit of {limit} bytes")
        upload_id = uuid.uuid4().hex
        folder = self.uploads / upload_id
        folder.mkdir()
        name = _SAFE_NAME.sub("_", Path(filename).name) or "upload"
        partial = folder / f".{name}.partial"
        digest = hashlib.sha256()
        received = 0
        with open(partial, "wb") as out:
            async for data in chunks:
                received += len(data)
                if received > min(size, limit):
                    partial.unlink()
                    raise UploadError(f"{filename}: more data than the {size} bytes announced")
                digest.update(data)
                out.write(data)
        if received != size or (sha256 and digest.hexdigest() != sha256.lower()):
            partial.unlink()
            raise UploadError(f"{filename}: received {received} of {size} bytes or a wrong checksum; upload again")
        os.replace(partial, folder / name)
        return folder / name
