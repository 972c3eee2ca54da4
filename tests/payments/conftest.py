"""The ledger's database fixtures (SQLite and PostgreSQL), reused by the payments tests."""

from __future__ import annotations

from tests.ledger.conftest import _migrated_engines, db_url, engine, postgres_server, session

__all__ = ["_migrated_engines", "db_url", "engine", "postgres_server", "session"]
