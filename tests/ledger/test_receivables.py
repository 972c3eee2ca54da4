"""Receivables figures (SQL, ledger.receivables) against an independent computation in Python.

A generated two-year history (a tenth of the acceptance scale by default: 1,000
customers, 50,000 invoices; ``ENCAISSE_TEST_HISTORY_SCALE`` changes it, bench/receivables.py
runs the full scale) is loaded on SQLite and on PostgreSQL; aging, outstanding per
customer, DSO by count-back and its trend, and the weekly forecast must equal, to the
cent, what this file computes from the generated values alone.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ledger import db, receivables
from ledger.history import History, generate_history, load_history

SCALE = float(os.environ.get("ENCAISSE_TEST_HISTORY_SCALE", "0.1"))
END = dt.date(2026, 11, 20)
CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def m(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


class Expected:
    """The figures recomputed from the history's values, following the definitions in the docstring."""

    def __init__(self, h: History, as_of: dt.date) -> None:
        self.h, self.as_of = h, as_of
        self.paid_by: dict[int, list[tuple[dt.date, Decimal]]] = defaultdict(list)
        for p in h.payments:
            self.paid_by[p.invoice].append((p.on, p.amount))

    def outstanding(self, key: int, day: dt.date) -> Decimal:
        inv = self.h.invoices[key]
        if inv.issue > day:
            return ZERO
        return inv.amount - sum((a for on, a in self.paid_by[key] if on <= day), ZERO)

    def bucket(self, due: dt.date) -> str:
        late = (self.as_of - due).days
        if late <= 0:
            return "not_due"
        return "1_30" if late <= 30 else "31_60" if late <= 60 else "61_90" if late <= 90 else "over_90"

    def figures(self) -> dict[str, Any]:
        d = self.as_of
        per: dict[int, dict[str, Decimal]] = {}
        counts: dict[int, int] = defaultdict(int)
        next7 = next30 = ZERO
        for inv in self.h.invoices:
            left = self.outstanding(inv.key, d)
            if left <= 0:
                continue
            b = per.setdefault(inv.customer, dict.fromkeys(receivables.BUCKETS, ZERO))
            b[self.bucket(inv.due)] += left
            counts[inv.customer] += 1
            if d <= inv.due <= d + dt.timedelta(days=7):
                next7 += left
            if d <= inv.due <= d + dt.timedelta(days=30):
                next30 += left
        aging = dict.fromkeys(receivables.BUCKETS, ZERO)
        lines = []
        for c, b in per.items():
            total = sum(b.values(), ZERO)
            name, _profile, limit = self.h.customers[c]
            for k, v in b.items():
                aging[k] += v
            lines.append(
                {
                    "name": name,
                    "outstanding": str(m(total)),
                    "overdue": str(m(total - b["not_due"])),
                    "buckets": {k: str(m(v)) for k, v in b.items()},
                    "credit_limit": None if limit is None else str(m(limit)),
                    "over_limit": limit is not None and total > limit,
                    "open_invoices": counts[c],
                }
            )
        lines.sort(key=lambda x: (-Decimal(str(x["outstanding"])), str(x["name"])))
        total = sum(aging.values(), ZERO)
        weeks, later = self.forecast()
        return {
            "total_due": str(m(total)),
            "overdue": str(m(total - aging["not_due"])),
            "due_next_7_days": str(m(next7)),
            "due_next_30_days": str(m(next30)),
            "aging": {k: str(m(v)) for k, v in aging.items()},
            "customers": lines,
            "dso_days": str(self.dso(d)),
            "dso_trend": [str(self.dso(e)) for e in self.month_ends()],
            "forecast": [str(m(w)) for w in weeks],
            "forecast_later": str(m(later)),
        }

    def month_ends(self) -> list[dt.date]:
        first = self.as_of.replace(day=1)
        ends = []
        for _ in range(12):
            first = (first - dt.timedelta(days=1)).replace(day=1)
            nxt = (first + dt.timedelta(days=32)).replace(day=1)
            ends.append(nxt - dt.timedelta(days=1))
        return list(reversed(ends))

    def dso(self, day: dt.date) -> Decimal:
        ar = sum((self.outstanding(i.key, day) for i in self.h.invoices), ZERO)  # net: what is owed in all
        if not hasattr(self, "_daily"):
            self._daily: dict[dt.date, Decimal] = defaultdict(Decimal)
            for i in self.h.invoices:
                self._daily[i.issue] += i.amount
        remaining, days = m(ar), Decimal(0)
        end, start = day, day.replace(day=1)
        for _ in range(24):
            length = (end - start).days + 1
            sales = m(sum((self._daily.get(start + dt.timedelta(days=n), ZERO) for n in range(length)), ZERO))
            if remaining <= 0:
                break
            if sales <= 0 or remaining >= sales:
                days += length
                remaining -= sales
            else:
                days += Decimal(length) * remaining / sales
                remaining = ZERO
            end = start - dt.timedelta(days=1)
            start = end.replace(day=1)
        return days.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)

    def forecast(self) -> tuple[list[Decimal], Decimal]:
        d = self.as_of
        delays: dict[int, list[int]] = defaultdict(list)
        for inv in self.h.invoices:
            paid = [(on, a) for on, a in self.paid_by[inv.key] if on <= d]
            if paid and sum(a for _, a in paid) >= inv.amount:
                last = max(on for on, _ in paid)
                if last > d - dt.timedelta(days=365):
                    delays[inv.customer].append((last - inv.due).days)
        avg = {c: round(sum(v) / len(v)) for c, v in delays.items()}
        promised: dict[int, tuple[dt.date, Decimal]] = {}
        for key, on, amount in self.h.promises:
            if on >= d and (key not in promised or on > promised[key][0]):
                promised[key] = (on, amount)
        weeks, later = [ZERO] * 12, ZERO
        for inv in self.h.invoices:
            left = m(self.outstanding(inv.key, d))
            if left <= 0:
                continue
            parts = []
            if inv.key in promised:
                on, amount = promised[inv.key]
                part = min(m(amount), left)
                parts.append((on, part))
                left -= part
            if left > 0:
                parts.append((inv.due + dt.timedelta(days=avg.get(inv.customer, 0)), left))
            for on, amount in parts:
                week = max((on - d).days, 0) // 7
                if week < 12:
                    weeks[week] += amount
                else:
                    later += amount
        return weeks, later


def _comparable(got: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in got.items() if k not in ("as_of", "top_late_payers")}
    out["customers"] = sorted(
        ({k: v for k, v in c.items() if k != "party_id"} for c in got["customers"]),
        key=lambda x: (-Decimal(x["outstanding"]), x["name"]),
    )
    out["dso_trend"] = [t["dso_days"] for t in got["dso_trend"]]
    out["forecast"] = [w["amount"] for w in got["forecast"]]
    return out


def test_figures_equal_an_independent_computation(engine: Engine) -> None:
    history = generate_history(customers=int(10_000 * SCALE), invoices=int(500_000 * SCALE), end=END, seed=11)
    assert history.payments and history.promises and history.disputes
    with db.make_session_factory(engine)() as session, session.begin():
        load_history(session, history)
    for as_of in (END, END - dt.timedelta(days=100), END - dt.timedelta(days=400)):
        with Session(engine) as session:
            got = receivables.figures(session, as_of=as_of).as_json()
        expected = Expected(history, as_of).figures()
        assert float(expected["total_due"]) > 0
        assert _comparable(got) == expected, as_of
        top = got["top_late_payers"]
        assert [Decimal(c["overdue"]) for c in top] == sorted(
            (Decimal(c["overdue"]) for c in top), reverse=True
        )


def test_count_back_by_hand() -> None:
    # 150 outstanding; months of 30 and 31 days invoiced 100 each: 30 + 31 × 50/100 = 45.5 days
    assert receivables.count_back_dso(Decimal(150), [(30, Decimal(100)), (31, Decimal(100))]) == Decimal(
        "45.5"
    )
    # more outstanding than everything invoiced: every month counts, whole
    assert receivables.count_back_dso(Decimal(500), [(30, Decimal(100)), (31, Decimal(0))]) == Decimal("61.0")
