"""The ledger: the database of documents, invoices, parties, lifecycle events and users.

``ledger.models`` holds the SQLAlchemy 2 models, ``ledger.db`` the engine, the
session factory and the Alembic entry points (:func:`ledger.db.upgrade`,
:func:`ledger.db.current_revision`). SQLite under ``ENCAISSE_DATA_DIR`` by
default, PostgreSQL (psycopg 3) when ``ENCAISSE_DATABASE_URL`` is set.
"""

from __future__ import annotations
