"""How a line's amount fits a set of open invoices: equal, short, over.

A shortfall is written off when something explains it (the bank's charges, a
cash discount at an agreed rate, a rounding difference within tolerance);
otherwise the payment is partial and the rest stays open. An excess becomes a
customer credit.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from payments.matching.book import from_cents, to_cents
from payments.matching.types import Line, MatchSettings, WriteOffReason


class FitKind(StrEnum):
    """How the amount relates to what is open."""

    EQUAL = "equal"
    WRITE_OFF = "write_off"
    PARTIAL = "partial"
    OVER_SMALL = "over_small"
    OVER = "over"


@dataclass(frozen=True, slots=True)
class Fit:
    """Allocation of a line's amount over invoices (cents, in the invoices' order)."""

    kind: FitKind
    applied: tuple[int, ...]
    write_off: int = 0
    reason: WriteOffReason | None = None
    credit: int = 0
    text: str = ""


def shortfall_reason(diff: int, total: int, line: Line, settings: MatchSettings) -> WriteOffReason | None:
    """Why ``diff`` cents less than ``total`` may be written off, if anything explains it.

    >>> line = Line("L1", None, Decimal("985.00"), "EUR", charges=Decimal("15.00"))  # type: ignore[arg-type]
    >>> shortfall_reason(1500, 100000, line, MatchSettings())
    <WriteOffReason.BANK_CHARGES: 'bank_charges'>
    >>> shortfall_reason(3000, 100000, line, MatchSettings())
    <WriteOffReason.CASH_DISCOUNT: 'cash_discount'>
    >>> shortfall_reason(150, 100000, line, MatchSettings())
    <WriteOffReason.ROUNDING: 'rounding'>
    >>> shortfall_reason(900, 100000, line, MatchSettings()) is None
    True
    """
    if diff <= 0:
        return None
    if diff <= to_cents(settings.max_bank_charges) and (
        (line.charges is not None and to_cents(line.charges) == diff)
        or (line.instructed_amount is not None and to_cents(line.instructed_amount) == total)
    ):
        return WriteOffReason.BANK_CHARGES
    for rate in settings.cash_discount_rates:
        discount = int((Decimal(total) * rate).to_integral_value(ROUND_HALF_UP))
        if abs(diff - discount) <= 1:
            return WriteOffReason.CASH_DISCOUNT
    if diff <= to_cents(settings.rounding_tolerance):
        return WriteOffReason.ROUNDING
    return None


_REASON_TEXT = {
    WriteOffReason.BANK_CHARGES: "bank charges",
    WriteOffReason.CASH_DISCOUNT: "cash discount",
    WriteOffReason.ROUNDING: "rounding difference",
}


def fit_amount(opens: list[int], amount: int, line: Line, settings: MatchSettings) -> Fit:
    """Spread ``amount`` cents over invoices with ``opens`` cents open (oldest first).

    >>> s = MatchSettings()
    >>> line = Line("L1", None, Decimal("70.00"), "EUR")  # type: ignore[arg-type]
    >>> fit_amount([5000, 2000], 7000, line, s).kind, fit_amount([10000], 7000, line, s).text
    (<FitKind.EQUAL: 'equal'>, 'partial payment: 70.00 of 100.00, 30.00 stays open')
    >>> fit_amount([6950], 7000, line, s).text
    'overpaid by 0.50: customer credit'
    """
    total = sum(opens)
    if amount == total:
        return Fit(FitKind.EQUAL, tuple(opens), text="amount equal")
    if amount > total:
        excess = amount - total
        kind = FitKind.OVER_SMALL if excess <= to_cents(settings.rounding_tolerance) else FitKind.OVER
        return Fit(
            kind, tuple(opens), credit=excess, text=f"overpaid by {from_cents(excess)}: customer credit"
        )
    diff = total - amount
    reason = shortfall_reason(diff, total, line, settings)
    if reason is not None and opens[-1] > diff:
        applied = (*opens[:-1], opens[-1] - diff)
        return Fit(
            FitKind.WRITE_OFF,
            applied,
            write_off=diff,
            reason=reason,
            text=f"{from_cents(diff)} short: written off as {_REASON_TEXT[reason]}",
        )
    applied_list: list[int] = []
    left = amount
    for o in opens:
        take = min(o, left)
        applied_list.append(take)
        left -= take
    return Fit(
        FitKind.PARTIAL,
        tuple(applied_list),
        text=f"partial payment: {from_cents(amount)} of {from_cents(total)}, {from_cents(diff)} stays open",
    )
