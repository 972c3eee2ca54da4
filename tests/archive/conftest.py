"""Archive fixtures: a test TSA (started once), a seal key, file and SQL journals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, delete

from archive.journal import FileJournal
from archive.journal_sql import SqlJournal
from archive.tables import metadata as archive_metadata
from archive.timestamp import HttpTimestamper
from ledger import db
from tests.archive.tsa import LocalTSA
from tests.ledger.conftest import PostgresServer, postgres_server  # noqa: F401 - fixture


@pytest.fixture(scope="session")
def tsa() -> Iterator[LocalTSA]:
    """The local time-stamping authority."""
    authority = LocalTSA()
    authority.start()
    yield authority
    authority.stop()


@pytest.fixture
def timestamper(tsa: LocalTSA) -> HttpTimestamper:
    return HttpTimestamper(tsa.url, timeout=10)


@pytest.fixture(scope="session")
def seal_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def file_journal(tmp_path: Path) -> FileJournal:
    return FileJournal(tmp_path / "journal")


def _empty_archive_tables(eng: Engine) -> None:
    with eng.begin() as conn:
        for table in reversed(archive_metadata.sorted_tables):
            conn.execute(delete(table))


@pytest.fixture(scope="session")
def _archive_engines() -> Iterator[dict[str, Engine]]:
    engines: dict[str, Engine] = {}
    yield engines
    for eng in engines.values():
        eng.dispose()


def sql_journal_for(
    backend: str,
    request: pytest.FixtureRequest,
    engines: dict[str, Engine],
    tmp_factory: pytest.TempPathFactory,
) -> SqlJournal:
    """A journal on a database migrated to head once per session (SQLite file or PostgreSQL)."""
    if backend not in engines:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_factory.mktemp('archive') / 'encaisse.db'}"
        else:
            server: PostgresServer = request.getfixturevalue("postgres_server")
            url = server.database("archive")
        db.upgrade(url)
        engines[backend] = db.make_engine(url)
    _empty_archive_tables(engines[backend])
    request.addfinalizer(lambda: _empty_archive_tables(engines[backend]))
    return SqlJournal(engines[backend])


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_journal(
    request: pytest.FixtureRequest,
    _archive_engines: dict[str, Engine],
    tmp_path_factory: pytest.TempPathFactory,
) -> SqlJournal:
    """A journal in a migrated database (SQLite and PostgreSQL), emptied before and after."""
    return sql_journal_for(request.param, request, _archive_engines, tmp_path_factory)


@pytest.fixture(params=["file", "sqlite", "postgresql"])
def any_journal(
    request: pytest.FixtureRequest,
    _archive_engines: dict[str, Engine],
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
) -> FileJournal | SqlJournal:
    """Each backend in turn."""
    if request.param == "file":
        return FileJournal(tmp_path / "journal")
    return sql_journal_for(request.param, request, _archive_engines, tmp_path_factory)
