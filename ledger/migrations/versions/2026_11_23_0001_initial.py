"""Initial ledger schema: operator, parties, documents, invoices, reports, events, users.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 05:16:14.744939+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import ledger.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# JSON text on SQLite, JSONB on PostgreSQL (a snapshot of ledger.types.JSONDocument).
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "operator_company",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("siren", sa.String(length=9), nullable=True),
        sa.Column("siret", sa.String(length=14), nullable=True),
        sa.Column("vat_number", sa.String(length=32), nullable=True),
        sa.Column("iban", sa.String(length=34), nullable=True),
        sa.Column("bic", sa.String(length=11), nullable=True),
        sa.Column("routing_address", sa.String(length=200), nullable=True),
        sa.Column("address_line", sa.String(length=300), nullable=True),
        sa.Column("postcode", sa.String(length=16), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("created_at", ledger.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_company")),
    )
    op.create_table(
        "parties",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("siren", sa.String(length=9), nullable=True),
        sa.Column("siret", sa.String(length=14), nullable=True),
        sa.Column("vat_number", sa.String(length=32), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("profile", sa.String(length=16), nullable=True),
        sa.Column("country_code", sa.String(length=2), nullable=False),
        sa.Column("routing_address", sa.String(length=200), nullable=True),
        sa.Column("address_line", sa.String(length=300), nullable=True),
        sa.Column("postcode", sa.String(length=16), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=True),
        sa.Column("created_at", ledger.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('customer', 'supplier', 'both')", name=op.f("ck_parties_kind")),
        sa.CheckConstraint(
            "profile IS NULL OR profile IN ('key_account', 'sme', 'consumer', 'public_body')",
            name=op.f("ck_parties_profile"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parties")),
    )
    op.create_index(op.f("ix_parties_siren"), "parties", ["siren"], unique=False)
    op.create_index(op.f("ix_parties_vat_number"), "parties", ["vat_number"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", ledger.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint("email = lower(email)", name=op.f("ck_users_email_lowercase")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "collector_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("assigned_at", ledger.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["party_id"],
            ["parties.id"],
            name=op.f("fk_collector_assignments_party_id_parties"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_collector_assignments_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collector_assignments")),
        sa.UniqueConstraint("user_id", "party_id", name=op.f("uq_collector_assignments_user_id_party_id")),
    )
    op.create_index(
        op.f("ix_collector_assignments_party_id"), "collector_assignments", ["party_id"], unique=False
    )

    op.create_table(
        "documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hash_alg", sa.String(length=16), nullable=False),
        sa.Column("digest", sa.String(length=128), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(length=32), nullable=False),
        sa.Column("profile", sa.String(length=32), nullable=True),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("original_filename", sa.String(length=512), nullable=True),
        sa.Column("media_type", sa.String(length=100), nullable=True),
        sa.Column("received_at", ledger.types.UTCDateTime(), nullable=False),
        sa.Column("supplier_party_id", sa.Integer(), nullable=True),
        sa.Column("customer_party_id", sa.Integer(), nullable=True),
        sa.Column("status_code", sa.String(length=8), nullable=False),
        sa.CheckConstraint("direction IN ('incoming', 'outgoing')", name=op.f("ck_documents_direction")),
        sa.CheckConstraint(
            "hash_alg <> 'sha256' OR length(digest) = 64", name=op.f("ck_documents_digest_length")
        ),
        sa.CheckConstraint("hash_alg IN ('sha256')", name=op.f("ck_documents_hash_alg")),
        sa.CheckConstraint("size_bytes >= 0", name=op.f("ck_documents_size_bytes")),
        sa.ForeignKeyConstraint(
            ["customer_party_id"], ["parties.id"], name=op.f("fk_documents_customer_party_id_parties")
        ),
        sa.ForeignKeyConstraint(
            ["supplier_party_id"], ["parties.id"], name=op.f("fk_documents_supplier_party_id_parties")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_documents")),
        sa.UniqueConstraint("hash_alg", "digest", name=op.f("uq_documents_hash_alg_digest")),
    )
    op.create_index(op.f("ix_documents_received_at"), "documents", ["received_at"], unique=False)
    op.create_index(op.f("ix_documents_status_code"), "documents", ["status_code"], unique=False)

    op.create_table(
        "party_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.CheckConstraint(
            "role IN ('billing', 'accounting', 'purchasing', 'collection', 'legal', 'other')",
            name=op.f("ck_party_contacts_role"),
        ),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name=op.f("fk_party_contacts_party_id_parties"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_party_contacts")),
    )
    op.create_index(op.f("ix_party_contacts_party_id"), "party_contacts", ["party_id"], unique=False)

    op.create_table(
        "party_ibans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=False),
        sa.Column("iban", sa.String(length=34), nullable=False),
        sa.Column("bic", sa.String(length=11), nullable=True),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name=op.f("fk_party_ibans_party_id_parties"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_party_ibans")),
        sa.UniqueConstraint("party_id", "iban", name=op.f("uq_party_ibans_party_id_iban")),
    )
    op.create_table(
        "user_roles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "party_id IS NOT NULL OR NOT (role IN ('customer', 'supplier'))",
            name=op.f("ck_user_roles_party_scope"),
        ),
        sa.CheckConstraint(
            "role IN ('admin', 'receivables_manager', 'collector', 'litigation', 'auditor', "
            "'customer', 'supplier')",
            name=op.f("ck_user_roles_role"),
        ),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name=op.f("fk_user_roles_party_id_parties"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_roles_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_roles")),
        sa.UniqueConstraint("user_id", "role", "party_id", name=op.f("uq_user_roles_user_id_role_party_id")),
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=200), nullable=False),
        sa.Column("issue_date", sa.Date(), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("type_code", sa.String(length=8), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("total_without_vat", ledger.types.Money(), nullable=True),
        sa.Column("total_vat", ledger.types.Money(), nullable=True),
        sa.Column("total_with_vat", ledger.types.Money(), nullable=True),
        sa.Column("amount_due", ledger.types.Money(), nullable=True),
        sa.Column("amount_still_due", ledger.types.Money(), nullable=True),
        sa.Column("buyer_reference", sa.String(length=200), nullable=True),
        sa.Column("purchase_order", sa.String(length=200), nullable=True),
        sa.Column("payment_reference", sa.String(length=200), nullable=True),
        sa.Column("seller_key", sa.String(length=240), nullable=False),
        sa.Column("seller_name", sa.String(length=200), nullable=True),
        sa.Column("seller_siren", sa.String(length=9), nullable=True),
        sa.Column("seller_vat_number", sa.String(length=32), nullable=True),
        sa.Column("buyer_name", sa.String(length=200), nullable=True),
        sa.Column("buyer_siren", sa.String(length=9), nullable=True),
        sa.Column("buyer_vat_number", sa.String(length=32), nullable=True),
        sa.Column("seller_party_id", sa.Integer(), nullable=True),
        sa.Column("buyer_party_id", sa.Integer(), nullable=True),
        sa.Column("created_at", ledger.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["buyer_party_id"], ["parties.id"], name=op.f("fk_invoices_buyer_party_id_parties")
        ),
        sa.ForeignKeyConstraint(
            ["document_id"], ["documents.id"], name=op.f("fk_invoices_document_id_documents")
        ),
        sa.ForeignKeyConstraint(
            ["seller_party_id"], ["parties.id"], name=op.f("fk_invoices_seller_party_id_parties")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("document_id", name=op.f("uq_invoices_document_id")),
        sa.UniqueConstraint("seller_key", "number", name=op.f("uq_invoices_seller_key_number")),
    )
    op.create_index(op.f("ix_invoices_buyer_party_id"), "invoices", ["buyer_party_id"], unique=False)
    op.create_index(op.f("ix_invoices_due_date"), "invoices", ["due_date"], unique=False)
    op.create_index(op.f("ix_invoices_seller_party_id"), "invoices", ["seller_party_id"], unique=False)

    op.create_table(
        "lifecycle_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.String(length=8), nullable=False),
        sa.Column(
            "reason_codes",
            JSON_DOCUMENT,
            nullable=False,
        ),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=200), nullable=True),
        sa.Column("occurred_at", ledger.types.UTCDateTime(), nullable=False),
        sa.Column("recorded_at", ledger.types.UTCDateTime(), nullable=False),
        sa.Column("amount", ledger.types.Money(), nullable=True),
        sa.CheckConstraint(
            "actor_kind IN ('user', 'system', 'job', 'platform')", name=op.f("ck_lifecycle_events_actor_kind")
        ),
        sa.ForeignKeyConstraint(
            ["document_id"], ["documents.id"], name=op.f("fk_lifecycle_events_document_id_documents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lifecycle_events")),
    )
    op.create_index(
        op.f("ix_lifecycle_events_document_id_id"), "lifecycle_events", ["document_id", "id"], unique=False
    )
    op.create_index(
        op.f("ix_lifecycle_events_status_code"), "lifecycle_events", ["status_code"], unique=False
    )

    op.create_table(
        "validation_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("ruleset", sa.String(length=64), nullable=False),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.Column(
            "findings",
            JSON_DOCUMENT,
            nullable=False,
        ),
        sa.Column(
            "layers",
            JSON_DOCUMENT,
            nullable=False,
        ),
        sa.Column("created_at", ledger.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"], ["documents.id"], name=op.f("fk_validation_reports_document_id_documents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_validation_reports")),
    )
    op.create_index(
        op.f("ix_validation_reports_document_id"), "validation_reports", ["document_id"], unique=False
    )


def downgrade() -> None:
    """Revert this revision (drops every table: the data goes with it)."""
    op.drop_table("validation_reports")
    op.drop_table("lifecycle_events")
    op.drop_table("invoices")
    op.drop_table("user_roles")
    op.drop_table("party_ibans")
    op.drop_table("party_contacts")
    op.drop_table("documents")
    op.drop_table("collector_assignments")
    op.drop_table("users")
    op.drop_table("parties")
    op.drop_table("operator_company")
