"""The fast path of the chain check: an intact journal verified in one tight pass.

:func:`fast_file_chain` and :func:`fast_sql_chain` return every entry's digest
and Merkle leaf when the whole journal is right, or None at the first doubt; the
caller (:func:`archive.verify.verified_chain`) then runs the exact check, which
names the first bad entry. Both accept exactly what that check accepts, faster:
see ``bench/archive.py`` for the figures against a plain hashlib loop.
"""

from __future__ import annotations

from binascii import hexlify, unhexlify
from collections.abc import Iterable, Sequence
from hashlib import sha256
from operator import itemgetter
from typing import overload

from sqlalchemy import text

from archive.canonical import GENESIS
from archive.journal import FileJournal
from archive.journal_sql import SqlJournal


class _HexView(Sequence[str]):
    """Raw 32-byte digests seen as hex strings, converted only when read (saves a million allocations)."""

    def __init__(self, digests: list[bytes]) -> None:
        self._digests = digests

    def __len__(self) -> int:
        return len(self._digests)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [d.hex() for d in self._digests[index]]
        return self._digests[index].hex()


_LINK = b'%s","seq":%d,"subject":"'
CHUNK = 20_000  # rows fetched at a time from the database


class _FastChain:
    """Entry digests and Merkle leaves of an intact journal, line by line; stops at the first doubt.

    One tight loop per entry (CPython runs it faster than chains of ``map``):
    the entry's SHA-256 against its stored hash, the top-level ``prev`` and
    ``seq`` (the last ``,"prev":"`` of canonical JSON is the top-level one, see
    :func:`archive.verify._fields`) against the entry before, and the entry's Merkle leaf.
    """

    def __init__(self) -> None:
        self.digests: list[bytes] = []
        self.leaves: list[bytes] = []
        self.prev = GENESIS.encode()

    def scan(self, lines: Iterable[bytes], *, prev_column: bool = False) -> bool:
        """Check `<hash> <body>` lines (`<hash> <prev> <body>` with ``prev_column``), newline-terminated."""
        digests, leaves = self.digests, self.leaves
        append, add_leaf, sha = digests.append, leaves.append, sha256
        prev, expected = self.prev, len(digests) + 1
        start, link = (130 if prev_column else 65), _LINK
        line = b"\n"
        for line in lines:
            hexpart = line[:64]
            body = line[start:-1]
            try:
                digest = unhexlify(hexpart)
            except ValueError:
                return False
            if sha(body).digest() != digest or line[64] != 32:
                return False
            if prev_column and (line[65:129] != prev or line[129] != 32):
                return False  # the copied prev column is not the hash of the row before
            at = body.rfind(b',"prev":"')
            if not (body.startswith(b'{"actor":"') and body.startswith(link % (prev, expected), at + 9)):
                return False
            append(digest)
            add_leaf(sha(b"\x00" + digest).digest())
            prev = hexpart
            expected += 1
        if not line.endswith(b"\n"):
            return False  # a torn last line (only the last one can lack its newline)
        if digests and prev != hexlify(digests[-1]):
            return False  # a stored hash in upper case (its successor would have caught it)
        self.prev = prev
        return True

    def result(self) -> tuple[Sequence[str], list[bytes]]:
        return _HexView(self.digests), self.leaves


def fast_file_chain(journal: FileJournal) -> tuple[Sequence[str], list[bytes]] | None:
    """Entry hashes and Merkle leaves when every line of a file journal is right; None at the first doubt.

    The common case (an intact journal); any anomaly sends the caller to
    :func:`archive.verify.verify_chain`, which finds and names the first bad entry.
    """
    chain = _FastChain()
    try:
        handle = journal.entries_path.open("rb")
    except FileNotFoundError:
        return chain.result()
    with handle:
        return chain.result() if chain.scan(handle) else None


def fast_sql_chain(journal: SqlJournal) -> tuple[Sequence[str], list[bytes]] | None:
    """The same over the SQL journal's rows (``hash prev body``, read through the driver's cursor).

    The copied columns are checked too: ``seq`` is 1..n (the primary key, counted
    by the database) and each ``prev`` is the hash of the row before.
    """
    chain = _FastChain()
    with journal.engine.connect() as conn:
        count, low, high = conn.execute(
            text("SELECT count(*), min(seq), max(seq) FROM journal_entries")
        ).one()
        if count and (low, high) != (1, count):
            return None
        dbapi = conn.connection.driver_connection
        if dbapi is None:
            return None
        postgres = conn.dialect.name == "postgresql"
        newline = "chr(10)" if postgres else "char(10)"
        cursor = dbapi.cursor("journal_verify") if postgres else dbapi.cursor()
        try:
            cursor.execute(
                f"SELECT hash || ' ' || prev || ' ' || body || {newline} FROM journal_entries ORDER BY seq"
            )
            while rows := cursor.fetchmany(CHUNK):
                if not chain.scan(map(str.encode, map(itemgetter(0), rows)), prev_column=True):
                    return None
        finally:
            cursor.close()
    return chain.result()
