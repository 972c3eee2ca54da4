"""The hash-chained journal: every event of every stage, in order, each bound to the one before.

An entry's body is the canonical JSON (:mod:`archive.canonical`) of
``{"actor", "at", "data", "kind", "prev", "seq", "subject"}``; its ``hash`` is
the SHA-256 of those bytes; ``prev`` is the previous entry's hash (64 zeros for
the first). Changing, removing, inserting or reordering an entry therefore breaks
a link that :func:`archive.verify.verify_chain` finds.

Backends keep the body bytes exactly as hashed: :class:`FileJournal` here (JSON
lines, ``flock``, ``fsync``; for tests and tools) and
:class:`archive.journal_sql.SqlJournal` (SQLAlchemy Core, SQLite and PostgreSQL).
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from archive.canonical import GENESIS, NotCanonical, dumps_plain, loads, plain, sha256_hex, utc_text
from schemas.errors import EncaisseError, ErrorCode


class JournalError(EncaisseError):
    """The journal could not be read or appended to, or its chain does not hold."""

    code = ErrorCode.ARCHIVE_JOURNAL


class EntryKind(StrEnum):
    """What happened; one journal entry per event."""

    RECEIVED = "received"
    DETECTED = "detected"
    VALIDATED = "validated"
    REGISTERED = "registered"
    STATUS_CHANGED = "status_changed"
    NOTICE_SENT = "notice_sent"
    PORTAL_VIEWED = "portal_viewed"
    DOWNLOADED = "downloaded"
    PAYMENT_RECEIVED = "payment_received"
    MATCHED = "matched"
    EVIDENCE_EXPORTED = "evidence_exported"
    LEGAL_HOLD_SET = "legal_hold_set"
    LEGAL_HOLD_RELEASED = "legal_hold_released"
    PURGE_STARTED = "purge_started"
    PURGED = "purged"
    SEALED = "sealed"


@dataclass(frozen=True, slots=True)
class Event:
    """An event to journal; the backend gives it its ``seq`` and ``prev``.

    ``subject`` names what the event is about (a document's SHA-256, ``invoice:42``...);
    ``data`` must have a canonical JSON form (no floats). ``data["objects"]``, when
    present, lists the SHA-256 of the stored objects this event put in the archive;
    ``data["related"]`` lists other subjects the entry is also about.
    """

    kind: str
    subject: str
    actor: str
    data: Mapping[str, Any] = field(default_factory=dict)
    at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """A journal entry as stored: the hashed ``body`` bytes and its ``hash``."""

    body: bytes
    hash: str
    fields: dict[str, Any]

    @property
    def seq(self) -> int:
        """Position in the journal, from 1."""
        return int(self.fields["seq"])

    @property
    def prev(self) -> str:
        """Hash of the entry before (64 zeros for the first)."""
        return str(self.fields["prev"])

    @property
    def kind(self) -> str:
        """What happened."""
        return str(self.fields["kind"])

    @property
    def subject(self) -> str:
        """What it happened to."""
        return str(self.fields["subject"])

    @property
    def at(self) -> str:
        """When, ISO 8601 UTC."""
        return str(self.fields["at"])

    @property
    def data(self) -> dict[str, Any]:
        """The event's details."""
        value = self.fields["data"]
        return value if isinstance(value, dict) else {}

    def subjects(self) -> set[str]:
        """The subject and any ``data["related"]`` subjects."""
        related = self.data.get("related", [])
        return {self.subject} | {str(r) for r in related if isinstance(related, list)}

    def objects(self) -> list[str]:
        """The stored objects this entry put in the archive (``data["objects"]``)."""
        objects = self.data.get("objects", [])
        return [str(o) for o in objects] if isinstance(objects, list) else []


def make_entry(event: Event, *, seq: int, prev: str, now: dt.datetime | None = None) -> Entry:
    """The entry ``event`` becomes at position ``seq`` after the entry hashed ``prev``.

    >>> e = make_entry(Event("received", "ab" * 32, "system", {"size": 3}), seq=1, prev=GENESIS,
    ...                now=dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    >>> e.body[:60]
    b'{"actor":"system","at":"2026-11-23T00:00:00Z","data":{"size"'
    >>> e.hash == sha256_hex(e.body)
    True
    """
    at = event.at or now or dt.datetime.now(dt.UTC)
    if not event.kind or not event.subject or not event.actor:
        raise JournalError("a journal entry needs a kind, a subject and an actor")
    fields = {
        "actor": str(event.actor),
        "at": utc_text(at),
        "data": plain(dict(event.data), "$.data"),
        "kind": str(event.kind),
        "prev": prev,
        "seq": seq,
        "subject": str(event.subject),
    }
    body = dumps_plain(fields)
    return Entry(body=body, hash=sha256_hex(body), fields=fields)


def parse_entry(body: bytes, stored_hash: str) -> Entry:
    """An entry read back from storage (its hash is checked by the verifier, not here)."""
    try:
        fields = loads(body)
    except NotCanonical as exc:
        raise JournalError(f"journal entry {stored_hash[:12]} is not JSON: {exc.message}") from exc
    if not isinstance(fields, dict):
        raise JournalError(f"journal entry {stored_hash[:12]} is not a JSON object")
    return Entry(body=body, hash=stored_hash, fields=fields)


@dataclass(frozen=True, slots=True)
class SealRecord:
    """A stored seal: canonical ``body``, its ``hash``, Ed25519 ``signature``, RFC 3161 response."""

    body: bytes
    hash: str
    signature: bytes
    timestamp: bytes | None = None

    @property
    def fields(self) -> dict[str, Any]:
        """The parsed body."""
        value = loads(self.body)
        if not isinstance(value, dict):
            raise JournalError(f"seal {self.hash[:12]} is not a JSON object")
        return value

    @property
    def number(self) -> int:
        """Seal number, from 1."""
        return int(self.fields["number"])


@runtime_checkable
class JournalBackend(Protocol):
    """Where journal entries and seals are kept."""

    def append(self, event: Event, *, connection: Any = None) -> Entry:
        """Give ``event`` the next seq, link it to the head and store it, atomically under a lock."""
        ...

    def append_many(self, events: Iterable[Event], *, connection: Any = None) -> list[Entry]:
        """Append several events under one lock and one commit."""
        ...

    def iter(self, from_seq: int = 1, to_seq: int | None = None) -> Iterator[Entry]:
        """Entries from ``from_seq`` (in storage order; the verifier checks that order)."""
        ...

    def head(self) -> Entry | None:
        """The last entry, or None when the journal is empty."""
        ...

    def get(self, seq: int) -> Entry:
        """The entry at ``seq``."""
        ...

    def about(self, subjects: Iterable[str]) -> list[Entry]:
        """Entries whose subject (or related subjects) is one of ``subjects``, in order."""
        ...

    def add_seal(self, seal: SealRecord) -> None:
        """Store a seal (its number must follow the last one)."""
        ...

    def seals(self) -> list[SealRecord]:
        """Every seal, by number."""
        ...


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileJournal:
    """A journal as text files: ``journal.log`` (``<hash> <body>`` lines) and ``seals.log``.

    Appends hold an exclusive ``flock`` on ``journal.lock`` across processes, read
    the head from the end of the file, write and ``fsync``. A torn last line (a
    crash mid-write) is detected and reported by :meth:`iter`; it is never linked to.
    """

    def __init__(self, root: Path, *, fsync: bool = True) -> None:
        self.root = Path(root)
        self.entries_path = self.root / "journal.log"
        self.seals_path = self.root / "seals.log"
        self.lock_path = self.root / "journal.lock"
        self.fsync = fsync

    def __repr__(self) -> str:
        return f"FileJournal({str(self.root)!r})"

    def _lock(self) -> int:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    @staticmethod
    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def _last_line(self) -> bytes | None:
        try:
            with self.entries_path.open("rb") as handle:
                handle.seek(0, os.SEEK_END)
                size = handle.tell()
                if size == 0:
                    return None
                chunk = 4096
                pos = size
                tail = b""
                while pos > 0:
                    step = min(chunk, pos)
                    pos -= step
                    handle.seek(pos)
                    tail = handle.read(step) + tail
                    if tail.count(b"\n") >= 2 or pos == 0:
                        break
                    chunk *= 2
        except FileNotFoundError:
            return None
        if not tail.endswith(b"\n"):
            raise JournalError(
                f"{self.entries_path} ends with a torn line (interrupted write): run the archive verifier",
                where=str(self.entries_path),
            )
        return tail.rstrip(b"\n").rsplit(b"\n", 1)[-1]

    @staticmethod
    def _parse_line(line: bytes) -> Entry:
        stored_hash, _, body = line.partition(b" ")
        return parse_entry(body, stored_hash.decode("ascii", "replace"))

    def head(self) -> Entry | None:
        """The last entry."""
        line = self._last_line()
        return None if line is None else self._parse_line(line)

    def append(self, event: Event, *, connection: Any = None) -> Entry:
        """Append one event (``connection`` is ignored: files have no transactions)."""
        return self.append_many([event])[0]

    def append_many(self, events: Iterable[Event], *, connection: Any = None) -> list[Entry]:
        """Append events under one lock and one ``fsync``."""
        fd = self._lock()
        try:
            head = self.head()
            seq, prev = (0, GENESIS) if head is None else (head.seq, head.hash)
            out: list[Entry] = []
            for event in events:
                seq += 1
                entry = make_entry(event, seq=seq, prev=prev)
                out.append(entry)
                prev = entry.hash
            if not out:
                return out
            created = not self.entries_path.exists()
            with self.entries_path.open("ab") as handle:
                handle.write(b"".join(e.hash.encode("ascii") + b" " + e.body + b"\n" for e in out))
                handle.flush()
                if self.fsync:
                    os.fsync(handle.fileno())
            if created and self.fsync:
                _fsync_dir(self.root)
            return out
        finally:
            self._unlock(fd)

    def iter_lines(self) -> Iterator[bytes]:
        """The raw stored lines (without their newline), as the verifier reads them."""
        try:
            handle = self.entries_path.open("rb")
        except FileNotFoundError:
            return
        with handle:
            for line in handle:
                yield line[:-1] if line.endswith(b"\n") else line

    def iter(self, from_seq: int = 1, to_seq: int | None = None) -> Iterator[Entry]:
        """Entries in file order, from the ``from_seq``-th line."""
        for n, line in enumerate(self.iter_lines(), start=1):
            if n < from_seq:
                continue
            if to_seq is not None and n > to_seq:
                return
            yield self._parse_line(line)

    def get(self, seq: int) -> Entry:
        """The entry on line ``seq``."""
        for entry in self.iter(seq, seq):
            return entry
        raise JournalError(f"no journal entry {seq}", where=str(self.entries_path))

    def about(self, subjects: Iterable[str]) -> list[Entry]:
        """Entries about any of ``subjects``."""
        wanted = set(subjects)
        return [e for e in self.iter() if e.subjects() & wanted]

    def add_seal(self, seal: SealRecord) -> None:
        """Append a seal record (number checked against the last one)."""
        fd = self._lock()
        try:
            existing = self.seals()
            expected = existing[-1].number + 1 if existing else 1
            if seal.number != expected:
                raise JournalError(f"seal {seal.number} does not follow seal {expected - 1}")
            record = {
                "body": seal.body.decode("utf-8"),
                "hash": seal.hash,
                "signature": base64.b64encode(seal.signature).decode("ascii"),
                "timestamp": base64.b64encode(seal.timestamp).decode("ascii") if seal.timestamp else None,
            }
            with self.seals_path.open("ab") as handle:
                handle.write(dumps_plain(record) + b"\n")
                handle.flush()
                if self.fsync:
                    os.fsync(handle.fileno())
        finally:
            self._unlock(fd)

    def seals(self) -> list[SealRecord]:
        """Every stored seal, in file order."""
        try:
            lines = self.seals_path.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        out = []
        for line in lines:
            record = loads(line)
            out.append(
                SealRecord(
                    body=str(record["body"]).encode("utf-8"),
                    hash=str(record["hash"]),
                    signature=base64.b64decode(record["signature"]),
                    timestamp=base64.b64decode(record["timestamp"]) if record.get("timestamp") else None,
                )
            )
        return out
