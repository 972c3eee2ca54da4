"""The ledger's service functions: keyword-only, given a ``Session``, never committing.

The caller (a job function, the CLI, later the portal) owns the transaction: it
calls these, then commits, so that a document, its report, its invoice row, its
events and the outbox rows of the jobs that follow are written together or not
at all. Lifecycle changes go through :func:`record_status`, which checks them
with :func:`schemas.lifecycle.transition`.

Invoice rows and duplicates: only a document that passes the conformity checks
(not 501, not 213) gets an ``invoices`` row; what could be read of a rejected one
stays on the document (``invoice_number``, ``invoice_summary``) and its report.
So ``(seller_key, number)`` holds the invoices that count, a second document
with the same seller and number is a duplicate (213 DOUBLON), and a corrected
invoice sent again after a 213 Rejetée (legally never received) is accepted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger.keys import seller_key
from ledger.models import (
    DIRECTIONS,
    Document,
    Invoice,
    LifecycleEvent,
    Notice,
    Party,
    StoredRuleSet,
    ValidationReportRow,
    utcnow,
)
from schemas.errors import EncaisseError, ErrorCode, InputRejected
from schemas.invoice import Invoice as InvoiceModel
from schemas.lifecycle import (
    Actor,
    Identifier,
    InvoiceReference,
    PartyRole,
    ReasonCode,
    Status,
    StatusReason,
    transition,
)
from schemas.lifecycle import LifecycleEvent as EventModel
from schemas.lifecycle import Party as LifecycleParty


class DocumentNotFound(EncaisseError):
    """No document with that id (or for that invoice)."""

    code = ErrorCode.DOCUMENT_NOT_FOUND


# --------------------------------------------------------------------------- receive


def register_received(
    session: Session,
    *,
    sha256: str,
    size: int,
    filename: str | None,
    direction: str = "incoming",
    supplier_id: int | None = None,
    customer_id: int | None = None,
    media_type: str | None = None,
) -> tuple[Document, bool]:
    """The document for these bytes, created if new: ``(document, created)``.

    Idempotent on the SHA-256: the same bytes give the document already there
    (also when another transaction inserts them at the same moment: the unique
    constraint decides, the loser reads the winner's row).
    """
    if direction not in DIRECTIONS:
        raise InputRejected(f"direction must be one of {', '.join(DIRECTIONS)}", code=ErrorCode.USAGE)
    for party_id in (supplier_id, customer_id):
        if party_id is not None and session.get(Party, party_id) is None:
            raise InputRejected(f"no party with id {party_id}", code=ErrorCode.USAGE, where="party")
    digest = sha256.lower()
    existing = session.scalars(select(Document).where(Document.has_sha256(digest))).one_or_none()
    if existing is not None:
        return existing, False
    doc = Document(
        hash_alg="sha256",
        digest=digest,
        size_bytes=size,
        format="unknown",
        direction=direction,
        original_filename=filename[:512] if filename else None,
        media_type=media_type,
        supplier_party_id=supplier_id,
        customer_party_id=customer_id,
        status_code=None,
        processing_state="received",
    )
    try:
        with session.begin_nested():
            session.add(doc)
    except IntegrityError:
        found = session.scalars(select(Document).where(Document.has_sha256(digest))).one()
        return found, False
    return doc, True


def get_document(session: Session, *, document_id: int, for_update: bool = False) -> Document:
    """The document with this id, or :class:`DocumentNotFound` (a row lock with ``for_update``)."""
    stmt = select(Document).where(Document.id == document_id)
    if for_update:
        stmt = stmt.with_for_update()
    doc = session.scalars(stmt).one_or_none()
    if doc is None:
        raise DocumentNotFound(f"no document with id {document_id}", where="document_id")
    return doc


def set_processing_state(
    session: Session, *, document: Document, state: str, error: str | None = None
) -> None:
    """Where the document is in the pipeline (``failed`` keeps ``error`` in ``last_error``)."""
    document.processing_state = state
    document.last_error = error[:4000] if error else None


# --------------------------------------------------------------------------- validate, register


def invoice_summary(invoice: InvoiceModel) -> dict[str, Any]:
    """What the ledger keeps of an invoice on its document (JSON-ready, amounts as strings)."""
    out = invoice.summary()

    def party(p: Any) -> dict[str, Any]:
        address = p.electronic_address
        return {
            "name": p.name,
            "siren": p.siren,
            "vat_id": p.vat_id,
            "country": p.address.country_code if p.address else None,
            "address": address.value if address else None,
            "address_scheme": address.scheme if address else None,
            "email": p.contact.email if p.contact else None,
        }

    out["seller_party"] = party(invoice.seller)
    out["buyer_party"] = party(invoice.buyer)
    out["buyer_reference"] = invoice.buyer_reference
    out["purchase_order"] = invoice.purchase_order_reference
    return out


def record_validation(
    session: Session,
    *,
    document: Document,
    ruleset: str,
    valid: bool,
    findings: Sequence[dict[str, Any]],
    layers: Sequence[dict[str, Any]],
    format: str,  # the document kind, as ingest names it
    profile: str | None = None,
    invoice: InvoiceModel | None = None,
) -> ValidationReportRow:
    """Store one validation report (findings and layers as JSON) and what it read on the document."""
    document.format = format[:32]
    document.profile = profile[:32] if profile else None
    if invoice is not None:
        document.invoice_number = invoice.number[:200] if invoice.number else None
        document.invoice_summary = invoice_summary(invoice)
    row = ValidationReportRow(
        document_id=document.id, ruleset=ruleset, valid=valid, findings=list(findings), layers=list(layers)
    )
    session.add(row)
    return row


def key_of(invoice: InvoiceModel) -> str:
    """The duplicate-rule key of the invoice's seller (:func:`ledger.keys.seller_key`)."""
    return seller_key(siren=invoice.seller.siren, vat_number=invoice.seller.vat_id, name=invoice.seller.name)


def find_duplicate(session: Session, *, invoice: InvoiceModel, document: Document) -> Invoice | None:
    """The invoice already registered from the same seller with the same number, on other bytes."""
    if not invoice.number:
        return None
    try:
        key = key_of(invoice)
    except ValueError:
        return None
    found = session.scalars(
        select(Invoice).where(Invoice.seller_key == key, Invoice.number == invoice.number[:200])
    ).one_or_none()
    if found is None or found.document_id == document.id:
        return None
    return found


def register_invoice(session: Session, *, document: Document, invoice: InvoiceModel) -> Invoice | None:
    """The ``invoices`` row of an accepted document; ``None`` when the seller and number are taken.

    Idempotent per document. A concurrent registration of the same seller and
    number loses on the unique constraint and gets ``None`` (a duplicate).
    """
    existing = session.scalars(select(Invoice).where(Invoice.document_id == document.id)).one_or_none()
    if existing is not None:
        return existing
    if find_duplicate(session, invoice=invoice, document=document) is not None:
        return None
    totals = invoice.totals
    row = Invoice(
        document_id=document.id,
        number=(invoice.number or "")[:200],
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        type_code=invoice.type_code,
        currency=invoice.currency,
        total_without_vat=totals.total_without_vat,
        total_vat=totals.total_vat,
        total_with_vat=totals.total_with_vat,
        amount_due=totals.amount_due,
        amount_still_due=totals.amount_due,
        buyer_reference=invoice.buyer_reference,
        purchase_order=invoice.purchase_order_reference,
        seller_key=key_of(invoice),
        seller_name=invoice.seller.name,
        seller_siren=invoice.seller.siren,
        seller_vat_number=invoice.seller.vat_id,
        buyer_name=invoice.buyer.name,
        buyer_siren=invoice.buyer.siren,
        buyer_vat_number=invoice.buyer.vat_id,
        seller_party_id=document.supplier_party_id if document.direction == "incoming" else None,
        buyer_party_id=document.customer_party_id if document.direction == "outgoing" else None,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return row


# --------------------------------------------------------------------------- lifecycle


def _party(data: dict[str, Any] | None, role: PartyRole) -> LifecycleParty | None:
    if not data:
        return None
    ids = (Identifier(value=data["siren"], scheme="0002"),) if data.get("siren") else ()
    address = (
        Identifier(value=data["address"], scheme=data.get("address_scheme") or "0225")
        if data.get("address")
        else None
    )
    return LifecycleParty(role=role, ids=ids, name=data.get("name"), address=address)


def invoice_reference(document: Document) -> InvoiceReference:
    """The invoice a document's events concern, as the lifecycle model and the CDAR name it."""
    summary = document.invoice_summary or {}
    number = summary.get("number") or document.original_filename or f"document-{document.id}"
    issue = summary.get("issue_date")
    seller, buyer = summary.get("seller_party"), summary.get("buyer_party")
    known = {"incoming": (document.supplier, "seller"), "outgoing": (document.customer, "buyer")}
    party, side = known.get(document.direction, (None, ""))
    if party is not None:  # what the party register knows fills what the file did not say
        registered = {"name": party.name, "siren": party.siren, "address": party.routing_address}
        read = seller if side == "seller" else buyer
        merged = {**registered, **{k: v for k, v in (read or {}).items() if v}}
        seller, buyer = (merged, buyer) if side == "seller" else (seller, merged)
    return InvoiceReference(
        invoice_number=str(number)[:200],
        issue_date=dt.date.fromisoformat(issue) if issue else None,
        type_code=summary.get("type_code") or "380",
        seller=_party(seller, PartyRole.SELLER),
        buyer=_party(buyer, PartyRole.BUYER),
        received_at=document.received_at,
        document_id=str(document.id),
    )


def record_status(
    session: Session,
    *,
    document: Document,
    status: Status,
    actor: Actor,
    reasons: Sequence[ReasonCode | str | StatusReason] = (),
    text: str | None = None,
    amount: Decimal | None = None,
    at: dt.datetime | None = None,
    actor_kind: str | None = None,
) -> LifecycleEvent:
    """Set ``status`` on the document: checked by the state machine, appended as an event.

    Raises the :mod:`schemas.lifecycle` errors for a forbidden transition, a
    missing or disallowed reason, or a missing amount; nothing is written then.
    """
    current = Status(document.status_code) if document.status_code else None
    event = transition(
        current,
        status,
        invoice=invoice_reference(document),
        actor=actor,
        reasons=reasons,
        amount=amount,
        free_text=text,
        at=at,
    )
    row = LifecycleEvent(
        document_id=document.id,
        status_code=status.value,
        reason_codes=[r.value for r in event.reason_codes],
        text=text,
        actor_kind=actor_kind or actor.kind.value,
        actor_id=actor.id,
        occurred_at=event.timestamp,
        recorded_at=utcnow(),
        amount=amount,
    )
    session.add(row)
    document.status_code = status.value
    return row


def event_model(document: Document, event: LifecycleEvent) -> EventModel:
    """A stored event as the lifecycle model (for the CDAR writer)."""
    from schemas.lifecycle import ActorKind

    kind = (
        ActorKind(event.actor_kind) if event.actor_kind in {k.value for k in ActorKind} else ActorKind.SYSTEM
    )
    return EventModel(
        event_id=f"{document.id}-{event.id}",
        invoice=invoice_reference(document),
        status=Status(event.status_code),
        reasons=tuple(StatusReason(code=ReasonCode(c)) for c in event.reason_codes),
        free_text=event.text,
        actor=Actor(kind=kind, id=event.actor_id or event.actor_kind),
        timestamp=event.occurred_at,
        amount=event.amount,
        currency="EUR" if event.amount is not None else None,
    )


def list_documents(
    session: Session, *, status: str | None = None, limit: int = 1000, offset: int = 0
) -> list[Document]:
    """Documents, newest first; ``status`` filters on the lifecycle code or the processing state."""
    stmt = select(Document).order_by(Document.id.desc()).limit(limit).offset(offset)
    if status:
        stmt = stmt.where((Document.status_code == status) | (Document.processing_state == status))
    return list(session.scalars(stmt))


def history(session: Session, *, document_id: int) -> list[LifecycleEvent]:
    """The document's events, oldest first."""
    get_document(session, document_id=document_id)
    return list(
        session.scalars(
            select(LifecycleEvent)
            .where(LifecycleEvent.document_id == document_id)
            .order_by(LifecycleEvent.id)
        )
    )


def latest_report(session: Session, *, document_id: int) -> ValidationReportRow | None:
    """The newest validation report of the document."""
    return session.scalars(
        select(ValidationReportRow)
        .where(ValidationReportRow.document_id == document_id)
        .order_by(ValidationReportRow.id.desc())
        .limit(1)
    ).first()


def find_document_for_invoice(session: Session, *, number: str, seller_siren: str | None) -> Document:
    """The document carrying invoice ``number`` from that seller (the registered invoice first)."""
    stmt = select(Invoice).where(Invoice.number == number)
    if seller_siren:
        stmt = stmt.where(Invoice.seller_key == f"SIREN:{seller_siren}")
    invoice = session.scalars(stmt.order_by(Invoice.id.desc())).first()
    if invoice is not None:
        return get_document(session, document_id=invoice.document_id)
    docs = list(
        session.scalars(select(Document).where(Document.invoice_number == number).order_by(Document.id))
    )
    if seller_siren:
        docs = [
            d
            for d in docs
            if ((d.invoice_summary or {}).get("seller_party") or {}).get("siren") == seller_siren
        ]
    if not docs:
        raise DocumentNotFound(
            f"no document for invoice {number!r}"
            + (f" of seller SIREN {seller_siren}" if seller_siren else ""),
            where="invoice_number",
        )
    return docs[-1]


def record_imported_event(session: Session, *, event: EventModel) -> tuple[LifecycleEvent | None, Document]:
    """Record a lifecycle event read from a CDAR message on the matching document.

    Idempotent: an event with the same status and instant already on the document
    is not recorded again (``None`` is returned with the document).
    """
    doc = find_document_for_invoice(
        session, number=event.invoice.invoice_number, seller_siren=event.invoice.seller_siren
    )
    same = session.scalars(
        select(LifecycleEvent).where(
            LifecycleEvent.document_id == doc.id,
            LifecycleEvent.status_code == event.status.value,
            LifecycleEvent.occurred_at == event.timestamp,
        )
    ).first()
    if same is not None:
        return None, doc
    row = record_status(
        session,
        document=doc,
        status=event.status,
        actor=event.actor,
        reasons=event.reasons,
        text=event.free_text,
        amount=event.amount,
        at=event.timestamp,
        actor_kind="platform",
    )
    return row, doc


# --------------------------------------------------------------------------- notices


def claim_notice(
    session: Session, *, document: Document, status: Status, message_id: str, recipient: str | None
) -> Notice | None:
    """The notice row to send for (document, status), or ``None`` when it was sent already.

    The row is inserted (the unique constraint settles concurrent senders) and
    locked for the caller's transaction; send, then :func:`mark_notice_sent`,
    then commit.
    """
    stmt = (
        select(Notice)
        .where(Notice.document_id == document.id, Notice.status_code == status.value)
        .with_for_update()
    )
    notice = session.scalars(stmt).one_or_none()
    if notice is None:
        try:
            with session.begin_nested():
                session.add(
                    Notice(
                        document_id=document.id,
                        status_code=status.value,
                        message_id=message_id,
                        recipient=recipient,
                    )
                )
        except IntegrityError:
            pass
        notice = session.scalars(stmt).one()
    return None if notice.sent_at is not None else notice


def mark_notice_sent(session: Session, *, notice: Notice, message_id: str) -> None:
    """Record that the notice left (its Message-ID and the instant)."""
    notice.message_id = message_id
    notice.sent_at = utcnow()


def notices_for(session: Session, *, document_id: int) -> list[Notice]:
    """The notices of a document."""
    return list(session.scalars(select(Notice).where(Notice.document_id == document_id).order_by(Notice.id)))


# --------------------------------------------------------------------------- rule sets


def save_ruleset(
    session: Session, *, name: str, scope: str, yaml_text: str, party_id: int | None = None
) -> StoredRuleSet:
    """Store (or replace) a rule set's YAML text under its name; the caller checked it."""
    row = session.scalars(select(StoredRuleSet).where(StoredRuleSet.name == name)).one_or_none()
    if row is None:
        row = StoredRuleSet(name=name, scope=scope, yaml_text=yaml_text, party_id=party_id)
        session.add(row)
    else:
        row.scope, row.yaml_text, row.party_id, row.updated_at = scope, yaml_text, party_id, utcnow()
    return row


def get_ruleset_text(session: Session, *, name: str | None = None, scope: str | None = None) -> str | None:
    """The YAML text of the named rule set (or of the first one of ``scope``), if stored."""
    stmt = select(StoredRuleSet.yaml_text).order_by(StoredRuleSet.id)
    if name:
        stmt = stmt.where(StoredRuleSet.name == name)
    if scope:
        stmt = stmt.where(StoredRuleSet.scope == scope)
    return session.scalars(stmt).first()


def list_rulesets(session: Session) -> list[StoredRuleSet]:
    """Every stored rule set."""
    return list(session.scalars(select(StoredRuleSet).order_by(StoredRuleSet.name)))


def customer_ruleset_text(session: Session, *, party_id: int) -> str | None:
    """The YAML text of the rule set stored for customer ``party_id`` (what it requires of our invoices)."""
    stmt = select(StoredRuleSet.yaml_text).where(
        StoredRuleSet.scope == "customer", StoredRuleSet.party_id == party_id
    )
    return session.scalars(stmt.order_by(StoredRuleSet.id)).first()


def resolve_customer(session: Session, *, ref: str) -> Party:
    """The customer a rule set's ``party`` names: its id, SIREN, SIRET or exact name (case-insensitive).

    Raises :class:`InputRejected` (``USAGE``) naming ``ref`` when no customer, or several, match.
    """
    customers = select(Party).where(Party.kind == "customer")
    clauses = [Party.siren == ref, Party.siret == ref, func.lower(Party.name) == ref.lower()]
    if ref.isdigit() and len(ref) < 9:
        clauses.append(Party.id == int(ref))
    found = list(session.scalars(customers.where(or_(*clauses))))
    if len(found) != 1:
        what = "no customer" if not found else f"{len(found)} customers"
        raise InputRejected(
            f"{what} match {ref!r} (give the customer's id, SIREN, SIRET or exact name)",
            code=ErrorCode.USAGE,
            where="party",
        )
    return found[0]
