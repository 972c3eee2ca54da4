"""The transactional outbox of jobs: a row per job, written with the change it follows.

A job is recorded by :func:`add_job` in the caller's transaction; after commit
the edge enqueues it (or runs it inline) and marks it ``enqueued``; the job marks
its row ``done`` in the same transaction as its own effects, or ``failed``. A
rolled-back transaction leaves no row, so nothing runs for it; a row whose queue
entry was lost (Redis flushed, a crash between commit and enqueue) is still
``pending`` or ``enqueued`` and :func:`unfinished` hands it to the reconciler.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ledger.models import JobOutbox, utcnow

UNFINISHED = ("pending", "enqueued")


def add_job(
    session: Session, *, job: str, document_id: int | None, args: dict[str, Any] | None = None
) -> JobOutbox:
    """Record a job to run after this transaction commits (flushed, so its id is known)."""
    row = JobOutbox(job=job, document_id=document_id, args=dict(args or {}), state="pending", attempts=0)
    session.add(row)
    session.flush()
    return row


def get_job(session: Session, *, outbox_id: int, for_update: bool = False) -> JobOutbox | None:
    """The outbox row, if any (locked with ``for_update``)."""
    stmt = select(JobOutbox).where(JobOutbox.id == outbox_id)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def mark(
    session: Session, *, outbox_id: int, state: str, error: str | None = None, attempt: bool = False
) -> None:
    """Move the row to ``state`` (``attempt`` counts one more run); unknown ids are ignored."""
    row = get_job(session, outbox_id=outbox_id)
    if row is None:
        return
    if row.state == "done" and state != "done":
        return  # finished is final: a late duplicate must not reopen it
    row.state = state
    row.updated_at = utcnow()
    if attempt:
        row.attempts += 1
    if error is not None:
        row.last_error = error[:4000]
    elif state == "done":
        row.last_error = None


def mark_enqueued(session: Session, *, outbox_ids: list[int]) -> int:
    """Move rows still ``pending`` to ``enqueued``, in one conditional update; how many moved.

    Conditional on the row's current state in the database, not on a copy read
    earlier: a worker may already have finished the job (``done``) between the
    enqueue and this update, and that must not be overwritten.
    """
    if not outbox_ids:
        return 0
    result = session.execute(
        update(JobOutbox)
        .where(JobOutbox.id.in_(outbox_ids), JobOutbox.state == "pending")
        .values(state="enqueued", updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def unfinished(
    session: Session, *, older_than: dt.timedelta | None = None, limit: int = 10_000
) -> list[JobOutbox]:
    """Rows still ``pending`` or ``enqueued`` (last touched before ``older_than`` ago, if given)."""
    stmt = select(JobOutbox).where(JobOutbox.state.in_(UNFINISHED)).order_by(JobOutbox.id).limit(limit)
    if older_than is not None:
        stmt = stmt.where(JobOutbox.updated_at <= utcnow() - older_than)
    return list(session.scalars(stmt))


def jobs_for(session: Session, *, document_id: int) -> list[JobOutbox]:
    """The outbox rows of a document, oldest first."""
    return list(
        session.scalars(select(JobOutbox).where(JobOutbox.document_id == document_id).order_by(JobOutbox.id))
    )
