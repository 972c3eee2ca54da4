"""Portal: web sessions, login links, API tokens, failed logins, users' language, scoping indexes.

Documents get indexes on their customer and supplier (what every portal query
filters on, :mod:`ledger.scoping`). Every secret (session cookie, login link,
API token) is stored as its SHA-256 only (:mod:`ledger.access`).

Revision ID: 0300
Revises: 0200
Create Date: 2026-11-23 08:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import ledger.types

revision: str = "0300"
down_revision: str | None = "0200"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# JSON text on SQLite, JSONB on PostgreSQL (a snapshot of ledger.types.JSONDocument).
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _instant(name: str, nullable: bool) -> sa.Column[object]:
    return sa.Column(name, ledger.types.UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("language", sa.String(length=8), nullable=True))
    # what ledger.scoping filters on: a customer's (a collector's portfolio's) and a supplier's documents
    op.create_index(op.f("ix_documents_customer_party_id"), "documents", ["customer_party_id"], unique=False)
    op.create_index(op.f("ix_documents_supplier_party_id"), "documents", ["supplier_party_id"], unique=False)
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("ip", sa.String(length=45), nullable=True),
        sa.Column("user_agent", sa.String(length=200), nullable=True),
        _instant("created_at", False),
        _instant("expires_at", False),
        _instant("revoked_at", True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_web_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_sessions_token_hash")),
    )
    op.create_index(op.f("ix_web_sessions_expires_at"), "web_sessions", ["expires_at"], unique=False)
    op.create_index(op.f("ix_web_sessions_user_id"), "web_sessions", ["user_id"], unique=False)
    op.create_table(
        "login_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("requested_ip", sa.String(length=45), nullable=True),
        _instant("created_at", False),
        _instant("expires_at", False),
        _instant("used_at", True),
        sa.CheckConstraint("purpose IN ('login')", name=op.f("ck_login_tokens_purpose")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_login_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_login_tokens_token_hash")),
    )
    op.create_index(op.f("ix_login_tokens_user_id"), "login_tokens", ["user_id"], unique=False)
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", JSON_DOCUMENT, nullable=False),
        _instant("created_at", False),
        _instant("expires_at", True),
        _instant("last_used_at", True),
        _instant("revoked_at", True),
        sa.ForeignKeyConstraint(
            ["party_id"], ["parties.id"], name=op.f("fk_api_tokens_party_id_parties"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("prefix", name=op.f("uq_api_tokens_prefix")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"], unique=False)
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=80), nullable=False),
        _instant("at", False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index(op.f("ix_login_failures_subject_at"), "login_failures", ["subject", "at"], unique=False)


def downgrade() -> None:
    """Revert this revision (signs everyone out and forgets their API tokens)."""
    op.drop_index(op.f("ix_login_failures_subject_at"), table_name="login_failures")
    op.drop_table("login_failures")
    op.drop_index(op.f("ix_api_tokens_user_id"), table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_index(op.f("ix_login_tokens_user_id"), table_name="login_tokens")
    op.drop_table("login_tokens")
    op.drop_index(op.f("ix_web_sessions_user_id"), table_name="web_sessions")
    op.drop_index(op.f("ix_web_sessions_expires_at"), table_name="web_sessions")
    op.drop_table("web_sessions")
    op.drop_index(op.f("ix_documents_supplier_party_id"), table_name="documents")
    op.drop_index(op.f("ix_documents_customer_party_id"), table_name="documents")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("language")
