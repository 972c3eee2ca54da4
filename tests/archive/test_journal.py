"""The journal's backends: append, read back, chain holds, concurrent appends, joining a transaction."""

from __future__ import annotations

import datetime as dt
import itertools
import multiprocessing
import threading
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.canonical import GENESIS, NotCanonical, sha256_hex
from archive.journal import EntryKind, Event, FileJournal, JournalError
from archive.journal_sql import SqlJournal
from archive.tables import journal_entries
from archive.verify import journal_records, verify_chain

DOC = "ab" * 32


def _events(n: int, subject: str = DOC) -> list[Event]:
    return [
        Event(EntryKind.VALIDATED, subject, "system", {"i": i, "rules": {"en16931": "1.3.13"}})
        for i in range(n)
    ]


@pytest.fixture
def journal(any_journal):
    return any_journal


def test_append_links_each_entry_to_the_one_before(journal) -> None:
    first = journal.append(Event(EntryKind.RECEIVED, DOC, "supplier:7", {"objects": [DOC], "size": 12}))
    assert (first.seq, first.prev) == (1, GENESIS)
    assert first.hash == sha256_hex(first.body)
    rest = journal.append_many(_events(5))
    assert [e.seq for e in rest] == [2, 3, 4, 5, 6]
    assert rest[0].prev == first.hash and all(b.prev == a.hash for a, b in itertools.pairwise(rest))
    assert journal.head().hash == rest[-1].hash
    assert journal.get(3).body == rest[1].body
    assert [e.seq for e in journal.iter(2, 4)] == [2, 3, 4]
    hashes, problem = verify_chain(journal_records(journal))
    assert problem is None and len(hashes) == 6


def test_about_finds_subject_and_related(journal) -> None:
    journal.append(Event(EntryKind.RECEIVED, DOC, "system"))
    journal.append(Event(EntryKind.RECEIVED, "cd" * 32, "system"))
    journal.append(
        Event(EntryKind.PAYMENT_RECEIVED, "invoice:42", "bank", {"related": [DOC], "amount": "10.00"})
    )
    assert [e.seq for e in journal.about([DOC])] == [1, 3]
    assert [e.seq for e in journal.about(["invoice:42"])] == [3]


def test_entries_refuse_floats_and_naive_times(journal) -> None:
    with pytest.raises(NotCanonical):
        journal.append(Event(EntryKind.PAYMENT_RECEIVED, DOC, "bank", {"amount": 10.5}))
    with pytest.raises(NotCanonical):
        journal.append(Event(EntryKind.RECEIVED, DOC, "system", at=dt.datetime(2026, 1, 1)))
    assert journal.head() is None


def test_sql_concurrent_appends_keep_one_chain(sql_journal: SqlJournal) -> None:
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for batch in range(10):
                sql_journal.append(
                    Event(EntryKind.PORTAL_VIEWED, DOC, f"user:{threading.get_ident()}", {"n": batch})
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    hashes, problem = verify_chain(journal_records(sql_journal))
    assert problem is None and len(hashes) == 40


def test_sql_append_joins_the_callers_transaction(sql_journal: SqlJournal) -> None:
    """RELIABILITY 24's building block: a rolled-back transaction leaves no entry; a committed one both."""
    engine = sql_journal.engine
    with pytest.raises(RuntimeError), Session(engine) as session, session.begin():
        sql_journal.append(Event(EntryKind.RECEIVED, DOC, "system"), connection=session)
        raise RuntimeError("crash before commit")
    assert sql_journal.head() is None
    with engine.begin() as conn:
        entry = sql_journal.append(Event(EntryKind.RECEIVED, DOC, "system"), connection=conn)
        assert conn.execute(select(journal_entries.c.hash)).scalar_one() == entry.hash
    head = sql_journal.head()
    assert head is not None and head.hash == entry.hash


def _file_worker(root: str, n: int) -> None:
    journal = FileJournal(Path(root), fsync=False)
    for i in range(n):
        journal.append(
            Event(EntryKind.DOWNLOADED, DOC, f"pid:{multiprocessing.current_process().pid}", {"i": i})
        )


def test_file_concurrent_processes_keep_one_chain(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_file_worker, args=(str(tmp_path), 25)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    hashes, problem = verify_chain(journal_records(FileJournal(tmp_path)))
    assert problem is None and len(hashes) == 100


def test_file_journal_refuses_to_link_to_a_torn_line(file_journal: FileJournal) -> None:
    file_journal.append_many(_events(3))
    with file_journal.entries_path.open("ab") as handle:
        handle.write(b'deadbeef {"half')
    with pytest.raises(JournalError, match="torn line"):
        file_journal.append(Event(EntryKind.RECEIVED, DOC, "system"))
