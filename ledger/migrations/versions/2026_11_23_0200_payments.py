"""Payments: bank accounts and CSV mappings, imported statement lines, payments, allocations, match decisions.

New tables only (``ledger.bank``): ``party_external_refs``, ``bank_csv_mappings``, ``bank_accounts``,
``bank_imports``, ``statement_lines`` (unique per account and identity key),
``payments``, ``match_decisions`` and ``payment_allocations``.

Revision ID: 0200
Revises: 0101
Create Date: 2026-11-23 07:45:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import ledger.types

revision: str = "0200"
down_revision: str | None = "0101"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# JSON text on SQLite, JSONB on PostgreSQL (a snapshot of ledger.types.JSONDocument).
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "party_external_refs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("ref", sa.String(length=100), nullable=False),
        sa.Column("created_at", ledger.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["parties.id"],
            name=op.f("fk_party_external_refs_party_id_parties"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_party_external_refs")),
        sa.UniqueConstraint("source", "ref", name=op.f("uq_party_external_refs_source_ref")),
    )
    op.create_index(
        op.f("ix_party_external_refs_party_id"), "party_external_refs", ["party_id"], unique=False
    )
    op.create_table(
        "bank_csv_mappings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("spec", JSON_DOCUMENT, nullable=False),
        sa.Column("created_at", ledger.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_csv_mappings")),
        sa.UniqueConstraint("name", name=op.f("uq_bank_csv_mappings_name")),
    )
    op.create_table(
        "bank_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_ref", sa.String(length=64), nullable=False),
        sa.Column("iban", sa.String(length=34), nullable=True),
        sa.Column("bic", sa.String(length=11), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("csv_mapping_id", sa.Integer(), nullable=True),
        sa.Column("created_at", ledger.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["csv_mapping_id"],
            ["bank_csv_mappings.id"],
            name=op.f("fk_bank_accounts_csv_mapping_id_bank_csv_mappings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_accounts")),
        sa.UniqueConstraint("account_ref", name=op.f("uq_bank_accounts_account_ref")),
    )
    op.create_table(
        "bank_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=512), nullable=True),
        sa.Column("hash_alg", sa.String(length=16), nullable=False),
        sa.Column("digest", sa.String(length=128), nullable=False),
        sa.Column("format", sa.String(length=40), nullable=False),
        sa.Column("statement_ids", JSON_DOCUMENT, nullable=False),
        sa.Column("lines_read", sa.Integer(), nullable=False),
        sa.Column("lines_new", sa.Integer(), nullable=False),
        sa.Column("lines_duplicate", sa.Integer(), nullable=False),
        sa.Column("unreadable", JSON_DOCUMENT, nullable=False),
        sa.Column("actor_id", sa.String(length=200), nullable=True),
        sa.Column("imported_at", ledger.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["bank_accounts.id"], name=op.f("fk_bank_imports_account_id_bank_accounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_imports")),
    )
    op.create_index(op.f("ix_bank_imports_account_id"), "bank_imports", ["account_id"], unique=False)
    op.create_table(
        "statement_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("identity_key", sa.String(length=64), nullable=False),
        sa.Column("booking_date", sa.Date(), nullable=False),
        sa.Column("value_date", sa.Date(), nullable=True),
        sa.Column("amount", ledger.types.Money(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("counterparty_name", sa.String(length=200), nullable=True),
        sa.Column("counterparty_iban", sa.String(length=34), nullable=True),
        sa.Column("counterparty_bic", sa.String(length=11), nullable=True),
        sa.Column("remittance", sa.Text(), nullable=False),
        sa.Column("creditor_refs", JSON_DOCUMENT, nullable=False),
        sa.Column("referred_docs", JSON_DOCUMENT, nullable=False),
        sa.Column("end_to_end_id", sa.String(length=140), nullable=True),
        sa.Column("entry_ref", sa.String(length=140), nullable=True),
        sa.Column("bank_ref", sa.String(length=140), nullable=True),
        sa.Column("tx_index", sa.Integer(), nullable=False),
        sa.Column("charges", ledger.types.Money(), nullable=True),
        sa.Column("instructed_amount", ledger.types.Money(), nullable=True),
        sa.Column("instructed_currency", sa.String(length=3), nullable=True),
        sa.Column("return_reason", sa.String(length=35), nullable=True),
        sa.Column("bank_tx_code", sa.String(length=64), nullable=True),
        sa.Column("statement_id", sa.String(length=140), nullable=True),
        sa.Column("match_state", sa.String(length=16), nullable=False),
        sa.Column("created_at", ledger.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "match_state IN ('unmatched', 'review', 'matched', 'partial', 'ignored')",
            name=op.f("ck_statement_lines_match_state"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["bank_accounts.id"], name=op.f("fk_statement_lines_account_id_bank_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["import_id"], ["bank_imports.id"], name=op.f("fk_statement_lines_import_id_bank_imports")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement_lines")),
        sa.UniqueConstraint(
            "account_id", "identity_key", name=op.f("uq_statement_lines_account_id_identity_key")
        ),
    )
    op.create_index(
        op.f("ix_statement_lines_booking_date"), "statement_lines", ["booking_date"], unique=False
    )
    op.create_index(
        op.f("ix_statement_lines_counterparty_iban"), "statement_lines", ["counterparty_iban"], unique=False
    )
    op.create_index(op.f("ix_statement_lines_match_state"), "statement_lines", ["match_state"], unique=False)
    op.create_table(
        "match_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("statement_line_id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("proposal", JSON_DOCUMENT, nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=200), nullable=True),
        sa.Column("decided_at", ledger.types.UTCDateTime(), nullable=False),
        sa.Column("supersedes_id", sa.Integer(), nullable=True),
        sa.Column("undone_at", ledger.types.UTCDateTime(), nullable=True),
        sa.Column("undone_by", sa.String(length=200), nullable=True),
        sa.Column("journal_seq", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "action IN ('suggest', 'apply', 'confirm', 'change', 'reject', 'undo')",
            name=op.f("ck_match_decisions_action"),
        ),
        sa.CheckConstraint(
            "actor_kind IN ('user', 'system', 'job', 'platform')", name=op.f("ck_match_decisions_actor_kind")
        ),
        sa.CheckConstraint("mode IN ('auto', 'manual')", name=op.f("ck_match_decisions_mode")),
        sa.CheckConstraint(
            "state IN ('proposed', 'applied', 'rejected', 'undone')", name=op.f("ck_match_decisions_state")
        ),
        sa.CheckConstraint("confidence >= 0 AND confidence <= 1", name=op.f("ck_match_decisions_confidence")),
        sa.ForeignKeyConstraint(
            ["statement_line_id"],
            ["statement_lines.id"],
            name=op.f("fk_match_decisions_statement_line_id_statement_lines"),
        ),
        sa.ForeignKeyConstraint(
            ["supersedes_id"],
            ["match_decisions.id"],
            name=op.f("fk_match_decisions_supersedes_id_match_decisions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_decisions")),
    )
    op.create_index(op.f("ix_match_decisions_state"), "match_decisions", ["state"], unique=False)
    op.create_index(
        op.f("ix_match_decisions_statement_line_id"), "match_decisions", ["statement_line_id"], unique=False
    )
    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("statement_line_id", sa.Integer(), nullable=True),
        sa.Column("party_id", sa.Integer(), nullable=True),
        sa.Column("amount", ledger.types.Money(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("provider_ref", sa.String(length=200), nullable=True),
        sa.Column("created_at", ledger.types.UTCDateTime(), nullable=False),
        sa.Column("undone_at", ledger.types.UTCDateTime(), nullable=True),
        sa.CheckConstraint("source IN ('bank', 'online', 'manual')", name=op.f("ck_payments_source")),
        sa.ForeignKeyConstraint(["party_id"], ["parties.id"], name=op.f("fk_payments_party_id_parties")),
        sa.ForeignKeyConstraint(
            ["statement_line_id"],
            ["statement_lines.id"],
            name=op.f("fk_payments_statement_line_id_statement_lines"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
    )
    op.create_index(op.f("ix_payments_party_id"), "payments", ["party_id"], unique=False)
    op.create_index(op.f("ix_payments_statement_line_id"), "payments", ["statement_line_id"], unique=False)
    op.create_table(
        "payment_allocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payment_id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", ledger.types.Money(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        sa.Column("created_at", ledger.types.UTCDateTime(), nullable=False),
        sa.Column("undone_at", ledger.types.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "kind <> 'writeoff' OR reason IS NOT NULL", name=op.f("ck_payment_allocations_writeoff_reason")
        ),
        sa.CheckConstraint(
            "kind = 'credit' OR invoice_id IS NOT NULL", name=op.f("ck_payment_allocations_invoice_needed")
        ),
        sa.CheckConstraint(
            "kind IN ('payment', 'writeoff', 'credit')", name=op.f("ck_payment_allocations_kind")
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["match_decisions.id"],
            name=op.f("fk_payment_allocations_decision_id_match_decisions"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_payment_allocations_invoice_id_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_payment_allocations_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_allocations")),
    )
    op.create_index(
        op.f("ix_payment_allocations_decision_id"), "payment_allocations", ["decision_id"], unique=False
    )
    op.create_index(
        op.f("ix_payment_allocations_invoice_id"), "payment_allocations", ["invoice_id"], unique=False
    )
    op.create_index(
        op.f("ix_payment_allocations_payment_id"), "payment_allocations", ["payment_id"], unique=False
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_payment_allocations_payment_id"), table_name="payment_allocations")
    op.drop_index(op.f("ix_payment_allocations_invoice_id"), table_name="payment_allocations")
    op.drop_index(op.f("ix_payment_allocations_decision_id"), table_name="payment_allocations")
    op.drop_table("payment_allocations")
    op.drop_index(op.f("ix_payments_statement_line_id"), table_name="payments")
    op.drop_index(op.f("ix_payments_party_id"), table_name="payments")
    op.drop_table("payments")
    op.drop_index(op.f("ix_match_decisions_statement_line_id"), table_name="match_decisions")
    op.drop_index(op.f("ix_match_decisions_state"), table_name="match_decisions")
    op.drop_table("match_decisions")
    op.drop_index(op.f("ix_statement_lines_match_state"), table_name="statement_lines")
    op.drop_index(op.f("ix_statement_lines_counterparty_iban"), table_name="statement_lines")
    op.drop_index(op.f("ix_statement_lines_booking_date"), table_name="statement_lines")
    op.drop_table("statement_lines")
    op.drop_index(op.f("ix_bank_imports_account_id"), table_name="bank_imports")
    op.drop_table("bank_imports")
    op.drop_table("bank_accounts")
    op.drop_table("bank_csv_mappings")
    op.drop_index(op.f("ix_party_external_refs_party_id"), table_name="party_external_refs")
    op.drop_table("party_external_refs")
