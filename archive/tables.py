"""The archive's own tables (SQLAlchemy Core), in the ledger's database but not its models.

``journal_entries`` keeps each entry's canonical ``body`` exactly as hashed, with
``seq``, ``hash``, ``prev``, ``kind``, ``subject`` and ``at`` copied out of it for
queries (the verifier checks the copies against the body). ``seals`` keeps each
seal's canonical body, its Ed25519 signature and its RFC 3161 response.
``legal_holds`` keeps each hold (set and release, with reasons, actors and the
journal entries that record them); ``purges`` keeps each object a purge took out
of the store (``started`` until the files are gone and the ``purged`` entry is
written, then ``done``). The Alembic revisions ``0100`` and ``0101`` create them;
``ledger/migrations/env.py`` lists this metadata beside the ledger's so ``alembic check`` covers both.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
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

legal_holds = Table(
    "legal_holds",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("set_by", String(200), nullable=False),
    Column("set_at", DateTime(timezone=True), nullable=False),
    Column("set_seq", BigInteger().with_variant(Integer(), "sqlite"), nullable=False),
    Column("released_by", String(200), nullable=True),
    Column("released_at", DateTime(timezone=True), nullable=True),
    Column("release_reason", Text, nullable=True),
    Column("released_seq", BigInteger().with_variant(Integer(), "sqlite"), nullable=True),
    Index("ix_legal_holds_subject", "subject"),
)

purges = Table(
    "purges",
    metadata,
    Column("object_sha256", String(64), primary_key=True),
    Column("subject", String(200), nullable=False),
    Column("document_type", String(40), nullable=False),
    Column("retention_until", Date, nullable=False),
    Column("state", String(12), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column(
        "started_seq", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False
    ),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("finished_seq", BigInteger().with_variant(Integer(), "sqlite"), nullable=True),
)
