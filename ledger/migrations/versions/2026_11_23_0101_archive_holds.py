"""Archive: legal holds and the purge register (tables of archive.tables).

Revision ID: 0101
Revises: 0100
Create Date: 2026-11-23 07:40:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0101"
down_revision: str | None = "0100"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("set_by", sa.String(length=200), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("set_seq", SEQ, nullable=False),
        sa.Column("released_by", sa.String(length=200), nullable=True),
        sa.Column("released_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.Column("released_seq", SEQ, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_holds")),
    )
    op.create_index("ix_legal_holds_subject", "legal_holds", ["subject"], unique=False)
    op.create_table(
        "purges",
        sa.Column("object_sha256", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("document_type", sa.String(length=40), nullable=False),
        sa.Column("retention_until", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_seq", SEQ, nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_seq", SEQ, nullable=True),
        sa.PrimaryKeyConstraint("object_sha256", "started_seq", name=op.f("pk_purges")),
    )


def downgrade() -> None:
    """Revert this revision (holds and purges are evidence: only for an empty archive in development)."""
    op.drop_table("purges")
    op.drop_index("ix_legal_holds_subject", table_name="legal_holds")
    op.drop_table("legal_holds")
