"""The review queue: lines the matcher was not sure about, and the people's decisions on them.

Keyword-only service functions for the back office and ``encaisse bank review|undo``:

* :func:`list_pending` -- the ``proposed`` decisions of lines in ``review``, each with
  its ranked suggestions and the invoices' current amounts side by side;
* :func:`confirm` -- apply a suggestion (the best by default, another by its rank,
  or allocations a person typed: a ``change``); the payer's IBAN is learned for the
  customer (a :class:`~ledger.models.PartyIban`) when it was not known: people's
  confirmations are the only source the matcher learns payers from;
* :func:`reject` -- the line belongs to no invoice: it goes to ``ignored``;
* :func:`undo` -- reverse any applied or rejected decision, automatic or manual:
  allocations and the payment marked undone (never deleted), amounts due restored,
  a 212 reverted (:func:`payments.posting.sync_status`), an IBAN learned by it
  forgotten. The line goes back to the queue (``review``) with what was proposed,
  not to ``unmatched``: the next run would otherwise apply the same match again.

Each returns a :class:`ReviewResult` with the journal events the edge writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ledger.bank import MatchDecision, Payment, PaymentAllocation
from ledger.bank import StatementLine as LineRow
from ledger.models import Document, Invoice, PartyIban, utcnow
from payments.posting import (
    KIND_DECIDED,
    KIND_UNDONE,
    DecisionRejected,
    JournalItem,
    Plan,
    apply_plan,
    claim_line,
    decision_item,
    sync_status,
)
from payments.statements.iban import normalise_iban
from schemas.errors import EncaisseError, ErrorCode
from schemas.lifecycle import Actor, ActorKind

ZERO = Decimal("0.00")


class DecisionNotFound(EncaisseError):
    """No match decision has this id."""

    code = ErrorCode.NOT_FOUND


@dataclass
class ReviewResult:
    """The decision a review action recorded, and the journal events to write."""

    decision: MatchDecision
    journal: list[JournalItem] = field(default_factory=list)


def get_decision(session: Session, *, decision_id: int) -> MatchDecision:
    """The decision, or :class:`DecisionNotFound`."""
    decision = session.get(MatchDecision, decision_id)
    if decision is None:
        raise DecisionNotFound(f"no match decision {decision_id}", decision_id=decision_id)
    return decision


def list_pending(session: Session, *, limit: int = 500, offset: int = 0) -> list[dict[str, Any]]:
    """The review queue, oldest line first: the line, its suggestions ranked, the invoices as they are now."""
    rows = session.execute(
        select(MatchDecision, LineRow)
        .join(LineRow, LineRow.id == MatchDecision.statement_line_id)
        .where(MatchDecision.state == "proposed", LineRow.match_state == "review")
        .order_by(LineRow.booking_date, LineRow.id, MatchDecision.id)
        .limit(limit)
        .offset(offset)
    ).tuples()
    items = list(rows)
    ids = {int(x["invoice_id"]) for d, _ in items for s in d.proposal for x in s.get("invoices", [])}
    current = {
        inv.id: inv for inv in (session.scalars(select(Invoice).where(Invoice.id.in_(ids))) if ids else [])
    }
    out: list[dict[str, Any]] = []
    for decision, line in items:
        suggestions = []
        for s in decision.proposal:
            invoices = []
            for x in s.get("invoices", []):
                inv = current.get(int(x["invoice_id"]))
                invoices.append(
                    {
                        **x,
                        "customer": inv.buyer_name if inv else None,
                        "due_date": inv.due_date.isoformat() if inv and inv.due_date else None,
                        "amount_still_due": str(inv.amount_still_due) if inv else None,
                    }
                )
            suggestions.append({**s, "invoices": invoices})
        out.append(
            {
                "decision_id": decision.id,
                "confidence": decision.confidence,
                "explanation": decision.explanation,
                "line": {
                    "id": line.id,
                    "line_ref": line.entry_ref or line.bank_ref,
                    "booking_date": line.booking_date.isoformat(),
                    "amount": str(line.amount),
                    "currency": line.currency,
                    "counterparty_name": line.counterparty_name,
                    "counterparty_iban": line.counterparty_iban,
                    "remittance": line.remittance,
                    "return_reason": line.return_reason,
                },
                "suggestions": suggestions,
            }
        )
    return out


def _pending(session: Session, decision_id: int) -> tuple[MatchDecision, LineRow]:
    decision = get_decision(session, decision_id=decision_id)
    line = session.get(LineRow, decision.statement_line_id)
    if decision.state != "proposed" or line is None or line.match_state != "review":
        raise DecisionRejected(
            f"decision {decision_id} is {decision.state}, not a proposal waiting for review",
            decision_id=decision_id,
        )
    return decision, line


def _typed_plan(
    session: Session,
    line: LineRow,
    allocations: Sequence[tuple[int, Decimal]],
    write_off: Decimal,
    write_off_reason: str | None,
) -> Plan:
    """A plan a person typed: amounts on invoices, the rest of the line as the customer's credit."""
    if not allocations:
        raise DecisionRejected("give at least one invoice and amount, or reject the line")
    invoices = {
        inv.id: inv
        for inv in session.scalars(
            select(Invoice)
            .join(Document, Document.id == Invoice.document_id)
            .where(Invoice.id.in_([i for i, _ in allocations]), Document.direction == "outgoing")
        )
    }
    parts: list[tuple[int, str, Decimal]] = []
    for k, (inv_id, amount) in enumerate(allocations):
        inv = invoices.get(inv_id)
        if inv is None:
            raise DecisionRejected(f"invoice {inv_id} is not one of our outgoing invoices")
        extra = write_off if k == len(allocations) - 1 else ZERO
        due = inv.amount_still_due or ZERO
        if amount <= 0 or amount + extra > due:
            raise DecisionRejected(
                f"invoice {inv.number}: {amount} (+ {extra} written off) does not fit the {due} due"
            )
        parts.append((inv_id, inv.number, amount))
    credit = line.amount - sum((a for _, _, a in parts), ZERO)
    if credit < 0:
        raise DecisionRejected(f"the allocations exceed the line's amount {line.amount}")
    if write_off < 0 or (write_off > 0 and not write_off_reason):
        raise DecisionRejected("a write-off needs a positive amount and a reason")
    numbers = ", ".join(n for _, n, _ in parts)
    return Plan(
        allocations=tuple(parts),
        confidence=1.0,
        explanation=f"allocated by hand to {numbers}",
        write_off=write_off,
        write_off_reason=write_off_reason if write_off > 0 else None,
        credit=credit,
    )


def confirm(
    session: Session,
    *,
    decision_id: int,
    actor: str,
    choice: int = 0,
    allocations: Sequence[tuple[int, Decimal]] | None = None,
    write_off: Decimal = ZERO,
    write_off_reason: str | None = None,
) -> ReviewResult:
    """Apply the suggestion ranked ``choice`` of a proposal, or the ``allocations`` given (a change).

    ``allocations`` are ``(invoice id, amount)``; a ``write_off`` goes with the last
    invoice; what the line brings beyond the allocations is kept as a credit.
    The caller commits.
    """
    proposed, line = _pending(session, decision_id)
    if allocations is not None:
        plan = _typed_plan(session, line, allocations, write_off, write_off_reason)
        action = "change"
    else:
        if not 0 <= choice < len(proposed.proposal):
            raise DecisionRejected(
                f"decision {decision_id} has {len(proposed.proposal)} suggestion(s); there is no {choice}"
            )
        plan = Plan.from_dict(proposed.proposal[choice])
        if not plan.allocations:
            raise DecisionRejected(f"suggestion {choice} applies nothing: reject the line instead")
        _check_still_due(session, plan)
        action = "confirm" if choice == 0 else "change"
    journal: list[JournalItem] = []
    decision = apply_plan(
        session,
        line=line,
        plan=plan,
        mode="manual",
        action=action,
        actor=actor,
        actor_kind="user",
        expect_state="review",
        journal=journal,
        supersedes_id=proposed.id,
    )
    if decision is None:
        raise DecisionRejected(f"line {line.id} was decided meanwhile", decision_id=decision_id)
    proposed.state = "applied" if action == "confirm" else "rejected"
    learned = _learn_iban(session, line, plan)
    if learned is not None:
        decision.proposal = [{**decision.proposal[0], "learned_iban": learned}]
        journal[-1].data["learned_iban"] = learned
    session.flush()
    return ReviewResult(decision, journal)


def _check_still_due(session: Session, plan: Plan) -> None:
    if plan.reopen:
        return
    dues = dict(
        session.execute(
            select(Invoice.id, Invoice.amount_still_due).where(
                Invoice.id.in_([i for i, _, _ in plan.allocations])
            )
        )
        .tuples()
        .all()
    )
    for k, (inv_id, number, amount) in enumerate(plan.allocations):
        extra = plan.write_off if k == len(plan.allocations) - 1 else ZERO
        if amount + extra > (dues.get(inv_id) or ZERO):
            raise DecisionRejected(
                f"invoice {number} has {dues.get(inv_id) or ZERO} due now, less than the {amount + extra} "
                "this suggestion applies: change the allocations"
            )


def _learn_iban(session: Session, line: LineRow, plan: Plan) -> dict[str, Any] | None:
    """The payer's IBAN as the customer's when a person confirmed a payment of one customer's invoices."""
    if plan.reopen or not line.counterparty_iban or line.amount <= 0:
        return None
    parties = set(
        session.scalars(
            select(Invoice.buyer_party_id).where(Invoice.id.in_([i for i, _, _ in plan.allocations]))
        )
    )
    if len(parties) != 1 or None in parties:
        return None
    (party_id,) = parties
    assert party_id is not None
    iban = normalise_iban(line.counterparty_iban)
    known = session.scalar(select(PartyIban.id).where(PartyIban.party_id == party_id, PartyIban.iban == iban))
    if known is not None:
        return None
    row = PartyIban(party_id=party_id, iban=iban, bic=line.counterparty_bic)
    session.add(row)
    session.flush()
    return {"party_id": party_id, "iban": iban, "party_iban_id": row.id}


def reject(session: Session, *, decision_id: int, actor: str, reason: str | None = None) -> ReviewResult:
    """The line belongs to none of the suggested invoices: it leaves the queue as ``ignored``."""
    proposed, line = _pending(session, decision_id)
    if not claim_line(session, line_id=line.id, expect="review", to="ignored"):
        raise DecisionRejected(f"line {line.id} was decided meanwhile", decision_id=decision_id)
    proposed.state = "rejected"
    decision = MatchDecision(
        statement_line_id=line.id,
        mode="manual",
        action="reject",
        state="rejected",
        proposal=[],
        confidence=proposed.confidence,
        explanation=f"rejected by {actor}" + (f": {reason}" if reason else ""),
        actor_kind="user",
        actor_id=actor,
        supersedes_id=proposed.id,
    )
    session.add(decision)
    session.flush()
    plan = Plan((), proposed.confidence, decision.explanation)
    return ReviewResult(decision, [decision_item(session, KIND_DECIDED, decision, line, plan)])


def undo(session: Session, *, decision_id: int, actor: str, reason: str | None = None) -> ReviewResult:
    """Reverse an applied or rejected decision; the line goes back to the review queue. The caller commits."""
    decision = get_decision(session, decision_id=decision_id)
    line = session.get(LineRow, decision.statement_line_id)
    assert line is not None
    if decision.undone_at is not None or decision.state == "undone":
        raise DecisionRejected(f"decision {decision_id} is already undone", decision_id=decision_id)
    if decision.state == "proposed":
        raise DecisionRejected(
            f"decision {decision_id} is a proposal, nothing was applied: confirm or reject it",
            decision_id=decision_id,
        )
    expect = "matched" if decision.state == "applied" else "ignored"
    if line.match_state != expect:
        raise DecisionRejected(
            f"line {line.id} is {line.match_state}; decision {decision_id} is not its latest",
            decision_id=decision_id,
        )
    now = utcnow()
    reversed_: list[dict[str, Any]] = []
    statuses: list[dict[str, Any]] = []
    if decision.state == "applied":
        reversed_, statuses = _reverse_allocations(session, decision, actor)
    if not claim_line(session, line_id=line.id, expect=expect, to="review"):
        raise DecisionRejected(f"line {line.id} was decided meanwhile", decision_id=decision_id)
    decision.state = "undone"
    decision.undone_at = now
    decision.undone_by = actor
    marker = MatchDecision(
        statement_line_id=line.id,
        mode="manual",
        action="undo",
        state="undone",
        proposal=[],
        confidence=decision.confidence,
        explanation=f"decision {decision.id} undone by {actor}" + (f": {reason}" if reason else ""),
        actor_kind="user",
        actor_id=actor,
        supersedes_id=decision.id,
    )
    session.add(marker)
    session.flush()
    # back to the queue with what had been proposed (the superseded proposal's ranking, if any)
    origin = session.get(MatchDecision, decision.supersedes_id) if decision.supersedes_id else None
    suggestions = [
        {k: v for k, v in s.items() if k not in ("applied", "learned_iban")}
        for s in (origin.proposal if origin is not None and origin.proposal else decision.proposal)
    ]
    requeued = MatchDecision(
        statement_line_id=line.id,
        mode="manual",
        action="suggest",
        state="proposed",
        proposal=suggestions,
        confidence=decision.confidence,
        explanation=f"undone by {actor}; was: {decision.explanation}",
        actor_kind="user",
        actor_id=actor,
        supersedes_id=marker.id,
    )
    session.add(requeued)
    session.flush()
    plan = Plan.from_dict(suggestions[0]) if suggestions else Plan((), decision.confidence, "")
    item = decision_item(session, KIND_UNDONE, marker, line, plan)
    item.data.update(
        {"undone": decision.id, "reversed": reversed_, "status": statuses, "requeued": requeued.id}
    )
    return ReviewResult(marker, [item])


def _reverse_allocations(
    session: Session, decision: MatchDecision, actor: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Mark the decision's allocations and payment undone, give the amounts back, revert statuses."""
    now = utcnow()
    allocations = list(
        session.scalars(
            select(PaymentAllocation).where(
                PaymentAllocation.decision_id == decision.id, PaymentAllocation.undone_at.is_(None)
            )
        )
    )
    touched: dict[int, Invoice] = {}
    out: list[dict[str, Any]] = []
    for alloc in allocations:
        alloc.undone_at = now
        out.append({"allocation_id": alloc.id, "kind": alloc.kind, "amount": alloc.amount})
        if alloc.invoice_id is not None and alloc.kind in ("payment", "writeoff"):
            session.execute(
                update(Invoice)
                .where(Invoice.id == alloc.invoice_id)
                .values(amount_still_due=Invoice.amount_still_due + alloc.amount)
                .execution_options(synchronize_session=False)
            )
            inv = session.get(Invoice, alloc.invoice_id)
            assert inv is not None
            touched[inv.id] = inv
    for payment_id in {a.payment_id for a in allocations}:
        payment = session.get(Payment, payment_id)
        if payment is not None and payment.undone_at is None:
            payment.undone_at = now
    session.flush()
    who = Actor(kind=ActorKind.USER, id=actor)
    statuses = []
    for inv in touched.values():
        session.refresh(inv, ["amount_still_due"])
        change = sync_status(session, invoice=inv, actor=who, text=f"payment match {decision.id} undone")
        if change:
            statuses.append({"number": inv.number, **change})
    for learned in (s.get("learned_iban") for s in decision.proposal):
        if learned:
            row = session.get(PartyIban, int(learned["party_iban_id"]))
            if row is not None:
                session.delete(row)
    return out, statuses


__all__ = [
    "DecisionNotFound",
    "ReviewResult",
    "confirm",
    "get_decision",
    "list_pending",
    "reject",
    "undo",
]
