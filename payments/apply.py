"""Applying payment matching to the ledger: ``encaisse bank match`` and, later, the back office.

:func:`run_matching` loads the open invoices and the unmatched statement lines,
runs the pure engine (:mod:`payments.matching`) and, per line:

* **applied** (confidence at or above ``ENCAISSE_MATCH_AUTO_THRESHOLD``): a
  :class:`~ledger.bank.Payment` of the line's amount, one ``payment`` allocation
  per invoice, a ``writeoff`` allocation (with its reason) for a small explained
  shortfall, a ``credit`` allocation for an overpayment; each invoice's
  ``amount_still_due`` lowered; an invoice paid in full gets 212 Encaissée with the
  amount cashed (the sum of its payments). A partial payment is an allocation (the
  receivables figures read them) and a journal entry about the invoice's document,
  not a lifecycle event: 212 is the one status a payment sets. A SEPA return
  (``reopen``) is a negative payment on the invoice it names: the amount due goes
  back up and a 212 is reverted (:func:`sync_status`).
* **to review** (below the threshold): a ``proposed`` decision whose ``proposal``
  holds the ranked suggestions, the line in state ``review``
  (:mod:`payments.review` confirms, changes, rejects or undoes).
* **left** (nothing links it to an invoice, or a debit): no decision; the line
  stays ``unmatched`` and is read again by the next run (new invoices may come).

Every decision is a :class:`~ledger.bank.MatchDecision` row. Nothing here imports
the archive: the functions return :class:`JournalItem` values and the edge
journals them in the same transaction (``archive.service.journal_event``), then
calls :func:`note_journaled`. Running twice applies nothing twice: a line is
claimed with a conditional update on its ``match_state`` and an invoice's amount
due is lowered only where it still covers the allocation; on PostgreSQL one run
at a time holds an advisory lock. The ledger writes are in :mod:`payments.posting`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from ledger.bank import Payment, PaymentAllocation
from ledger.bank import StatementLine as LineRow
from ledger.models import Document, Invoice, Party, PartyIban
from payments.imports import line_from_row
from payments.matching import Action, Line, Matcher, MatchSettings, OpenInvoice, Proposal, report_row
from payments.matching.adapt import line_from_statement
from payments.posting import JournalItem, Plan, apply_plan, propose
from schemas.settings import Settings, get_settings

#: How far back a paid invoice is kept in view for a SEPA return (returns come within days;
#: an R-transaction may come up to 13 months later, those go to review by hand).
RETURN_WINDOW = dt.timedelta(days=400)
MATCH_LOCK_ID = 0x454E4361  # pg_advisory_xact_lock key of a matching run ("ENCa")
ZERO = Decimal("0.00")


@dataclass
class LineResult:
    """What became of one statement line: its ``--json`` row and the decision recorded, if any."""

    line_id: int
    outcome: str  # applied, review, left, skipped
    row: dict[str, Any]
    decision_id: int | None = None


@dataclass
class MatchRun:
    """A matching run's results and the journal events the edge must write."""

    lines: list[LineResult] = field(default_factory=list)
    journal: list[JournalItem] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Lines per outcome (applied, review, left, skipped)."""
        got = Counter(r.outcome for r in self.lines)
        return {k: got.get(k, 0) for k in ("applied", "review", "left", "skipped")}


def match_settings(settings: Settings | None = None) -> MatchSettings:
    """The engine's policy from ``ENCAISSE_MATCH_AUTO_THRESHOLD`` and ``..._WRITEOFF_TOLERANCE``."""
    s = settings or get_settings()
    return MatchSettings(auto_threshold=s.match_auto_threshold, rounding_tolerance=s.match_writeoff_tolerance)


# ----------------------------------------------------------------------------- loading


def load_open_invoices(session: Session, *, paid_since: dt.date | None = None) -> list[OpenInvoice]:
    """Outgoing invoices with something still due (and, with ``paid_since``, those paid since then).

    Paid invoices are handed to the engine with nothing due so that a SEPA return
    can name them; ``paid_since`` is the oldest payment date worth looking at.
    Engine ids are the ledger's invoice ids as strings; a customer is its party id.
    """
    base = (
        select(Invoice, Document.status_code)
        .join(Document, Document.id == Invoice.document_id)
        .where(Document.direction == "outgoing", Invoice.amount_still_due.is_not(None))
    )
    rows = list(session.execute(base.where(Invoice.amount_still_due > 0)).tuples())
    if paid_since is not None:
        recent = (
            select(PaymentAllocation.invoice_id)
            .join(Payment, Payment.id == PaymentAllocation.payment_id)
            .where(
                PaymentAllocation.undone_at.is_(None),
                PaymentAllocation.kind == "payment",
                Payment.received_on >= paid_since,
            )
        )
        rows += session.execute(base.where(Invoice.amount_still_due <= 0, Invoice.id.in_(recent))).tuples()
    ibans: dict[int, list[str]] = {}
    names: dict[int, str] = {}
    parties = {inv.buyer_party_id for inv, _ in rows if inv.buyer_party_id is not None}
    if parties:
        for pid, iban in session.execute(
            select(PartyIban.party_id, PartyIban.iban).where(PartyIban.party_id.in_(parties))
        ):
            ibans.setdefault(pid, []).append(iban)
        names = dict(
            session.execute(select(Party.id, Party.name).where(Party.id.in_(parties))).tuples().all()
        )
    out: list[OpenInvoice] = []
    for inv, _status in rows:
        party = inv.buyer_party_id
        day = inv.issue_date or inv.due_date or inv.created_at.date()
        out.append(
            OpenInvoice(
                id=str(inv.id),
                number=inv.number,
                customer_id=str(party) if party is not None else f"invoice:{inv.id}",
                customer_name=inv.buyer_name or (names.get(party, "") if party is not None else ""),
                amount_due=max(inv.amount_still_due or ZERO, ZERO),
                currency=inv.currency or "EUR",
                issue_date=day,
                due_date=inv.due_date or day,
                rf_reference=inv.payment_reference,
                customer_ibans=tuple(ibans.get(party, ())) if party is not None else (),
            )
        )
    return out


def engine_line(row: LineRow) -> Line:
    """A stored statement line as the engine's :class:`Line`, its reference the entry's (or the bank's)."""
    line = line_from_statement(line_from_row(row))
    return dataclasses.replace(line, line_ref=row.entry_ref or row.bank_ref or f"line:{row.id}")


def load_unmatched_lines(session: Session) -> list[LineRow]:
    """Statement lines no run or person has decided yet, in booking order."""
    return list(
        session.scalars(
            select(LineRow)
            .where(LineRow.match_state == "unmatched")
            .options(selectinload(LineRow.account))
            .order_by(LineRow.booking_date, LineRow.id)
        )
    )


# ----------------------------------------------------------------------------- the run


def run_matching(
    session: Session,
    *,
    actor: str,
    dry_run: bool = False,
    settings: MatchSettings | None = None,
) -> MatchRun:
    """Match every unmatched line; apply the sure ones, queue the others for review. The caller commits.

    With ``dry_run`` nothing is written: the rows say what would be done (``applied`` false).
    Raises :class:`MatchConflict` when an invoice changed under the run (run it again).
    """
    settings = settings or match_settings()
    if not dry_run and session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(MATCH_LOCK_ID)))
    rows = load_unmatched_lines(session)
    run = MatchRun()
    if not rows:
        return run
    returns = [r.booking_date for r in rows if r.return_reason]
    invoices = load_open_invoices(session, paid_since=min(returns) - RETURN_WINDOW if returns else None)
    lines = [engine_line(r) for r in rows]
    proposals = Matcher(invoices, settings).match(lines)
    for row, line, proposal in zip(rows, lines, proposals, strict=True):
        base = report_row(line, proposal, applied=False)
        base["line_id"] = row.id
        if proposal.action is Action.LEAVE:
            run.lines.append(LineResult(row.id, "left", base))
            continue
        if dry_run:  # what would be done: ``applied`` stays false
            base["would_apply"] = proposal.auto
            run.lines.append(LineResult(row.id, "applied" if proposal.auto else "review", base))
            continue
        plans = [plan_of(proposal)] + [
            Plan(
                tuple((int(a.invoice_id), a.invoice_number, a.amount) for a in s.allocations),
                s.confidence,
                s.explanation,
                s.write_off,
                None if s.write_off_reason is None else str(s.write_off_reason),
                s.credit,
            )
            for s in proposal.alternatives
        ]
        if proposal.auto:
            decision = apply_plan(
                session,
                line=row,
                plan=plans[0],
                mode="auto",
                action="apply",
                actor=actor,
                actor_kind="system",
                expect_state="unmatched",
                journal=run.journal,
            )
            if decision is None:
                base["explanation"] = "already decided by another run"
                run.lines.append(LineResult(row.id, "skipped", base))
                continue
            base["applied"] = True
            base["decision_id"] = decision.id
            run.lines.append(LineResult(row.id, "applied", base, decision.id))
        else:
            decision = propose(session, line=row, plans=plans, actor=actor, journal=run.journal)
            if decision is None:
                run.lines.append(LineResult(row.id, "skipped", base))
                continue
            base["decision_id"] = decision.id
            base["review"] = True
            run.lines.append(LineResult(row.id, "review", base, decision.id))
    return run


def plan_of(proposal: Proposal) -> Plan:
    """The engine's proposal as a :class:`Plan` over ledger ids."""
    return Plan(
        allocations=tuple((int(a.invoice_id), a.invoice_number, a.amount) for a in proposal.allocations),
        confidence=proposal.confidence,
        explanation=proposal.explanation,
        write_off=proposal.write_off,
        write_off_reason=None if proposal.write_off_reason is None else str(proposal.write_off_reason),
        credit=proposal.credit,
        reopen=proposal.action is Action.REOPEN,
    )


__all__ = [
    "LineResult",
    "MatchRun",
    "engine_line",
    "load_open_invoices",
    "load_unmatched_lines",
    "match_settings",
    "plan_of",
    "run_matching",
]
