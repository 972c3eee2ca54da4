"""Database fixtures: every ledger test runs on SQLite (a temp file) and on PostgreSQL.

PostgreSQL is ``ENCAISSE_TEST_POSTGRES_URL`` (an administrator's URL to the
``postgres`` database) or else the local server as user ``postgres``, on
127.0.0.1:5432 then on the Unix socket.
Throwaway databases with random names are created per test session (per xdist
worker: one migrated once for the model tests and emptied after each test, one
whose ``public`` schema is recreated for each migration test) and dropped at
the end (their backends terminated first). When the server is unreachable the
PostgreSQL half fails under ``CI=true`` and is skipped elsewhere
(``scripts/ensure-postgres.sh`` starts it).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ledger import db
from ledger.models import Base

ADMIN_URLS = (
    [os.environ["ENCAISSE_TEST_POSTGRES_URL"]]
    if os.environ.get("ENCAISSE_TEST_POSTGRES_URL")
    else [
        "postgresql://postgres@127.0.0.1:5432/postgres",
        "postgresql://postgres@/postgres?host=/var/run/postgresql",
    ]
)


def _admin_connect() -> tuple[psycopg.Connection[tuple[object, ...]] | None, str, str]:
    errors = []
    for url in ADMIN_URLS:
        try:
            return psycopg.connect(url, autocommit=True, connect_timeout=3), url, ""
        except psycopg.Error as exc:
            errors.append(f"{url}: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}")
    return None, "", "; ".join(errors)


def _with_dbname(admin_url: str, name: str) -> str:
    base, _, query = admin_url.partition("?")
    base = base.rsplit("/", 1)[0] + "/" + name
    return base + ("?" + query if query else "")


class PostgresServer:
    """Creates throwaway databases on the local server and drops them at the end of the session."""

    def __init__(self, admin: psycopg.Connection[tuple[object, ...]], admin_url: str) -> None:
        self.admin = admin
        self.admin_url = admin_url
        self.prefix = f"encaisse_test_{secrets.token_hex(5)}"
        self.created: dict[str, str] = {}

    def database(self, purpose: str) -> str:
        """The URL of this session's database for ``purpose`` (created on first use)."""
        if purpose not in self.created:
            name = f"{self.prefix}_{purpose}"
            self.admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            self.created[purpose] = name
        return db.normalize_url(_with_dbname(self.admin_url, self.created[purpose]))

    def drop_all(self) -> None:
        for name in self.created.values():
            self.admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            self.admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """The local PostgreSQL server, or a skip (a failure under CI=true) saying why not."""
    admin, admin_url, error = _admin_connect()
    if admin is None:
        reason = (
            f"PostgreSQL is not reachable ({error}); run scripts/ensure-postgres.sh "
            "or set ENCAISSE_TEST_POSTGRES_URL"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    server = PostgresServer(admin, admin_url)
    try:
        yield server
    finally:
        server.drop_all()
        admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a fresh SQLite file, or this session's PostgreSQL database emptied."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'var' / 'encaisse.db'}"
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.database("empty")
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    return url


@pytest.fixture(scope="session")
def _migrated_engines() -> Iterator[dict[str, Engine]]:
    """One migrated engine per backend for the session (PostgreSQL's is dropped with its server)."""
    engines: dict[str, Engine] = {}
    yield engines
    for eng in engines.values():
        eng.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(
    request: pytest.FixtureRequest,
    _migrated_engines: dict[str, Engine],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Engine]:
    """An engine on a database migrated to head (once per session), emptied after each test."""
    backend: str = request.param
    if backend not in _migrated_engines:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('ledger') / 'encaisse.db'}"
        else:
            url = request.getfixturevalue("postgres_server").database("models")
        db.upgrade(url)
        _migrated_engines[backend] = db.make_engine(url)
    eng = _migrated_engines[backend]
    try:
        yield eng
    finally:
        _empty(eng)


def _empty(eng: Engine) -> None:
    """Remove every row (Core statements: the ORM's append-only guard does not apply)."""
    tables = list(reversed(Base.metadata.sorted_tables))
    with eng.begin() as conn:
        if eng.dialect.name == "postgresql":  # one TRUNCATE: far faster than DELETE after bulk loads
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
            return
        for table in tables:
            conn.execute(table.delete())


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on the migrated database."""
    with db.make_session_factory(engine)() as s:
        yield s
