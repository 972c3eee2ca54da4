"""Online payments: checkouts with a payment provider, webhook events recorded once, dispute files.

New tables only (ledger.online); webhook_events is unique per provider and event id,
so a replayed or re-sent event is applied once.

Revision ID: 0500
Revises: 0400
Create Date: 2026-11-23 08:12:05.919295
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import ledger.types

# JSON text on SQLite, JSONB on PostgreSQL (a snapshot of ledger.types.JSONDocument).
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
revision: str = "0500"
down_revision: str | None = "0400"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "dispute_attachments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dispute_id", sa.Integer(), nullable=False),
        sa.Column("hash_alg", sa.String(length=16), nullable=False),
        sa.Column("digest", sa.String(length=128), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("created_at", ledger.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dispute_id"], ["disputes.id"], name=op.f("fk_dispute_attachments_dispute_id_disputes")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispute_attachments")),
    )
    with op.batch_alter_table("dispute_attachments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dispute_attachments_dispute_id"), ["dispute_id"], unique=False)

    op.create_table(
        "online_checkouts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("provider_ref", sa.String(length=200), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("amount", ledger.types.Money(precision=18, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("invoice_ids", JSON_DOCUMENT, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("failure", sa.String(length=200), nullable=True),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("created_at", ledger.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", ledger.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('open', 'paid', 'failed')", name=op.f("ck_online_checkouts_state")),
        sa.CheckConstraint("amount > 0", name=op.f("ck_online_checkouts_amount_positive")),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name=op.f("fk_online_checkouts_party_id_parties")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_online_checkouts_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_online_checkouts_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_online_checkouts")),
        sa.UniqueConstraint(
            "provider", "provider_ref", name=op.f("uq_online_checkouts_provider_provider_ref")
        ),
        sa.UniqueConstraint("token", name=op.f("uq_online_checkouts_token")),
    )
    with op.batch_alter_table("online_checkouts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_online_checkouts_party_id"), ["party_id"], unique=False)

    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("event_type", sa.String(length=64), nullable=False),
        sa.Column("checkout_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=200), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("received_at", ledger.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["checkout_id"],
            ["online_checkouts.id"],
            name=op.f("fk_webhook_events_checkout_id_online_checkouts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint("provider", "event_id", name=op.f("uq_webhook_events_provider_event_id")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("webhook_events")
    with op.batch_alter_table("online_checkouts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_online_checkouts_party_id"))

    op.drop_table("online_checkouts")
    with op.batch_alter_table("dispute_attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dispute_attachments_dispute_id"))

    op.drop_table("dispute_attachments")
