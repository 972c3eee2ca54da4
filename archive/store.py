"""A write-once, content-addressed store: bytes are named by their SHA-256.

``DirectoryStore`` keeps each object at ``<root>/objects/ab/cdef...`` (the first
two hex digits as a fan-out folder). A write is atomic and durable: the bytes go
to a temporary file in the target folder, are fsynced, then hard-linked to their
final name (which never replaces an existing file) and the folder is fsynced.
Putting the same bytes twice is a no-op; the API offers no way to overwrite or
delete an object (:meth:`DirectoryStore.delete` and :meth:`DirectoryStore.overwrite`
exist only to refuse, with :class:`ArchiveWriteOnce`).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol, runtime_checkable

from archive.failpoints import failpoint
from schemas.errors import EncaisseError, ErrorCode
from schemas.settings import Settings, get_settings

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class ArchiveError(EncaisseError):
    """The archive could not store or read an object."""

    code = ErrorCode.ARCHIVE_IO


class ArchiveNotFound(ArchiveError):
    """No object with that digest is stored."""

    code = ErrorCode.ARCHIVE_NOT_FOUND


class ArchiveWriteOnce(ArchiveError):
    """An object may never be changed or removed through the API."""

    code = ErrorCode.ARCHIVE_WRITE_ONCE


@runtime_checkable
class Store(Protocol):
    """What the pipeline needs of an archive store."""

    def put(self, data: bytes) -> str:
        """Store ``data`` (once) and return its SHA-256 hex digest."""
        ...

    def get(self, sha256: str) -> bytes:
        """The bytes stored under ``sha256``."""
        ...

    def exists(self, sha256: str) -> bool:
        """True when an object with this digest is stored."""
        ...

    def path(self, sha256: str) -> Path:
        """Where the object is (or would be) kept."""
        ...


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of ``data``, lower-case hex.

    >>> sha256_hex(b"")[:16]
    'e3b0c44298fc1c14'
    """
    return hashlib.sha256(data).hexdigest()


def _checked(sha256: str) -> str:
    digest = sha256.strip().lower()
    if not _HEX64.match(digest):
        raise ArchiveNotFound(f"{sha256!r} is not a SHA-256 hex digest", where="sha256")
    return digest


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class DirectoryStore:
    """Objects as files under ``<root>/objects/``, named by their SHA-256."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.objects = self.root / "objects"

    def __repr__(self) -> str:
        return f"DirectoryStore({str(self.root)!r})"

    def path(self, sha256: str) -> Path:
        """``objects/ab/cdef...`` for digest ``abcdef...``."""
        digest = _checked(sha256)
        return self.objects / digest[:2] / digest[2:]

    def exists(self, sha256: str) -> bool:
        """True when the object is stored."""
        return self.path(sha256).is_file()

    def put(self, data: bytes) -> str:
        """Store ``data`` atomically unless already there; return its SHA-256."""
        digest = sha256_hex(data)
        target = self.path(digest)
        if target.is_file():
            return digest
        folder = target.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=folder)
            tmp = Path(tmp_name)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    failpoint("store.written")
                    os.fsync(handle.fileno())
                failpoint("store.fsynced")
                tmp.chmod(0o444)
                try:
                    os.link(tmp, target)  # never replaces an existing file
                except FileExistsError:
                    return digest  # a concurrent writer stored the same bytes
                failpoint("store.linked")
                _fsync_dir(folder)
                failpoint("store.dir_fsynced")
            finally:
                tmp.unlink(missing_ok=True)
        except OSError as exc:
            raise ArchiveError(f"could not store object {digest}: {exc}", where=str(target)) from exc
        return digest

    def get(self, sha256: str) -> bytes:
        """The stored bytes, checked against their digest."""
        target = self.path(sha256)
        try:
            data = target.read_bytes()
        except FileNotFoundError:
            raise ArchiveNotFound(f"no object {sha256} in the archive", where=str(target)) from None
        except OSError as exc:
            raise ArchiveError(f"could not read object {sha256}: {exc}", where=str(target)) from exc
        if sha256_hex(data) != _checked(sha256):
            raise ArchiveError(
                f"object {sha256} no longer matches its digest: the archive was altered", where=str(target)
            )
        return data

    def overwrite(self, sha256: str, data: bytes) -> None:
        """Refused: objects are write-once."""
        raise ArchiveWriteOnce(f"object {sha256} cannot be overwritten: the archive is write-once")

    def delete(self, sha256: str) -> None:
        """Refused: never deleted through the API (the journaled purge of :mod:`archive.purge` is the way)."""
        raise ArchiveWriteOnce(f"object {sha256} cannot be deleted: the archive is write-once")


def store_from_settings(settings: Settings | None = None) -> DirectoryStore:
    """The store under ``ENCAISSE_DATA_DIR/archive``."""
    settings = settings or get_settings()
    return DirectoryStore(Path(settings.data_dir) / "archive")
