"""Pipeline: documents' processing state, notices, job outbox, stored rule sets.

Documents get ``processing_state`` (received/queued/processing/done/failed; the
rows already there were decided, so they are ``done``), ``last_error``, the
invoice number and summary as read, and a lifecycle ``status_code`` that may be
NULL until the pipeline has decided. New tables: ``notices`` (one per document
and status), ``job_outbox`` (the transactional outbox of jobs) and ``rule_sets``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 05:50:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import ledger.types

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# JSON text on SQLite, JSONB on PostgreSQL (a snapshot of ledger.types.JSONDocument).
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
PROCESSING_STATES = "processing_state IN ('received', 'queued', 'processing', 'done', 'failed')"


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("documents") as batch:
        batch.add_column(sa.Column("processing_state", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("invoice_number", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("invoice_summary", JSON_DOCUMENT, nullable=True))
        batch.alter_column("status_code", existing_type=sa.String(length=8), nullable=True)
    op.execute("UPDATE documents SET processing_state = 'done'")
    with op.batch_alter_table("documents") as batch:
        batch.alter_column("processing_state", existing_type=sa.String(length=16), nullable=False)
        batch.create_check_constraint("processing_state", PROCESSING_STATES)
        batch.create_index(batch.f("ix_documents_invoice_number"), ["invoice_number"], unique=False)

    op.create_table(
        "notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.String(length=8), nullable=False),
        sa.Column("message_id", sa.String(length=300), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=True),
        sa.Column("sent_at", ledger.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", ledger.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"], ["documents.id"], name=op.f("fk_notices_document_id_documents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
        sa.UniqueConstraint("document_id", "status_code", name=op.f("uq_notices_document_id_status_code")),
    )
    op.create_table(
        "job_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=True),
        sa.Column("args", JSON_DOCUMENT, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", ledger.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", ledger.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "state IN ('pending', 'enqueued', 'done', 'failed')", name=op.f("ck_job_outbox_state")
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_job_outbox_attempts")),
        sa.ForeignKeyConstraint(
            ["document_id"], ["documents.id"], name=op.f("fk_job_outbox_document_id_documents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_outbox")),
    )
    op.create_index(op.f("ix_job_outbox_state"), "job_outbox", ["state"], unique=False)
    op.create_index(op.f("ix_job_outbox_document_id"), "job_outbox", ["document_id"], unique=False)
    op.create_table(
        "rule_sets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=True),
        sa.Column("yaml_text", sa.Text(), nullable=False),
        sa.Column("updated_at", ledger.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint("scope IN ('suppliers', 'customer')", name=op.f("ck_rule_sets_scope")),
        sa.ForeignKeyConstraint(["party_id"], ["parties.id"], name=op.f("fk_rule_sets_party_id_parties")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_sets")),
        sa.UniqueConstraint("name", name=op.f("uq_rule_sets_name")),
    )


def downgrade() -> None:
    """Revert this revision (notices, outbox and stored rule sets are dropped).

    Revision 0001 has no "not decided yet" state: documents still undecided get an
    empty status code so that the NOT NULL constraint can come back.
    """
    op.drop_table("rule_sets")
    op.drop_index(op.f("ix_job_outbox_document_id"), table_name="job_outbox")
    op.drop_index(op.f("ix_job_outbox_state"), table_name="job_outbox")
    op.drop_table("job_outbox")
    op.drop_table("notices")
    op.execute("UPDATE documents SET status_code = '' WHERE status_code IS NULL")
    with op.batch_alter_table("documents") as batch:
        batch.drop_index(batch.f("ix_documents_invoice_number"))
        batch.drop_constraint("processing_state", type_="check")
        batch.alter_column("status_code", existing_type=sa.String(length=8), nullable=False)
        batch.drop_column("invoice_summary")
        batch.drop_column("invoice_number")
        batch.drop_column("last_error")
        batch.drop_column("processing_state")
