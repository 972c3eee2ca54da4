"""Legal holds: litigation staff freeze a document (no purge, whatever its age) and later release it.

Each hold is a row of ``legal_holds`` and a journal entry (``legal_hold_set``,
``legal_hold_released``), written in one transaction under the journal's lock,
so the table and the journal never disagree and two holds on one subject
cannot both be active. A hold's subject is what the journal calls the thing:
a document's SHA-256 (what the purge looks at) or another journal subject.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.orm import Session

from archive.journal import EntryKind, Event
from archive.journal_sql import SqlJournal
from archive.tables import legal_holds
from schemas.errors import EncaisseError, ErrorCode


class HoldError(EncaisseError):
    """A hold cannot be set or released (no reason, already held, nothing to release)."""

    code = ErrorCode.ARCHIVE_HOLD


@dataclass(frozen=True, slots=True)
class LegalHold:
    """One legal hold, active while ``released_at`` is None."""

    id: int
    subject: str
    reason: str
    set_by: str
    set_at: dt.datetime
    set_seq: int
    released_by: str | None = None
    released_at: dt.datetime | None = None
    release_reason: str | None = None
    released_seq: int | None = None

    @property
    def active(self) -> bool:
        """True until released."""
        return self.released_at is None


def _checked(subject: str, reason: str, actor: str) -> tuple[str, str, str]:
    subject, reason, actor = subject.strip(), reason.strip(), actor.strip()
    if not subject or len(subject) > 200:
        raise HoldError("a legal hold needs a subject (a document's SHA-256 or a journal subject)")
    if not reason:
        raise HoldError("a legal hold is set and released with a reason: give --reason", where=subject)
    if not actor:
        raise HoldError("a legal hold needs the name of who sets or releases it", where=subject)
    return subject, reason, actor


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes: they were stored as UTC."""
    return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value


def _hold(row: Any) -> LegalHold:
    fields = row._asdict()
    fields["set_at"] = _aware(fields["set_at"])
    fields["released_at"] = _aware(fields["released_at"])
    return LegalHold(**fields)


def _active_row(conn: Connection, subject: str) -> LegalHold | None:
    row = conn.execute(
        select(legal_holds).where(legal_holds.c.subject == subject, legal_holds.c.released_at.is_(None))
    ).first()
    return None if row is None else _hold(row)


def set_legal_hold(
    *,
    journal: SqlJournal,
    subject: str,
    reason: str,
    actor: str,
    connection: Connection | Session | None = None,
    now: dt.datetime | None = None,
) -> LegalHold:
    """Put ``subject`` under legal hold (journaled); refused when it already is."""
    subject, reason, actor = _checked(subject, reason, actor)
    at = now or dt.datetime.now(dt.UTC)
    with journal.transaction(connection) as conn:
        journal.lock(conn)
        current = _active_row(conn, subject)
        if current is not None:
            raise HoldError(
                f"{subject} is already under legal hold {current.id} (set by {current.set_by}: "
                f"{current.reason})",
                where=subject,
            )
        entry = journal.append(
            Event(EntryKind.LEGAL_HOLD_SET, subject, actor, {"reason": reason}, at=at), connection=conn
        )
        hold_id = conn.execute(
            insert(legal_holds)
            .values(subject=subject, reason=reason, set_by=actor, set_at=at, set_seq=entry.seq)
            .returning(legal_holds.c.id)
        ).scalar_one()
    return LegalHold(int(hold_id), subject, reason, actor, at, entry.seq)


def release_legal_hold(
    *,
    journal: SqlJournal,
    subject: str,
    reason: str,
    actor: str,
    connection: Connection | Session | None = None,
    now: dt.datetime | None = None,
) -> LegalHold:
    """Release the active hold on ``subject`` (journaled); refused when there is none."""
    subject, reason, actor = _checked(subject, reason, actor)
    at = now or dt.datetime.now(dt.UTC)
    with journal.transaction(connection) as conn:
        journal.lock(conn)
        current = _active_row(conn, subject)
        if current is None:
            raise HoldError(f"{subject} is not under legal hold: nothing to release", where=subject)
        entry = journal.append(
            Event(
                EntryKind.LEGAL_HOLD_RELEASED,
                subject,
                actor,
                {"reason": reason, "hold_set_in_entry": current.set_seq},
                at=at,
            ),
            connection=conn,
        )
        conn.execute(
            update(legal_holds)
            .where(legal_holds.c.id == current.id)
            .values(released_by=actor, released_at=at, release_reason=reason, released_seq=entry.seq)
        )
    return LegalHold(
        current.id,
        subject,
        current.reason,
        current.set_by,
        current.set_at,
        current.set_seq,
        actor,
        at,
        reason,
        entry.seq,
    )


def held_subjects(conn: Connection) -> set[str]:
    """Subjects under an active legal hold."""
    return {
        str(s)
        for s in conn.execute(
            select(legal_holds.c.subject).where(legal_holds.c.released_at.is_(None))
        ).scalars()
    }


def list_holds(journal: SqlJournal, *, active_only: bool = False) -> list[LegalHold]:
    """Every hold (or the active ones), oldest first."""
    query = select(legal_holds).order_by(legal_holds.c.id)
    if active_only:
        query = query.where(legal_holds.c.released_at.is_(None))
    with journal.engine.connect() as conn:
        return [_hold(row) for row in conn.execute(query)]
