"""Collections: customers' credit terms, disputes, payment promises, notes and call logs, dunning actions.

New tables only (ledger.collections); dunning_actions is unique per invoice,
scenario and step mark, so a dunning step can never be recorded twice.

Revision ID: 0400
Revises: 0300
Create Date: 2026-11-23 07:48:21.243877
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import ledger.types

revision: str = "0400"
down_revision: str | None = "0300"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "customer_terms",
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("credit_limit", ledger.types.Money(precision=18, scale=2), nullable=True),
        sa.Column("max_days_late", sa.Integer(), nullable=True),
        sa.Column("penalty_rate", sa.Numeric(precision=6, scale=3), nullable=True),
        sa.Column("dunning_scenario", sa.String(length=64), nullable=True),
        sa.Column("updated_at", ledger.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name=op.f("fk_customer_terms_party_id_parties"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("party_id", name=op.f("pk_customer_terms")),
    )
    op.create_table(
        "customer_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("created_at", ledger.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('note', 'call')", name=op.f("ck_customer_notes_kind")),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_customer_notes_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name=op.f("fk_customer_notes_party_id_parties")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_notes")),
    )
    with op.batch_alter_table("customer_notes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customer_notes_party_id"), ["party_id"], unique=False)

    op.create_table(
        "disputes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("reason_code", sa.String(length=32), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("opened_by", sa.String(length=200), nullable=False),
        sa.Column("opened_at", ledger.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("resolved_at", ledger.types.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("state IN ('open', 'resolved')", name=op.f("ck_disputes_state")),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_disputes_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disputes")),
    )
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_disputes_invoice_id"), ["invoice_id"], unique=False)

    op.create_table(
        "dunning_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("scenario", sa.String(length=64), nullable=False),
        sa.Column("mark", sa.String(length=80), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("run_date", sa.Date(), nullable=False),
        sa.Column("fell_due", sa.Date(), nullable=False),
        sa.Column("amount_due", ledger.types.Money(precision=18, scale=2), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", ledger.types.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "channel IN ('email', 'letter', 'call', 'formal_notice')", name=op.f("ck_dunning_actions_channel")
        ),
        sa.CheckConstraint(
            "state IN ('todo', 'done', 'sent', 'failed', 'skipped')", name=op.f("ck_dunning_actions_state")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_dunning_actions_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name=op.f("fk_dunning_actions_party_id_parties")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dunning_actions")),
        sa.UniqueConstraint(
            "invoice_id", "scenario", "mark", name=op.f("uq_dunning_actions_invoice_id_scenario_mark")
        ),
    )
    with op.batch_alter_table("dunning_actions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dunning_actions_party_id_state"), ["party_id", "state"], unique=False
        )

    op.create_table(
        "payment_promises",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("promised_on", sa.Date(), nullable=False),
        sa.Column("amount", ledger.types.Money(precision=18, scale=2), nullable=False),
        sa.Column("amount_due_then", ledger.types.Money(precision=18, scale=2), nullable=False),
        sa.Column("made_by", sa.String(length=200), nullable=False),
        sa.Column("made_at", ledger.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "state IN ('pending', 'kept', 'broken', 'cancelled')", name=op.f("ck_payment_promises_state")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_payment_promises_invoice_id_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_promises")),
    )
    with op.batch_alter_table("payment_promises", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_promises_invoice_id"), ["invoice_id"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("payment_promises", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_promises_invoice_id"))

    op.drop_table("payment_promises")
    with op.batch_alter_table("dunning_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dunning_actions_party_id_state"))

    op.drop_table("dunning_actions")
    with op.batch_alter_table("disputes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_disputes_invoice_id"))

    op.drop_table("disputes")
    with op.batch_alter_table("customer_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_notes_party_id"))

    op.drop_table("customer_notes")
    op.drop_table("customer_terms")
