"""Bank side of the ledger: accounts, imported statement lines, payments and how they were applied.

* :class:`PartyExternalRef` -- a customer's id in the system its receivables came from.
* :class:`BankAccount` -- one of our accounts, with the CSV mapping its exports are read with.
* :class:`BankCsvMapping` -- a named CSV column mapping (``payments.statements.csvfile``).
* :class:`BankImport` -- one file imported, with its counts (read, new, duplicates, unreadable).
* :class:`StatementLine` -- a bank line, once: ``(account_id, identity_key)`` is unique
  (see ``payments.imports.identity_key`` for the key).
* :class:`Payment` -- money received (or returned) from a customer, from a statement line
  or another channel; :class:`PaymentAllocation` -- part of a payment applied to an
  invoice (``payment``), written off (``writeoff``, with a reason) or kept as the
  customer's credit (``credit``, no invoice).
* :class:`MatchDecision` -- every proposal and decision about a line, automatic or manual:
  confidence, explanation, who and when, and whether it was undone. Allocations point
  to the decision that made them, so undoing a decision finds what to reverse.

Rows are never deleted to undo: ``undone_at``/``undone_by`` are set instead, so the
history stays readable (the archive journal holds the evidence).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ledger.models import ACTOR_KINDS, Base, Invoice, Party, _in, utcnow
from ledger.types import JSONDocument, Money, UTCDateTime

LINE_MATCH_STATES = ("unmatched", "review", "matched", "partial", "ignored")
PAYMENT_SOURCES = ("bank", "online", "manual")
ALLOCATION_KINDS = ("payment", "writeoff", "credit")
DECISION_MODES = ("auto", "manual")
DECISION_ACTIONS = ("suggest", "apply", "confirm", "change", "reject", "undo")
DECISION_STATES = ("proposed", "applied", "rejected", "undone")


class PartyExternalRef(Base):
    """A party's id in another system (e.g. the customer id of receivables taken over)."""

    __tablename__ = "party_external_refs"
    __table_args__ = (UniqueConstraint("source", "ref"), Index(None, "party_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(40))  # which system: "invoices-import"...
    ref: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BankCsvMapping(Base):
    """A named CSV column mapping (its YAML/JSON form in ``spec``)."""

    __tablename__ = "bank_csv_mappings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BankAccount(Base):
    """One of our bank accounts, known by its IBAN (or the bank's account id when there is none)."""

    __tablename__ = "bank_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_ref: Mapped[str] = mapped_column(String(64), unique=True)  # IBAN, else the bank's account id
    iban: Mapped[str | None] = mapped_column(String(34))
    bic: Mapped[str | None] = mapped_column(String(11))
    currency: Mapped[str | None] = mapped_column(String(3))
    name: Mapped[str | None] = mapped_column(String(200))
    csv_mapping_id: Mapped[int | None] = mapped_column(ForeignKey("bank_csv_mappings.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    csv_mapping: Mapped[BankCsvMapping | None] = relationship()


class BankImport(Base):
    """One statement file imported into one account, and what came of it."""

    __tablename__ = "bank_imports"
    __table_args__ = (Index(None, "account_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("bank_accounts.id"))
    filename: Mapped[str | None] = mapped_column(String(512))
    hash_alg: Mapped[str] = mapped_column(String(16), default="sha256")
    digest: Mapped[str] = mapped_column(String(128))
    format: Mapped[str] = mapped_column(String(40))
    statement_ids: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    lines_read: Mapped[int] = mapped_column(Integer, default=0)
    lines_new: Mapped[int] = mapped_column(Integer, default=0)
    lines_duplicate: Mapped[int] = mapped_column(Integer, default=0)
    unreadable: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    actor_id: Mapped[str | None] = mapped_column(String(200))
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    account: Mapped[BankAccount] = relationship()


class StatementLine(Base):
    """A bank line, stored once whatever how many statements reported it."""

    __tablename__ = "statement_lines"
    __table_args__ = (
        UniqueConstraint("account_id", "identity_key"),
        CheckConstraint(_in("match_state", LINE_MATCH_STATES), name="match_state"),
        Index(None, "booking_date"),
        Index(None, "match_state"),
        Index(None, "counterparty_iban"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("bank_accounts.id"))
    import_id: Mapped[int] = mapped_column(ForeignKey("bank_imports.id"))
    identity_key: Mapped[str] = mapped_column(String(64))  # sha256 hex of the line's identity
    booking_date: Mapped[dt.date] = mapped_column(Date)
    value_date: Mapped[dt.date | None] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money())  # signed: > 0 received
    currency: Mapped[str] = mapped_column(String(3))
    counterparty_name: Mapped[str | None] = mapped_column(String(200))
    counterparty_iban: Mapped[str | None] = mapped_column(String(34))
    counterparty_bic: Mapped[str | None] = mapped_column(String(11))
    remittance: Mapped[str] = mapped_column(Text, default="")
    creditor_refs: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    referred_docs: Mapped[list[list[Any]]] = mapped_column(JSONDocument, default=list)  # [[number, "12.30"]]
    end_to_end_id: Mapped[str | None] = mapped_column(String(140))
    entry_ref: Mapped[str | None] = mapped_column(String(140))  # camt NtryRef
    bank_ref: Mapped[str | None] = mapped_column(String(140))  # AcctSvcrRef / MT940 bank reference
    tx_index: Mapped[int] = mapped_column(Integer, default=0)  # 1.. for the transactions of a batch entry
    charges: Mapped[Decimal | None] = mapped_column(Money())
    instructed_amount: Mapped[Decimal | None] = mapped_column(Money())
    instructed_currency: Mapped[str | None] = mapped_column(String(3))
    return_reason: Mapped[str | None] = mapped_column(String(35))  # SEPA return reason (AC04...)
    bank_tx_code: Mapped[str | None] = mapped_column(String(64))
    statement_id: Mapped[str | None] = mapped_column(String(140))
    match_state: Mapped[str] = mapped_column(String(16), default="unmatched")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    account: Mapped[BankAccount] = relationship()


class Payment(Base):
    """Money from (or, negative, back to) a customer: a statement line, an online payment..."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint(_in("source", PAYMENT_SOURCES), name="source"),
        Index(None, "party_id"),
        Index(None, "statement_line_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(16), default="bank")
    statement_line_id: Mapped[int | None] = mapped_column(ForeignKey("statement_lines.id"))
    party_id: Mapped[int | None] = mapped_column(ForeignKey("parties.id"))
    amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    received_on: Mapped[dt.date] = mapped_column(Date)
    provider_ref: Mapped[str | None] = mapped_column(String(200))  # online provider's payment id
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    undone_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    statement_line: Mapped[StatementLine | None] = relationship()
    party: Mapped[Party | None] = relationship()
    allocations: Mapped[list[PaymentAllocation]] = relationship(
        back_populates="payment", order_by="PaymentAllocation.id"
    )


class MatchDecision(Base):
    """A proposal or decision about one statement line: what, how sure, why, who, when, undone or not.

    ``proposal`` is the list of suggestions the decision is about, best first, each
    ``{"rank", "invoices": [{"invoice_id", "number", "amount"}], "confidence",
    "explanation", "write_off", "write_off_reason", "credit", "reopen"}``
    (``payments.posting.Plan``): the ranked alternatives of a ``proposed`` decision,
    the one suggestion applied (with what it did, ``"applied"``) otherwise; empty
    for "belongs to no invoice". ``confidence`` is in [0, 1].
    """

    __tablename__ = "match_decisions"
    __table_args__ = (
        CheckConstraint(_in("mode", DECISION_MODES), name="mode"),
        CheckConstraint(_in("action", DECISION_ACTIONS), name="action"),
        CheckConstraint(_in("state", DECISION_STATES), name="state"),
        CheckConstraint(_in("actor_kind", ACTOR_KINDS), name="actor_kind"),
        CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence"),
        Index(None, "statement_line_id"),
        Index(None, "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    statement_line_id: Mapped[int] = mapped_column(ForeignKey("statement_lines.id"))
    mode: Mapped[str] = mapped_column(String(8))
    action: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    proposal: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    confidence: Mapped[float] = mapped_column(Float)  # a score, not money
    explanation: Mapped[str] = mapped_column(Text)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(200))
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("match_decisions.id"))
    undone_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    undone_by: Mapped[str | None] = mapped_column(String(200))
    journal_seq: Mapped[int | None] = mapped_column(Integer)  # the archive journal entry recording it

    statement_line: Mapped[StatementLine] = relationship()


class PaymentAllocation(Base):
    """Part of a payment applied to an invoice, written off, or kept as the customer's credit."""

    __tablename__ = "payment_allocations"
    __table_args__ = (
        CheckConstraint(_in("kind", ALLOCATION_KINDS), name="kind"),
        CheckConstraint("kind = 'credit' OR invoice_id IS NOT NULL", name="invoice_needed"),
        CheckConstraint("kind <> 'writeoff' OR reason IS NOT NULL", name="writeoff_reason"),
        Index(None, "payment_id"),
        Index(None, "invoice_id"),
        Index(None, "decision_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"))
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    kind: Mapped[str] = mapped_column(String(16), default="payment")
    amount: Mapped[Decimal] = mapped_column(Money())
    reason: Mapped[str | None] = mapped_column(String(200))  # write-off reason: bank charges, discount...
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("match_decisions.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    undone_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    payment: Mapped[Payment] = relationship(back_populates="allocations")
    invoice: Mapped[Invoice | None] = relationship()
    decision: Mapped[MatchDecision | None] = relationship()
