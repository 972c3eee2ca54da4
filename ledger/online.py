"""Online side of the ledger: checkouts with a payment provider, the webhooks they sent, dispute files.

* :class:`OnlineCheckout` -- a customer asked to pay ``amount`` over some invoices:
  the provider's checkout, its public ``token`` (unguessable, in the checkout's
  address), its state. ``open`` becomes ``paid`` only through a signed webhook;
  the conditional update on ``state`` makes one payment of it whatever how many
  events say so.
* :class:`WebhookEvent` -- every provider event accepted, once: ``(provider,
  event_id)`` is unique, so a replayed or concurrently re-sent event is a no-op.
* :class:`DisputeAttachment` -- a file a customer joined to a dispute (bytes in the
  archive store, by SHA-256).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ledger.models import Base, _in, utcnow
from ledger.types import JSONDocument, Money, UTCDateTime

CHECKOUT_STATES = ("open", "paid", "failed")


class OnlineCheckout(Base):
    """A payment started online: which invoices, how much, with which provider, and what became of it."""

    __tablename__ = "online_checkouts"
    __table_args__ = (
        UniqueConstraint("token"),
        UniqueConstraint("provider", "provider_ref"),
        CheckConstraint(_in("state", CHECKOUT_STATES), name="state"),
        CheckConstraint("amount > 0", name="amount_positive"),
        Index(None, "party_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(32))
    provider_ref: Mapped[str] = mapped_column(String(200))  # the provider's checkout / payment id
    party_id: Mapped[int] = mapped_column(ForeignKey("parties.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    amount: Mapped[Decimal] = mapped_column(Money())
    currency: Mapped[str] = mapped_column(String(3))
    invoice_ids: Mapped[list[int]] = mapped_column(JSONDocument, default=list)  # oldest due first
    state: Mapped[str] = mapped_column(String(16), default="open")
    failure: Mapped[str | None] = mapped_column(String(200))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class WebhookEvent(Base):
    """A provider event that passed the signature check, recorded once by its id."""

    __tablename__ = "webhook_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str] = mapped_column(String(64))
    checkout_id: Mapped[int | None] = mapped_column(ForeignKey("online_checkouts.id"))
    outcome: Mapped[str] = mapped_column(String(200))
    body_sha256: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DisputeAttachment(Base):
    """A file joined to a dispute by the customer."""

    __tablename__ = "dispute_attachments"
    __table_args__ = (Index(None, "dispute_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dispute_id: Mapped[int] = mapped_column(ForeignKey("disputes.id"))
    hash_alg: Mapped[str] = mapped_column(String(16), default="sha256")
    digest: Mapped[str] = mapped_column(String(128))
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
