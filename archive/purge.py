"""The purge: the one privileged path that removes objects from the write-once store.

Only documents past their retention (:mod:`archive.retention`) and not under a
legal hold (:mod:`archive.holds`) are purged, with the objects the journal
recorded for them (original, extracted XML, reports) unless another document's
entries also refer to an object. Each document's purge is journaled twice so a
crash cannot lose track of it:

1. one transaction: a ``purge_started`` entry listing the objects, and a
   ``purges`` row per object in state ``started``;
2. the files are unlinked and their folders fsynced;
3. one transaction: a ``purged`` entry, the rows set to ``done``.

A purge interrupted between 1 and 3 is finished by the next run
(:func:`resume_purges`) before anything else; until then ``archive verify``
names its objects (missing, "purge started but not finished").
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import insert, select, update

from archive.failpoints import failpoint
from archive.holds import held_subjects
from archive.journal import Entry, EntryKind, Event, parse_entry
from archive.journal_sql import SqlJournal
from archive.retention import DEFAULT_RETENTION_YEARS, Retained, retention_until
from archive.store import ArchiveError, DirectoryStore
from archive.tables import purges

_NOT_OBJECT_SOURCES = {EntryKind.PURGE_STARTED.value, EntryKind.PURGED.value}


@dataclass(frozen=True, slots=True)
class PurgeItem:
    """One document due for purge and the stored objects that go with it."""

    document_sha256: str
    document_type: str
    retention_until: dt.date
    objects: tuple[str, ...]


@dataclass(slots=True)
class PurgeReport:
    """What a purge run did (or, for a dry run, would do)."""

    dry_run: bool
    planned: list[PurgeItem] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # past retention but under legal hold
    purged_objects: list[str] = field(default_factory=list)
    resumed_objects: list[str] = field(default_factory=list)  # finished from an interrupted run


def _remove_object(store: DirectoryStore, digest: str) -> None:
    """Unlink one object file and make the removal durable (never through the store's API)."""
    target = store.path(digest)
    try:
        target.unlink(missing_ok=True)
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ArchiveError(f"could not purge object {digest}: {exc}", where=str(target)) from exc


def _object_users(journal: SqlJournal, objects: set[str]) -> dict[str, list[Entry]]:
    """The entries (other than purge entries) that recorded each of ``objects``, in one pass."""
    users: dict[str, list[Entry]] = {o: [] for o in objects}
    for _, hash_, _, body in journal.iter_rows():
        if b'"objects":[' not in body:
            continue
        entry = parse_entry(body, hash_)
        if entry.kind in _NOT_OBJECT_SOURCES:
            continue
        for obj in entry.objects():
            if obj in users:
                users[obj].append(entry)
    return users


def plan_purge(
    *,
    journal: SqlJournal,
    store: DirectoryStore,
    documents: Iterable[Retained],
    today: dt.date,
    fiscal_year_end: tuple[int, int] = (12, 31),
    years: Mapping[str, int] = DEFAULT_RETENTION_YEARS,
) -> tuple[list[PurgeItem], list[str]]:
    """Documents due for purge with their objects, and those past retention but held."""
    with journal.engine.connect() as conn:
        held = held_subjects(conn)
    due: list[tuple[Retained, dt.date, list[Entry]]] = []
    held_docs: list[str] = []
    for doc in documents:
        until = retention_until(doc.document_type, doc.issue_date, fiscal_year_end, years=years)
        if until >= today:
            continue
        entries = journal.about([doc.document_sha256])
        subjects = {doc.document_sha256}.union(*(e.subjects() for e in entries))
        if subjects & held:
            held_docs.append(doc.document_sha256)
            continue
        due.append((doc, until, entries))
    wanted: dict[str, set[str]] = {}
    for doc, _, entries in due:
        objects = {doc.document_sha256}
        for entry in entries:
            if entry.kind not in _NOT_OBJECT_SOURCES:
                objects.update(entry.objects())
        wanted[doc.document_sha256] = {o for o in objects if store.exists(o)}
    purged_docs = set(wanted)
    users = _object_users(journal, set().union(*wanted.values())) if wanted else {}
    plan: list[PurgeItem] = []
    for doc, until, _ in due:
        mine = sorted(
            o
            for o in wanted[doc.document_sha256]
            # an object another (kept) document's entries also recorded stays
            if all(e.subjects() & purged_docs for e in users.get(o, []))
        )
        if mine:
            plan.append(PurgeItem(doc.document_sha256, doc.document_type, until, tuple(mine)))
    return plan, held_docs


def resume_purges(*, journal: SqlJournal, store: DirectoryStore, actor: str) -> list[str]:
    """Finish purges a crash interrupted (state ``started``); returns their objects."""
    with journal.engine.connect() as conn:
        rows = conn.execute(
            select(purges.c.object_sha256, purges.c.started_seq, purges.c.subject)
            .where(purges.c.state == "started")
            .order_by(purges.c.started_seq, purges.c.object_sha256)
        ).all()
    by_start: dict[int, tuple[str, list[str]]] = {}
    for obj, seq, subject in rows:
        by_start.setdefault(int(seq), (str(subject), []))[1].append(str(obj))
    done: list[str] = []
    for started_seq, (subject, objects) in by_start.items():
        _finish(journal, store, subject=subject, objects=objects, started_seq=started_seq, actor=actor)
        done += objects
    return done


def _finish(
    journal: SqlJournal,
    store: DirectoryStore,
    *,
    subject: str,
    objects: list[str],
    started_seq: int,
    actor: str,
) -> None:
    for obj in objects:
        _remove_object(store, obj)
    failpoint("purge.unlinked")
    now = dt.datetime.now(dt.UTC)
    with journal.transaction() as conn:
        journal.lock(conn)
        entry = journal.append(
            Event(
                EntryKind.PURGED, subject, actor, {"objects": objects, "purge_started_in_entry": started_seq}
            ),
            connection=conn,
        )
        conn.execute(
            update(purges)
            .where(purges.c.started_seq == started_seq, purges.c.state == "started")
            .values(state="done", finished_at=now, finished_seq=entry.seq)
        )


def purge_expired(
    *,
    journal: SqlJournal,
    store: DirectoryStore,
    documents: Iterable[Retained],
    today: dt.date,
    actor: str,
    dry_run: bool = False,
    fiscal_year_end: tuple[int, int] = (12, 31),
    years: Mapping[str, int] = DEFAULT_RETENTION_YEARS,
) -> PurgeReport:
    """Purge what is past retention and not held (after finishing any interrupted purge)."""
    report = PurgeReport(dry_run=dry_run)
    if not dry_run:
        report.resumed_objects = resume_purges(journal=journal, store=store, actor=actor)
    report.planned, report.held = plan_purge(
        journal=journal,
        store=store,
        documents=documents,
        today=today,
        fiscal_year_end=fiscal_year_end,
        years=years,
    )
    if dry_run:
        return report
    for item in report.planned:
        now = dt.datetime.now(dt.UTC)
        with journal.transaction() as conn:
            journal.lock(conn)
            if held_subjects(conn) & {item.document_sha256}:  # held since the plan: keep it
                report.held.append(item.document_sha256)
                continue
            entry = journal.append(
                Event(
                    EntryKind.PURGE_STARTED,
                    item.document_sha256,
                    actor,
                    {
                        "objects": list(item.objects),
                        "document_type": item.document_type,
                        "retention_until": item.retention_until,
                        "reason": "retention period over, no legal hold",
                    },
                ),
                connection=conn,
            )
            conn.execute(
                insert(purges),
                [
                    {
                        "object_sha256": obj,
                        "subject": item.document_sha256,
                        "document_type": item.document_type,
                        "retention_until": item.retention_until,
                        "state": "started",
                        "actor": actor,
                        "started_at": now,
                        "started_seq": entry.seq,
                    }
                    for obj in item.objects
                ],
            )
        failpoint("purge.started")
        _finish(
            journal,
            store,
            subject=item.document_sha256,
            objects=list(item.objects),
            started_seq=entry.seq,
            actor=actor,
        )
        report.purged_objects += item.objects
    return report
