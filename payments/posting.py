"""Writing match decisions to the ledger: payments, allocations, amounts due, 212, journal events.

The building blocks of :mod:`payments.apply` (the matching run) and
:mod:`payments.review` (the people's decisions). A :class:`Plan` says what to do
with one statement line; :func:`apply_plan` books it (a payment, its
allocations, the amounts due, the statuses) and :func:`propose` queues it for
review. Functions append :class:`JournalItem` values for the edge to journal:
``payments`` does not import the archive.

Status rule (:func:`sync_status`): 212 Encaissée, with the amount cashed (the sum
of the invoice's payments, write-offs excluded), is set when nothing is due any
more; a partial payment sets no status (it is an allocation, in the receivables
figures, and a journal entry about the invoice's document). When an invoice is
open again (a decision undone, a SEPA return), a 212 is reverted as
:func:`sync_status` explains.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from ledger.bank import MatchDecision, Payment, PaymentAllocation
from ledger.bank import StatementLine as LineRow
from ledger.models import Document, Invoice, LifecycleEvent
from ledger.services import record_status
from schemas.errors import EncaisseError, ErrorCode, InputRejected
from schemas.lifecycle import Actor, ActorKind, LifecycleRejected
from schemas.lifecycle_codes import Status

#: Journal kinds, in the archive's own vocabulary (``archive.journal.EntryKind``).
KIND_PAYMENT_RECEIVED = "payment_received"
KIND_MATCHED = "matched"
KIND_DECIDED = "match_decided"
KIND_UNDONE = "match_undone"
ZERO = Decimal("0.00")


class MatchConflict(EncaisseError):
    """The ledger changed under a matching run (another run or a person): nothing was written."""

    code = ErrorCode.USAGE


class DecisionRejected(InputRejected):
    """A review action that does not fit the decision or the line (already decided, bad amounts...)."""

    code = ErrorCode.USAGE


@dataclass(frozen=True, slots=True)
class JournalItem:
    """An event for the archive journal, returned to the edge that journals it."""

    kind: str
    subject: str
    data: dict[str, Any]
    related: tuple[str, ...] = ()
    decision_id: int | None = None  # the decision whose ``journal_seq`` the entry is


@dataclass(frozen=True, slots=True)
class Plan:
    """What to do with one line: invoices and amounts (ledger ids), write-off, credit, or a reopening."""

    allocations: tuple[tuple[int, str, Decimal], ...]  # (invoice id, number, amount applied)
    confidence: float
    explanation: str
    write_off: Decimal = ZERO
    write_off_reason: str | None = None
    credit: Decimal = ZERO
    reopen: bool = False

    def as_dict(self, rank: int = 0) -> dict[str, Any]:
        """The JSON form stored in ``MatchDecision.proposal`` (one per suggestion, ranked)."""
        return {
            "rank": rank,
            "invoices": [{"invoice_id": i, "number": n, "amount": str(a)} for i, n, a in self.allocations],
            "confidence": self.confidence,
            "explanation": self.explanation,
            "write_off": str(self.write_off),
            "write_off_reason": self.write_off_reason,
            "credit": str(self.credit),
            "reopen": self.reopen,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        """Back from :meth:`as_dict`."""
        return cls(
            allocations=tuple(
                (int(x["invoice_id"]), str(x["number"]), Decimal(x["amount"])) for x in data["invoices"]
            ),
            confidence=float(data.get("confidence", 0.0)),
            explanation=str(data.get("explanation", "")),
            write_off=Decimal(data.get("write_off") or "0.00"),
            write_off_reason=data.get("write_off_reason"),
            credit=Decimal(data.get("credit") or "0.00"),
            reopen=bool(data.get("reopen", False)),
        )


def claim_line(session: Session, *, line_id: int, expect: str, to: str) -> bool:
    """Move a line from state ``expect`` to ``to``; False when it was not in ``expect`` any more."""
    result = session.execute(
        update(LineRow)
        .where(LineRow.id == line_id, LineRow.match_state == expect)
        .values(match_state=to)
        .execution_options(synchronize_session=False)
    )
    claimed = bool(getattr(result, "rowcount", 0) == 1)
    row = session.get(LineRow, line_id)
    if claimed and row is not None:
        set_committed_value(row, "match_state", to)  # the row object agrees with the database
    return claimed


def propose(
    session: Session, *, line: LineRow, plans: Sequence[Plan], actor: str, journal: list[JournalItem]
) -> MatchDecision | None:
    """Queue a line for review with its ranked suggestions; None when another run decided it first."""
    if not claim_line(session, line_id=line.id, expect="unmatched", to="review"):
        return None
    best = plans[0]
    decision = MatchDecision(
        statement_line_id=line.id,
        mode="auto",
        action="suggest",
        state="proposed",
        proposal=[p.as_dict(rank) for rank, p in enumerate(plans)],
        confidence=_confidence(best.confidence),
        explanation=best.explanation,
        actor_kind="system",
        actor_id=actor,
    )
    session.add(decision)
    session.flush()
    journal.append(decision_item(session, KIND_DECIDED, decision, line, best))
    return decision


# ----------------------------------------------------------------------------- applying


def apply_plan(
    session: Session,
    *,
    line: LineRow,
    plan: Plan,
    mode: str,
    action: str,
    actor: str,
    actor_kind: str,
    expect_state: str,
    journal: list[JournalItem],
    supersedes_id: int | None = None,
) -> MatchDecision | None:
    """Record a payment for ``line`` and apply it as ``plan`` says; None when the line was taken.

    Raises :class:`MatchConflict` when an invoice no longer has the amount due the
    plan counts on (the caller's transaction must then be rolled back).
    """
    if not claim_line(session, line_id=line.id, expect=expect_state, to="matched"):
        return None
    invoices = {
        inv.id: inv
        for inv in session.scalars(
            select(Invoice)
            .where(Invoice.id.in_([i for i, _, _ in plan.allocations]))
            .options(joinedload(Invoice.document))  # sync_status and the journal subjects need it
        )
    }
    party = next((invoices[i].buyer_party_id for i, _, _ in plan.allocations if i in invoices), None)
    payment = Payment(
        source="bank",
        statement_line_id=line.id,
        party_id=party,
        amount=line.amount,
        currency=line.currency,
        received_on=line.booking_date,
    )
    decision = MatchDecision(
        statement_line_id=line.id,
        mode=mode,
        action=action,
        state="applied",
        proposal=[],
        confidence=_confidence(plan.confidence),
        explanation=plan.explanation,
        actor_kind=actor_kind,
        actor_id=actor,
        supersedes_id=supersedes_id,
    )
    session.add_all([payment, decision])
    session.flush()
    status_actor = Actor(kind=ActorKind.USER if actor_kind == "user" else ActorKind.SYSTEM, id=actor)
    applied: list[dict[str, Any]] = []
    last = len(plan.allocations) - 1
    for k, (inv_id, number, amount) in enumerate(plan.allocations):
        inv = invoices.get(inv_id)
        if inv is None:
            raise MatchConflict(f"invoice {number} (id {inv_id}) is not in the ledger any more")
        write_off = plan.write_off if k == last else ZERO
        signed = -amount if plan.reopen else amount
        lower_due(session, invoice=inv, amount=signed + write_off)
        session.add(
            PaymentAllocation(
                payment_id=payment.id,
                invoice_id=inv_id,
                kind="payment",
                amount=signed,
                decision_id=decision.id,
            )
        )
        if write_off:
            session.add(
                PaymentAllocation(
                    payment_id=payment.id,
                    invoice_id=inv_id,
                    kind="writeoff",
                    amount=write_off,
                    reason=plan.write_off_reason or "difference",
                    decision_id=decision.id,
                )
            )
        change = sync_status(session, invoice=inv, actor=status_actor, text=plan.explanation)
        applied.append(
            {
                "invoice_id": inv_id,
                "number": number,
                "amount": str(signed),
                "write_off": str(write_off),
                "amount_still_due": str(inv.amount_still_due),
                "status": change,
            }
        )
    if plan.credit:
        session.add(
            PaymentAllocation(
                payment_id=payment.id,
                invoice_id=None,
                kind="credit",
                amount=plan.credit,
                decision_id=decision.id,
            )
        )
    stored = plan.as_dict()
    stored["applied"] = applied
    decision.proposal = [stored]
    session.flush()
    subjects = _subjects(session, invoices.values())
    journal.append(
        JournalItem(
            KIND_PAYMENT_RECEIVED,
            f"payment:{payment.id}",
            {
                "payment_id": payment.id,
                "statement_line_id": line.id,
                "line_ref": line.entry_ref or line.bank_ref,
                "amount": line.amount,
                "currency": line.currency,
                "received_on": line.booking_date,
                "counterparty": line.counterparty_name,
            },
            related=(f"statement_line:{line.id}", *subjects.values()),
        )
    )
    journal.append(
        decision_item(
            session, KIND_MATCHED, decision, line, plan, applied=applied, payment=payment, subjects=subjects
        )
    )
    return decision


def lower_due(session: Session, *, invoice: Invoice, amount: Decimal) -> None:
    """Lower what is due on ``invoice`` by ``amount`` (raise it when negative), only if it still covers it.

    Raises :class:`MatchConflict` when it does not any more (the ledger changed meanwhile).
    """
    stmt = update(Invoice).where(Invoice.id == invoice.id)
    if amount > 0:
        stmt = stmt.where(Invoice.amount_still_due >= amount)
    result = session.execute(
        stmt.values(amount_still_due=Invoice.amount_still_due - amount)
        .returning(Invoice.amount_still_due)
        .execution_options(synchronize_session=False)
    ).first()
    if result is None:
        raise MatchConflict(
            f"invoice {invoice.number} has less than {amount} due now; the ledger changed: try again"
        )
    session.refresh(invoice, ["amount_still_due"])


def amount_cashed(session: Session, *, invoice_id: int) -> Decimal:
    """What payments (not write-offs) currently applied to the invoice add up to."""
    total = session.scalar(
        select(func.coalesce(func.sum(PaymentAllocation.amount), 0)).where(
            PaymentAllocation.invoice_id == invoice_id,
            PaymentAllocation.kind == "payment",
            PaymentAllocation.undone_at.is_(None),
        )
    )
    return Decimal(total or 0).quantize(Decimal("0.01"))


def status_before_cashed(session: Session, *, document_id: int) -> str | None:
    """The document's latest status other than 212: what it goes back to when it is open again."""
    return session.scalar(
        select(LifecycleEvent.status_code)
        .where(
            LifecycleEvent.document_id == document_id, LifecycleEvent.status_code != Status.ENCAISSEE.value
        )
        .order_by(LifecycleEvent.id.desc())
        .limit(1)
    )


def sync_status(session: Session, *, invoice: Invoice, actor: Actor, text: str) -> dict[str, str] | None:
    """Make the status follow the amount due: 212 (amount cashed) when nothing is due, reverted if due.

    Going back from 212 is not a transition the lifecycle allows (212 is only
    followed by processing statuses, never by 203 again), and lifecycle events are
    append-only: the 212 event stays in the history, as it happened (it may have
    been transmitted), and the document's current status returns to its latest
    status before 212. The reversal itself is recorded by the match decision and
    the journal (``match_undone`` or the return's ``matched`` entry). Returns
    ``{"from", "to"}`` when the status changed, ``{"kept", "why"}`` when a
    transition was refused.
    """
    doc = session.get(Document, invoice.document_id)
    if doc is None or invoice.amount_still_due is None:
        return None
    due = invoice.amount_still_due
    current = doc.status_code
    if due <= 0 and current != Status.ENCAISSEE.value:
        cashed = amount_cashed(session, invoice_id=invoice.id)
        try:
            record_status(
                session, document=doc, status=Status.ENCAISSEE, actor=actor, amount=cashed, text=text
            )
        except LifecycleRejected as exc:
            return {"kept": current or "", "why": exc.message}
        return {"from": current or "", "to": Status.ENCAISSEE.value}
    if due > 0 and current == Status.ENCAISSEE.value:
        before = status_before_cashed(session, document_id=doc.id)
        if before is None:
            return None
        doc.status_code = before
        return {"from": current, "to": before}
    return None


# ----------------------------------------------------------------------------- journal


def _confidence(value: float) -> float:
    return min(1.0, max(0.0, round(float(value), 3)))


def _subjects(session: Session, invoices: Iterable[Invoice]) -> dict[int, str]:
    """Each invoice's journal subject: its document's SHA-256, else ``invoice:<id>``."""
    return {i.id: i.document.sha256 or f"invoice:{i.id}" for i in invoices}


def decision_item(
    session: Session,
    kind: str,
    decision: MatchDecision,
    line: LineRow,
    plan: Plan,
    *,
    applied: list[dict[str, Any]] | None = None,
    payment: Payment | None = None,
    subjects: dict[int, str] | None = None,
) -> JournalItem:
    """The journal event of one decision: about the first invoice's document, related to the rest.

    ``subjects`` (invoice id to journal subject) saves the lookup when the caller has them.
    """
    if subjects is None:
        invoices = session.scalars(select(Invoice).where(Invoice.id.in_([i for i, _, _ in plan.allocations])))
        subjects = _subjects(session, invoices)
    order = [subjects[i] for i, _, _ in plan.allocations if i in subjects]
    subject = order[0] if order else f"statement_line:{line.id}"
    related = (*order[1:], f"statement_line:{line.id}", f"match_decision:{decision.id}")
    data: dict[str, Any] = {
        "decision_id": decision.id,
        "mode": decision.mode,
        "action": decision.action,
        "state": decision.state,
        "statement_line_id": line.id,
        "line_ref": line.entry_ref or line.bank_ref,
        "line_amount": line.amount,
        "invoices": [{"number": n, "amount": a} for _, n, a in plan.allocations],
        "confidence": str(decision.confidence),
        "explanation": decision.explanation,
    }
    if plan.write_off:
        data["write_off"] = {"amount": plan.write_off, "reason": plan.write_off_reason}
    if plan.credit:
        data["credit"] = plan.credit
    if applied is not None:
        data["applied"] = applied
    if payment is not None:
        data["payment_id"] = payment.id
    if decision.supersedes_id is not None:
        data["supersedes"] = decision.supersedes_id
    return JournalItem(kind, subject, data, related=tuple(related), decision_id=decision.id)


def note_journaled(session: Session, *, seqs: dict[int, int]) -> None:
    """Record, per decision id, the sequence number of the journal entry that recorded it."""
    if seqs:  # one executemany (ORM bulk update by primary key)
        session.execute(update(MatchDecision), [{"id": d, "journal_seq": s} for d, s in seqs.items()])


__all__ = [
    "KIND_DECIDED",
    "KIND_MATCHED",
    "KIND_PAYMENT_RECEIVED",
    "KIND_UNDONE",
    "DecisionRejected",
    "JournalItem",
    "MatchConflict",
    "Plan",
    "amount_cashed",
    "apply_plan",
    "claim_line",
    "decision_item",
    "note_journaled",
    "propose",
    "status_before_cashed",
    "sync_status",
]
