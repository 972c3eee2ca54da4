"""The journal in the database (SQLAlchemy Core over :mod:`archive.tables`), SQLite and PostgreSQL.

An append reads the head and inserts the next entry inside one transaction
holding the journal's write lock: ``pg_advisory_xact_lock`` on PostgreSQL, the
database write lock on SQLite (taken by a write before the head is read). The
unique ``seq`` and ``hash`` are the last line of defence. Pass ``connection=``
(a ``Connection`` or an ORM ``Session``) to append inside the caller's
transaction, so a document row and its journal entries commit or vanish together.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from archive.canonical import GENESIS
from archive.failpoints import failpoint
from archive.journal import Entry, Event, JournalError, SealRecord, make_entry, parse_entry
from archive.tables import journal_entries, journal_subjects, seals

JOURNAL_LOCK_ID = 0x6A726E6C  # "jrnl": PostgreSQL advisory lock held while appending


def _parse_at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


class SqlJournal:
    """The journal in ``journal_entries`` and ``seals`` of ``engine``'s database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __repr__(self) -> str:
        return f"SqlJournal({self.engine.url.render_as_string(hide_password=True)!r})"

    @contextmanager
    def transaction(self, connection: Connection | Session | None = None) -> Iterator[Connection]:
        """The caller's transaction (``connection`` given) or a new one committed on exit."""
        if connection is None:
            with self.engine.begin() as conn:
                yield conn
        elif isinstance(connection, Session):
            yield connection.connection()
        else:
            yield connection

    @staticmethod
    def lock(conn: Connection) -> None:
        """Take the journal's write lock until ``conn``'s transaction ends (appends, holds, purges)."""
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({JOURNAL_LOCK_ID})")
        else:
            # a write statement takes SQLite's write lock before the head is read
            conn.execute(delete(journal_entries).where(journal_entries.c.seq < 0))

    @staticmethod
    def _head_of(conn: Connection) -> tuple[int, str]:
        row = conn.execute(
            select(journal_entries.c.seq, journal_entries.c.hash)
            .order_by(journal_entries.c.seq.desc())
            .limit(1)
        ).first()
        return (0, GENESIS) if row is None else (int(row.seq), str(row.hash))

    def append(self, event: Event, *, connection: Connection | Session | None = None) -> Entry:
        """Append one event (inside ``connection``'s transaction when given)."""
        return self.append_many([event], connection=connection)[0]

    def append_many(
        self, events: Iterable[Event], *, connection: Connection | Session | None = None
    ) -> list[Entry]:
        """Append events in order under one lock."""
        with self.transaction(connection) as conn:
            self.lock(conn)
            seq, prev = self._head_of(conn)
            out: list[Entry] = []
            for event in events:
                seq += 1
                entry = make_entry(event, seq=seq, prev=prev)
                out.append(entry)
                prev = entry.hash
            if out:
                conn.execute(
                    insert(journal_entries),
                    [
                        {
                            "seq": e.seq,
                            "hash": e.hash,
                            "prev": e.prev,
                            "at": _parse_at(e.at),
                            "kind": e.kind,
                            "subject": e.subject[:200],
                            "body": e.body.decode("utf-8"),
                        }
                        for e in out
                    ],
                )
                conn.execute(
                    insert(journal_subjects),
                    [{"seq": e.seq, "subject": s[:200]} for e in out for s in sorted(e.subjects())],
                )
                failpoint("journal.appended")
            return out

    def restore(
        self, rows: Iterable[tuple[str, bytes]], *, connection: Connection | Session | None = None
    ) -> int:
        """Insert entries exactly as exported (``(hash, body)`` in order) into an empty journal.

        The bodies are stored byte for byte (their hashes are not recomputed here:
        the import verifies the chain before and after); returns how many.
        """
        count = 0
        with self.transaction(connection) as conn:
            self.lock(conn)
            if self._head_of(conn)[0] != 0:
                raise JournalError("the journal is not empty: import only into an empty instance")
            batch: list[Entry] = []
            for hash_, body in rows:
                batch.append(parse_entry(body, hash_))
                if len(batch) >= 5000:
                    count += self._insert_raw(conn, batch)
                    batch = []
            count += self._insert_raw(conn, batch)
        return count

    @staticmethod
    def _insert_raw(conn: Connection, entries: list[Entry]) -> int:
        if not entries:
            return 0
        conn.execute(
            insert(journal_entries),
            [
                {
                    "seq": e.seq,
                    "hash": e.hash,
                    "prev": e.prev,
                    "at": _parse_at(e.at),
                    "kind": e.kind[:40],
                    "subject": e.subject[:200],
                    "body": e.body.decode("utf-8"),
                }
                for e in entries
            ],
        )
        conn.execute(
            insert(journal_subjects),
            [{"seq": e.seq, "subject": s[:200]} for e in entries for s in sorted(e.subjects())],
        )
        return len(entries)

    def iter_rows(
        self, from_seq: int = 1, to_seq: int | None = None
    ) -> Iterator[tuple[int, str, str, bytes]]:
        """Raw rows ``(seq, hash, prev, body)`` in seq order, streamed."""
        query = select(
            journal_entries.c.seq, journal_entries.c.hash, journal_entries.c.prev, journal_entries.c.body
        )
        query = query.where(journal_entries.c.seq >= from_seq)
        if to_seq is not None:
            query = query.where(journal_entries.c.seq <= to_seq)
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=5000).execute(
                query.order_by(journal_entries.c.seq)
            )
            for seq, hash_, prev, body in result:
                yield int(seq), str(hash_), str(prev), body.encode("utf-8")

    def iter(self, from_seq: int = 1, to_seq: int | None = None) -> Iterator[Entry]:
        """Entries in seq order."""
        for _, hash_, _, body in self.iter_rows(from_seq, to_seq):
            yield parse_entry(body, hash_)

    def entries_naming_objects(self) -> Iterator[Entry]:
        """Entries whose data lists ``objects``, and every ``received`` entry, in seq order (for fixity)."""
        query = (
            select(journal_entries.c.hash, journal_entries.c.body)
            .where(or_(journal_entries.c.body.contains('"objects":['), journal_entries.c.kind == "received"))
            .order_by(journal_entries.c.seq)
        )
        with self.engine.connect() as conn:
            for row in conn.execution_options(stream_results=True, yield_per=5000).execute(query):
                try:
                    yield parse_entry(row.body.encode("utf-8"), row.hash)
                except JournalError:
                    continue  # the chain check names it

    def head(self) -> Entry | None:
        """The last entry."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(journal_entries.c.hash, journal_entries.c.body)
                .order_by(journal_entries.c.seq.desc())
                .limit(1)
            ).first()
        return None if row is None else parse_entry(row.body.encode("utf-8"), row.hash)

    def get(self, seq: int) -> Entry:
        """The entry at ``seq``."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(journal_entries.c.hash, journal_entries.c.body).where(journal_entries.c.seq == seq)
            ).first()
        if row is None:
            raise JournalError(f"no journal entry {seq}")
        return parse_entry(row.body.encode("utf-8"), row.hash)

    def about(self, subjects: Iterable[str]) -> list[Entry]:
        """Entries about any of ``subjects`` (as subject or related subject), in seq order."""
        wanted = sorted({s[:200] for s in subjects})
        seqs = select(journal_subjects.c.seq).where(journal_subjects.c.subject.in_(wanted))
        query = (
            select(journal_entries.c.hash, journal_entries.c.body)
            .where(journal_entries.c.seq.in_(seqs))
            .order_by(journal_entries.c.seq)
        )
        with self.engine.connect() as conn:
            return [parse_entry(r.body.encode("utf-8"), r.hash) for r in conn.execute(query)]

    def count(self) -> int:
        """Number of stored entries."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(journal_entries)).scalar_one())

    def add_seal(self, seal: SealRecord, *, connection: Connection | Session | None = None) -> None:
        """Store a seal; its number must follow the last one."""
        fields = seal.fields
        with self.transaction(connection) as conn:
            self.lock(conn)
            last = conn.execute(select(func.max(seals.c.number))).scalar()
            expected = int(last or 0) + 1
            if int(fields["number"]) != expected:
                raise JournalError(f"seal {fields['number']} does not follow seal {expected - 1}")
            conn.execute(
                insert(seals).values(
                    number=int(fields["number"]),
                    hash=seal.hash,
                    from_seq=int(fields["from_seq"]),
                    to_seq=int(fields["to_seq"]),
                    created_at=_parse_at(str(fields["created_at"])),
                    body=seal.body.decode("utf-8"),
                    signature=seal.signature,
                    timestamp_token=seal.timestamp,
                )
            )

    def seals(self) -> list[SealRecord]:
        """Every seal by number."""
        query = select(seals.c.body, seals.c.hash, seals.c.signature, seals.c.timestamp_token).order_by(
            seals.c.number
        )
        with self.engine.connect() as conn:
            return [
                SealRecord(
                    body=r.body.encode("utf-8"),
                    hash=r.hash,
                    signature=bytes(r.signature),
                    timestamp=bytes(r.timestamp_token) if r.timestamp_token is not None else None,
                )
                for r in conn.execute(query)
            ]
