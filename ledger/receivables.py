"""What customers owe, as of a day: aging, outstanding per customer, DSO, expected cash-in.

Every figure is computed in SQL over the ledger (it runs the same on SQLite and
PostgreSQL) from the invoices we issued and the payments applied to them, so it can be
asked for any past day, not only today:

- **receivables** are our outgoing invoices (document direction ``outgoing``) with a
  customer, except those rejected, cancelled or unreadable (213, 220, 221, 501); an
  invoice counts from its issue date for its amount due (BT-115, else BT-112);
- **outstanding on day D** is that amount less what was applied to it (payments and
  write-offs, not undone) from payments received on or before D;
- **aging** puts each open invoice in a bucket by days past its due date on D: not yet
  due, 1-30, 31-60, 61-90, over 90;
- **DSO by the count-back method**: starting from D, with what is owed on D in all
  (receivables issued less what was applied), walk back month by month through the
  amounts invoiced, taking whole months while they fit in what is owed, and the
  fraction of the month where the rest runs out (at most 24 months);
- **expected cash-in per week** for 12 weeks: each open invoice on its due date moved by
  its customer's average delay (days between due date and full payment, over the
  invoices paid in the year before D), or on the promised day for what a pending promise
  covers; what is expected before D counts in the first week.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, func, literal, select
from sqlalchemy.orm import Session

from ledger.bank import Payment, PaymentAllocation
from ledger.collections import CustomerTerms, PaymentPromise
from ledger.models import Document, Invoice, Party

EXCLUDED_STATUSES = ("213", "220", "221", "501")
BUCKETS = ("not_due", "1_30", "31_60", "61_90", "over_90")
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
FORECAST_WEEKS = 12
COUNT_BACK_MONTHS = 24


def _money(value: Any) -> Decimal:
    return Decimal(value or 0).quantize(CENT, rounding=ROUND_HALF_UP)


def _amount() -> ColumnElement[Any]:
    return func.coalesce(Invoice.amount_due, Invoice.total_with_vat, 0)


def _receivables(as_of: dt.date) -> Select[Any]:
    """Receivable invoices issued on or before ``as_of``: (invoice id, customer, issue, due, amount)."""
    return (
        select(
            Invoice.id.label("invoice_id"),
            Invoice.buyer_party_id.label("party_id"),
            Invoice.issue_date.label("issue_date"),
            Invoice.due_date.label("due_date"),
            _amount().label("amount"),
        )
        .join(Document, Document.id == Invoice.document_id)
        .where(
            Document.direction == "outgoing",
            Invoice.buyer_party_id.is_not(None),
            func.coalesce(Document.status_code, "").not_in(EXCLUDED_STATUSES),
            Invoice.issue_date <= as_of,
        )
    )


def _applied(as_of: dt.date) -> Select[Any]:
    """Per invoice, what payments received on or before ``as_of`` applied to it (payments, write-offs)."""
    return (
        select(
            PaymentAllocation.invoice_id.label("invoice_id"), func.sum(PaymentAllocation.amount).label("paid")
        )
        .join(Payment, Payment.id == PaymentAllocation.payment_id)
        .where(
            PaymentAllocation.invoice_id.is_not(None),
            PaymentAllocation.kind.in_(("payment", "writeoff")),
            PaymentAllocation.undone_at.is_(None),
            Payment.undone_at.is_(None),
            Payment.received_on <= as_of,
        )
        .group_by(PaymentAllocation.invoice_id)
    )


def open_items(as_of: dt.date) -> Select[Any]:
    """Open receivables on ``as_of``: invoice id, customer, issue and due dates, amount, outstanding."""
    rec = _receivables(as_of).subquery()
    paid = _applied(as_of).subquery()
    outstanding = (rec.c.amount - func.coalesce(paid.c.paid, 0)).label("outstanding")
    return (
        select(rec.c.invoice_id, rec.c.party_id, rec.c.issue_date, rec.c.due_date, rec.c.amount, outstanding)
        .select_from(rec.outerjoin(paid, paid.c.invoice_id == rec.c.invoice_id))
        .where(rec.c.amount - func.coalesce(paid.c.paid, 0) > 0)
    )


def _bucket(due: ColumnElement[Any], as_of: dt.date) -> ColumnElement[Any]:
    days = dt.timedelta
    return case(
        (due.is_(None), literal("not_due")),
        (due >= as_of, literal("not_due")),
        (due >= as_of - days(30), literal("1_30")),
        (due >= as_of - days(60), literal("31_60")),
        (due >= as_of - days(90), literal("61_90")),
        else_=literal("over_90"),
    )


@dataclass
class CustomerLine:
    """One customer's outstanding on the day, by aging bucket, against its credit limit."""

    party_id: int
    name: str
    outstanding: Decimal
    overdue: Decimal
    buckets: dict[str, Decimal]
    credit_limit: Decimal | None
    over_limit: bool
    open_invoices: int


@dataclass
class Figures:
    """The receivables dashboard's figures as of one day."""

    as_of: dt.date
    total_due: Decimal
    overdue: Decimal
    due_next_7: Decimal
    due_next_30: Decimal
    buckets: dict[str, Decimal]
    customers: list[CustomerLine]
    dso: Decimal
    dso_trend: list[tuple[dt.date, Decimal]]
    forecast: list[tuple[dt.date, Decimal]]
    forecast_later: Decimal
    top_late: list[CustomerLine] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready form (amounts as strings, to the cent)."""

        def line(c: CustomerLine) -> dict[str, Any]:
            return {
                "party_id": c.party_id,
                "name": c.name,
                "outstanding": str(c.outstanding),
                "overdue": str(c.overdue),
                "buckets": {k: str(v) for k, v in c.buckets.items()},
                "credit_limit": None if c.credit_limit is None else str(c.credit_limit),
                "over_limit": c.over_limit,
                "open_invoices": c.open_invoices,
            }

        return {
            "as_of": self.as_of.isoformat(),
            "total_due": str(self.total_due),
            "overdue": str(self.overdue),
            "due_next_7_days": str(self.due_next_7),
            "due_next_30_days": str(self.due_next_30),
            "aging": {k: str(v) for k, v in self.buckets.items()},
            "dso_days": str(self.dso),
            "dso_trend": [{"month_end": d.isoformat(), "dso_days": str(v)} for d, v in self.dso_trend],
            "forecast": [{"week_of": d.isoformat(), "amount": str(v)} for d, v in self.forecast],
            "forecast_later": str(self.forecast_later),
            "customers": [line(c) for c in self.customers],
            "top_late_payers": [line(c) for c in self.top_late],
        }


def customer_lines(session: Session, *, as_of: dt.date) -> list[CustomerLine]:
    """Outstanding per customer and bucket, with credit limits; largest outstanding first."""
    items = open_items(as_of).subquery()
    bucket = _bucket(items.c.due_date, as_of).label("bucket")
    rows = session.execute(
        select(items.c.party_id, bucket, func.sum(items.c.outstanding), func.count()).group_by(
            items.c.party_id, bucket
        )
    ).all()
    per: dict[int, dict[str, Any]] = {}
    for party_id, name_of_bucket, amount, count in rows:
        entry = per.setdefault(party_id, {"buckets": dict.fromkeys(BUCKETS, ZERO), "count": 0})
        entry["buckets"][name_of_bucket] = _money(amount)
        entry["count"] += int(count)
    if not per:
        return []
    names = dict(session.execute(select(Party.id, Party.name).where(Party.id.in_(per))).tuples().all())
    limits = dict(
        session.execute(
            select(CustomerTerms.party_id, CustomerTerms.credit_limit).where(CustomerTerms.party_id.in_(per))
        )
        .tuples()
        .all()
    )
    out = []
    for party_id, entry in per.items():
        buckets = entry["buckets"]
        outstanding = sum(buckets.values(), ZERO)
        limit = limits.get(party_id)
        out.append(
            CustomerLine(
                party_id=party_id,
                name=names.get(party_id, ""),
                outstanding=outstanding,
                overdue=outstanding - buckets["not_due"],
                buckets=buckets,
                credit_limit=None if limit is None else _money(limit),
                over_limit=limit is not None and outstanding > limit,
                open_invoices=entry["count"],
            )
        )
    out.sort(key=lambda c: (-c.outstanding, c.party_id))
    return out


def _month_starts(as_of: dt.date, count: int) -> list[dt.date]:
    """First days of ``as_of``'s month and the ``count - 1`` months before it, latest first."""
    starts, year, month = [], as_of.year, as_of.month
    for _ in range(count):
        starts.append(dt.date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return starts


def count_back_dso(outstanding: Decimal, periods: Sequence[tuple[int, Decimal]]) -> Decimal:
    """Days sales outstanding by count-back over ``periods`` (days, sales), latest first.

    >>> count_back_dso(Decimal(150), [(30, Decimal(100)), (31, Decimal(100))])  # 30 + 31 / 2
    Decimal('45.5')
    >>> count_back_dso(Decimal(0), [(30, Decimal(100))])
    Decimal('0.0')
    """
    remaining, days = outstanding, Decimal(0)
    for length, sales in periods:
        if remaining <= 0:
            break
        if sales <= 0 or remaining >= sales:
            days += length
            remaining -= max(sales, Decimal(0))
        else:
            days += Decimal(length) * remaining / sales
            remaining = Decimal(0)
    return days.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def dso_series(session: Session, *, days: Sequence[dt.date]) -> list[Decimal]:
    """DSO by count-back on each of ``days``, in three scans whatever their number.

    What is outstanding on a day is the receivables issued by then less what was applied
    to them from payments received by then; the months are calendar months, the first
    one running from the 1st to the day itself.
    """
    if not days:
        return []
    latest = max(days)
    rec = _receivables(latest).subquery()
    issued = session.execute(
        select(*(func.sum(case((rec.c.issue_date <= d, rec.c.amount), else_=0)) for d in days))
    ).one()
    applied_rows = (
        select(Invoice.issue_date.label("issue_date"), PaymentAllocation.amount, Payment.received_on)
        .join(PaymentAllocation, PaymentAllocation.invoice_id == Invoice.id)
        .join(Payment, Payment.id == PaymentAllocation.payment_id)
        .where(
            Invoice.id.in_(select(rec.c.invoice_id)),
            PaymentAllocation.kind.in_(("payment", "writeoff")),
            PaymentAllocation.undone_at.is_(None),
            Payment.undone_at.is_(None),
        )
        .subquery()
    )
    applied = session.execute(
        select(
            *(
                func.sum(
                    case(
                        (
                            and_(applied_rows.c.received_on <= d, applied_rows.c.issue_date <= d),
                            applied_rows.c.amount,
                        ),
                        else_=0,
                    )
                )
                for d in days
            )
        )
    ).one()
    windows: dict[tuple[dt.date, dt.date], int] = {}
    for d in days:
        starts = _month_starts(d, COUNT_BACK_MONTHS)
        for start, end in zip(starts, [d, *(s - dt.timedelta(days=1) for s in starts[:-1])], strict=True):
            windows.setdefault((start, end), len(windows))
    keys = list(windows)
    sales_row = session.execute(
        select(
            *(
                func.sum(case((and_(rec.c.issue_date >= a, rec.c.issue_date <= b), rec.c.amount), else_=0))
                for a, b in keys
            )
        )
    ).one()
    sales = {key: _money(value) for key, value in zip(keys, sales_row, strict=True)}
    out = []
    for d, total, paid in zip(days, issued, applied, strict=True):
        starts = _month_starts(d, COUNT_BACK_MONTHS)
        ends = [d, *(s - dt.timedelta(days=1) for s in starts[:-1])]
        periods = [((e - s).days + 1, sales[(s, e)]) for s, e in zip(starts, ends, strict=True)]
        out.append(count_back_dso(_money(total) - _money(paid), periods))
    return out


def dso(session: Session, *, as_of: dt.date) -> Decimal:
    """DSO on ``as_of`` by count-back (see the module's definition)."""
    return dso_series(session, days=[as_of])[0]


def month_ends(as_of: dt.date, count: int = 12) -> list[dt.date]:
    """The last ``count`` month ends before ``as_of``'s month, oldest first."""
    return [s - dt.timedelta(days=1) for s in reversed(_month_starts(as_of, count))]


def average_delays(session: Session, *, as_of: dt.date) -> dict[int, int]:
    """Per customer, the average days between due date and full payment, over invoices paid in the year."""
    rec = _receivables(as_of).subquery()
    last_paid = (
        select(
            PaymentAllocation.invoice_id.label("invoice_id"),
            func.max(Payment.received_on).label("paid_on"),
            func.sum(PaymentAllocation.amount).label("paid"),
        )
        .join(Payment, Payment.id == PaymentAllocation.payment_id)
        .where(
            PaymentAllocation.invoice_id.is_not(None),
            PaymentAllocation.kind.in_(("payment", "writeoff")),
            PaymentAllocation.undone_at.is_(None),
            Payment.undone_at.is_(None),
            Payment.received_on <= as_of,
        )
        .group_by(PaymentAllocation.invoice_id)
        .subquery()
    )
    rows = session.execute(
        select(rec.c.party_id, rec.c.due_date, last_paid.c.paid_on)
        .join(last_paid, last_paid.c.invoice_id == rec.c.invoice_id)
        .where(
            last_paid.c.paid >= rec.c.amount,
            last_paid.c.paid_on > as_of - dt.timedelta(days=365),
            rec.c.due_date.is_not(None),
        )
    ).all()
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for party_id, due, paid_on in rows:
        totals[party_id][0] += (paid_on - due).days
        totals[party_id][1] += 1
    return {p: round(total / count) for p, (total, count) in totals.items()}


def forecast(session: Session, *, as_of: dt.date) -> tuple[list[tuple[dt.date, Decimal]], Decimal]:
    """Expected cash-in per week (week starting ``as_of``, then each 7 days) and after the 12 weeks."""
    delays = average_delays(session, as_of=as_of)
    items = session.execute(open_items(as_of)).all()
    promises = session.execute(
        select(PaymentPromise.invoice_id, PaymentPromise.promised_on, PaymentPromise.amount).where(
            PaymentPromise.state == "pending", PaymentPromise.promised_on >= as_of
        )
    ).all()
    promised: dict[int, tuple[dt.date, Decimal]] = {}
    for invoice_id, on, amount in promises:  # the latest promise of an invoice counts
        if invoice_id not in promised or on > promised[invoice_id][0]:
            promised[invoice_id] = (on, Decimal(amount))
    weeks = [ZERO] * FORECAST_WEEKS
    later = ZERO

    def add(day: dt.date, amount: Decimal) -> None:
        nonlocal later
        index = max((day - as_of).days, 0) // 7
        if index < FORECAST_WEEKS:
            weeks[index] += amount
        else:
            later += amount

    for invoice_id, party_id, _issue, due, _amount_total, outstanding in items:
        left = _money(outstanding)
        if invoice_id in promised:
            on, amount = promised[invoice_id]
            part = min(_money(amount), left)
            add(on, part)
            left -= part
        if left > 0:
            add((due or as_of) + dt.timedelta(days=delays.get(party_id, 0)), left)
    return [(as_of + dt.timedelta(days=7 * i), w) for i, w in enumerate(weeks)], later


def figures(session: Session, *, as_of: dt.date, top: int = 10) -> Figures:
    """Every dashboard figure as of ``as_of``."""
    customers = customer_lines(session, as_of=as_of)
    buckets = dict.fromkeys(BUCKETS, ZERO)
    for c in customers:
        for k, v in c.buckets.items():
            buckets[k] += v
    total = sum(buckets.values(), ZERO)
    items = open_items(as_of).subquery()

    def due_within(days: int) -> Decimal:
        window = and_(items.c.due_date >= as_of, items.c.due_date <= as_of + dt.timedelta(days=days))
        return _money(session.scalar(select(func.sum(items.c.outstanding)).where(window)))

    weeks, later = forecast(session, as_of=as_of)
    ends = month_ends(as_of)
    series = dso_series(session, days=[*ends, as_of])
    return Figures(
        as_of=as_of,
        total_due=total,
        overdue=total - buckets["not_due"],
        due_next_7=due_within(7),
        due_next_30=due_within(30),
        buckets=buckets,
        customers=customers,
        dso=series[-1],
        dso_trend=list(zip(ends, series[:-1], strict=True)),
        forecast=weeks,
        forecast_later=later,
        top_late=sorted((c for c in customers if c.overdue > 0), key=lambda c: (-c.overdue, c.party_id))[
            :top
        ],
    )
