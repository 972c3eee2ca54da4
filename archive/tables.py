"""The archive's own tables (SQLAlchemy Core), in the ledger's database but not its models.

``journal_entries`` keeps each entry's canonical ``body`` exactly as hashed, with
``seq``, ``hash``, ``prev``, ``kind``, ``subject`` and ``at`` copied out of it for
queries (the verifier checks the copies against the body). ``seals`` keeps each
seal's canonical body, its Ed25519 signature and its RFC 3161 response.
The Alembic revision ``0100`` creates them; ``ledger/migrations/env.py`` lists
this metadata beside the ledger's so ``alembic check`` covers both.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

journal_entries = Table(
    "journal_entries",
    metadata,
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False),
    Column("hash", String(64), nullable=False, unique=True),
    Column("prev", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("body", Text, nullable=False),
    Index("ix_journal_entries_subject", "subject"),
)

journal_subjects = Table(
    "journal_subjects",
    metadata,
    Column("seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False),
    Column("subject", String(200), primary_key=True),
    Index("ix_journal_subjects_subject", "subject"),
)

seals = Table(
    "seals",
    metadata,
    Column("number", Integer, primary_key=True, autoincrement=False),
    Column("hash", String(64), nullable=False, unique=True),
    Column("from_seq", BigInteger().with_variant(Integer(), "sqlite"), nullable=False),
    Column("to_seq", BigInteger().with_variant(Integer(), "sqlite"), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("body", Text, nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("timestamp_token", LargeBinary, nullable=True),
)
