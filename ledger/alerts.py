"""Receivables alerts as of a day: credit limit, maximum delay, low cash-in, limitation period.

Four kinds, each a list of :class:`Alert` (message in French and English, figures as
strings to the cent):

- ``credit_limit_exceeded`` -- a customer's outstanding is strictly above its credit
  limit (:class:`ledger.collections.CustomerTerms`); equal is not exceeded;
- ``max_delay_exceeded`` -- an open invoice is more days late than its customer's
  ``max_days_late`` (days late = the day less the due date); equal is not exceeded;
- ``cash_in_below_threshold`` -- the cash expected over the next N days, taken from
  :func:`ledger.receivables.forecast` in whole weeks (the weeks starting within the N
  days, so the window is ``ceil(N / 7)`` weeks), is strictly below a threshold;
- ``limitation_approaching`` -- an unpaid invoice whose limitation period ends within N
  months: the period runs from the day the debt is payable (the due date, else the
  issue date) for 5 years between businesses (Code de commerce L110-4) and 2 years
  against a consumer (Code de la consommation L218-2; ``Party.profile == 'consumer'``).
  The end is the same day of the month that many years later, or the month's last day
  when there is none (29 February); a period already over is reported as ``critical``.
  Interruptions (acknowledgement of the debt, legal action) are not recorded in the
  ledger and not taken into account.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger import receivables
from ledger.collections import CustomerTerms
from ledger.models import Invoice, Party

BUSINESS_YEARS = 5
CONSUMER_YEARS = 2
CENT = Decimal("0.01")
KINDS = ("credit_limit_exceeded", "max_delay_exceeded", "cash_in_below_threshold", "limitation_approaching")


def _money(value: object) -> Decimal:
    return Decimal(str(value or 0)).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert: what, how serious, about whom (and which invoice), in French and English."""

    kind: str
    severity: str  # "warning" or "critical"
    party_id: int | None
    invoice_id: int | None
    message_fr: str
    message_en: str
    figures: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return asdict(self)


def add_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by ``months`` calendar months, on the month's last day when it is shorter.

    >>> add_months(dt.date(2026, 8, 31), 6)
    datetime.date(2027, 2, 28)
    >>> add_months(dt.date(2026, 3, 31), -1)
    datetime.date(2026, 2, 28)
    """
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def limitation_end(payable: dt.date, *, consumer: bool) -> dt.date:
    """The last day of the limitation period of a debt payable on ``payable``.

    >>> limitation_end(dt.date(2024, 2, 29), consumer=False)  # no 29 February in 2029
    datetime.date(2029, 2, 28)
    >>> limitation_end(dt.date(2024, 2, 29), consumer=True)
    datetime.date(2026, 2, 28)
    >>> limitation_end(dt.date(2023, 2, 28), consumer=False)
    datetime.date(2028, 2, 28)
    """
    return add_months(payable, 12 * (CONSUMER_YEARS if consumer else BUSINESS_YEARS))


def credit_limit_exceeded(lines: list[receivables.CustomerLine]) -> list[Alert]:
    """Customers whose outstanding is strictly above their credit limit."""
    out = []
    for c in lines:
        if c.credit_limit is None or c.outstanding <= c.credit_limit:
            continue
        over = c.outstanding - c.credit_limit
        out.append(
            Alert(
                kind="credit_limit_exceeded",
                severity="warning",
                party_id=c.party_id,
                invoice_id=None,
                message_fr=f"{c.name} : encours {c.outstanding} EUR au-dessus du plafond "
                f"de {c.credit_limit} EUR "
                f"(dépassement {over} EUR)",
                message_en=f"{c.name}: outstanding {c.outstanding} EUR above the credit limit of "
                f"{c.credit_limit} EUR (by {over} EUR)",
                figures={
                    "outstanding": str(c.outstanding),
                    "credit_limit": str(c.credit_limit),
                    "over": str(over),
                },
            )
        )
    return out


def max_delay_exceeded(session: Session, *, as_of: dt.date) -> list[Alert]:
    """Open invoices more days late than their customer's ``max_days_late``."""
    items = receivables.open_items(as_of).subquery()
    rows = session.execute(
        select(
            items.c.invoice_id,
            items.c.party_id,
            items.c.due_date,
            items.c.outstanding,
            CustomerTerms.max_days_late,
            Party.name,
            Invoice.number,
        )
        .join(CustomerTerms, CustomerTerms.party_id == items.c.party_id)
        .join(Party, Party.id == items.c.party_id)
        .join(Invoice, Invoice.id == items.c.invoice_id)
        .where(CustomerTerms.max_days_late.is_not(None), items.c.due_date < as_of)
        .order_by(items.c.party_id, items.c.invoice_id)
    ).all()
    out = []
    for invoice_id, party_id, due, outstanding, limit, name, number in rows:
        late = (as_of - due).days
        if late <= limit:
            continue
        left = _money(outstanding)
        out.append(
            Alert(
                kind="max_delay_exceeded",
                severity="warning",
                party_id=party_id,
                invoice_id=invoice_id,
                message_fr=f"{name} : facture {number} en retard de {late} jours "
                f"(délai maximal {limit} jours), "
                f"reste dû {left} EUR",
                message_en=f"{name}: invoice {number} is {late} days late (maximum delay {limit} days), "
                f"{left} EUR still due",
                figures={
                    "number": number,
                    "days_late": str(late),
                    "max_days_late": str(limit),
                    "outstanding": str(left),
                },
            )
        )
    return out


def cash_in_below_threshold(
    forecast: list[tuple[dt.date, Decimal]], *, as_of: dt.date, days: int, threshold: Decimal | None
) -> list[Alert]:
    """One alert when the cash expected in the weeks starting within ``days`` is below ``threshold``.

    >>> weeks = [(dt.date(2026, 1, 1) + dt.timedelta(days=7 * i), Decimal(100)) for i in range(12)]
    >>> cash_in_below_threshold(weeks, as_of=dt.date(2026, 1, 1), days=14, threshold=Decimal(200))
    []
    >>> [a.figures["expected"] for a in cash_in_below_threshold(
    ...     weeks, as_of=dt.date(2026, 1, 1), days=15, threshold=Decimal("300.01"))]
    ['300.00']
    """
    if threshold is None:
        return []
    count = math.ceil(days / 7)
    if not 1 <= count <= len(forecast):
        raise ValueError(f"the cash-in window must be 1 to {7 * len(forecast)} days, not {days}")
    expected = _money(sum((amount for _start, amount in forecast[:count]), Decimal(0)))
    if expected >= threshold:
        return []
    until = as_of + dt.timedelta(days=7 * count - 1)
    limit = _money(threshold)
    return [
        Alert(
            kind="cash_in_below_threshold",
            severity="warning",
            party_id=None,
            invoice_id=None,
            message_fr=f"Encaissements attendus du {as_of} au {until} : {expected} EUR, "
            f"sous le seuil de {limit} EUR",
            message_en=f"Expected cash-in from {as_of} to {until}: {expected} EUR, "
            f"below the threshold of {limit} EUR",
            figures={
                "expected": str(expected),
                "threshold": str(limit),
                "from": as_of.isoformat(),
                "until": until.isoformat(),
            },
        )
    ]


def limitation_approaching(session: Session, *, as_of: dt.date, months: int) -> list[Alert]:
    """Unpaid invoices whose limitation period ends on or before ``as_of`` + ``months`` (or has ended)."""
    horizon = add_months(as_of, months)
    items = receivables.open_items(as_of).subquery()
    # the shortest period is the consumers' 2 years: nothing payable after this can end by the horizon
    cutoff = add_months(horizon, -12 * CONSUMER_YEARS)
    payable_col = func.coalesce(items.c.due_date, items.c.issue_date)
    rows = session.execute(
        select(
            items.c.invoice_id,
            items.c.party_id,
            payable_col,
            items.c.outstanding,
            Party.name,
            Party.profile,
            Invoice.number,
        )
        .join(Party, Party.id == items.c.party_id)
        .join(Invoice, Invoice.id == items.c.invoice_id)
        .where(payable_col <= cutoff)
        .order_by(payable_col, items.c.invoice_id)
    ).all()
    out = []
    for invoice_id, party_id, payable, outstanding, name, profile, number in rows:
        consumer = profile == "consumer"
        end = limitation_end(payable, consumer=consumer)
        if end > horizon:
            continue
        years = CONSUMER_YEARS if consumer else BUSINESS_YEARS
        left = _money(outstanding)
        lapsed = end < as_of
        fr_when = f"prescrite depuis le {end}" if lapsed else f"prescrite après le {end}"
        en_when = f"time-barred since {end}" if lapsed else f"time-barred after {end}"
        out.append(
            Alert(
                kind="limitation_approaching",
                severity="critical" if lapsed else "warning",
                party_id=party_id,
                invoice_id=invoice_id,
                message_fr=f"{name} : facture {number} exigible le {payable}, {fr_when} "
                f"({years} ans), reste dû {left} EUR",
                message_en=f"{name}: invoice {number} payable on {payable}, {en_when} "
                f"({years} years), {left} EUR still due",
                figures={
                    "number": number,
                    "payable_on": payable.isoformat(),
                    "limitation_ends": end.isoformat(),
                    "years": str(years),
                    "outstanding": str(left),
                },
            )
        )
    return out


def alerts(
    session: Session,
    *,
    as_of: dt.date,
    cash_in_days: int = 30,
    cash_in_threshold: Decimal | None = None,
    limitation_months: int = 6,
    figures: receivables.Figures | None = None,
) -> list[Alert]:
    """Every alert as of ``as_of`` (``figures``: already computed for that day, to reuse)."""
    if figures is None:
        figures = receivables.figures(session, as_of=as_of)
    return [
        *credit_limit_exceeded(figures.customers),
        *max_delay_exceeded(session, as_of=as_of),
        *cash_in_below_threshold(
            figures.forecast, as_of=as_of, days=cash_in_days, threshold=cash_in_threshold
        ),
        *limitation_approaching(session, as_of=as_of, months=limitation_months),
    ]
