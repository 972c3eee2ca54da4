"""Alembic environment: the ledger's metadata, batch mode on SQLite, type comparison on.

Run in-process by :func:`ledger.db.upgrade` (which passes an open connection in
``config.attributes["connection"]``) or by the ``alembic`` command with the
repository's ``alembic.ini`` (the URL then comes from ``ENCAISSE_DATABASE_URL``
/ ``ENCAISSE_DATA_DIR`` through :func:`ledger.db.database_url`).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from archive.tables import metadata as archive_metadata
from ledger.models import Base

# The archive keeps its journal and seals in the same database, in tables of its
# own (archive.tables), which the ledger's models must not know about (archive
# depends on schemas only). This is the one place where the two meet: Alembic
# compares and migrates both metadata, so `alembic check` covers every table.
target_metadata = [Base.metadata, archive_metadata]


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=False,
    )


def run_migrations_offline() -> None:
    """Emit SQL for the URL without connecting (``alembic upgrade --sql``)."""
    from ledger.db import database_url, normalize_url

    url = context.config.get_main_option("sqlalchemy.url") or database_url()
    context.configure(
        url=normalize_url(url),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against the connection handed over by ``ledger.db``, or a fresh engine."""
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return

    from ledger.db import _migration_engine, database_url, normalize_url

    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url") or database_url()
    engine = _migration_engine(normalize_url(url))
    try:
        with engine.begin() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


def main() -> None:
    """Entry point when Alembic executes this file."""
    if context.is_offline_mode():
        run_migrations_offline()
    else:
        run_migrations_online()


# Alembic sets up ``context`` before executing env.py; a plain import (pytest's
# doctest collection, an IDE) finds no running migration and does nothing.
if hasattr(context, "config"):
    main()
