"""Archive: the hash-chained journal, its subject index and the seals (tables of archive.tables).

Revision ID: 0100
Revises: 0002
Create Date: 2026-11-23 06:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0100"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "journal_entries",
        sa.Column("seq", SEQ, autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("prev", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_journal_entries")),
        sa.UniqueConstraint("hash", name=op.f("uq_journal_entries_hash")),
    )
    op.create_index("ix_journal_entries_subject", "journal_entries", ["subject"], unique=False)
    op.create_table(
        "journal_subjects",
        sa.Column("seq", SEQ, autoincrement=False, nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("seq", "subject", name=op.f("pk_journal_subjects")),
    )
    op.create_index("ix_journal_subjects_subject", "journal_subjects", ["subject"], unique=False)
    op.create_table(
        "seals",
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("from_seq", SEQ, nullable=False),
        sa.Column("to_seq", SEQ, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("timestamp_token", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_seals")),
        sa.UniqueConstraint("hash", name=op.f("uq_seals_hash")),
    )


def downgrade() -> None:
    """Revert this revision (the journal is evidence: only for an empty archive in development)."""
    op.drop_table("seals")
    op.drop_index("ix_journal_subjects_subject", table_name="journal_subjects")
    op.drop_table("journal_subjects")
    op.drop_index("ix_journal_entries_subject", table_name="journal_entries")
    op.drop_table("journal_entries")
