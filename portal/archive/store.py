"""Where the archive's bytes live: one small interface, keyed by SHA-256.

    FileStore     put(data) -> hash, get(hash) -> bytes, exists(hash), path(hash) (a local file to read)
    FolderStore   the default: a folder (`<state dir>/archive`), files at `ab/cd/abcd...` written
                  once (a temporary file renamed into place), never overwritten or deleted

Content addressing makes writes idempotent and every copy checkable: `verify(hash, data)`.
A large office puts the files on object storage by implementing the same four methods over an
S3 bucket (key = hash, with object lock in compliance mode so nothing can be changed or
deleted); see README, "The registration archive".
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

__all__ = ["FileStore", "FolderStore", "StoreError", "digest", "is_digest"]


class StoreError(RuntimeError):
    """A stored file is missing or its bytes no longer give its hash."""


def digest(data: bytes) -> str:
    """The SHA-256 of `data`, 64 lower-case hex digits."""
    return hashlib.sha256(data).hexdigest()


def is_digest(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


class FileStore(Protocol):
    def put(self, data: bytes) -> str:
        """Keep `data` (if not kept already); returns its SHA-256."""
        ...

    def get(self, sha256: str) -> bytes:
        """The bytes kept under `sha256`; StoreError if missing or altered."""
        ...

    def exists(self, sha256: str) -> bool: ...

    def path(self, sha256: str) -> Path:
        """A local file with the bytes (for a worker process to read); StoreError if missing."""
        ...


class FolderStore:
    """Files in `root`, at `root/ab/cd/<sha256>`, written once, read-only afterwards."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _where(self, sha256: str) -> Path:
        if not is_digest(sha256):
            raise StoreError(f"{sha256!r} is not a SHA-256 hex digest")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        sha256 = digest(data)
        target = self._where(sha256)
        if target.exists():
            return sha256
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(temporary, 0o444)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return sha256

    def get(self, sha256: str) -> bytes:
        data = self.path(sha256).read_bytes()
        if digest(data) != sha256:
            raise StoreError(f"the stored file {sha256} no longer gives its hash (altered)")
        return data

    def exists(self, sha256: str) -> bool:
        return self._where(sha256).exists()

    def path(self, sha256: str) -> Path:
        where = self._where(sha256)
        if not where.exists():
            raise StoreError(f"the file {sha256} is not in the store at {self.root}")
        return where

    def hashes(self) -> Iterator[str]:
        """Every hash kept, in no particular order."""
        if not self.root.exists():
            return
        for file in self.root.glob("??/??/*"):
            if is_digest(file.name):
                yield file.name
