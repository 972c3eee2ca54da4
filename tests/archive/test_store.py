"""The write-once content-addressed store: layout, idempotent puts, refusals, integrity."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest

from archive.store import ArchiveError, ArchiveNotFound, ArchiveWriteOnce, DirectoryStore, Store


def test_put_get_and_layout(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path / "archive")
    assert isinstance(store, Store)
    data = b"<Invoice>1</Invoice>"
    digest = store.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert store.path(digest) == tmp_path / "archive" / "objects" / digest[:2] / digest[2:]
    assert store.exists(digest) and store.get(digest) == data
    assert store.get(digest.upper()) == data  # digests are case-insensitive hex
    assert not store.exists("0" * 64)


def test_same_bytes_twice_is_a_no_op(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    digest = store.put(b"abc")
    before = store.path(digest).stat()
    assert store.put(b"abc") == digest
    after = store.path(digest).stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)
    leftovers = [p for p in store.objects.rglob("*") if p.is_file() and p.name.startswith(".tmp-")]
    assert leftovers == []


def test_objects_are_read_only_and_the_api_refuses_changes(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    digest = store.put(b"original")
    assert store.path(digest).stat().st_mode & 0o222 == 0
    with pytest.raises(ArchiveWriteOnce):
        store.overwrite(digest, b"forged")
    with pytest.raises(ArchiveWriteOnce):
        store.delete(digest)
    assert store.get(digest) == b"original"


def test_missing_bad_digest_and_altered_objects(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    with pytest.raises(ArchiveNotFound):
        store.get("a" * 64)
    with pytest.raises(ArchiveNotFound, match="not a SHA-256"):
        store.get("../../etc/passwd")
    digest = store.put(b"genuine")
    target = store.path(digest)
    target.chmod(0o644)
    target.write_bytes(b"altered")  # behind the store's back
    with pytest.raises(ArchiveError, match="no longer matches"):
        store.get(digest)


def test_concurrent_puts_of_the_same_bytes(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path)
    data = b"x" * 200_000
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(store.put(data))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and len(results) == 8
    assert store.get(results[0]) == data
    assert [p for p in store.objects.rglob("*") if p.is_file()] == [store.path(results[0])]
