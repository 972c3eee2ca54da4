"""What the matching engine reads and what it proposes.

The engine is pure: it is handed the open invoices and the statement lines as
these small frozen values and returns one :class:`Proposal` per line. The
edges (database, CLI, back office) convert their own records to and from them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class OpenInvoice:
    """An invoice that can receive money, as the matcher sees it.

    ``amount_due`` is what is still open; an invoice with ``amount_due`` 0 may be
    handed in too (recently paid), so that a SEPA return can find it again.
    """

    id: str
    number: str
    customer_id: str
    customer_name: str
    amount_due: Decimal
    currency: str
    issue_date: dt.date
    due_date: dt.date
    rf_reference: str | None = None
    customer_ibans: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Line:
    """One statement line (a booked credit or debit) as the matcher sees it.

    ``amount`` is signed: positive for money received. ``remittance`` is the
    unstructured text (camt ``Ustrd`` parts joined with a space, MT940 ``:86:``);
    ``structured_refs`` holds creditor references (camt ``CdtrRefInf/Ref``) and
    referred document numbers (``RfrdDocInf/Nb``). ``charges`` is what a bank
    deducted and ``instructed_amount`` what the payer ordered, when the statement
    says so. ``return_reason`` is set on SEPA returns and reversals.
    """

    line_ref: str
    booking_date: dt.date
    amount: Decimal
    currency: str
    counterparty_name: str = ""
    counterparty_iban: str = ""
    remittance: str = ""
    structured_refs: tuple[str, ...] = ()
    end_to_end_id: str = ""
    charges: Decimal | None = None
    instructed_amount: Decimal | None = None
    return_reason: str | None = None


class Action(StrEnum):
    """What a proposal would do with its line."""

    APPLY = "apply"  # pay the invoices in ``allocations``
    REOPEN = "reopen"  # a returned payment: reopen the invoices in ``allocations``
    LEAVE = "leave"  # nothing to apply: the line stays unmatched


class WriteOffReason(StrEnum):
    """Why a small difference is written off instead of left open."""

    BANK_CHARGES = "bank_charges"
    CASH_DISCOUNT = "cash_discount"
    ROUNDING = "rounding"


@dataclass(frozen=True, slots=True)
class Allocation:
    """An amount of the line applied to (or, on a return, reopened on) one invoice."""

    invoice_id: str
    invoice_number: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Suggestion:
    """One way to read a line: which invoices it pays and how sure that is."""

    allocations: tuple[Allocation, ...]
    confidence: float
    explanation: str
    write_off: Decimal = Decimal("0.00")
    write_off_reason: WriteOffReason | None = None
    credit: Decimal = Decimal("0.00")

    @property
    def invoice_ids(self) -> frozenset[str]:
        """The invoices this suggestion touches."""
        return frozenset(a.invoice_id for a in self.allocations)


@dataclass(frozen=True, slots=True)
class Proposal:
    """The engine's answer for one statement line.

    ``auto`` says the best suggestion clears the configured threshold and was
    applied to the running open amounts; otherwise ``alternatives`` (best first)
    go to the review queue together with the best one.
    """

    line_ref: str
    action: Action
    allocations: tuple[Allocation, ...]
    confidence: float
    explanation: str
    auto: bool
    write_off: Decimal = Decimal("0.00")
    write_off_reason: WriteOffReason | None = None
    credit: Decimal = Decimal("0.00")
    alternatives: tuple[Suggestion, ...] = ()

    @property
    def invoice_ids(self) -> frozenset[str]:
        """The invoices of the proposed action."""
        return frozenset(a.invoice_id for a in self.allocations)

    def suggestions(self) -> tuple[Suggestion, ...]:
        """The proposal itself (when it applies anything) followed by the alternatives."""
        head: tuple[Suggestion, ...] = ()
        if self.allocations:
            head = (
                Suggestion(
                    self.allocations,
                    self.confidence,
                    self.explanation,
                    self.write_off,
                    self.write_off_reason,
                    self.credit,
                ),
            )
        return head + self.alternatives


@dataclass(frozen=True, slots=True)
class MatchSettings:
    """Tunable policy of the engine (tolerances, threshold, search bounds).

    Attributes:
        auto_threshold: confidence from which a proposal is applied without review.
        rounding_tolerance: largest difference either way booked as a rounding
            write-off (below) or a customer credit (above) without other explanation.
        max_bank_charges: largest deduction written off as bank charges when the
            line's charges or instructed amount explain it.
        cash_discount_rates: discount rates (as fractions) customers may deduct.
        max_group: largest number of invoices one payment is searched to pay.
        subset_budget: bound on the combinations tried per line by the subset search.
        max_alternatives: alternatives kept per proposal for the review queue.
    """

    auto_threshold: float = 0.9
    rounding_tolerance: Decimal = Decimal("2.00")
    max_bank_charges: Decimal = Decimal("50.00")
    cash_discount_rates: tuple[Decimal, ...] = (Decimal("0.02"), Decimal("0.03"))
    max_group: int = 6
    subset_budget: int = 2_000
    max_alternatives: int = 6
