"""RELIABILITY 22: fixity. 1,000 random mutations over a 200-document archive (flip, truncate,
delete, extra file, swap): verify_archive reports each with its class; a clean archive has none."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from archive.journal import EntryKind, Event, FileJournal
from archive.seal import seal_period
from archive.store import DirectoryStore
from archive.verify import ProblemClass, verify_archive

DOCUMENTS = 200
MUTATIONS = 1000


@pytest.fixture(scope="module")
def archive(tmp_path_factory, seal_key):
    root = tmp_path_factory.mktemp("fixity")
    store = DirectoryStore(root / "archive")
    journal = FileJournal(root / "journal", fsync=False)
    rng = random.Random(22)
    events = []
    for n in range(DOCUMENTS):
        original = rng.randbytes(rng.randint(200, 1500))
        xml = b"<Invoice>" + str(n).encode() + rng.randbytes(100) + b"</Invoice>"
        report = b'{"document":%d,"valid":true}' % n
        doc = store.put(original)
        objects = [store.put(xml), store.put(report)]
        events.append(Event(EntryKind.RECEIVED, doc, "supplier", {"objects": [doc]}))
        events.append(
            Event(EntryKind.VALIDATED, doc, "system", {"objects": objects, "rules": {"en16931": "1.3"}})
        )
    journal.append_many(events)
    seal_period(journal, key=seal_key)
    return store, journal


def _objects(store: DirectoryStore) -> list[Path]:
    return sorted(p for p in store.objects.rglob("*") if p.is_file())


def test_clean_archive_has_no_problem(archive, seal_key) -> None:
    store, journal = archive
    assert len(_objects(store)) == 3 * DOCUMENTS
    assert verify_archive(store, journal, public_key=seal_key.public_key()) == []


def _write(path: Path, data: bytes) -> None:
    if path.exists():
        path.chmod(0o644)
    path.write_bytes(data)


ROUND = 10  # mutations per verification, on distinct objects


def test_thousand_random_mutations_are_each_reported_with_their_class(archive, seal_key) -> None:
    store, journal = archive
    rng = random.Random(2222)
    paths = _objects(store)
    counts: dict[str, int] = {}
    for _ in range(MUTATIONS // ROUND):
        targets = rng.sample(paths, 2 * ROUND)
        expected: set[tuple[ProblemClass, str]] = set()
        undo: list[tuple[Path, bytes | None]] = []
        for i in range(ROUND):
            target, other = targets[2 * i], targets[2 * i + 1]
            kind = rng.choice(["flip", "truncate", "delete", "extra", "swap"])
            counts[kind] = counts.get(kind, 0) + 1
            name = target.parent.name + target.name
            saved = target.read_bytes()
            undo.append((target, saved))
            if kind == "flip":
                flipped = bytearray(saved)
                flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
                _write(target, bytes(flipped))
                expected.add((ProblemClass.CHANGED, f"object {name}"))
            elif kind == "truncate":
                _write(target, saved[: rng.randrange(len(saved))])
                expected.add((ProblemClass.CHANGED, f"object {name}"))
            elif kind == "delete":
                target.unlink()
                expected.add((ProblemClass.MISSING, f"object {name}"))
            elif kind == "extra":
                junk = rng.randbytes(64)
                if rng.random() < 0.5:  # a well-formed object nobody journaled
                    digest = hashlib.sha256(junk).hexdigest()
                    extra = store.objects / digest[:2] / digest[2:]
                    expected.add((ProblemClass.UNTRACKED, f"object {digest}"))
                else:  # a stray file (a leftover temporary file, a copy...)
                    extra = target.parent / f".tmp-{rng.randrange(10**9)}"
                    expected.add((ProblemClass.UNTRACKED, str(extra)))
                extra.parent.mkdir(exist_ok=True)
                _write(extra, junk)
                undo.append((extra, None))
            else:  # swap two objects' bytes
                other_saved = other.read_bytes()
                _write(target, other_saved)
                _write(other, saved)
                undo.append((other, other_saved))
                expected.add((ProblemClass.CHANGED, f"object {name}"))
                expected.add((ProblemClass.CHANGED, f"object {other.parent.name + other.name}"))
        problems = verify_archive(store, journal, public_key=seal_key.public_key())
        assert {(p.problem, p.where) for p in problems} == expected, problems
        assert len(problems) == len(expected)
        for path, old in reversed(undo):
            if old is None:
                path.unlink()
            else:
                _write(path, old)
    assert verify_archive(store, journal, public_key=seal_key.public_key()) == []
    assert sum(counts.values()) == MUTATIONS
    assert set(counts) == {"flip", "truncate", "delete", "extra", "swap"}


def test_purged_objects_are_not_missing(tmp_path, seal_key) -> None:
    store = DirectoryStore(tmp_path / "archive")
    journal = FileJournal(tmp_path / "journal", fsync=False)
    doc = store.put(b"old invoice")
    journal.append(Event(EntryKind.RECEIVED, doc, "supplier", {"objects": [doc]}))
    store.path(doc).unlink()  # what the purge job does, after checking retention and holds
    assert [p.problem for p in verify_archive(store, journal, public_key=seal_key.public_key())] == [
        "missing"
    ]
    journal.append(
        Event(EntryKind.PURGED, doc, "retention-job", {"objects": [doc], "reason": "past retention"})
    )
    assert verify_archive(store, journal, public_key=seal_key.public_key()) == []


def test_verify_archive_over_the_sql_journal(tmp_path, sql_journal, seal_key) -> None:
    store = DirectoryStore(tmp_path / "archive")
    docs = [store.put(b"invoice %d" % i) for i in range(3)]
    sql_journal.append_many([Event(EntryKind.RECEIVED, d, "supplier", {"objects": [d]}) for d in docs])
    seal_period(sql_journal, key=seal_key)
    assert verify_archive(store, sql_journal, public_key=seal_key.public_key()) == []
    store.path(docs[1]).unlink()
    problems = verify_archive(store, sql_journal, public_key=seal_key.public_key())
    assert [(p.problem, p.where) for p in problems] == [(ProblemClass.MISSING, f"object {docs[1]}")]
