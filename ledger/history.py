"""A seeded, synthetic receivables history: customers, invoices we issued, payments, disputes, promises.

Used to seed the demo, to test the receivables figures against an independent
computation, and to benchmark them at scale. Customers have habits: most pay around
their due date with a personal delay, some pay in two parts, a few never pay; recent
invoices are still open; some open invoices are disputed or carry a payment promise.
The same arguments always give the same history.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from ledger.bank import Payment, PaymentAllocation
from ledger.collections import CustomerTerms, Dispute, PaymentPromise
from ledger.models import Document, Invoice, Party, utcnow

PROFILES = ("key_account", "sme", "sme", "sme", "consumer", "public_body")


@dataclass(frozen=True, slots=True)
class HInvoice:
    """One invoice of the history (``key`` is its index, before it gets a database id)."""

    key: int
    customer: int
    number: str
    issue: dt.date
    due: dt.date
    amount: Decimal


@dataclass(frozen=True, slots=True)
class HPayment:
    """A payment received for one invoice."""

    invoice: int
    on: dt.date
    amount: Decimal


@dataclass
class History:
    """Everything generated, as plain values."""

    customers: list[tuple[str, str, Decimal | None]]  # name, profile, credit limit
    invoices: list[HInvoice]
    payments: list[HPayment]
    disputes: list[int] = field(default_factory=list)  # invoice keys with an open dispute
    promises: list[tuple[int, dt.date, Decimal]] = field(default_factory=list)  # invoice key, day, amount


def generate_history(
    *, customers: int, invoices: int, end: dt.date, days: int = 730, seed: int = 0
) -> History:
    """Generate ``invoices`` invoices over the ``days`` before ``end`` for ``customers`` customers."""
    rng = random.Random(seed)
    people: list[tuple[str, str, Decimal | None]] = []
    habits: list[tuple[float, float]] = []  # mean delay in days, probability never to pay
    for c in range(customers):
        profile = rng.choice(PROFILES)
        limit = Decimal(rng.choice((5000, 10000, 25000, 50000, 100000))) if rng.random() < 0.6 else None
        people.append((f"Client {c + 1:05d}", profile, limit))
        habits.append((max(rng.gauss(12, 15), -5), 0.02 if rng.random() < 0.9 else 0.25))
    start = end - dt.timedelta(days=days)
    out_invoices: list[HInvoice] = []
    out_payments: list[HPayment] = []
    disputes: list[int] = []
    promises: list[tuple[int, dt.date, Decimal]] = []
    for key in range(invoices):
        customer = rng.randrange(customers)
        issue = start + dt.timedelta(days=rng.randrange(days))
        due = issue + dt.timedelta(days=rng.choice((30, 30, 45, 60)))
        amount = (Decimal(rng.randint(5000, 2_000_000)) / 100).quantize(Decimal("0.01"))
        out_invoices.append(HInvoice(key, customer, f"F{issue.year}-{key + 1:07d}", issue, due, amount))
        mean, never = habits[customer]
        if rng.random() < never:
            if due < end and rng.random() < 0.3:
                disputes.append(key)
            continue
        paid_on = due + dt.timedelta(days=round(rng.gauss(mean, 6)))
        paid_on = max(paid_on, issue + dt.timedelta(days=1))
        if rng.random() < 0.12:  # two parts
            first = (amount * Decimal(rng.randint(20, 80)) / 100).quantize(Decimal("0.01"))
            early = max(issue + dt.timedelta(days=1), paid_on - dt.timedelta(days=rng.randint(5, 30)))
            if early <= end:
                out_payments.append(HPayment(key, early, first))
            if paid_on <= end:
                out_payments.append(HPayment(key, paid_on, amount - first))
        elif paid_on <= end:
            out_payments.append(HPayment(key, paid_on, amount))
        if paid_on > end and due < end + dt.timedelta(days=30) and rng.random() < 0.15:
            promises.append((key, end + dt.timedelta(days=rng.randint(1, 40)), amount))
    return History(people, out_invoices, out_payments, disputes, promises)


def _chunks(rows: list[dict[str, Any]], size: int = 5000) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def _next_id(session: Session, column: Any) -> int:
    return int(session.scalar(select(func.coalesce(func.max(column), 0))) or 0) + 1


def load_history(
    session: Session, history: History, *, progress: Callable[[int], None] | None = None
) -> dict[int, int]:
    """Insert ``history`` as outgoing invoices of ours (bulk, in the caller's transaction).

    Returns the database id of each invoice key. Each invoice gets a document row whose
    digest is derived from its number (no bytes are stored: these are figures only).
    """
    now = utcnow()
    party0, doc0, inv0, pay0 = (
        _next_id(session, Party.id),
        _next_id(session, Document.id),
        _next_id(session, Invoice.id),
        _next_id(session, Payment.id),
    )
    parties = [
        {"id": party0 + i, "kind": "customer", "name": name, "profile": profile, "created_at": now}
        for i, (name, profile, _limit) in enumerate(history.customers)
    ]
    terms = [
        {"party_id": party0 + i, "credit_limit": limit, "updated_at": now}
        for i, (_n, _p, limit) in enumerate(history.customers)
        if limit is not None
    ]
    paid: dict[int, Decimal] = {}
    for p in history.payments:
        paid[p.invoice] = paid.get(p.invoice, Decimal(0)) + p.amount
    docs, invs = [], []
    for inv in history.invoices:
        digest = hashlib.sha256(f"encaisse-history:{inv.number}:{party0}".encode()).hexdigest()
        settled = paid.get(inv.key, Decimal(0)) >= inv.amount
        docs.append(
            {
                "id": doc0 + inv.key,
                "hash_alg": "sha256",
                "digest": digest,
                "size_bytes": 0,
                "format": "cii-xml",
                "direction": "outgoing",
                "customer_party_id": party0 + inv.customer,
                "status_code": "212" if settled else "203",
                "processing_state": "done",
                "invoice_number": inv.number,
                "received_at": now,
            }
        )
        invs.append(
            {
                "id": inv0 + inv.key,
                "document_id": doc0 + inv.key,
                "number": inv.number,
                "issue_date": inv.issue,
                "due_date": inv.due,
                "type_code": "380",
                "currency": "EUR",
                "total_with_vat": inv.amount,
                "amount_due": inv.amount,
                "amount_still_due": inv.amount - paid.get(inv.key, Decimal(0)),
                "seller_key": "history",
                "buyer_name": history.customers[inv.customer][0],
                "buyer_party_id": party0 + inv.customer,
                "created_at": now,
            }
        )
    payments, allocations = [], []
    for i, p in enumerate(history.payments):
        payments.append(
            {
                "id": pay0 + i,
                "source": "bank",
                "party_id": party0 + history.invoices[p.invoice].customer,
                "amount": p.amount,
                "currency": "EUR",
                "received_on": p.on,
                "created_at": now,
            }
        )
        allocations.append(
            {
                "payment_id": pay0 + i,
                "invoice_id": inv0 + p.invoice,
                "kind": "payment",
                "amount": p.amount,
                "created_at": now,
            }
        )
    disputes = [
        {
            "invoice_id": inv0 + k,
            "reason_code": "AUTRE",
            "opened_by": "history",
            "opened_at": now,
            "state": "open",
        }
        for k in history.disputes
    ]
    promises = [
        {
            "invoice_id": inv0 + k,
            "promised_on": on,
            "amount": amount,
            "amount_due_then": amount,
            "made_by": "history",
            "made_at": now,
            "state": "pending",
        }
        for k, on, amount in history.promises
    ]
    done = 0
    for model, rows in (
        (Party, parties),
        (CustomerTerms, terms),
        (Document, docs),
        (Invoice, invs),
        (Payment, payments),
        (PaymentAllocation, allocations),
        (Dispute, disputes),
        (PaymentPromise, promises),
    ):
        for chunk in _chunks(rows):
            session.execute(insert(model), chunk)
            done += len(chunk)
            if progress is not None:
                progress(done)
    if session.get_bind().dialect.name == "postgresql":  # explicit ids: move the sequences past them
        for table in ("parties", "documents", "invoices", "payments"):
            session.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
            )
    return {inv.key: inv0 + inv.key for inv in history.invoices}
