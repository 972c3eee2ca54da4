"""BagIt export and import: a bag any BagIt tool accepts; every altered, missing or extra file is named."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from archive.bag import BagError, export_bag, import_bag, validate_bag
from archive.journal import EntryKind, Event
from archive.journal_sql import SqlJournal
from archive.seal import seal_period
from archive.signing import public_pem
from archive.store import DirectoryStore


@pytest.fixture
def bag(sql_journal: SqlJournal, tmp_path: Path, seal_key) -> Path:
    store = DirectoryStore(tmp_path / "archive")
    for n in range(5):
        doc = store.put(b"invoice %d" % n)
        sql_journal.append(Event(EntryKind.RECEIVED, doc, "supplier", {"objects": [doc]}))
    seal_period(sql_journal, key=seal_key)
    sql_journal.append(Event(EntryKind.PORTAL_VIEWED, "invoice:1", "customer:1"))  # unsealed tail
    out = tmp_path / "bag"
    summary = export_bag(store=store, journal=sql_journal, out=out, public_keys_pem=[public_pem(seal_key)])
    assert (summary.objects, summary.entries, summary.seals) == (5, 6, 1)
    return out


def test_bag_layout_and_manifests(bag: Path) -> None:
    assert (bag / "bagit.txt").read_text() == "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    manifest: dict[str, str] = {}
    for line in (bag / "manifest-sha256.txt").read_text().splitlines():
        digest, rel = line.split("  ", 1)
        manifest[rel] = digest
    payload = sorted(p.relative_to(bag).as_posix() for p in (bag / "data").rglob("*") if p.is_file())
    assert sorted(manifest) == payload
    for rel, digest in manifest.items():
        assert hashlib.sha256((bag / rel).read_bytes()).hexdigest() == digest
    info = validate_bag(bag)
    assert info["Encaisse-Journal-Entries"] == "6" and info["Payload-Oxum"].endswith(f".{len(payload)}")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda b: next((b / "data/objects").rglob("*/*")).write_bytes(b"x"), "data/objects/"),
        (lambda b: (b / "data/journal/seals.log").unlink(), "data/journal/seals.log"),
        (lambda b: (b / "data/extra.txt").write_text("x"), "data/extra.txt"),
        (lambda b: (b / "bag-info.txt").write_text("Payload-Oxum: 1.1\n"), "bag-info.txt"),
    ],
    ids=["changed", "missing", "extra", "tag"],
)
def test_a_damaged_bag_is_refused_naming_the_file(bag: Path, change, named: str) -> None:
    for p in bag.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    change(bag)
    with pytest.raises(BagError) as caught:
        validate_bag(bag)
    assert named in caught.value.message


def test_a_rehashed_journal_edit_is_refused_by_the_chain_check(
    bag: Path, sql_journal, tmp_path: Path
) -> None:
    journal_log = bag / "data/journal/journal.log"
    lines = journal_log.read_bytes().splitlines(keepends=True)
    body = lines[1][65:-1].replace(b'"supplier"', b'"supplies"')  # same length: Payload-Oxum holds
    lines[1] = hashlib.sha256(body).hexdigest().encode() + b" " + body + b"\n"
    journal_log.write_bytes(b"".join(lines))
    # rewrite the manifests as a forger would: BagIt alone cannot tell, the chain can
    manifest = bag / "manifest-sha256.txt"
    fixed = [
        (hashlib.sha256(journal_log.read_bytes()).hexdigest() + "  data/journal/journal.log")
        if line.endswith("data/journal/journal.log")
        else line
        for line in manifest.read_text().splitlines()
    ]
    manifest.write_text("\n".join(fixed) + "\n")
    tags = [
        f"{hashlib.sha256((bag / name).read_bytes()).hexdigest()}  {name}"
        for name in ("bag-info.txt", "bagit.txt", "manifest-sha256.txt")
    ]
    (bag / "tagmanifest-sha256.txt").write_text("\n".join(tags) + "\n")
    validate_bag(bag)
    with pytest.raises(BagError, match="journal entry 2: was rewritten"):
        import_bag(path=bag, store=DirectoryStore(tmp_path / "other"), journal=sql_journal)


def test_the_library_of_congress_bagit_tool_accepts_the_bag(bag: Path) -> None:
    """The reference implementation (bagit-python, a dev dependency) validates what we wrote."""
    import bagit  # type: ignore[import-untyped]  # no stubs published

    bagit.Bag(str(bag)).validate()
    next((bag / "data/objects").rglob("*/*")).write_bytes(b"altered")
    with pytest.raises(bagit.BagValidationError):
        bagit.Bag(str(bag)).validate()
