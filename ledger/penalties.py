"""French late-payment penalties and the 40 EUR recovery indemnity: pure functions.

Between businesses (Code de commerce L441-10, D441-5):

- penalties run from the day after the due date to the payment date, on what is still
  unpaid each day: ``amount × rate × days / 365``;
- the rate is the ECB main refinancing rate in force on 1 January (first half-year) or
  1 July (second half-year) plus 10 points, or the contractual rate, which may never be
  below three times the legal interest rate of the half-year: a lower contractual rate
  is raised to that floor, and the result says so;
- a delay that crosses 1 January or 1 July is split, each part at its own half-year's
  rate; a partial payment lowers the base from the day after it is received;
- the debtor also owes a flat 40 EUR per invoice paid late.

Against a consumer the business rules do not apply: what is owed is interest at the
legal rate (the "other cases" column: the creditor is a business) from the formal notice
(mise en demeure, Code civil 1231-6), and no indemnity. Without a formal notice nothing is
owed yet, and the result says why.

Amounts are exact decimals until the end, where the total is rounded half-up to the cent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from ledger.rates import Rate, RateTables, default_tables, next_half_year

CENT = Decimal("0.01")
RECOVERY_INDEMNITY = Decimal("40.00")
MARGIN_POINTS = Decimal("10")
FLOOR_MULTIPLE = Decimal("3")
DAYS_IN_YEAR = Decimal("365")

Debtor = Literal["business", "consumer"]


@dataclass(frozen=True, slots=True)
class Payment:
    """Money received against the invoice on a day."""

    on: dt.date
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Segment:
    """Consecutive late days with one base and one rate; ``first`` and ``last`` are included."""

    first: dt.date
    last: dt.date
    base: Decimal
    rate: Decimal
    #: base × rate / 100 × days / 365, not rounded
    interest: Decimal
    basis: str

    @property
    def days(self) -> int:
        """How many late days the segment covers."""
        return (self.last - self.first).days + 1


@dataclass(frozen=True)
class Penalties:
    """What a late invoice owes on top of its amount, and how it was computed."""

    days_late: int
    segments: tuple[Segment, ...]
    interest: Decimal
    indemnity: Decimal
    #: some rate used comes from a secondary source (see ledger/data)
    provisional: bool
    notes: tuple[str, ...] = field(default=())

    @property
    def total(self) -> Decimal:
        """Interest plus indemnity."""
        return self.interest + self.indemnity


def _paid_before(payments: Sequence[Payment], day: dt.date) -> Decimal:
    return sum((p.amount for p in payments if p.on < day), Decimal(0))


def _boundaries(start: dt.date, end: dt.date, payments: Sequence[Payment]) -> list[dt.date]:
    """The first day of each segment in [start, end]: half-year starts and days after a payment."""
    cuts = {start}
    day = next_half_year(start)
    while day <= end:
        cuts.add(day)
        day = next_half_year(day)
    cuts.update(p.on + dt.timedelta(days=1) for p in payments if start < p.on + dt.timedelta(days=1) <= end)
    return sorted(cuts)


def _rate_for(
    day: dt.date, *, debtor: Debtor, contractual: Decimal | None, tables: RateTables
) -> tuple[Decimal, str, list[Rate]]:
    if debtor == "consumer":
        legal = tables.legal_interest(day)
        return legal.percent, f"legal interest rate {legal.percent} %", [legal]
    floor_rate = tables.legal_interest(day)
    floor = FLOOR_MULTIPLE * floor_rate.percent
    if contractual is not None:
        if contractual >= floor:
            return contractual, f"contractual rate {contractual} %", [floor_rate]
        return (
            floor,
            f"3 × legal interest rate {floor_rate.percent} % (contract: {contractual} %)",
            [floor_rate],
        )
    ecb = tables.reference_rate(day)
    return ecb.percent + MARGIN_POINTS, f"ECB rate {ecb.percent} % + 10 points", [ecb]


def late_penalties(
    *,
    amount: Decimal,
    due: dt.date,
    as_of: dt.date,
    payments: Sequence[Payment] = (),
    debtor: Debtor = "business",
    contractual_rate: Decimal | None = None,
    formal_notice: dt.date | None = None,
    tables: RateTables | None = None,
) -> Penalties:
    """Penalties owed on an invoice of ``amount`` (tax included) due on ``due``, as of ``as_of``.

    Late days run until the invoice is fully paid, or until ``as_of`` while it is not.

    >>> p = late_penalties(amount=Decimal("1000"), due=dt.date(2024, 1, 31), as_of=dt.date(2024, 3, 1))
    >>> p.days_late, p.interest, p.indemnity  # 30 days at 4.50 + 10 = 14.50 %
    (30, Decimal('11.92'), Decimal('40.00'))
    """
    tables = tables or default_tables()
    payments = sorted(payments, key=lambda p: p.on)
    notes: list[str] = []
    running, settled_on = Decimal(0), None
    for payment in payments:
        running += payment.amount
        if running >= amount:
            settled_on = payment.on
            break
    end = min(as_of, settled_on) if settled_on else as_of
    days_late = max((end - due).days, 0)
    start = due + dt.timedelta(days=1)
    if debtor == "consumer":
        if formal_notice is None:
            notes.append("consumer debtor: interest runs only from a formal notice (mise en demeure)")
            return Penalties(days_late, (), Decimal("0.00"), Decimal("0.00"), False, tuple(notes))
        start = max(start, formal_notice + dt.timedelta(days=1))
    segments: list[Segment] = []
    used: list[Rate] = []
    if start <= end:
        cuts = _boundaries(start, end, payments)
        for first, nxt in zip(cuts, [*cuts[1:], end + dt.timedelta(days=1)], strict=True):
            base = amount - _paid_before(payments, first)
            if base <= 0:
                continue
            rate, basis, rates = _rate_for(first, debtor=debtor, contractual=contractual_rate, tables=tables)
            used += rates
            last = nxt - dt.timedelta(days=1)
            days = Decimal((last - first).days + 1)
            segments.append(Segment(first, last, base, rate, base * rate / 100 * days / DAYS_IN_YEAR, basis))
    if any("contract:" in s.basis for s in segments):
        notes.append("the contractual rate is below three times the legal interest rate: the floor applies")
    provisional = any(not r.confirmed for r in used)
    if provisional:
        notes.append("a rate used comes from a secondary source: check it before claiming")
    interest = sum((s.interest for s in segments), Decimal(0)).quantize(CENT, rounding=ROUND_HALF_UP)
    indemnity = RECOVERY_INDEMNITY if debtor == "business" and days_late > 0 else Decimal("0.00")
    return Penalties(days_late, tuple(segments), interest, indemnity, provisional, tuple(notes))
