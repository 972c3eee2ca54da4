"""The pipeline's jobs: receive, process (validate, register, decide, journal) and notify."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from archive.journal import EntryKind
from ledger import outbox, services
from ledger.decision import Decision, decide_statuses
from ledger.models import Document
from schemas.findings import Severity
from schemas.lifecycle import Actor, ActorKind, Status
from worker.core import (
    JOB_NOTIFY,
    JOB_PROCESS,
    JOB_PUBLISH,
    Runtime,
    _crash_point,
    _guarded,
    _hold_lease,
    _reuse_tls_context,
    runtime,
)
from worker.dispatch import _dispatch_new, _mark_dispatched

if TYPE_CHECKING:
    from validation.report import ValidationReport


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
        # last: the journal's lock (taken by "received") comes before any outbox row lock, in
        # this order in every transaction, so a worker finishing a job never waits in a cycle
        _mark_dispatched(rt, session)
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
    evidence bundle looks for (``extracted_xml``, ``validation_report``). Both are stored
    (written, fsynced) before the first append: the journal's lock, taken by that append
    until the commit, is then held for the database writes only.
    """
    from archive.service import report_bytes

    report_data = report_bytes(report.as_json(doc.original_filename))
    xml_digest = rt.store.put(report.xml) if report.xml is not None else None
    report_digest = rt.store.put(report_data)
    session.flush()
    invoice = _invoice_of(session, doc)
    related = [f"document:{doc.id}", *([f"invoice:{invoice[0]}"] if invoice is not None else [])]
    detected: dict[str, Any] = {"format": report.format, "syntax": report.syntax, "profile": report.profile}
    if report.xml is not None and xml_digest is not None:
        detected |= {"role": "extracted_xml", "size": len(report.xml)}
    else:
        detected["error"] = report.error
    _journal(
        session,
        EntryKind.DETECTED,
        doc,
        actor=JOB_PROCESS_ACTOR,
        data=detected,
        objects=[xml_digest] if xml_digest else None,
        related=related,
    )
    versions = {
        lr.layer.value: lr.version or lr.artefact for lr in report.layers if lr.version or lr.artefact
    }
    _journal(
        session,
        EntryKind.VALIDATED,
        doc,
        actor=JOB_PROCESS_ACTOR,
        data={
            "role": "validation_report",
            "size": len(report_data),
            "valid": report.valid,
            "ruleset": report.ruleset,
            "rules": versions,
            "fatal": report.rule_ids(Severity.FATAL),
        },
        objects=[report_digest],
        related=related,
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


# --------------------------------------------------------------------------- platform events, publishing


@dataclass(frozen=True)
class ImportedEvent:
    """One lifecycle event read from a platform's CDAR message, and what became of it."""

    document_id: int
    status: Status
    recorded: bool


def import_platform_events(events: Sequence[Any], *, rt: Runtime | None = None) -> list[ImportedEvent]:
    """Record lifecycle events a platform sent (CDAR) and journal them; publish what reaches 203.

    An invoice we issued that the platform made available to its customer (203 Mise à
    disposition) gets a publishing job: the customer's billing contacts are told, once.
    Events already recorded change nothing (the import is idempotent).
    """
    rt = rt or runtime()
    answers: list[ImportedEvent] = []
    jobs: list[tuple[int, str, dict[str, Any]]] = []
    with rt.sessions() as session, session.begin():
        for event in events:
            row, doc = services.record_imported_event(session, event=event)
            answers.append(ImportedEvent(doc.id, event.status, row is not None))
            if row is None:
                continue
            _journal(
                session,
                EntryKind.STATUS_CHANGED,
                doc,
                actor="platform",
                data={"status": event.status.value, "reasons": list(row.reason_codes), "source": "cdar"},
            )
            if doc.direction == "outgoing" and event.status is Status.MISE_A_DISPOSITION:
                args = {"document_id": doc.id}
                job = outbox.add_job(session, job=JOB_PUBLISH, document_id=doc.id, args=args)
                jobs.append((job.id, JOB_PUBLISH, args))
    rt.get_dispatcher().dispatch(jobs)
    return answers


def publish_document(document_id: int, outbox_id: int | None = None) -> str:
    """Job: tell the customer an invoice of ours is available (203), once; its Message-ID or why not."""
    return _guarded(JOB_PUBLISH, document_id, outbox_id, lambda rt: _publish(rt, document_id, outbox_id))


def _publish(rt: Runtime, document_id: int, outbox_id: int | None) -> str:
    from portal.publishing import publish_invoice

    with rt.sessions() as session, session.begin():
        _hold_lease(session, outbox_id)
        _reuse_tls_context(rt.transport)
        result = publish_invoice(
            session, document_id=document_id, settings=rt.settings, store=rt.store, transport=rt.transport
        )
        _outbox_done(session, outbox_id)
    return result.message_id or result.reason or ""
