"""Engine, sessions and migrations.

The database is PostgreSQL (psycopg 3) when ``ENCAISSE_DATABASE_URL`` is set,
else the SQLite file ``ENCAISSE_DATA_DIR/encaisse.db``. SQLite connections get
``foreign_keys=ON``, WAL journaling and a busy timeout, so several worker
processes can share the file. Engines hold connection pools: create them in
each process after forking, never before.

Migrations are Alembic revisions in ``ledger/migrations``, run in-process by
:func:`upgrade` (``encaisse db upgrade``) and by ``alembic`` with the
``alembic.ini`` at the repository root.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from schemas.errors import EncaisseError, ErrorCode
from schemas.settings import Settings, get_settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_FILENAME = "encaisse.db"
SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATION_LOCK_ID = 0x656E6361  # "enca": the PostgreSQL advisory lock held while migrating


class MigrationFailed(EncaisseError):
    """A migration could not be applied; the database was left as it was."""

    code = ErrorCode.DB_MIGRATION_FAILED


def database_url(settings: Settings | None = None) -> str:
    """The SQLAlchemy URL to use: ``ENCAISSE_DATABASE_URL``, else the SQLite file under the data dir.

    ``postgresql://`` and ``postgres://`` URLs are given the psycopg 3 driver.
    """
    settings = settings or get_settings()
    if settings.database_url:
        return normalize_url(settings.database_url)
    return f"sqlite:///{(Path(settings.data_dir) / SQLITE_FILENAME).resolve()}"


def normalize_url(url: str) -> str:
    """Name the psycopg 3 driver in a bare PostgreSQL URL.

    Examples:
        >>> normalize_url("postgres://u@h/db")
        'postgresql+psycopg://u@h/db'
        >>> normalize_url("sqlite:///x.db")
        'sqlite:///x.db'
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _json_default(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _json_dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False)


def _sqlite_pragmas(dbapi_connection: Any, connection_record: object) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
    finally:
        cursor.close()


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """An engine for ``url`` (default: :func:`database_url`), SQLite pragmas included.

    For a SQLite file the folder is created if needed.
    """
    url = normalize_url(url) if url else database_url()
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, json_serializer=_json_dumps, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, json_serializer=_json_dumps, **kwargs)


def use_real_sqlite_transactions(engine: Engine, *, begin: str = "BEGIN IMMEDIATE") -> Engine:
    """Let SQLAlchemy, not the sqlite3 driver, delimit transactions on a SQLite engine.

    The driver only opens a transaction at the first write, so a SAVEPOINT taken
    before it is released as a commit and ``session.begin_nested()`` cannot roll
    back (the pysqlite issue SQLAlchemy's SQLite documentation describes). This
    switches the driver's handling off and emits ``begin`` itself; ``BEGIN
    IMMEDIATE`` takes the write lock at once, so two processes never deadlock
    upgrading a read lock (the busy timeout makes the second one wait). Other
    backends are returned untouched. Added by the pipeline (issue 3).
    """
    if engine.dialect.name != "sqlite":
        return engine

    @event.listens_for(engine, "connect")
    def _driver_transactions_off(dbapi_connection: Any, connection_record: object) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)

    return engine


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine``; objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration pointing at ``ledger/migrations`` (no ``alembic.ini`` needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = normalize_url(url) if url else database_url()
    return config


def head_revision() -> str | None:
    """The newest revision the code knows."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(url: str | None = None) -> str | None:
    """The revision the database is at (``None`` for an empty database)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def _migration_engine(url: str) -> Engine:
    """An engine for running migrations.

    On SQLite the driver's own transaction handling is switched off so that
    each migration's DDL runs in one real transaction (all or nothing), and
    foreign keys are off while batch mode rebuilds tables (a table copy would
    otherwise cascade or fail); they are checked before commit instead.
    """
    if make_url(url).get_backend_name() != "sqlite":
        return make_engine(url)
    engine = make_engine(url)

    @event.listens_for(engine, "connect")
    def _no_driver_transactions(dbapi_connection: Any, connection_record: object) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA foreign_keys=OFF")

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # IMMEDIATE: take the write lock before reading alembic_version, so two
        # processes migrating at once run one after the other.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _run(url: str | None, action: str, revision: str) -> None:
    config = alembic_config(url)
    db_url: str = config.attributes["database_url"]
    engine = _migration_engine(db_url)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # one migrator at a time (workers may all start with an upgrade)
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
            config.attributes["connection"] = connection
            try:
                if action == "upgrade":
                    command.upgrade(config, revision)
                else:
                    command.downgrade(config, revision)
            except CommandError as exc:  # unknown revision, overlapping heads...
                raise MigrationFailed(f"cannot {action} to {revision!r}: {exc}", where=db_url) from exc
            if connection.dialect.name == "sqlite":
                broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise MigrationFailed(
                        f"{action} to {revision} would leave {len(broken)} rows with a dangling "
                        f"foreign key (first: table {broken[0][0]}, rowid {broken[0][1]}); rolled back",
                        where=db_url,
                    )
    finally:
        engine.dispose()


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Migrate the database at ``url`` (default: the configured one) up to ``revision``.

    Each run is one transaction on both backends: a failing migration leaves
    the database unchanged. Concurrent runs (several workers starting) are
    serialised: an advisory lock on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite.
    """
    _run(url, "upgrade", revision)


def downgrade(url: str | None = None, revision: str = "-1") -> None:
    """Migrate the database at ``url`` down to ``revision`` (default: one step)."""
    _run(url, "downgrade", revision)
