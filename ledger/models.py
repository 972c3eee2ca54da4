"""SQLAlchemy 2 models of the ledger.

Conventions: instants are :class:`~ledger.types.UTCDateTime` (aware UTC), amounts
:class:`~ledger.types.Money` (``Numeric(18, 2)``, ``Decimal``), closed lists are
short strings guarded by CHECK constraints (no database enum types, so adding a
value is a one-line migration on both backends), lifecycle status codes are the
AFNOR XP Z12-012 codes as strings (``"203"``), reason codes a JSON list of
strings. Constraint names follow :data:`NAMING_CONVENTION` so that Alembic can
find them again on SQLite (batch mode) and PostgreSQL.

Lifecycle events are append-only: the ORM refuses to update or delete them
(see :func:`_refuse_event_rewrites`), and this module offers no helper to.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    and_,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, ORMExecuteState, Session, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

from ledger.types import JSONDocument, Money, UTCDateTime
from schemas.errors import EncaisseError, ErrorCode

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

HASH_ALGORITHMS = ("sha256",)
DIRECTIONS = ("incoming", "outgoing")
PARTY_KINDS = ("customer", "supplier", "both")
PARTY_PROFILES = ("key_account", "sme", "consumer", "public_body")
CONTACT_ROLES = ("billing", "accounting", "purchasing", "collection", "legal", "other")
ACTOR_KINDS = ("user", "system", "job", "platform")
PROCESSING_STATES = ("received", "queued", "processing", "done", "failed")
JOB_STATES = ("pending", "enqueued", "done", "failed")
RULESET_SCOPES = ("suppliers", "customer")
ROLES = ("admin", "receivables_manager", "collector", "litigation", "auditor", "customer", "supplier")
PARTY_SCOPED_ROLES = ("customer", "supplier")


def utcnow() -> dt.datetime:
    """The current instant, aware UTC."""
    return dt.datetime.now(dt.UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class AppendOnlyViolation(EncaisseError):
    """Someone tried to change or remove a lifecycle event: history is append-only."""

    code = ErrorCode.LEDGER_APPEND_ONLY


class Base(DeclarativeBase):
    """Declarative base carrying the naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class OperatorCompany(Base):
    """Our company: the platform's operator, seller of outgoing and buyer of incoming invoices."""

    __tablename__ = "operator_company"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    siren: Mapped[str | None] = mapped_column(String(9))
    siret: Mapped[str | None] = mapped_column(String(14))
    vat_number: Mapped[str | None] = mapped_column(String(32))
    iban: Mapped[str | None] = mapped_column(String(34))
    bic: Mapped[str | None] = mapped_column(String(11))
    routing_address: Mapped[str | None] = mapped_column(String(200))  # BT-49 electronic address
    address_line: Mapped[str | None] = mapped_column(String(300))
    postcode: Mapped[str | None] = mapped_column(String(16))
    city: Mapped[str | None] = mapped_column(String(100))
    country_code: Mapped[str] = mapped_column(String(2), default="FR")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Party(Base):
    """A customer or supplier (or both) of the operator."""

    __tablename__ = "parties"
    __table_args__ = (
        CheckConstraint(_in("kind", PARTY_KINDS), name="kind"),
        CheckConstraint(f"profile IS NULL OR {_in('profile', PARTY_PROFILES)}", name="profile"),
        Index(None, "siren"),
        Index(None, "vat_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    siren: Mapped[str | None] = mapped_column(String(9))
    siret: Mapped[str | None] = mapped_column(String(14))
    vat_number: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(8), default="fr")
    profile: Mapped[str | None] = mapped_column(String(16))
    country_code: Mapped[str] = mapped_column(String(2), default="FR")
    routing_address: Mapped[str | None] = mapped_column(String(200))
    address_line: Mapped[str | None] = mapped_column(String(300))
    postcode: Mapped[str | None] = mapped_column(String(16))
    city: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    ibans: Mapped[list[PartyIban]] = relationship(
        back_populates="party", cascade="all, delete-orphan", order_by="PartyIban.id"
    )
    contacts: Mapped[list[PartyContact]] = relationship(
        back_populates="party", cascade="all, delete-orphan", order_by="PartyContact.id"
    )


class PartyIban(Base):
    """A bank account of a party."""

    __tablename__ = "party_ibans"
    __table_args__ = (UniqueConstraint("party_id", "iban"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id", ondelete="CASCADE"))
    iban: Mapped[str] = mapped_column(String(34))
    bic: Mapped[str | None] = mapped_column(String(11))

    party: Mapped[Party] = relationship(back_populates="ibans")


class PartyContact(Base):
    """A person to write to at a party (billing, accounting...)."""

    __tablename__ = "party_contacts"
    __table_args__ = (CheckConstraint(_in("role", CONTACT_ROLES), name="role"), Index(None, "party_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id", ondelete="CASCADE"))
    name: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(40))
    role: Mapped[str] = mapped_column(String(16), default="billing")

    party: Mapped[Party] = relationship(back_populates="contacts")


class Document(Base):
    """One set of original bytes received or sent, identified by its content hash.

    The digest is stored beside the algorithm's name (``hash_alg``), so another
    algorithm can come later without ambiguity; ``(hash_alg, digest)`` is unique:
    the same bytes make one document.
    """

    __tablename__ = "documents"
    __table_args__ = (
        UniqueConstraint("hash_alg", "digest"),
        CheckConstraint(_in("hash_alg", HASH_ALGORITHMS), name="hash_alg"),
        CheckConstraint("hash_alg <> 'sha256' OR length(digest) = 64", name="digest_length"),
        CheckConstraint(_in("direction", DIRECTIONS), name="direction"),
        CheckConstraint("size_bytes >= 0", name="size_bytes"),
        CheckConstraint(_in("processing_state", PROCESSING_STATES), name="processing_state"),
        Index(None, "status_code"),
        Index(None, "received_at"),
        Index(None, "invoice_number"),
        Index(None, "customer_party_id"),  # the portal's scoping: a customer's, a collector's documents
        Index(None, "supplier_party_id"),  # and a supplier's
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    hash_alg: Mapped[str] = mapped_column(String(16), default="sha256")
    digest: Mapped[str] = mapped_column(String(128))  # lower-case hex
    size_bytes: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(32))  # ingest.kinds.DocumentKind value
    profile: Mapped[str | None] = mapped_column(String(32))  # ingest.kinds.Profile value
    direction: Mapped[str] = mapped_column(String(16))
    original_filename: Mapped[str | None] = mapped_column(String(512))
    media_type: Mapped[str | None] = mapped_column(String(100))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    supplier_party_id: Mapped[int | None] = mapped_column(ForeignKey("parties.id"))
    customer_party_id: Mapped[int | None] = mapped_column(ForeignKey("parties.id"))
    # current lifecycle status, e.g. "203"; NULL until the pipeline has decided (the
    # first status depends on the checks: 501 and 213 may only come first), meanwhile
    # processing_state says where the document is, so it is never without a status.
    status_code: Mapped[str | None] = mapped_column(String(8))
    processing_state: Mapped[str] = mapped_column(String(16), default="received")
    last_error: Mapped[str | None] = mapped_column(Text)  # why processing failed, when it did
    invoice_number: Mapped[str | None] = mapped_column(String(200))  # BT-1 as read, even if rejected
    # what could be read of the invoice (number, dates, parties' ids), kept for every document,
    # rejected ones included (only invoices past the conformity checks get an ``invoices`` row)
    invoice_summary: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)

    supplier: Mapped[Party | None] = relationship(foreign_keys=[supplier_party_id])
    customer: Mapped[Party | None] = relationship(foreign_keys=[customer_party_id])
    invoice: Mapped[Invoice | None] = relationship(back_populates="document")
    events: Mapped[list[LifecycleEvent]] = relationship(
        back_populates="document", order_by="LifecycleEvent.id"
    )
    reports: Mapped[list[ValidationReportRow]] = relationship(
        back_populates="document", order_by="ValidationReportRow.id"
    )

    @property
    def sha256(self) -> str | None:
        """The SHA-256 hex digest (``None`` if another algorithm was used)."""
        return self.digest if self.hash_alg == "sha256" else None

    @classmethod
    def has_sha256(cls, digest: str) -> ColumnElement[bool]:
        """A WHERE clause selecting the document with this SHA-256 hex digest (uses the unique index)."""
        return and_(cls.hash_alg == "sha256", cls.digest == digest.lower())


class Invoice(Base):
    """The receivables-relevant terms of the invoice a document carries.

    ``(seller_key, number)`` is unique: the duplicate rule (same number from the
    same seller, whatever the bytes). See :mod:`ledger.keys` for the key.
    """

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("seller_key", "number"),
        Index(None, "seller_party_id"),
        Index(None, "buyer_party_id"),
        Index(None, "due_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), unique=True)
    number: Mapped[str] = mapped_column(String(200))  # BT-1
    issue_date: Mapped[dt.date | None] = mapped_column(Date)  # BT-2
    due_date: Mapped[dt.date | None] = mapped_column(Date)  # BT-9
    type_code: Mapped[str | None] = mapped_column(String(8))  # BT-3
    currency: Mapped[str | None] = mapped_column(String(3))  # BT-5
    total_without_vat: Mapped[Decimal | None] = mapped_column(Money())  # BT-109
    total_vat: Mapped[Decimal | None] = mapped_column(Money())  # BT-110
    total_with_vat: Mapped[Decimal | None] = mapped_column(Money())  # BT-112
    amount_due: Mapped[Decimal | None] = mapped_column(Money())  # BT-115
    amount_still_due: Mapped[Decimal | None] = mapped_column(Money())
    buyer_reference: Mapped[str | None] = mapped_column(String(200))  # BT-10
    purchase_order: Mapped[str | None] = mapped_column(String(200))  # BT-13
    payment_reference: Mapped[str | None] = mapped_column(String(200))  # BT-83
    seller_key: Mapped[str] = mapped_column(String(240))
    seller_name: Mapped[str | None] = mapped_column(String(200))  # BT-27
    seller_siren: Mapped[str | None] = mapped_column(String(9))
    seller_vat_number: Mapped[str | None] = mapped_column(String(32))  # BT-31
    buyer_name: Mapped[str | None] = mapped_column(String(200))  # BT-44
    buyer_siren: Mapped[str | None] = mapped_column(String(9))
    buyer_vat_number: Mapped[str | None] = mapped_column(String(32))  # BT-48
    seller_party_id: Mapped[int | None] = mapped_column(ForeignKey("parties.id"))
    buyer_party_id: Mapped[int | None] = mapped_column(ForeignKey("parties.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    document: Mapped[Document] = relationship(back_populates="invoice")
    seller_party: Mapped[Party | None] = relationship(foreign_keys=[seller_party_id])
    buyer_party: Mapped[Party | None] = relationship(foreign_keys=[buyer_party_id])


class ValidationReportRow(Base):
    """One validation pass over a document (``validation.report.ValidationReport``, stored)."""

    __tablename__ = "validation_reports"
    __table_args__ = (Index(None, "document_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"))
    ruleset: Mapped[str] = mapped_column(String(64))
    valid: Mapped[bool] = mapped_column(Boolean)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    layers: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    document: Mapped[Document] = relationship(back_populates="reports")


class LifecycleEvent(Base):
    """One status change of a document. Append-only: never updated, never deleted.

    ``occurred_at`` is when it happened (for an imported CDAR message, the
    message's date), ``recorded_at`` when the ledger stored it.
    """

    __tablename__ = "lifecycle_events"
    __table_args__ = (
        CheckConstraint(_in("actor_kind", ACTOR_KINDS), name="actor_kind"),
        Index(None, "document_id", "id"),
        Index(None, "status_code"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"))
    status_code: Mapped[str] = mapped_column(String(8))
    reason_codes: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    text: Mapped[str | None] = mapped_column(Text)
    actor_kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(200))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    amount: Mapped[Decimal | None] = mapped_column(Money())  # 212: the amount cashed

    document: Mapped[Document] = relationship(back_populates="events")


class Notice(Base):
    """A rejection notice sent (or being sent) for one document and status: never two."""

    __tablename__ = "notices"
    __table_args__ = (UniqueConstraint("document_id", "status_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"))
    status_code: Mapped[str] = mapped_column(String(8))
    message_id: Mapped[str] = mapped_column(String(300))
    recipient: Mapped[str | None] = mapped_column(String(320))
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class JobOutbox(Base):
    """A job to run after the transaction that wrote this row commits (the transactional outbox).

    Written in the same transaction as the change it follows; enqueued (or run
    inline) after commit; a reconciler re-enqueues rows still ``pending`` or
    ``enqueued`` whose queue entry was lost.
    """

    __tablename__ = "job_outbox"
    __table_args__ = (
        CheckConstraint(_in("state", JOB_STATES), name="state"),
        CheckConstraint("attempts >= 0", name="attempts"),
        Index(None, "state"),
        Index(None, "document_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(64))
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id"))
    args: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StoredRuleSet(Base):
    """A billing-constraint rule set, stored as its YAML text (``encaisse rules import``)."""

    __tablename__ = "rule_sets"
    __table_args__ = (
        UniqueConstraint("name"),
        CheckConstraint(_in("scope", RULESET_SCOPES), name="scope"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    scope: Mapped[str] = mapped_column(String(16))
    party_id: Mapped[int | None] = mapped_column(ForeignKey("parties.id"))
    yaml_text: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class User(Base):
    """A person who signs in (staff, or a customer's or supplier's user on the portal)."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint("email = lower(email)", name="email_lowercase"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-case
    name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    language: Mapped[str | None] = mapped_column(String(8))  # portal language (fr, en); None: the party's
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    roles: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="UserRole.id"
    )


class UserRole(Base):
    """A role granted to a user; customer and supplier roles are scoped to their party."""

    __tablename__ = "user_roles"
    __table_args__ = (
        UniqueConstraint("user_id", "role", "party_id"),
        CheckConstraint(_in("role", ROLES), name="role"),
        CheckConstraint(
            f"party_id IS NOT NULL OR NOT ({_in('role', PARTY_SCOPED_ROLES)})", name="party_scope"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(32))
    party_id: Mapped[int | None] = mapped_column(ForeignKey("parties.id", ondelete="CASCADE"))

    user: Mapped[User] = relationship(back_populates="roles")
    party: Mapped[Party | None] = relationship()


class CollectorAssignment(Base):
    """A customer in a collector's portfolio."""

    __tablename__ = "collector_assignments"
    __table_args__ = (UniqueConstraint("user_id", "party_id"), Index(None, "party_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id", ondelete="CASCADE"))
    assigned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship()
    party: Mapped[Party] = relationship()


@event.listens_for(Session, "before_flush")
def _refuse_event_rewrites(session: Session, flush_context: object, instances: object) -> None:
    """Refuse to flush a changed or deleted lifecycle event."""
    for obj in session.deleted:
        if isinstance(obj, LifecycleEvent):
            raise AppendOnlyViolation(f"lifecycle event {obj.id} cannot be deleted: history is append-only")
    for obj in session.dirty:
        if isinstance(obj, LifecycleEvent) and session.is_modified(obj, include_collections=False):
            raise AppendOnlyViolation(f"lifecycle event {obj.id} cannot be changed: history is append-only")


@event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_event_rewrites(state: ORMExecuteState) -> None:
    """Refuse ORM ``update(LifecycleEvent)`` / ``delete(LifecycleEvent)`` statements."""
    mapper = state.bind_mapper
    if (state.is_update or state.is_delete) and mapper is not None and mapper.class_ is LifecycleEvent:
        verb = "updated" if state.is_update else "deleted"
        raise AppendOnlyViolation(f"lifecycle events cannot be {verb}: history is append-only")


# The bank side of the ledger (statement lines, payments, match decisions) lives in its own
# module; importing it here registers its tables on Base.metadata for Alembic and create_all.
from ledger import access as _access  # noqa: E402,F401  (portal: web sessions, login links, API tokens)
from ledger import bank as _bank  # noqa: E402,F401
from ledger import collections as _collections  # noqa: E402,F401  (credit terms, disputes, promises, dunning)
from ledger import online as _online  # noqa: E402,F401  (online checkouts, webhook events, dispute files)
