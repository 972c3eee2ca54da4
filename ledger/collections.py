"""Collections side of the ledger: customers' credit terms, disputes, promises, notes, dunning actions.

* :class:`CustomerTerms` -- per customer: credit limit, tolerated delay, contractual
  penalty rate, dunning scenario (else chosen by the party's profile).
* :class:`Dispute` -- an invoice contested by its customer (status 207 En litige):
  reason code, comment, owner, resolution. An open dispute pauses dunning on that
  invoice only.
* :class:`PaymentPromise` -- "I will pay this amount by that day": pauses dunning until
  the day; a promise whose day passes unpaid is broken and escalates.
* :class:`CustomerNote` -- notes and call logs on a customer (optionally an invoice).
* :class:`DunningAction` -- a dunning step done for an invoice: ``(invoice, scenario,
  mark)`` is unique, so a step is never done twice whatever the runs (see
  :mod:`ledger.dunning`); a collector's tasks (calls, letters to post) are actions
  whose ``state`` is ``todo`` until done.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ledger.models import Base, Invoice, Party, _in, utcnow
from ledger.types import Money, UTCDateTime

DISPUTE_STATES = ("open", "resolved")
PROMISE_STATES = ("pending", "kept", "broken", "cancelled")
NOTE_KINDS = ("note", "call")
ACTION_CHANNELS = ("email", "letter", "call", "formal_notice")
ACTION_STATES = ("todo", "done", "sent", "failed", "skipped")


class CustomerTerms(Base):
    """A customer's credit terms; one row per customer at most (none: no limit, default scenario)."""

    __tablename__ = "customer_terms"

    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id", ondelete="CASCADE"), primary_key=True)
    credit_limit: Mapped[Decimal | None] = mapped_column(Money())
    max_days_late: Mapped[int | None] = mapped_column(Integer)
    #: contractual late-penalty rate in percent a year (None: ECB + 10 points)
    penalty_rate: Mapped[Decimal | None] = mapped_column(Numeric(6, 3))
    dunning_scenario: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    party: Mapped[Party] = relationship()


class Dispute(Base):
    """An invoice contested by the customer."""

    __tablename__ = "disputes"
    __table_args__ = (CheckConstraint(_in("state", DISPUTE_STATES), name="state"), Index(None, "invoice_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    reason_code: Mapped[str] = mapped_column(String(32))  # one of the 207 list (schemas.lifecycle)
    comment: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(200))  # staff member in charge
    opened_by: Mapped[str] = mapped_column(String(200))
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    state: Mapped[str] = mapped_column(String(16), default="open")
    resolution: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    invoice: Mapped[Invoice] = relationship()


class PaymentPromise(Base):
    """A customer's promise to pay ``amount`` of an invoice by ``promised_on``."""

    __tablename__ = "payment_promises"
    __table_args__ = (CheckConstraint(_in("state", PROMISE_STATES), name="state"), Index(None, "invoice_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    promised_on: Mapped[dt.date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money())
    #: what was still due when the promise was made (to tell later whether it was kept)
    amount_due_then: Mapped[Decimal] = mapped_column(Money())
    made_by: Mapped[str] = mapped_column(String(200))
    made_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    state: Mapped[str] = mapped_column(String(16), default="pending")

    invoice: Mapped[Invoice] = relationship()


class CustomerNote(Base):
    """A note or a call log about a customer."""

    __tablename__ = "customer_notes"
    __table_args__ = (CheckConstraint(_in("kind", NOTE_KINDS), name="kind"), Index(None, "party_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id"))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    kind: Mapped[str] = mapped_column(String(8), default="note")
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DunningAction(Base):
    """A dunning step done (or to do, for a collector) for an invoice; never twice per mark."""

    __tablename__ = "dunning_actions"
    __table_args__ = (
        UniqueConstraint("invoice_id", "scenario", "mark"),
        CheckConstraint(_in("channel", ACTION_CHANNELS), name="channel"),
        CheckConstraint(_in("state", ACTION_STATES), name="state"),
        Index(None, "party_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id"))
    scenario: Mapped[str] = mapped_column(String(64))
    #: the step id, or a marker such as ``promise-broken:2026-03-20`` (see ledger.dunning)
    mark: Mapped[str] = mapped_column(String(80))
    step: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    run_date: Mapped[dt.date] = mapped_column(Date)
    fell_due: Mapped[dt.date] = mapped_column(Date)
    amount_due: Mapped[Decimal] = mapped_column(Money())
    reason: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
