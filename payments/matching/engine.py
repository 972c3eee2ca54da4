"""Match statement lines to open invoices: one explained proposal per line.

:func:`match_lines` is a pure function of the open invoices, the lines and the
settings. Lines are taken in three passes — those carrying an RF reference of
ours, then those naming an invoice number, then the rest — each pass in
statement order, and every automatic match lowers the running open amounts
before the next line is read: two payments for one invoice see each other, and
a payment without a reference is only matched on amount once the referenced
payments have taken their invoices.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from payments.matching.book import Book, from_cents, to_cents
from payments.matching.candidates import Candidate, amount_candidates, reference_candidates, rf_short
from payments.matching.evidence import Evidence, gather
from payments.matching.fit import FitKind
from payments.matching.types import (
    Action,
    Allocation,
    Line,
    MatchSettings,
    OpenInvoice,
    Proposal,
    Suggestion,
)

#: Two readings closer than this in confidence make a line ambiguous.
AMBIGUITY_MARGIN = 0.05


def match_lines(
    invoices: Iterable[OpenInvoice],
    lines: Sequence[Line],
    settings: MatchSettings | None = None,
) -> list[Proposal]:
    """One proposal per line, in the lines' order.

    >>> import datetime as dt
    >>> from decimal import Decimal
    >>> inv = OpenInvoice("I1", "F-2026-0142", "C1", "Dupont SARL", Decimal("120.00"), "EUR",
    ...                   dt.date(2026, 3, 1), dt.date(2026, 3, 31), "RF85F20260142",
    ...                   ("FR7630006000011234567890189",))
    >>> line = Line("N1", dt.date(2026, 3, 20), Decimal("120.00"), "EUR", "DUPONT", "",
    ...             "Facture F-2026-0142", ("RF85F20260142",))
    >>> p = match_lines([inv], [line])[0]
    >>> p.auto, p.allocations[0].amount, p.explanation
    (True, Decimal('120.00'), 'RF reference RF85…42 matches invoice F-2026-0142; amount equal')
    """
    return Matcher(invoices, settings).match(lines)


class Matcher:
    """The engine with its book of open invoices; :meth:`match` may be called for several statements."""

    def __init__(self, invoices: Iterable[OpenInvoice], settings: MatchSettings | None = None) -> None:
        self.settings = settings or MatchSettings()
        self.book = Book(invoices)

    def match(self, lines: Sequence[Line]) -> list[Proposal]:
        """Proposals for ``lines`` (in their order); automatic ones are applied to the book."""
        evidence = [gather(line, self.book) for line in lines]
        out: list[Proposal | None] = [None] * len(lines)
        for strength in (0, 1, 2):
            for k, (line, ev) in enumerate(zip(lines, evidence, strict=True)):
                if out[k] is None and ev.strength == strength:
                    out[k] = self.propose(line, ev)
        return [p for p in out if p is not None]

    def propose(self, line: Line, ev: Evidence) -> Proposal:
        """The proposal for one line; applied to the book when automatic."""
        if not line.amount.is_finite():
            return _leave(line, f"the amount {line.amount} is not a number")
        if line.return_reason:
            return self._return(line, ev)
        if line.amount <= 0:
            return _leave(line, "debit: money paid out, not a customer payment")
        cands = reference_candidates(self.book, line, ev, self.settings)
        if max((c.confidence for c in cands), default=0.0) < self.settings.auto_threshold:
            cands += amount_candidates(self.book, line, ev, self.settings)
        cands = [c for c in cands if self.book.invoices[c.ids[0]].currency == line.currency]
        if not cands:
            why = "no reference, payer or amount links it to an open invoice"
            if ev.foreign_rfs:
                why = f"RF reference {rf_short(ev.foreign_rfs[0])} is not one of ours; " + why
            return _leave(line, why)
        ranked = _rank(cands)
        best = ranked[0]
        conf = best.confidence
        if len(ranked) > 1 and ranked[1].confidence >= conf - AMBIGUITY_MARGIN:
            conf = min(conf, 0.6)
            best.reasons.append(f"another reading is as likely (invoice {self._numbers(ranked[1])})")
        auto = conf >= self.settings.auto_threshold
        if auto:
            for inv_id, cents in zip(best.ids, best.fit.applied, strict=True):
                self.book.apply(inv_id, cents)
            if best.fit.write_off:
                self.book.apply(best.ids[-1], best.fit.write_off)
        alternatives = tuple(self._suggestion(c) for c in ranked[1 : 1 + self.settings.max_alternatives])
        head = self._suggestion(best)
        return Proposal(
            line_ref=line.line_ref,
            action=Action.APPLY,
            allocations=head.allocations,
            confidence=round(conf, 3),
            explanation=head.explanation,
            auto=auto,
            write_off=head.write_off,
            write_off_reason=head.write_off_reason,
            credit=head.credit,
            alternatives=alternatives,
        )

    def _numbers(self, cand: Candidate) -> str:
        return ", ".join(self.book.invoices[i].number for i in cand.ids)

    def _suggestion(self, cand: Candidate) -> Suggestion:
        allocations = tuple(
            Allocation(i, self.book.invoices[i].number, from_cents(c))
            for i, c in zip(cand.ids, cand.fit.applied, strict=True)
            if c > 0
        )
        return Suggestion(
            allocations=allocations,
            confidence=cand.confidence,
            explanation="; ".join(r for r in cand.reasons if r),
            write_off=from_cents(cand.fit.write_off),
            write_off_reason=cand.fit.reason,
            credit=from_cents(cand.fit.credit),
        )

    def _return(self, line: Line, ev: Evidence) -> Proposal:
        """A SEPA return or reversal: propose to reopen the invoice the payment had closed."""
        amount = abs(to_cents(line.amount))
        ids = list(ev.rf_ids) or [i for run in ev.runs for i in run.exact]
        if len(ids) != 1:
            return _leave(
                line,
                f"returned payment (reason {line.return_reason}): "
                "no single invoice referenced; review by hand",
            )
        inv = self.book.invoices[ids[0]]
        conf = 0.95 if ev.rf_ids else 0.85
        auto = conf >= self.settings.auto_threshold
        if auto:
            self.book.apply(inv.id, -amount)
        return Proposal(
            line_ref=line.line_ref,
            action=Action.REOPEN,
            allocations=(Allocation(inv.id, inv.number, from_cents(amount)),),
            confidence=conf,
            explanation=f"returned payment (reason {line.return_reason}) for invoice {inv.number}: "
            f"reopen it for {from_cents(amount)}",
            auto=auto,
        )


def _rank(cands: list[Candidate]) -> list[Candidate]:
    """Best first, one candidate per set of invoices."""
    best: dict[frozenset[str], Candidate] = {}
    for c in cands:
        key = frozenset(c.ids)
        if key not in best or c.confidence > best[key].confidence:
            best[key] = c
    return sorted(best.values(), key=lambda c: (-c.confidence, c.fit.kind is not FitKind.EQUAL))


def _leave(line: Line, why: str) -> Proposal:
    return Proposal(
        line_ref=line.line_ref,
        action=Action.LEAVE,
        allocations=(),
        confidence=0.0,
        explanation=why,
        auto=False,
    )
