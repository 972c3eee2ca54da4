"""The archive's services for the edges (worker jobs, the CLI, later the portal): keyword-only functions.

The pipeline's stages journal their events through :func:`journal_event` inside
their own SQLAlchemy session, so a row and its journal entry commit or vanish
together; :func:`archive_object` stores bytes first (durable before any row
points at them) and journals them in the caller's session. :func:`run_daily_seal`
is the daily seal job's body (the worker registers it; it knows no queue).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from archive.canonical import canonical_json
from archive.journal import Entry, Event, SealRecord
from archive.journal_sql import SqlJournal
from archive.seal import seal_period
from archive.signing import default_key_path, load_or_create_key
from archive.store import Store
from archive.timestamp import timestamper_from_settings
from schemas.settings import Settings, get_settings


def _engine_of(session: Session | Connection) -> Engine:
    bind = session.get_bind() if isinstance(session, Session) else session.engine
    return bind if isinstance(bind, Engine) else bind.engine


def journal_event(
    session: Session | Connection,
    *,
    kind: str,
    subject: str,
    actor: str,
    data: Mapping[str, Any] | None = None,
    related: list[str] | None = None,
    objects: list[str] | None = None,
    at: dt.datetime | None = None,
) -> Entry:
    """Append one event to the journal inside ``session``'s transaction (committed with it).

    ``subject`` is what the event is about: a document's SHA-256 (preferred) or
    ``invoice:<id>``; ``related`` adds other subjects it is also about (so the
    evidence bundle of either finds it); ``objects`` lists SHA-256s of bytes this
    event put in the store; ``data`` holds the details (canonical JSON: Decimal,
    date, aware datetime, no floats). The append takes the journal's write lock
    until the transaction ends: keep the transaction short.
    """
    details = dict(data or {})
    if related:
        details["related"] = sorted(set(related))
    if objects:
        details["objects"] = sorted(set(objects))
    return SqlJournal(_engine_of(session)).append(
        Event(kind, subject, actor, details, at=at), connection=session
    )


class JournalItem(Protocol):
    """What a stage hands in to be journaled: an event's kind, subject, details and other subjects."""

    @property
    def kind(self) -> str: ...  # noqa: D102
    @property
    def subject(self) -> str: ...  # noqa: D102
    @property
    def data(self) -> Mapping[str, Any]: ...  # noqa: D102
    @property
    def related(self) -> Sequence[str]: ...  # noqa: D102


def journal_many(session: Session | Connection, *, items: Sequence[JournalItem], actor: str) -> list[Entry]:
    """Append several events in one go (one lock) inside ``session``'s transaction, in order.

    The entries are those :func:`journal_event` would write one by one.
    """
    events = [
        Event(item.kind, item.subject, actor, {**item.data, "related": sorted(set(item.related))})
        if item.related
        else Event(item.kind, item.subject, actor, dict(item.data))
        for item in items
    ]
    return SqlJournal(_engine_of(session)).append_many(events, connection=session)


def archive_object(
    session: Session | Connection,
    *,
    store: Store,
    data: bytes,
    kind: str,
    subject: str | None = None,
    actor: str,
    details: Mapping[str, Any] | None = None,
    related: list[str] | None = None,
    role: str | None = None,
) -> tuple[str, Entry]:
    """Store ``data`` (fsynced, renamed) then journal it in ``session``: ``(sha256, entry)``.

    ``role`` says what the bytes are for the document ``subject``: ``original``,
    ``extracted_xml``, ``validation_report``, ``notice``...; the evidence bundle
    takes the document's XML and report from the store by these roles.

    A crash after the store and before the commit leaves an object the journal
    never names: ``archive verify`` reports it as untracked (an orphan, never
    counted as archived); storing the same bytes again adopts it.
    """
    digest = store.put(data)
    entry = journal_event(
        session,
        kind=kind,
        subject=subject or digest,
        actor=actor,
        data={"size": len(data), **({"role": role} if role else {}), **dict(details or {})},
        related=related,
        objects=[digest],
    )
    return digest, entry


def objects_by_role(journal: SqlJournal, subjects: list[str]) -> dict[str, str]:
    """The stored objects the journal recorded about ``subjects`` by their role (the latest of each)."""
    roles: dict[str, str] = {}
    for entry in journal.about(subjects):
        role, objects = entry.data.get("role"), entry.objects()
        if isinstance(role, str) and len(objects) == 1:
            roles[role] = objects[0]
    return roles


def seal_now(
    *, engine: Engine, settings: Settings | None = None, now: dt.datetime | None = None
) -> SealRecord | None:
    """Seal the journal up to its head (signed, time-stamped when ``ENCAISSE_TSA_URL`` is set).

    Returns the new seal, or None when nothing was appended since the last one.
    """
    settings = settings or get_settings()
    return seal_period(
        SqlJournal(engine),
        key=load_or_create_key(default_key_path(settings)),
        timestamper=timestamper_from_settings(settings),
        now=now,
    )


def run_daily_seal(
    *, engine: Engine, settings: Settings | None = None, now: dt.datetime | None = None
) -> dict[str, Any]:
    """The daily seal job: close the period since the last seal; a JSON-able summary for the job result."""
    seal = seal_now(engine=engine, settings=settings, now=now)
    if seal is None:
        return {"sealed": False}
    fields = seal.fields
    return {
        "sealed": True,
        "number": fields["number"],
        "from_seq": fields["from_seq"],
        "to_seq": fields["to_seq"],
        "hash": seal.hash,
        "time_stamped": seal.timestamp is not None,
    }


def report_bytes(report: Mapping[str, Any]) -> bytes:
    """The canonical bytes of a stored validation report (what is journaled and put in bundles).

    The worker journals ``sha256(report_bytes(r))`` with the ``validated`` event, and
    the evidence bundle carries the same bytes, so the two can be matched.

    >>> report_bytes({"valid": True, "ruleset": "facturx-7.8"})
    b'{"ruleset":"facturx-7.8","valid":true}'
    """
    return canonical_json(report)
