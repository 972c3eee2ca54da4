"""Archive services: the daily seal, legal holds and the purge (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from archive import purge as purge_module
from archive.canonical import sha256_hex
from archive.holds import HoldError, list_holds, release_legal_hold, set_legal_hold
from archive.journal import EntryKind, Event
from archive.journal_sql import SqlJournal
from archive.purge import purge_expired
from archive.retention import Retained
from archive.service import archive_object, journal_event, run_daily_seal
from archive.signing import default_key_path, load_or_create_key
from archive.store import DirectoryStore
from archive.tables import purges
from archive.verify import Problem, ProblemClass, verify_archive
from schemas.settings import Settings


def test_daily_seal_is_signed_time_stamped_and_idempotent(
    sql_journal: SqlJournal, tsa, tmp_path: Path
) -> None:
    ca = tmp_path / "tsa-ca.pem"
    ca.write_bytes(tsa.ca_pem)
    settings = Settings(data_dir=tmp_path, tsa_url=tsa.url, tsa_ca_file=ca)
    assert run_daily_seal(engine=sql_journal.engine, settings=settings) == {"sealed": False}
    sql_journal.append_many([Event(EntryKind.PORTAL_VIEWED, "invoice:1", "customer:2", {}) for _ in range(3)])
    first = run_daily_seal(engine=sql_journal.engine, settings=settings)
    assert first["sealed"] and first["number"] == 1 and first["to_seq"] == 3 and first["time_stamped"]
    assert run_daily_seal(engine=sql_journal.engine, settings=settings) == {"sealed": False}
    key = load_or_create_key(default_key_path(settings))
    store = DirectoryStore(tmp_path / "archive")
    assert verify_archive(store, sql_journal, public_key=key.public_key(), tsa_roots=[tsa.ca_cert]) == []


def test_journal_event_commits_or_vanishes_with_the_callers_session(
    sql_journal: SqlJournal, tmp_path
) -> None:
    from sqlalchemy.orm import Session

    store = DirectoryStore(tmp_path / "archive")
    with Session(sql_journal.engine) as session, session.begin():
        digest, entry = archive_object(
            session, store=store, data=b"invoice", kind="received", actor="supplier:1"
        )
        journal_event(
            session, kind="validated", subject=digest, actor="system", data={"rules": {"br-fr": "1.2"}}
        )
    assert entry.seq == 1 and entry.objects() == [digest] and sql_journal.count() == 2
    with pytest.raises(RuntimeError), Session(sql_journal.engine) as session, session.begin():
        journal_event(session, kind="status_changed", subject=digest, actor="system", related=["invoice:1"])
        raise RuntimeError("rolled back")
    assert sql_journal.count() == 2


def test_legal_hold_is_set_and_released_with_a_reason_and_journaled(sql_journal: SqlJournal) -> None:
    doc = "cd" * 32
    with pytest.raises(HoldError, match="reason"):
        set_legal_hold(journal=sql_journal, subject=doc, reason="  ", actor="staff:ana")
    hold = set_legal_hold(journal=sql_journal, subject=doc, reason="case 2040-17", actor="staff:ana")
    assert hold.active and hold.set_seq == 1
    with pytest.raises(HoldError, match="already under legal hold"):
        set_legal_hold(journal=sql_journal, subject=doc, reason="again", actor="staff:bob")
    released = release_legal_hold(journal=sql_journal, subject=doc, reason="case closed", actor="staff:bob")
    assert not released.active and released.released_seq == 2
    with pytest.raises(HoldError, match="not under legal hold"):
        release_legal_hold(journal=sql_journal, subject=doc, reason="twice", actor="staff:bob")
    kinds = [(e.kind, e.subject, e.fields["actor"], e.data["reason"]) for e in sql_journal.iter()]
    assert kinds == [
        ("legal_hold_set", doc, "staff:ana", "case 2040-17"),
        ("legal_hold_released", doc, "staff:bob", "case closed"),
    ]
    (row,) = list_holds(sql_journal)
    assert row.release_reason == "case closed" and row.released_at is not None and row.released_at.tzinfo


def _document(store: DirectoryStore, journal: SqlJournal, n: int, shared: bytes) -> Retained:
    original = b"invoice %d" % n
    doc = store.put(original)
    xml = store.put(b"<Invoice>%d</Invoice>" % n)
    report = store.put(shared)  # the same report bytes for several documents
    journal.append(Event(EntryKind.RECEIVED, doc, "supplier", {"objects": [doc]}))
    journal.append(Event(EntryKind.VALIDATED, doc, "system", {"objects": [xml, report]}))
    journal.append(Event(EntryKind.STATUS_CHANGED, f"invoice:{n}", "system", {"related": [doc]}))
    return Retained(doc, "invoice", dt.date(2020 + n, 3, 1))


@pytest.fixture
def populated(sql_journal: SqlJournal, tmp_path: Path, seal_key):
    store = DirectoryStore(tmp_path / "archive")
    shared = b'{"valid":true}'
    docs = [_document(store, sql_journal, n, shared) for n in range(4)]
    return store, sql_journal, docs, sha256_hex(shared)


def _clean(store, journal, key) -> list[Problem]:
    return verify_archive(store, journal, public_key=key.public_key())


def test_purge_removes_only_what_is_past_retention_and_not_held(populated, seal_key) -> None:
    store, journal, docs, shared = populated
    set_legal_hold(journal=journal, subject=docs[1].document_sha256, reason="litigation", actor="staff:ana")
    today = dt.date(2032, 6, 1)  # docs 0 (2020) and 1 (2021) are past their 10 years, 2 and 3 are not
    dry = purge_expired(journal=journal, store=store, documents=docs, today=today, actor="job", dry_run=True)
    assert [i.document_sha256 for i in dry.planned] == [docs[0].document_sha256]
    assert dry.held == [docs[1].document_sha256] and not dry.purged_objects
    before = journal.count()
    assert all(store.exists(o) for o in dry.planned[0].objects) and journal.count() == before
    assert shared not in dry.planned[0].objects  # documents 1..3 still refer to the shared report

    report = purge_expired(journal=journal, store=store, documents=docs, today=today, actor="job")
    assert report.purged_objects == list(dry.planned[0].objects) and len(report.purged_objects) == 2
    assert not any(store.exists(o) for o in report.purged_objects)
    assert store.exists(docs[1].document_sha256) and store.exists(shared)
    started, done = list(journal.iter(before + 1))
    assert (started.kind, done.kind) == ("purge_started", "purged")
    assert (
        started.data["objects"] == done.data["objects"] and done.data["purge_started_in_entry"] == started.seq
    )
    assert _clean(store, journal, seal_key) == []
    with journal.engine.connect() as conn:
        assert {r.state for r in conn.execute(select(purges))} == {"done"}
    # nothing more to do the second time
    again = purge_expired(journal=journal, store=store, documents=docs, today=today, actor="job")
    assert not again.planned and journal.count() == before + 2


def test_store_api_still_refuses_deletion(populated) -> None:
    from archive.store import ArchiveWriteOnce

    store, _, docs, _ = populated
    with pytest.raises(ArchiveWriteOnce):
        store.delete(docs[0].document_sha256)


def test_interrupted_purge_is_named_by_verify_and_finished_by_the_next_run(
    populated, seal_key, monkeypatch
) -> None:
    store, journal, docs, _ = populated
    today = dt.date(2032, 6, 1)

    def crash(journal, store, *, subject, objects, started_seq, actor):
        for obj in objects[:1]:
            purge_module._remove_object(store, obj)
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(purge_module, "_finish", crash)
    with pytest.raises(KeyboardInterrupt):
        purge_expired(journal=journal, store=store, documents=docs, today=today, actor="job")
    problems = _clean(store, journal, seal_key)
    assert [(p.problem, "purge started" in p.detail) for p in problems] == [(ProblemClass.MISSING, True)]
    monkeypatch.undo()
    report = purge_expired(journal=journal, store=store, documents=docs, today=today, actor="job")
    assert len(report.resumed_objects) == 2  # document 0's, then document 1 (no hold here) as usual
    assert [i.document_sha256 for i in report.planned] == [docs[1].document_sha256]
    assert _clean(store, journal, seal_key) == []
    assert [e.kind for e in journal.iter()][-4:] == ["purge_started", "purged", "purge_started", "purged"]
