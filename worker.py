"""The job functions' registry and the RQ worker entry point.

The pipeline of one document is two jobs, each composing the stages' public
functions (which is why they live here and not in a stage):

* :func:`process_document`: bytes from the archive store → detect, parse, validate
  (``validation.validate`` with the supplier rule set) → register (``ledger.services``)
  → decide (``ledger.decision``) → statuses recorded, all in one transaction; a notice
  job is added to the outbox when the document ends in 501, 213, 210 or 208;
* :func:`notify_document`: the rejection notice (``notify``) sent once per document
  and status.

:func:`submit` is the receive step: store the original, register the document and
its first job in one transaction, then dispatch after commit. Jobs take only JSON
arguments (ids), are idempotent (running one twice has the effect of running it
once: the document row is locked and re-checked before anything is written), and
mark their outbox row done in the same transaction as their effects.

Each event of a document's life happens in one place here: "received" in
:func:`submit`, "validated" in :func:`_record_report`, "status changed" in
:func:`_record_statuses`, "notice sent" in :func:`_notify`.

Queue: with ``ENCAISSE_REDIS_URL`` jobs go to RQ (``JSONSerializer``, ``Retry``
for transient errors): processing jobs to the ``encaisse`` queue, notices to
``encaisse-notify``, which a worker takes only when no processing job waits (RQ
workers take their queues in order), so rendering the notices' PDF reports never
delays a decision. ``encaisse worker`` runs them in a :class:`rq.SimpleWorker`
(no fork per job, so the XSLT stylesheets compiled by ``validation.warm_up`` at
start are reused by every job); without it, :class:`InlineDispatcher` runs the
same functions in the caller's process after commit.
"""

from __future__ import annotations

import contextvars
import logging
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from archive.journal import EntryKind
from archive.store import Store, store_from_settings
from ledger import db, outbox, services
from ledger.decision import Decision, decide_statuses
from ledger.models import Document
from notify.transport import TransientSendError, Transport, transport_from_settings
from schemas.errors import EncaisseError, ErrorCode
from schemas.findings import Severity
from schemas.lifecycle import Actor, ActorKind, Status
from schemas.settings import Settings, get_settings

if TYPE_CHECKING:
    from validation.report import ValidationReport

log = logging.getLogger("encaisse.worker")

JOB_PROCESS = "process_document"
JOB_NOTIFY = "notify_document"
#: seconds between the attempts of a job that failed on a transient error (RQ ``Retry``)
RETRY_INTERVALS: tuple[int, ...] = (2, 10, 30)
#: the same policy inline, shorter: the caller is waiting
INLINE_RETRY_INTERVALS: tuple[float, ...] = (0.2, 1.0, 3.0)
#: errors worth another attempt: the database or the mail server being briefly unavailable
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OperationalError, TransientSendError)

_final_attempt: contextvars.ContextVar[bool] = contextvars.ContextVar("final_attempt", default=True)

#: ``point:n``: the process SIGKILLs itself at the n-th pass of that crash point (RELIABILITY 17)
CRASH_ENV = "ENCAISSE_WORKER_CRASH_AT"
#: the crash points, in the order a document passes them
CRASH_POINTS = (
    "process.locked",  # lease and row lock taken, nothing done
    "process.validated",  # validated, nothing written
    "process.recorded",  # report, invoice, statuses, outbox rows flushed, not committed
    "process.committed",  # committed, the notice job not yet enqueued
    "notify.rendered",  # the notice rendered, nothing claimed
    "notify.claimed",  # the notice row claimed (not committed), nothing sent
    "notify.committed",  # sent and committed
)
_crash_passes: dict[str, int] = {}


def _crash_point(name: str) -> None:
    """Die here (SIGKILL: no clean-up, no rollback) when the crash tests asked for this pass of ``name``.

    Unset (always, outside those tests) it costs one environment lookup.
    """
    wanted = os.environ.get(CRASH_ENV)
    if not wanted:
        return
    point, _, nth = wanted.partition(":")
    if point != name:
        return
    _crash_passes[name] = _crash_passes.get(name, 0) + 1
    if _crash_passes[name] >= int(nth or "1"):
        os.kill(os.getpid(), signal.SIGKILL)


class DatabaseNotMigrated(EncaisseError):
    """The database is not at the code's revision."""

    code = ErrorCode.DB_NOT_MIGRATED


# --------------------------------------------------------------------------- runtime


@dataclass
class Runtime:
    """What the jobs of one process share: settings, database, archive store, mail transport."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: Store
    transport: Transport
    dispatcher: Dispatcher | None = None
    _rules: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, *, url: str | None = None) -> Runtime:
        """Engine, store and transport as the settings say (``url`` overrides the database)."""
        settings = settings or get_settings()
        # real transactions on SQLite too: savepoints (duplicate races) must be able to roll back
        engine = db.use_real_sqlite_transactions(db.make_engine(url or db.database_url(settings)))
        return cls(
            settings=settings,
            engine=engine,
            sessions=db.make_session_factory(engine),
            store=store_from_settings(settings),
            transport=transport_from_settings(settings),
        )

    def get_dispatcher(self) -> Dispatcher:
        """RQ when ``ENCAISSE_REDIS_URL`` is set, else inline."""
        if self.dispatcher is None:
            redis_url = self.settings.redis_url.get_secret_value().strip() if self.settings.redis_url else ""
            self.dispatcher = RQDispatcher(self, redis_url) if redis_url else InlineDispatcher(self)
        return self.dispatcher


_runtime: Runtime | None = None


def runtime() -> Runtime:
    """This process's runtime, built on first use (after any fork: engines are per process)."""
    global _runtime
    if _runtime is None:
        _runtime = Runtime.from_settings()
    return _runtime


def configure(rt: Runtime | None) -> None:
    """Use ``rt`` for the jobs of this process (tests, the CLI); ``None`` forgets it."""
    global _runtime
    if _runtime is not None and rt is not _runtime:
        _runtime.engine.dispose()
    _runtime = rt


def ensure_database(url: str) -> None:
    """Make sure the database is migrated: the embedded SQLite is upgraded, PostgreSQL must be.

    Raises :class:`DatabaseNotMigrated` for a PostgreSQL database behind the code.
    """
    if db.current_revision(url) == db.head_revision():
        return
    if url.startswith("sqlite"):
        db.upgrade(url)
        return
    raise DatabaseNotMigrated(
        f"the database is at revision {db.current_revision(url) or 'none'}, the code needs "
        f"{db.head_revision()}: run `encaisse db upgrade`",
        where=url.split("@")[-1],
    )


# --------------------------------------------------------------------------- receive


@dataclass(frozen=True)
class Submission:
    """The answer to one submitted file."""

    document_id: int
    sha256: str
    created: bool


def submit(
    data: bytes,
    *,
    filename: str | None,
    direction: str = "incoming",
    supplier_id: int | None = None,
    customer_id: int | None = None,
    rt: Runtime | None = None,
) -> Submission:
    """Receive a file: archive the original, register the document and its processing job, dispatch.

    The same bytes submitted again give the first submission's document (and no
    second job). The job is dispatched only after the commit.
    """
    rt = rt or runtime()
    digest = rt.store.put(data)  # durable before any row points at it
    with rt.sessions() as session, session.begin():
        _mark_dispatched(rt, session)
        # event "received" (a new document) or the same bytes again (``created`` false)
        doc, created = services.register_received(
            session,
            sha256=digest,
            size=len(data),
            filename=filename,
            direction=direction,
            supplier_id=supplier_id,
            customer_id=customer_id,
        )
        jobs: list[tuple[int, str, dict[str, Any]]] = []
        if created:
            _journal(
                session,
                EntryKind.RECEIVED,
                doc,
                actor=f"{'supplier' if direction == 'incoming' else 'customer'}:"
                f"{supplier_id or customer_id or 'unknown'}",
                data={"filename": filename, "size": len(data), "direction": direction},
                objects=[digest],
            )
            row = outbox.add_job(session, job=JOB_PROCESS, document_id=doc.id, args={"document_id": doc.id})
            services.set_processing_state(session, document=doc, state="queued")
            jobs.append((row.id, JOB_PROCESS, dict(row.args)))
        answer = Submission(document_id=doc.id, sha256=digest, created=created)
    _dispatch_new(rt, jobs)
    return answer


# --------------------------------------------------------------------------- the jobs

JOB_ACTOR = Actor(kind=ActorKind.JOB, id=JOB_PROCESS)


def _loaded(rt: Runtime, text: str | None) -> Any:
    """The rule set of a YAML text, parsed once per process (a few sets are kept)."""
    from validation.customer_rules import load_ruleset

    if text is None:
        return None
    if text not in rt._rules:
        if len(rt._rules) >= 32:
            rt._rules.clear()
        rt._rules[text] = load_ruleset(text)
    return rt._rules[text]


def _supplier_rules(rt: Runtime, session: Session) -> Any:
    """The rule set for incoming invoices: stored in the database, else ``ENCAISSE_SUPPLIER_RULES``."""
    text = services.get_ruleset_text(session, scope="suppliers")
    if text is None and rt.settings.supplier_rules is not None:
        text = rt.settings.supplier_rules.read_text(encoding="utf-8")
    return _loaded(rt, text)


def _rules_for(rt: Runtime, session: Session, doc: Document) -> Any:
    """What the document must meet beyond the norms, as a rule set (or None).

    Our suppliers' rules for an incoming invoice; for one we issue to a known customer,
    the billing constraints that customer set (``encaisse rules import --customer``).
    """
    if doc.direction == "incoming":
        return _supplier_rules(rt, session)
    if doc.customer_party_id is None:
        return None
    return _loaded(rt, services.customer_ruleset_text(session, party_id=doc.customer_party_id))


def process_document(document_id: int, outbox_id: int | None = None) -> str:
    """Job: validate, register and decide one document; returns its final status code."""
    return _guarded(JOB_PROCESS, document_id, outbox_id, lambda rt: _process(rt, document_id, outbox_id))


def _process(rt: Runtime, document_id: int, outbox_id: int | None) -> str:
    """Read, validate, register and decide in one transaction, the document row locked throughout.

    One transaction, one commit: the job's lease (PostgreSQL), the re-check that
    makes a repeated job a no-op, the report, the invoice row, the statuses, the
    notice job and the outbox row's ``done`` all commit together or not at all.
    """
    from validation import validate

    notices: list[tuple[int, str, dict[str, Any]]] = []
    with rt.sessions() as session, session.begin():
        _hold_lease(session, outbox_id)
        doc = services.get_document(session, document_id=document_id, for_update=True)
        if doc.status_code is not None:  # decided already: a repeated job does nothing
            _outbox_done(session, outbox_id, attempt=False)
            return doc.status_code
        _crash_point("process.locked")
        rules = _rules_for(rt, session, doc)
        data = rt.store.get(doc.digest)
        report = validate(
            data, customer_rules=rules.as_customer_rules() if rules else (), path=doc.original_filename
        )
        _crash_point("process.validated")
        _record_report(session, doc, report)
        decision = _decide(session, doc, report, rules)
        _record_statuses(session, doc, decision)
        _journal_processing(rt, session, doc, report, decision)
        services.set_processing_state(session, document=doc, state="done")
        notices.extend(_notice_jobs(session, doc, decision.final))
        _outbox_done(session, outbox_id)
        final = decision.final.value
        session.flush()
        _crash_point("process.recorded")
    _crash_point("process.committed")
    # enqueued, then marked enqueued in a transaction of its own: never in a job's transaction,
    # where it would lock a row another worker's job is about to finish (a deadlock)
    rt.get_dispatcher().dispatch(notices)
    return final


def _record_report(session: Session, doc: Document, report: ValidationReport) -> None:
    """Event "validated": the validation report stored, and what it read set on the document."""
    services.record_validation(
        session,
        document=doc,
        ruleset=report.ruleset,
        valid=report.valid,
        findings=[f.model_dump(mode="json", exclude_none=True) for f in report.findings],
        layers=[lr.model_dump(mode="json", exclude_none=True) for lr in report.layers],
        format=report.format,
        profile=report.profile,
        invoice=report.invoice,
    )


def _decide(session: Session, doc: Document, report: ValidationReport, rules: Any) -> Decision:
    """The statuses the report calls for; an accepted invoice is registered (or found a duplicate)."""
    from validation.customer_rules import decide

    readable = report.invoice is not None and report.error is None
    billing = decide(report.findings, rules) if rules is not None and readable else None
    decision = decide_statuses(
        direction=doc.direction,
        error_code=(report.error or {}).get("code"),
        readable=readable,
        findings=report.findings,
        billing=billing,
    )
    if (
        decision.registers_invoice
        and report.invoice is not None
        and services.register_invoice(session, document=doc, invoice=report.invoice) is None
    ):
        taken = services.find_duplicate(session, invoice=report.invoice, document=doc)
        decision = decide_statuses(
            direction=doc.direction,
            error_code=None,
            readable=True,
            findings=report.findings,
            duplicate_of=f"document {taken.document_id}" if taken else "an invoice being registered",
        )
    return decision


def _record_statuses(session: Session, doc: Document, decision: Decision) -> None:
    """Event "status changed", once per status of the decision (the reasons go with the last one)."""
    for index, status in enumerate(decision.statuses):
        last = index == len(decision.statuses) - 1
        services.record_status(
            session,
            document=doc,
            status=status,
            actor=JOB_ACTOR,
            reasons=decision.reasons if last else (),
            text=decision.text if last else None,
        )


JOB_PROCESS_ACTOR = f"job:{JOB_PROCESS}"
JOB_NOTIFY_ACTOR = f"job:{JOB_NOTIFY}"


def _invoice_of(session: Session, doc: Document) -> tuple[int, str] | None:
    """The ``invoices`` row of ``doc`` (id, number), read from the database, not a cached relationship."""
    from ledger.models import Invoice

    row = session.execute(select(Invoice.id, Invoice.number).where(Invoice.document_id == doc.id)).first()
    return (row[0], row[1]) if row is not None else None


def _related(session: Session, doc: Document) -> list[str]:
    invoice = _invoice_of(session, doc)
    return [f"document:{doc.id}", *([f"invoice:{invoice[0]}"] if invoice is not None else [])]


def _journal(
    session: Session,
    kind: EntryKind,
    doc: Document,
    *,
    actor: str,
    data: dict[str, Any] | None = None,
    objects: list[str] | None = None,
    related: list[str] | None = None,
) -> None:
    """Append one event about ``doc`` to the archive journal, in the caller's transaction."""
    from archive.service import journal_event

    journal_event(
        session,
        kind=kind.value,
        subject=doc.digest,
        actor=actor,
        data=data,
        related=related if related is not None else _related(session, doc),
        objects=objects,
    )


def _journal_processing(
    rt: Runtime, session: Session, doc: Document, report: ValidationReport, decision: Decision
) -> None:
    """Events "detected", "validated" (with the rule versions), "registered" and "status changed".

    The XML read and the validation report are stored in the archive under the roles the
    evidence bundle looks for (``extracted_xml``, ``validation_report``).
    """
    from archive.service import archive_object, report_bytes

    session.flush()
    invoice = _invoice_of(session, doc)
    related = [f"document:{doc.id}", *([f"invoice:{invoice[0]}"] if invoice is not None else [])]
    if report.xml is not None:
        archive_object(
            session,
            store=rt.store,
            data=report.xml,
            kind=EntryKind.DETECTED.value,
            subject=doc.digest,
            actor=JOB_PROCESS_ACTOR,
            role="extracted_xml",
            related=related,
            details={"format": report.format, "syntax": report.syntax, "profile": report.profile},
        )
    else:
        _journal(
            session,
            EntryKind.DETECTED,
            doc,
            actor=JOB_PROCESS_ACTOR,
            data={"format": report.format, "error": report.error},
        )
    versions = {
        lr.layer.value: lr.version or lr.artefact for lr in report.layers if lr.version or lr.artefact
    }
    archive_object(
        session,
        store=rt.store,
        data=report_bytes(report.as_json(doc.original_filename)),
        kind=EntryKind.VALIDATED.value,
        subject=doc.digest,
        actor=JOB_PROCESS_ACTOR,
        role="validation_report",
        related=related,
        details={
            "valid": report.valid,
            "ruleset": report.ruleset,
            "rules": versions,
            "fatal": report.rule_ids(Severity.FATAL),
        },
    )
    if invoice is not None:
        _journal(
            session,
            EntryKind.REGISTERED,
            doc,
            actor=JOB_PROCESS_ACTOR,
            data={"invoice": invoice[0], "number": invoice[1]},
            related=related,
        )
    for index, status in enumerate(decision.statuses):
        last = index == len(decision.statuses) - 1
        _journal(
            session,
            EntryKind.STATUS_CHANGED,
            doc,
            actor=JOB_PROCESS_ACTOR,
            data={
                "status": status.value,
                "reasons": [r.value for r in decision.reasons] if last else [],
                "text": decision.text if last else None,
            },
            related=related,
        )


def _notice_jobs(session: Session, doc: Document, final: Status) -> list[tuple[int, str, dict[str, Any]]]:
    """The notice job of an incoming document that ends in 501, 213, 210 or 208 (in the outbox)."""
    from notify.models import NOTICE_STATUSES

    if doc.direction != "incoming" or final not in NOTICE_STATUSES:
        return []
    args = {"document_id": doc.id, "status": final.value}
    row = outbox.add_job(session, job=JOB_NOTIFY, document_id=doc.id, args=args)
    return [(row.id, JOB_NOTIFY, args)]


def _outbox_done(session: Session, outbox_id: int | None, *, attempt: bool = True) -> None:
    if outbox_id is not None:
        outbox.mark(session, outbox_id=outbox_id, state="done", attempt=attempt)


def notify_document(document_id: int, status: str, outbox_id: int | None = None) -> str:
    """Job: send the rejection notice for (document, status) once; returns its Message-ID or why not."""
    return _guarded(
        JOB_NOTIFY, document_id, outbox_id, lambda rt: _notify(rt, document_id, status, outbox_id)
    )


def _recipient(doc: Document) -> tuple[str | None, str | None, str]:
    """Who gets the notice: the supplier's billing contact, else the seller contact of the invoice."""
    summary = doc.invoice_summary or {}
    seller = summary.get("seller_party") or {}
    language = "fr" if (seller.get("country") or "FR") == "FR" else "en"
    supplier = doc.supplier
    if supplier is not None:
        language = "en" if supplier.language.startswith("en") else "fr"
        contacts = sorted(supplier.contacts, key=lambda c: (c.role != "billing", c.id))
        for contact in contacts:
            if contact.email:
                return contact.email, contact.name or supplier.name, language
    return seller.get("email"), seller.get("name"), language


def _notice_data(rt: Runtime, session: Session, doc: Document, status: Status) -> Any:
    """The notice's content, from the document, its last report and the event that set ``status``."""
    from datetime import date
    from decimal import Decimal

    from ingest.kinds import DocumentKind
    from notify.models import (
        DocumentInfo,
        InvoiceSummary,
        NoticeData,
        NoticeKind,
        Recipient,
        company_from_settings,
        resubmission_from_settings,
    )
    from notify.report_pdf import render_report_pdf
    from schemas.findings import Finding
    from schemas.lifecycle import ReasonCode

    email, name, language = _recipient(doc)
    if not email:
        return None
    event = next(
        e for e in reversed(services.history(session, document_id=doc.id)) if e.status_code == status
    )
    report = services.latest_report(session, document_id=doc.id)
    summary = doc.invoice_summary or {}
    data = NoticeData(
        kind=NoticeKind.for_status(status, structured=doc.format != DocumentKind.PLAIN_PDF.value),
        recipient=Recipient(name=name, email=email, language=language),  # type: ignore[arg-type]
        company=company_from_settings(rt.settings, reference=f"DOC-{doc.id}"),
        document=DocumentInfo(
            document_id=str(doc.id), file_name=doc.original_filename, received_at=doc.received_at
        ),
        invoice=InvoiceSummary(
            number=summary.get("number"),
            issue_date=date.fromisoformat(summary["issue_date"]) if summary.get("issue_date") else None,
            total_with_vat=Decimal(summary["total_with_vat"]) if summary.get("total_with_vat") else None,
            currency=summary.get("currency"),
        ),
        status=status,
        reasons=tuple(ReasonCode(c) for c in event.reason_codes),
        findings=tuple(Finding.model_validate(f) for f in (report.findings if report else [])),
        resubmit=resubmission_from_settings(rt.settings),
        issued_at=event.occurred_at,  # the same notice on every attempt: same Date, same bytes
    )
    return data.model_copy(update={"report_pdf": render_report_pdf(data)})


def _notify(rt: Runtime, document_id: int, status_code: str, outbox_id: int | None) -> str:
    """Render and send the notice in one transaction: claimed, sent, recorded sent, committed."""
    from notify.models import NOTICE_STATUSES
    from notify.render import render_notice

    status = Status(status_code)
    with rt.sessions() as session, session.begin():
        _hold_lease(session, outbox_id)
        doc = services.get_document(session, document_id=document_id)
        if any(
            n.status_code == status.value and n.sent_at is not None
            for n in services.notices_for(session, document_id=doc.id)
        ):  # sent by an earlier run: no need to render it again
            _outbox_done(session, outbox_id, attempt=False)
            return "already sent"
        data = _notice_data(rt, session, doc, status) if status in NOTICE_STATUSES else None
        if data is None:
            if outbox_id is not None:
                why = "no notice for this status" if status not in NOTICE_STATUSES else "no recipient address"
                outbox.mark(session, outbox_id=outbox_id, state="done", error=why, attempt=True)
            return "no notice: no recipient address or no notice for this status"
        message = render_notice(data)
        _crash_point("notify.rendered")
        notice = services.claim_notice(
            session,
            document=doc,
            status=status,
            message_id=str(message["Message-ID"]),
            recipient=data.recipient.email,
        )
        if notice is None:  # sent by a run that finished meanwhile
            _outbox_done(session, outbox_id, attempt=False)
            return "already sent"
        _crash_point("notify.claimed")
        # From the mail server's answer to the commit the notice is sent but not recorded: a
        # worker dying in that window (SMTP has no two-phase commit) makes the retry send the
        # same message again, same Message-ID and Date, which mail clients show once.
        _reuse_tls_context(rt.transport)  # not a new TLS context (CA certificates loaded) per notice
        sent_id = rt.transport.send(message)
        # event "notice sent"
        services.mark_notice_sent(session, notice=notice, message_id=sent_id)
        _journal(
            session,
            EntryKind.NOTICE_SENT,
            doc,
            actor=JOB_NOTIFY_ACTOR,
            data={"status": status.value, "message_id": sent_id, "to": data.recipient.email},
        )
        _outbox_done(session, outbox_id)
    _crash_point("notify.committed")
    return sent_id


#: The registry: job name → function (RQ imports them as ``worker.<name>``).
JOBS: dict[str, Callable[..., str]] = {JOB_PROCESS: process_document, JOB_NOTIFY: notify_document}


#: first key of the PostgreSQL advisory locks that mark a running job (the second is its outbox id)
LEASE_LOCK_CLASS = 0x656E6362  # "encb"


def _hold_lease(session: Session, outbox_id: int | None) -> None:
    """Take the job's lease: a transaction-level advisory lock on its outbox id (PostgreSQL).

    The job's transaction spans the whole job, so the lock is held while it runs
    and released by its commit or rollback, or by the server when a dying worker's
    connection drops: the reconciler can tell a dead "started" job from a live one
    (:func:`lease_is_free`), and a second copy of a live job waits here for the
    first to finish, then finds its work done. Nothing to do on SQLite, whose
    transactions are serialised anyway (``BEGIN IMMEDIATE``).
    """
    if outbox_id is None or session.get_bind().dialect.name != "postgresql":
        return
    session.execute(text("SELECT pg_advisory_xact_lock(:c, :o)"), {"c": LEASE_LOCK_CLASS, "o": outbox_id})


def lease_is_free(rt: Runtime, outbox_id: int) -> bool | None:
    """True when no live process runs this outbox job; ``None`` when the backend cannot tell (SQLite)."""
    if rt.engine.dialect.name != "postgresql":
        return None
    with rt.engine.connect() as conn:
        free = bool(
            conn.execute(
                text("SELECT pg_try_advisory_lock(:c, :o)"), {"c": LEASE_LOCK_CLASS, "o": outbox_id}
            ).scalar()
        )
        if free:
            conn.execute(text("SELECT pg_advisory_unlock(:c, :o)"), {"c": LEASE_LOCK_CLASS, "o": outbox_id})
        conn.commit()
    return free


def _guarded(name: str, document_id: int, outbox_id: int | None, body: Callable[[Runtime], str]) -> str:
    """Run a job body; on a failure that will not be retried, show it on the document and outbox."""
    rt = runtime()
    try:
        return body(rt)
    except TRANSIENT_ERRORS as exc:
        if _is_final_attempt():
            _record_failure(rt, name, document_id, outbox_id, exc)
        else:
            _record_retry(rt, outbox_id, exc)
        raise
    except (EncaisseError, DBAPIError, OSError, ValueError, LookupError) as exc:
        _no_more_retries()
        _record_failure(rt, name, document_id, outbox_id, exc)
        raise


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _record_retry(rt: Runtime, outbox_id: int | None, exc: BaseException) -> None:
    if outbox_id is None:
        return
    try:
        with rt.sessions() as session, session.begin():
            outbox.mark(session, outbox_id=outbox_id, state="enqueued", error=_describe(exc), attempt=True)
    except OperationalError:
        log.warning("could not record the retry of outbox row %s", outbox_id)


def _record_failure(
    rt: Runtime, name: str, document_id: int, outbox_id: int | None, exc: BaseException
) -> None:
    """Outbox row ``failed``; for the processing job, the document ``failed`` with the error."""
    try:
        with rt.sessions() as session, session.begin():
            if outbox_id is not None:
                outbox.mark(session, outbox_id=outbox_id, state="failed", error=_describe(exc), attempt=True)
            doc = session.get(Document, document_id)
            if doc is not None and name == JOB_PROCESS and doc.status_code is None:
                services.set_processing_state(session, document=doc, state="failed", error=_describe(exc))
    except OperationalError:
        log.exception("could not record the failure of job %s for document %s", name, document_id)


def _is_final_attempt() -> bool:
    from rq import get_current_job

    job = get_current_job()
    if job is not None:
        return not job.retries_left
    return _final_attempt.get()


def _no_more_retries() -> None:
    """A permanent failure: tell RQ not to retry (the job goes to the failed registry)."""
    from rq import get_current_job

    job = get_current_job()
    if job is not None:
        job.retries_left = 0


# --------------------------------------------------------------------------- dispatch


class Dispatcher(Protocol):
    """Runs or enqueues jobs recorded in the outbox, after the commit that recorded them."""

    def dispatch(self, jobs: Sequence[tuple[int, str, dict[str, Any]]]) -> None:
        """Hand over ``(outbox id, job name, kwargs)`` triples."""
        ...


class InlineDispatcher:
    """Runs each job now, in this process, retrying transient errors with backoff."""

    def __init__(self, rt: Runtime, intervals: Sequence[float] = INLINE_RETRY_INTERVALS) -> None:
        self.rt = rt
        self.intervals = tuple(intervals)

    def dispatch(self, jobs: Sequence[tuple[int, str, dict[str, Any]]]) -> None:
        """Run the jobs one after the other; a failed one is recorded, not raised."""
        for outbox_id, name, kwargs in jobs:
            self.run(outbox_id, name, kwargs)

    def run(self, outbox_id: int, name: str, kwargs: dict[str, Any]) -> str | None:
        """Run one job to the end (its result), or to its recorded failure (``None``)."""
        func = JOBS[name]
        for attempt in range(len(self.intervals) + 1):
            token = _final_attempt.set(attempt == len(self.intervals))
            try:
                return func(**kwargs, outbox_id=outbox_id)
            except TRANSIENT_ERRORS as exc:
                if attempt == len(self.intervals):
                    log.error("job %s (outbox %s) failed: %s", name, outbox_id, exc)
                    return None
                time.sleep(self.intervals[attempt])
            except (EncaisseError, DBAPIError, OSError, ValueError, LookupError) as exc:
                log.error("job %s (outbox %s) failed: %s", name, outbox_id, exc)
                return None
            finally:
                _final_attempt.reset(token)
        return None


#: How long a job may sit dequeued but not yet started before it counts as lost.
DEQUEUE_GRACE_SECONDS = 10.0


def _dequeued_and_lost(queue: Any, job: Any) -> bool:
    """True for a job still marked queued that is no longer in its queue.

    A worker killed between taking a job off the queue and marking it started
    leaves it so (RELIABILITY 18): nobody will run it. A live worker passes
    through that state in milliseconds, hence the grace period.
    """
    import datetime as dt

    if queue.get_job_position(job.id) is not None:
        return False
    enqueued_at = job.enqueued_at
    if enqueued_at is None:
        return True
    if enqueued_at.tzinfo is None:
        enqueued_at = enqueued_at.replace(tzinfo=dt.UTC)
    waited: float = (dt.datetime.now(dt.UTC) - enqueued_at).total_seconds()
    return waited > DEQUEUE_GRACE_SECONDS


def rq_job_id(outbox_id: int) -> str:
    """The RQ job id of an outbox row: the same row is never two live jobs.

    >>> rq_job_id(42)
    'outbox-42'
    """
    return f"outbox-{outbox_id}"


def notice_queue_name(settings: Settings) -> str:
    """The queue of the notice jobs: the processing queue's name + ``-notify``."""
    return f"{settings.queue_name}-notify"


def queue_names(settings: Settings) -> list[str]:
    """The queues a worker listens to, in priority order: processing first, then notices."""
    return [settings.queue_name, notice_queue_name(settings)]


#: rows enqueued by one process are marked ``enqueued`` together, by this many at a time ...
MARK_BATCH = 32
#: ... or once the oldest of them waited this long
MARK_AFTER_SECONDS = 2.0


class RQDispatcher:
    """Enqueues jobs to RQ (JSON serializer, ``Retry``) and marks their outbox rows enqueued.

    Processing jobs go to the ``queue_name`` queue, notices to its ``-notify``
    queue (:func:`queue_names`).
    """

    def __init__(self, rt: Runtime, redis_url: str) -> None:
        from redis import Redis
        from rq import Queue
        from rq.serializers import JSONSerializer

        self.rt = rt
        self.redis = Redis.from_url(redis_url)
        self.queues = {
            name: Queue(name, connection=self.redis, serializer=JSONSerializer)
            for name in queue_names(rt.settings)
        }
        self.queue = self.queues[rt.settings.queue_name]
        self.notice_queue = self.queues[notice_queue_name(rt.settings)]
        self._unmarked: list[int] = []
        self._unmarked_since = 0.0

    def queue_for(self, job: str) -> Any:
        """The queue a job of this name goes to."""
        return self.notice_queue if job == JOB_NOTIFY else self.queue

    def dispatch(self, jobs: Sequence[tuple[int, str, dict[str, Any]]]) -> None:
        """Enqueue each job (replacing a lost or dead copy); mark the rows enqueued now."""
        done = self._enqueue_all(jobs, fresh=False)
        if done:
            with self.rt.sessions() as session, session.begin():
                outbox.mark_enqueued(session, outbox_ids=done)

    def dispatch_new(self, jobs: Sequence[tuple[int, str, dict[str, Any]]]) -> None:
        """Enqueue the jobs of rows :func:`submit` just committed: no earlier copy to look for.

        Their rows are marked enqueued later, in a batch, by one of this process's
        next submissions (:func:`_mark_dispatched`) rather than by a commit of their
        own: until then they read ``pending``, which the reconciler treats as it
        treats ``enqueued`` (it looks the job up in RQ either way).
        """
        if not self._unmarked:
            self._unmarked_since = time.monotonic()
        self._unmarked.extend(self._enqueue_all(jobs, fresh=True))

    def take_unmarked(self) -> list[int]:
        """The rows enqueued by :meth:`dispatch_new` and not yet marked, when it is time to mark them.

        Time is when there are :data:`MARK_BATCH` of them or the oldest waited
        :data:`MARK_AFTER_SECONDS`; the ids returned are forgotten here.
        """
        if not self._unmarked:
            return []
        waited = time.monotonic() - self._unmarked_since
        if len(self._unmarked) < MARK_BATCH and waited < MARK_AFTER_SECONDS:
            return []
        ids, self._unmarked = self._unmarked, []
        return ids

    def _enqueue_all(self, jobs: Sequence[tuple[int, str, dict[str, Any]]], *, fresh: bool) -> list[int]:
        """Enqueue ``jobs``; the outbox ids that made it (one that did not stays for the reconciler)."""
        from redis.exceptions import RedisError

        if not jobs:
            return []
        try:
            if fresh:
                pipe = self.redis.pipeline()
                for outbox_id, name, kwargs in jobs:
                    self._enqueue_call(outbox_id, name, kwargs, pipeline=pipe)
                pipe.execute()
                return [outbox_id for outbox_id, _, _ in jobs]
        except RedisError as exc:
            ids = [outbox_id for outbox_id, _, _ in jobs]
            log.warning("could not enqueue outbox rows %s (%s): the reconciler will", ids, exc)
            return []
        done: list[int] = []
        for outbox_id, name, kwargs in jobs:
            try:
                self.enqueue(outbox_id, name, kwargs)
                done.append(outbox_id)
            except RedisError as exc:
                log.warning("could not enqueue outbox row %s (%s): the reconciler will", outbox_id, exc)
        return done

    def enqueue(self, outbox_id: int, name: str, kwargs: dict[str, Any]) -> None:
        """Enqueue one job under its outbox id (a failed or vanished earlier copy is replaced)."""
        from rq.exceptions import NoSuchJobError
        from rq.job import Job, JobStatus
        from rq.serializers import JSONSerializer

        job_id = rq_job_id(outbox_id)
        try:
            old = Job.fetch(job_id, connection=self.redis, serializer=JSONSerializer)
            status = old.get_status(refresh=True)
            if status in (JobStatus.SCHEDULED, JobStatus.DEFERRED):
                return  # waiting for its time or its dependency: nothing to do
            queue = self.queues.get(old.origin, self.queue_for(name))
            if status == JobStatus.QUEUED and not _dequeued_and_lost(queue, old):
                return  # waiting for a worker: nothing to do
            if status == JobStatus.STARTED and lease_is_free(self.rt, outbox_id) is not True:
                return  # running (or, on SQLite, RQ's own heartbeat will tell)
            old.delete()  # failed, stopped, finished without its row done, or its worker died
        except NoSuchJobError:
            pass
        self._enqueue_call(outbox_id, name, kwargs)

    def _enqueue_call(self, outbox_id: int, name: str, kwargs: dict[str, Any], pipeline: Any = None) -> None:
        from rq import Retry

        self.queue_for(name).enqueue_call(
            func=f"worker.{name}",
            kwargs={**kwargs, "outbox_id": outbox_id},
            job_id=rq_job_id(outbox_id),
            timeout=self.rt.settings.job_timeout,
            retry=Retry(max=len(RETRY_INTERVALS), interval=list(RETRY_INTERVALS)),
            failure_ttl=30 * 24 * 3600,
            result_ttl=3600,
            pipeline=pipeline,
        )


def _dispatch_new(rt: Runtime, jobs: Sequence[tuple[int, str, dict[str, Any]]]) -> None:
    """Hand over the jobs of rows this process has just committed."""
    if not jobs:
        return
    dispatcher = rt.get_dispatcher()
    if isinstance(dispatcher, RQDispatcher):
        dispatcher.dispatch_new(jobs)
    else:
        dispatcher.dispatch(jobs)


def _mark_dispatched(rt: Runtime, session: Session) -> None:
    """Mark enqueued, in the caller's transaction, the rows this process enqueued since its last one.

    For :func:`submit` only: its transaction is short and waits for no worker while
    holding those rows, so a worker finishing one of them waits a moment, never in a
    cycle. A job's transaction must not do it: two workers each marking a row the
    other is finishing deadlock, and the one PostgreSQL rolls back may have sent its
    notice already.
    """
    dispatcher = rt.dispatcher
    if isinstance(dispatcher, RQDispatcher):
        ids = dispatcher.take_unmarked()
        if ids:
            outbox.mark_enqueued(session, outbox_ids=ids)


# --------------------------------------------------------------------------- reconcile, failed jobs


def reconcile(rt: Runtime | None = None, *, older_than_seconds: float = 0) -> int:
    """Re-dispatch every outbox row still pending or enqueued; returns how many.

    Jobs are idempotent and RQ job ids are the outbox ids, so a row whose job is
    still queued or running is left alone, and one whose job vanished (Redis
    flushed or restarted, a crash between commit and enqueue) or died is enqueued
    again. Inline, the jobs simply run now.
    """
    import datetime as dt

    rt = rt or runtime()
    with rt.sessions() as session:
        rows = outbox.unfinished(session, older_than=dt.timedelta(seconds=older_than_seconds))
        jobs = [(r.id, r.job, dict(r.args)) for r in rows]
    rt.get_dispatcher().dispatch(jobs)
    return len(jobs)


@dataclass(frozen=True)
class FailedJob:
    """One job of RQ's failed registry."""

    job_id: str
    function: str
    document_id: int | None
    error: str


def _rq(rt: Runtime) -> RQDispatcher:
    dispatcher = rt.get_dispatcher()
    if not isinstance(dispatcher, RQDispatcher):
        raise EncaisseError("no job queue: set ENCAISSE_REDIS_URL", code=ErrorCode.USAGE)
    return dispatcher


def failed_jobs(rt: Runtime | None = None) -> list[FailedJob]:
    """The jobs in RQ's failed registry (id, function, document id, last line of the error)."""
    from rq.job import Job
    from rq.serializers import JSONSerializer

    rq = _rq(rt or runtime())
    ids = [i for queue in rq.queues.values() for i in queue.failed_job_registry.get_job_ids()]
    found: list[FailedJob] = []
    for job in Job.fetch_many(ids, connection=rq.redis, serializer=JSONSerializer):
        if job is None:
            continue
        result = job.latest_result()
        exc = (result.exc_string if result is not None else None) or ""
        lines = [line for line in exc.strip().splitlines() if line.strip()]
        found.append(
            FailedJob(
                job_id=job.id,
                function=job.func_name or "?",
                document_id=job.kwargs.get("document_id"),
                error=lines[-1] if lines else "",
            )
        )
    return found


def retry_failed(job_ids: Sequence[str] | None = None, rt: Runtime | None = None) -> list[str]:
    """Requeue failed jobs (all of them when ``job_ids`` is None); their outbox rows reopen."""
    rt = rt or runtime()
    rq = _rq(rt)
    registries = [queue.failed_job_registry for queue in rq.queues.values()]
    failed = {job_id: registry for registry in registries for job_id in registry.get_job_ids()}
    ids = list(job_ids) if job_ids is not None else list(failed)
    requeued: list[str] = []
    from rq.exceptions import InvalidJobOperation, NoSuchJobError

    for job_id in ids:
        try:
            if job_id not in failed:
                raise NoSuchJobError(job_id)
            failed[job_id].requeue(job_id)
        except (NoSuchJobError, InvalidJobOperation):
            raise EncaisseError(
                f"no failed job {job_id!r} (see `encaisse jobs --failed`)", code=ErrorCode.USAGE
            ) from None
        requeued.append(job_id)
        if job_id.startswith("outbox-") and job_id[7:].isdigit():
            with rt.sessions() as session, session.begin():
                outbox.mark(session, outbox_id=int(job_id[7:]), state="enqueued")
    return requeued


#: after a processing job, how long a worker waits for the next one before it takes a notice
NOTICE_GRACE_SECONDS = 0.5


def _worker_class() -> type[Any]:
    """:class:`rq.SimpleWorker` that, right after a document, waits a moment for the next one.

    RQ takes queues in order, so a notice is taken only when no processing job
    waits; but while documents arrive one by one (an ``encaisse ingest`` in
    progress) the processing queue is empty between two of them, and a worker
    would start a notice (its PDF report takes far longer than a decision) in
    every gap. Waiting :data:`NOTICE_GRACE_SECONDS` on the processing queue first
    keeps the workers on decisions while documents keep coming; once none came
    for that long, the notices go out (still behind any document that arrives).
    """
    from rq import SimpleWorker
    from rq.exceptions import DequeueTimeout

    class PipelineWorker(SimpleWorker):  # type: ignore[misc]
        after_processing = False

        def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None) -> Any:
            first = self.queues[0] if self.queues else None
            if self.after_processing and timeout is not None and first is not None and len(self.queues) > 1:
                try:
                    found = self.queue_class.dequeue_any(
                        [first],
                        NOTICE_GRACE_SECONDS,  # type: ignore[arg-type]  # BLPOP takes seconds as a float
                        connection=self.connection,
                        job_class=self.job_class,
                        serializer=self.serializer,
                        death_penalty_class=self.death_penalty_class,
                    )
                except DequeueTimeout:
                    found = None
                if found is not None:
                    found[0].redis_server_version = self.get_redis_server_version()  # type: ignore[no-untyped-call]
                    return found
            result = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
            self.after_processing = result is not None and first is not None and result[1].name == first.name
            return result

    return PipelineWorker


def run_worker(*, queues: Sequence[str] = (), burst: bool = False, rt: Runtime | None = None) -> bool:
    """Run an RQ worker: :class:`rq.SimpleWorker`, stylesheets compiled once before the first job.

    ``queues`` defaults to :func:`queue_names`: processing first, then notices, so
    a notice is taken only when no document waits for its decision.
    """
    from rq.serializers import JSONSerializer

    from validation.engine import warm_up

    rt = rt or runtime()
    ensure_database(str(rt.engine.url.render_as_string(hide_password=False)))
    rq = _rq(rt)
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    warm_up()
    delay = 1.0
    while True:
        # RQ gives up when Redis goes away mid-job (the heartbeat after a job raises); the
        # process, its compiled stylesheets and its database pool stay, and a new worker starts
        # once Redis answers again (the reconciler re-enqueues what Redis lost meanwhile).
        try:
            worker = _worker_class()(
                list(queues) or queue_names(rt.settings), connection=rq.redis, serializer=JSONSerializer
            )
            return bool(worker.work(burst=burst, with_scheduler=True))
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.warning("lost the connection to Redis (%s); starting again in %.0f s", exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, 30.0)


# --------------------------------------------------------------------------- dunning (issue 7)
#
# The daily dunning run composes ledger.dunning (the plan), ledger.dunning_store (the open
# items, the actions recorded once), ledger.penalties (what lateness costs), notify.reminders
# (the e-mail, the letter's PDF), the archive store and journal, and the mail transport.
#
# Order of things, so that a step is done once whatever crashes or runs twice:
# 1. one transaction records every planned step as an action row, unique per (invoice,
#    scenario, mark) with ON CONFLICT DO NOTHING, settles the promises whose day passed and
#    journals the actions: a step recorded is never planned again;
# 2. then the recorded work is performed group by group (one customer, one step, one run
#    day): an e-mail is rendered, sent, and its actions marked ``sent`` in one transaction
#    each; a letter or formal notice gets its PDF stored in the archive and stays ``todo``
#    for a collector, as does a call. Work left by a crashed run (e-mails still ``todo``,
#    tasks without their document) is taken up by the next run, with the same Message-ID.

import datetime as _dt  # noqa: E402
from decimal import Decimal as _Decimal  # noqa: E402

JOB_DUNNING = "dunning_run"
DUNNING_ACTOR = "job:dunning_run"


@dataclass
class DunningSummary:
    """What one dunning run planned and did."""

    as_of: _dt.date
    dry_run: bool
    open_items: int = 0
    paused_disputed: int = 0
    paused_promised: int = 0
    planned: int = 0
    planned_by_channel: dict[str, int] = field(default_factory=dict)
    recorded: int = 0
    already_done: int = 0
    emails_sent: int = 0
    emails_failed: int = 0
    emails_deferred: int = 0
    tasks: int = 0
    documents: int = 0
    skipped_paid: int = 0
    promises_kept: int = 0
    promises_broken: int = 0
    seconds: float = 0.0
    steps: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready form."""
        out = {k: v for k, v in self.__dict__.items() if k != "steps"}
        out["as_of"] = self.as_of.isoformat()
        out["seconds"] = round(self.seconds, 3)
        out["steps"] = self.steps
        return out


def run_dunning(
    as_of: _dt.date | None = None,
    dry_run: bool = False,
    *,
    rt: Runtime | None = None,
    baseline: bool = False,
    list_steps: bool = False,
) -> DunningSummary:
    """The daily dunning run for ``as_of`` (default today): plan, record once, then send and file.

    ``dry_run`` computes the plan and writes or sends nothing. ``baseline`` records every
    step already due as ``skipped`` without sending anything: for the first run on a ledger
    imported with its history, so that reminders start from today. ``list_steps`` puts
    each planned step in the summary (the CLI's ``--json``).
    """
    from ledger.dunning import Channel, plan
    from ledger.dunning_store import (
        action_rows,
        load_open_items,
        load_scenarios,
        record_actions,
        settle_promises,
    )

    rt = rt or runtime()
    as_of = as_of or _dt.datetime.now(_dt.UTC).date()
    started = time.perf_counter()
    summary = DunningSummary(as_of=as_of, dry_run=dry_run)
    scenarios = load_scenarios(rt.settings.dunning_scenarios)
    with rt.sessions() as session, session.begin():
        items, _info = load_open_items(session, as_of=as_of, scenarios=scenarios)
        planned = plan(items, scenarios.by_name, as_of)
        summary.open_items = len(items)
        summary.paused_disputed = sum(1 for i in items if i.disputed)
        summary.paused_promised = sum(
            1 for i in items if not i.disputed and any(p.on >= as_of for p in i.promises)
        )
        summary.planned = len(planned)
        for p in planned:
            key = p.step.channel.value
            summary.planned_by_channel[key] = summary.planned_by_channel.get(key, 0) + 1
        if list_steps:
            summary.steps = [
                {
                    "invoice_id": p.invoice_id,
                    "party_id": p.customer_id,
                    "scenario": p.scenario,
                    "step": p.step.id,
                    "channel": p.step.channel.value,
                    "tone": p.step.tone,
                    "fell_due": p.fell_due.isoformat(),
                    "amount_due": str(p.amount_due),
                    "reason": p.reason,
                }
                for p in planned
            ]
        if dry_run:
            summary.seconds = time.perf_counter() - started
            return summary
        state = "skipped" if baseline else "todo"
        rows = action_rows(planned, run_date=as_of, state_for=dict.fromkeys(Channel, state))
        inserted = record_actions(session, rows)
        summary.recorded = len(inserted)
        summary.already_done = len(rows) - len(inserted)
        settled = settle_promises(
            session, as_of=as_of, open_amounts={i.invoice_id: i.amount_due for i in items}
        )
        summary.promises_kept, summary.promises_broken = settled["kept"], settled["broken"]
        _journal_actions(session, inserted, baseline=baseline, as_of=as_of)
    if not baseline:
        _reuse_tls_context(rt.transport)
        _perform_dunning(rt, as_of, summary, {i.invoice_id: i.amount_due for i in items})
    summary.seconds = time.perf_counter() - started
    return summary


def _reuse_tls_context(transport: Transport) -> None:
    """Give an SMTP transport one TLS context for the run (it builds one per message otherwise).

    Loading the system's CA certificates takes ~40 ms here: per message, that is 40 s
    for a thousand reminders. The context is the default one the transport would build.
    """
    import ssl

    from notify.transport import SmtpTransport

    if isinstance(transport, SmtpTransport) and transport.ssl_context is None:
        transport.ssl_context = ssl.create_default_context()


def _journal_actions(session: Session, action_ids: Sequence[int], *, baseline: bool, as_of: _dt.date) -> None:
    """One journal entry per action recorded (a baseline is journaled as one entry)."""
    from sqlalchemy import select

    from archive.journal import Event
    from archive.journal_sql import SqlJournal
    from ledger.collections import DunningAction

    if not action_ids:
        return
    journal = SqlJournal(session.get_bind())  # type: ignore[arg-type]
    if baseline:
        event = Event(
            "dunning_baseline", f"dunning:{as_of.isoformat()}", DUNNING_ACTOR, {"actions": len(action_ids)}
        )
        journal.append_many([event], connection=session)
        return
    events = []
    for i in range(0, len(action_ids), 2000):
        for a in session.scalars(select(DunningAction).where(DunningAction.id.in_(action_ids[i : i + 2000]))):
            events.append(
                Event(
                    "dunning_action",
                    f"invoice:{a.invoice_id}",
                    DUNNING_ACTOR,
                    {
                        "action": a.id,
                        "scenario": a.scenario,
                        "mark": a.mark,
                        "channel": a.channel,
                        "state": a.state,
                        "run_date": a.run_date,
                        "fell_due": a.fell_due,
                        "amount_due": _Decimal(a.amount_due),
                    },
                )
            )
    journal.append_many(events, connection=session)


@dataclass
class _Group:
    party_id: int
    scenario: str
    step: str
    channel: str
    run_date: _dt.date
    actions: list[Any] = field(default_factory=list)


def _perform_dunning(
    rt: Runtime, as_of: _dt.date, summary: DunningSummary, open_amounts: dict[int, _Decimal]
) -> None:
    """Send the e-mails and prepare the collectors' tasks recorded and not yet performed.

    ``open_amounts`` is what each open invoice still owes on ``as_of`` (read by the run).
    """
    from sqlalchemy import or_, select

    from ledger.collections import DunningAction

    with rt.sessions() as session:
        pending = list(
            session.scalars(
                select(DunningAction)
                .where(
                    DunningAction.state == "todo",
                    DunningAction.mark == DunningAction.step,
                    or_(DunningAction.channel == "email", DunningAction.detail.is_(None)),
                )
                .order_by(DunningAction.id)
            )
        )
        session.expunge_all()
    groups: dict[tuple[int, str, str, _dt.date], _Group] = {}
    for a in pending:
        key = (a.party_id, a.scenario, a.step, a.run_date)
        groups.setdefault(key, _Group(a.party_id, a.scenario, a.step, a.channel, a.run_date)).actions.append(
            a
        )
    batch: list[_Group] = []
    for group in groups.values():
        batch.append(group)
        if len(batch) >= 500:
            _perform_batch(rt, as_of, batch, summary, open_amounts)
            batch = []
    if batch:
        _perform_batch(rt, as_of, batch, summary, open_amounts)


def _perform_batch(
    rt: Runtime,
    as_of: _dt.date,
    groups: Sequence[_Group],
    summary: DunningSummary,
    open_amounts: dict[int, _Decimal],
) -> None:
    from ledger.dunning_store import claim_pending, set_action_state

    facts = _reminder_facts(rt, as_of, groups, open_amounts)
    for group in groups:
        with rt.sessions() as session, session.begin():
            # locked and still pending: a run going on at the same time skips them (PostgreSQL)
            claimed = claim_pending(session, action_ids=[a.id for a in group.actions])
            mine = [a for a in group.actions if a.id in claimed]
            live = [a for a in mine if a.invoice_id in facts.open_amounts]
            paid = [a.id for a in mine if a.invoice_id not in facts.open_amounts]
            if paid:
                set_action_state(session, action_ids=paid, state="skipped", detail="paid in the meantime")
                summary.skipped_paid += len(paid)
            if not live:
                continue
            if group.channel == "email":
                _send_reminder(rt, session, as_of, group, live, facts, summary)
            else:
                _file_task(rt, session, as_of, group, live, facts, summary)


@dataclass
class _Facts:
    """What the reminders of a batch need, read in a few queries."""

    open_amounts: dict[int, Any]
    invoices: dict[int, Any]
    parties: dict[int, Any]
    emails: dict[int, tuple[str | None, str | None]]
    phones: dict[int, str | None]
    terms: dict[int, Any]
    payments: dict[int, list[Any]]
    notices: dict[int, _dt.date]
    scenarios: dict[str, Any]


def _reminder_facts(
    rt: Runtime, as_of: _dt.date, groups: Sequence[_Group], all_open: dict[int, _Decimal]
) -> _Facts:
    from sqlalchemy import select

    from ledger import penalties
    from ledger.bank import Payment, PaymentAllocation
    from ledger.collections import CustomerTerms, DunningAction
    from ledger.dunning_store import load_scenarios
    from ledger.models import Invoice, Party, PartyContact

    invoice_ids = sorted({a.invoice_id for g in groups for a in g.actions})
    party_ids = sorted({g.party_id for g in groups})
    with rt.sessions() as session:
        open_amounts: dict[int, Any] = {i: all_open[i] for i in invoice_ids if i in all_open}
        invoices = {i.id: i for i in session.scalars(select(Invoice).where(Invoice.id.in_(invoice_ids)))}
        parties = {p.id: p for p in session.scalars(select(Party).where(Party.id.in_(party_ids)))}
        emails: dict[int, tuple[str | None, str | None]] = {}
        phones: dict[int, str | None] = {}
        rank = {"collection": 0, "billing": 1, "accounting": 2}
        contacts = sorted(
            session.scalars(select(PartyContact).where(PartyContact.party_id.in_(party_ids))),
            key=lambda c: (rank.get(c.role, 9), c.id),
        )
        for c in contacts:
            if c.email and c.party_id not in emails:
                emails[c.party_id] = (c.email, c.name)
            if c.phone and c.party_id not in phones:
                phones[c.party_id] = c.phone
        terms = {
            t.party_id: t
            for t in session.scalars(select(CustomerTerms).where(CustomerTerms.party_id.in_(party_ids)))
        }
        paid: dict[int, list[Any]] = {}
        for invoice_id, on, amount in session.execute(
            select(PaymentAllocation.invoice_id, Payment.received_on, PaymentAllocation.amount)
            .join(Payment, Payment.id == PaymentAllocation.payment_id)
            .where(
                PaymentAllocation.invoice_id.in_(invoice_ids),
                PaymentAllocation.kind.in_(("payment", "writeoff")),
                PaymentAllocation.undone_at.is_(None),
                Payment.undone_at.is_(None),
                Payment.received_on <= as_of,
            )
        ):
            paid.setdefault(invoice_id, []).append(penalties.Payment(on, _Decimal(amount)))
        notices = dict(
            session.execute(
                select(DunningAction.invoice_id, DunningAction.run_date).where(
                    DunningAction.invoice_id.in_(invoice_ids),
                    DunningAction.channel == "formal_notice",
                    DunningAction.mark == DunningAction.step,
                    DunningAction.state.in_(("done", "sent")),
                )
            )
            .tuples()
            .all()
        )
        session.expunge_all()
    scenarios = load_scenarios(rt.settings.dunning_scenarios).by_name
    return _Facts(open_amounts, invoices, parties, emails, phones, terms, paid, notices, scenarios)


def _reminder_data(rt: Runtime, as_of: _dt.date, group: _Group, live: Sequence[Any], facts: _Facts) -> Any:
    """The :class:`notify.reminders.ReminderData` of one group of actions."""
    from ledger.penalties import late_penalties
    from notify.models import company_from_settings
    from notify.reminders import ReminderData, ReminderLine
    from payments.epc import EpcRejected, epc_payload, epc_svg
    from payments.rf import format_rf
    from payments.transfer import invoice_rf

    party = facts.parties[group.party_id]
    consumer = party.profile == "consumer"
    term = facts.terms.get(group.party_id)
    scenario = facts.scenarios.get(group.scenario)
    step = next((s for s in scenario.steps if s.id == group.step), None) if scenario else None
    tone = step.tone if step is not None else ("formal" if group.channel == "formal_notice" else "neutral")
    public = (rt.settings.public_url or "").strip().rstrip("/")
    lang = "en" if (party.language or "fr").startswith("en") else "fr"
    lines: list[ReminderLine] = []
    rates: set[_Decimal] = set()
    for a in sorted(live, key=lambda a: a.invoice_id):
        inv = facts.invoices[a.invoice_id]
        total = _Decimal(inv.amount_due if inv.amount_due is not None else inv.total_with_vat or 0)
        due = inv.due_date or a.fell_due
        pen = late_penalties(
            amount=total,
            due=due,
            as_of=as_of,
            payments=facts.payments.get(a.invoice_id, ()),
            debtor="consumer" if consumer else "business",
            contractual_rate=None
            if term is None or term.penalty_rate is None
            else _Decimal(term.penalty_rate),
            formal_notice=facts.notices.get(a.invoice_id),
        )
        rates.update(s.rate for s in pen.segments)
        reference = invoice_rf(number=inv.number, payment_reference=inv.payment_reference, invoice_id=inv.id)
        lines.append(
            ReminderLine(
                number=inv.number,
                issue_date=inv.issue_date,
                due_date=due,
                total=total,
                amount_due=_Decimal(facts.open_amounts[a.invoice_id]),
                days_late=max((as_of - due).days, 0),
                penalties=pen.interest,
                indemnity=pen.indemnity,
                payment_reference=reference,
                pay_url=f"{public}/invoices/{inv.id}" if public else None,
            )
        )
    basis = None
    if len(rates) == 1:
        rate = rates.pop().normalize()
        basis = f"taux annuel de {str(rate).replace('.', ',')} %" if lang == "fr" else f"at {rate} % a year"
    email, contact = facts.emails.get(group.party_id, (None, None))
    iban, qr = rt.settings.company_iban, None
    if iban and group.channel != "email" and len(lines) == 1:  # a letter paying one invoice: its QR code
        try:
            payload = epc_payload(
                name=rt.settings.company_name[:70],
                iban=iban,
                bic=rt.settings.company_bic,
                amount=lines[0].amount_due,
                reference=lines[0].payment_reference or "",
            )
            qr = epc_svg(payload, title=f"EPC QR code {format_rf(lines[0].payment_reference or '')}")
        except EpcRejected as exc:
            log.warning("no EPC QR code on the letter to party %s: %s", group.party_id, exc)
    address = [x for x in (party.address_line, " ".join(filter(None, (party.postcode, party.city)))) if x]
    return ReminderData(
        key=f"dunning:{group.party_id}:{group.scenario}:{group.step}:{group.run_date.isoformat()}:"
        + ",".join(str(a.id) for a in sorted(live, key=lambda a: a.id)),
        channel="email" if group.channel == "email" else group.channel,
        tone=tone,
        language=lang,
        as_of=as_of,
        company=company_from_settings(rt.settings),
        customer_name=contact or party.name,
        recipient_email=email,
        postal_address=tuple(address),
        business=not consumer,
        lines=tuple(lines),
        penalty_basis=basis,
        portal_url=public or None,
        iban=" ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) if iban else None,
        qr_svg=qr,
        issued_at=min(a.created_at for a in live),
    )


def _send_reminder(
    rt: Runtime,
    session: Session,
    as_of: _dt.date,
    group: _Group,
    live: Sequence[Any],
    facts: _Facts,
    summary: DunningSummary,
) -> None:
    """Render and send one e-mail; its actions become ``sent`` (or ``failed``) with it."""
    from archive.service import journal_event
    from ledger.dunning_store import set_action_state
    from notify.reminders import render_email
    from notify.transport import PermanentSendError

    ids = [a.id for a in live]
    data = _reminder_data(rt, as_of, group, live, facts)
    if data.recipient_email is None:
        set_action_state(
            session, action_ids=ids, state="failed", detail="no e-mail address for this customer"
        )
        summary.emails_failed += 1
        return
    message = render_email(data)
    try:
        sent_id = rt.transport.send(message)
    except PermanentSendError as exc:
        set_action_state(session, action_ids=ids, state="failed", detail=f"not sent: {exc}"[:2000])
        summary.emails_failed += 1
        return
    except TransientSendError as exc:  # left todo: the next run sends it, same Message-ID
        log.warning("dunning e-mail to party %s deferred: %s", group.party_id, exc)
        summary.emails_deferred += 1
        return
    set_action_state(
        session, action_ids=ids, state="sent", detail=f"Message-ID {sent_id} to {data.recipient_email}"
    )
    journal_event(
        session,
        kind="dunning_sent",
        subject=f"invoice:{live[0].invoice_id}",
        actor=DUNNING_ACTOR,
        data={
            "message_id": sent_id,
            "to": data.recipient_email,
            "step": group.step,
            "tone": data.tone,
            "actions": ids,
            "amount_due": data.amount_due,
        },
        related=[f"invoice:{a.invoice_id}" for a in live[1:]],
    )
    summary.emails_sent += 1


def _file_task(
    rt: Runtime,
    session: Session,
    as_of: _dt.date,
    group: _Group,
    live: Sequence[Any],
    facts: _Facts,
    summary: DunningSummary,
) -> None:
    """A collector's task: a call (with the number to dial), or a letter / formal notice with its PDF."""
    from archive.service import archive_object
    from ledger.dunning_store import set_action_state
    from notify.reminders import letter_filename, render_letter_pdf

    ids = [a.id for a in live]
    summary.tasks += 1
    if group.channel == "call":
        phone = facts.phones.get(group.party_id)
        set_action_state(
            session,
            action_ids=ids,
            state="todo",
            detail=f"call {phone}" if phone else "call: no phone number on file",
        )
        return
    data = _reminder_data(rt, as_of, group, live, facts)
    pdf = render_letter_pdf(data)
    digest, _entry = archive_object(
        session,
        store=rt.store,
        data=pdf,
        kind="dunning_document",
        subject=f"invoice:{live[0].invoice_id}",
        actor=DUNNING_ACTOR,
        details={
            "channel": group.channel,
            "step": group.step,
            "actions": ids,
            "file_name": letter_filename(data),
        },
        related=[f"invoice:{a.invoice_id}" for a in live[1:]],
        role=f"dunning_{group.channel}",
    )
    set_action_state(
        session, action_ids=ids, state="todo", detail=f"pdf sha256:{digest} {letter_filename(data)}"
    )
    summary.documents += 1


def dunning_job(as_of: str | None = None, outbox_id: int | None = None) -> str:
    """Job: the daily dunning run (``as_of`` ISO date, default today); returns its summary as text."""
    day = _dt.date.fromisoformat(as_of) if as_of else None
    s = run_dunning(day)
    return (
        f"dunning {s.as_of}: {s.recorded} actions recorded, {s.emails_sent} e-mails sent, "
        f"{s.tasks} tasks, {s.already_done} already done"
    )


JOBS[JOB_DUNNING] = dunning_job
