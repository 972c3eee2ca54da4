"""Checking the whole archive: every object's hash, every chain link, every seal.

Each problem is classified as ``changed`` (bytes differ from what was recorded),
``missing`` (recorded but gone) or ``untracked`` (present but never recorded).
The chain check stops at the first bad entry and names it: a changed entry (its
bytes no longer give its hash, or its successor points elsewhere), a missing one
(a gap in ``seq``), one out of order, or one inserted (its successor links to
the entry before it). Evidence bundles are checked by :mod:`archive.bundle_verify`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from hashlib import sha256
from pathlib import Path
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from archive.canonical import GENESIS, NotCanonical
from archive.fastchain import fast_file_chain, fast_sql_chain
from archive.journal import (
    Entry,
    EntryKind,
    FileJournal,
    JournalBackend,
    JournalError,
    SealRecord,
    parse_entry,
)
from archive.journal_sql import SqlJournal
from archive.merkle import merkle_root, root_of_leaves
from archive.signing import key_id, signature_valid
from archive.timestamp import TimestampError, verify_timestamp

_HEX64 = re.compile(r"[0-9a-f]{64}")


class ProblemClass(StrEnum):
    """How something differs from what was recorded."""

    CHANGED = "changed"
    MISSING = "missing"
    UNTRACKED = "untracked"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing the verifier found wrong; ``where`` names the object, entry or seal."""

    problem: ProblemClass
    where: str
    detail: str
    seq: int | None = None
    seal: int | None = None

    def __str__(self) -> str:
        return f"{self.problem}: {self.where}: {self.detail}"


class Record(NamedTuple):
    """An entry as the backend stores it: the hash it claims and the bytes it holds."""

    hash: str
    body: bytes
    columns: tuple[int, str] | None = None  # (seq, prev) copied into SQL columns


def journal_records(journal: JournalBackend) -> Iterator[Record]:
    """The journal's stored records in storage order, without trusting anything in them."""
    if isinstance(journal, FileJournal):
        for line in journal.iter_lines():
            yield Record(line[:64].decode("ascii", "replace"), line[65:] if line[64:65] == b" " else b"")
        return
    iter_rows = getattr(journal, "iter_rows", None)
    if iter_rows is not None:
        for seq, hash_, prev, body in iter_rows():
            yield Record(hash_, body, (seq, prev))
        return
    for entry in journal.iter():
        yield Record(entry.hash, entry.body)


_TAIL = re.compile(rb',"prev":"([0-9a-f]{64})","seq":(0|[1-9][0-9]{0,17}),"subject":"')


def _fields(body: bytes) -> tuple[int, str] | None:
    """``(seq, prev)`` of a body, or None when it is not a journal entry.

    Canonical JSON sorts the keys (actor, at, data, kind, prev, seq, subject) and
    escapes every quote inside strings, so the last ``,"prev":"`` is the top-level
    one: read there without parsing the whole entry (hashes bind the bytes anyway;
    :func:`archive.canonical.is_canonical` is the full check, used on bundles).
    """
    if not (body.startswith(b'{"actor":"') and body.endswith(b'"}')):
        return None
    match = _TAIL.match(body, body.rfind(b',"prev":"'))
    if match is None:
        return None
    return int(match[2]), match[1].decode("ascii")


def verify_chain(records: Iterable[Record]) -> tuple[list[str], Problem | None]:
    """The entry hashes in order, and the first bad entry (None when the chain holds).

    >>> from archive.journal import Event, make_entry
    >>> a = make_entry(Event("received", "s", "system"), seq=1, prev=GENESIS)
    >>> b = make_entry(Event("validated", "s", "system"), seq=2, prev=a.hash)
    >>> verify_chain([Record(a.hash, a.body), Record(b.hash, b.body)])[1] is None
    True
    >>> str(verify_chain([Record(b.hash, b.body)])[1])
    'missing: journal entry 1: seq 2 found where 1 was expected: entry 1 was removed'
    """
    hashes: list[str] = []
    before_prev = GENESIS  # hash of the entry two positions back
    stream = iter(records)
    for position, record in enumerate(stream, start=1):
        where = f"journal entry {position}"
        if hashes and record.hash == hashes[-1]:
            return hashes, Problem(ProblemClass.CHANGED, where, "repeats the entry before it", seq=position)
        if sha256(record.body).hexdigest() != record.hash:
            return hashes, Problem(
                ProblemClass.CHANGED, where, "its bytes no longer give its hash", seq=position
            )
        fields = _fields(record.body)
        if fields is None:
            return hashes, Problem(ProblemClass.CHANGED, where, "not a journal entry", seq=position)
        seq, prev = fields
        if record.columns is not None and record.columns != (seq, prev):
            return hashes, Problem(
                ProblemClass.CHANGED, where, "its seq/prev columns differ from its hashed body", seq=position
            )
        expected_prev = hashes[-1] if hashes else GENESIS
        if prev != expected_prev:
            if position >= 2 and prev == before_prev:
                return hashes, Problem(
                    ProblemClass.CHANGED,
                    f"journal entry {position - 1}",
                    f"was inserted: entry {seq} links to the entry before it",
                    seq=position - 1,
                )
            if seq == position and position >= 2:
                return hashes, Problem(
                    ProblemClass.CHANGED,
                    f"journal entry {position - 1}",
                    f"was rewritten: entry {position} links to another hash ({prev[:12]}...)",
                    seq=position - 1,
                )
        if seq != position:
            if seq > position:
                following = next(stream, None)
                later = _fields(following.body) if following is not None else None
                if later is not None and later[0] == position:
                    return hashes, Problem(
                        ProblemClass.CHANGED,
                        where,
                        f"seq {seq} found where {position} was expected: entries out of order",
                        seq=position,
                    )
                gone = (
                    f"entry {position} was" if seq == position + 1 else f"entries {position}..{seq - 1} were"
                )
                return hashes, Problem(
                    ProblemClass.MISSING,
                    where,
                    f"seq {seq} found where {position} was expected: {gone} removed",
                    seq=position,
                )
            return hashes, Problem(
                ProblemClass.CHANGED,
                where,
                f"seq {seq} found where {position} was expected: out of order",
                seq=position,
            )
        if prev != expected_prev:
            return hashes, Problem(
                ProblemClass.CHANGED, where, "does not link to the entry before it", seq=position
            )
        before_prev = expected_prev
        hashes.append(record.hash)
    return hashes, None


def chain_hashes(journal: JournalBackend) -> tuple[Sequence[str], Problem | None]:
    """The verified entry hashes in order and the first bad entry (None when the chain holds)."""
    hashes, _, problem = verified_chain(journal)
    return hashes, problem


def verified_chain(journal: JournalBackend) -> tuple[Sequence[str], list[bytes] | None, Problem | None]:
    """Like :func:`chain_hashes`, plus the Merkle leaves when the fast path computed them."""
    fast = None
    if isinstance(journal, FileJournal):
        fast = fast_file_chain(journal)
    elif isinstance(journal, SqlJournal):
        fast = fast_sql_chain(journal)
    if fast is not None:
        return fast[0], fast[1], None
    hashes, problem = verify_chain(journal_records(journal))
    return hashes, None, problem


def verify_seals(
    seals: list[SealRecord],
    hashes: Sequence[str],
    *,
    public_key: Ed25519PublicKey | Sequence[Ed25519PublicKey],
    tsa_roots: list[x509.Certificate] | None = None,
    leaves: list[bytes] | None = None,
) -> list[Problem]:
    """Check each seal's hash, signature, time-stamp, link to the seal before, and its period's Merkle root.

    ``hashes`` are the verified entry hashes (a broken chain gives fewer: seals
    past the break are then reported as not matching); ``leaves``, when given,
    are their Merkle leaf hashes computed on the way (saves a pass). ``public_key``
    may be several keys: the operator's and those it trusts (an imported archive's).
    """
    keys = {key_id(k): k for k in ([public_key] if isinstance(public_key, Ed25519PublicKey) else public_key)}
    problems: list[Problem] = []
    prev_hash, next_from = GENESIS, 1
    for n, seal in enumerate(seals, start=1):
        where = f"seal {n}"

        def bad(
            detail: str, cls: ProblemClass = ProblemClass.CHANGED, n: int = n, where: str = where
        ) -> None:
            problems.append(Problem(cls, where, detail, seal=n))

        if sha256(seal.body).hexdigest() != seal.hash:
            bad("its body no longer gives its hash")
        try:
            fields = seal.fields
        except NotCanonical:
            bad("its body is not JSON")
            prev_hash = seal.hash
            continue
        if fields.get("number") != n:
            bad(f"numbered {fields.get('number')} where {n} was expected")
        if fields.get("prev_seal") != prev_hash:
            bad("does not link to the seal before it")
        signer = keys.get(str(fields.get("key_id")))
        if signer is None:
            bad("signed by another key than the operator's public key")
        elif not signature_valid(signer, seal.signature, seal.body):
            bad("its Ed25519 signature does not verify")
        if seal.timestamp is not None:
            try:
                verify_timestamp(seal.timestamp, seal.body, tsa_roots or [])
            except TimestampError as exc:
                bad(f"its RFC 3161 time-stamp: {exc.message}")
        from_seq, to_seq = fields.get("from_seq"), fields.get("to_seq")
        if not isinstance(from_seq, int) or not isinstance(to_seq, int) or from_seq != next_from:
            bad(f"covers from entry {from_seq} where {next_from} was expected")
        elif to_seq > len(hashes):
            bad(f"covers entries up to {to_seq} but only {len(hashes)} verify", ProblemClass.MISSING)
        else:
            root = (
                root_of_leaves(leaves[from_seq - 1 : to_seq])
                if leaves is not None
                else merkle_root(hashes[from_seq - 1 : to_seq])
            )
            if root != fields.get("merkle_root"):
                bad(f"the Merkle root of entries {from_seq}..{to_seq} differs from the sealed one")
            if hashes[to_seq - 1] != fields.get("chain_head"):
                bad(f"entry {to_seq} is not the sealed chain head")
            next_from = to_seq + 1
        prev_hash = seal.hash
    return problems


def _store_files(objects_dir: Path) -> Iterator[tuple[str, str, bool]]:
    """``(name, path, is_file)`` of everything under ``objects/`` (name = fan-out folder + file name)."""
    if not objects_dir.is_dir():
        return
    for folder in os.scandir(objects_dir):
        if folder.is_dir(follow_symlinks=False):
            for item in os.scandir(folder.path):
                yield folder.name + item.name, item.path, item.is_file(follow_symlinks=False)
        else:
            yield folder.name, folder.path, folder.is_file(follow_symlinks=False)


def _file_sha256(path: str) -> str:
    digest = sha256()
    with open(path, "rb") as handle:  # noqa: PTH123 - hot loop over every object
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify_objects(
    objects_dir: Path, expected: set[str], purging: Mapping[str, int] | None = None
) -> list[Problem]:
    """Every stored object against its name, and the ``expected`` set against what is there.

    ``purging`` maps the objects of purges started but not finished to the entry
    that started them: gone, they are named as such (the next purge run finishes them).
    """
    problems: list[Problem] = []
    seen: set[str] = set()
    purging = purging or {}
    for name, path, is_file in _store_files(objects_dir):
        if is_file and Path(path).name.startswith(".tmp-"):
            problems.append(
                Problem(ProblemClass.UNTRACKED, path, "an interrupted write left this temporary file")
            )
            continue
        if not is_file or not _HEX64.fullmatch(name):
            problems.append(Problem(ProblemClass.UNTRACKED, path, "not an archive object"))
            continue
        seen.add(name)
        if _file_sha256(path) != name:
            problems.append(
                Problem(ProblemClass.CHANGED, f"object {name}", "its bytes no longer give its hash")
            )
        elif name not in expected:
            problems.append(Problem(ProblemClass.UNTRACKED, f"object {name}", "stored but never journaled"))
    for name in sorted(expected - seen):
        if name in purging:
            detail = (
                f"purge started (journal entry {purging[name]}) but not finished: "
                "run `encaisse archive purge` to complete it"
            )
        else:
            detail = "journaled but not in the store"
        problems.append(Problem(ProblemClass.MISSING, f"object {name}", detail))
    return problems


def expected_objects(journal: JournalBackend) -> set[str]:
    """Objects the journal says are stored: those entries put in, minus those purged."""
    return object_ledger(journal)[0]


def object_ledger(journal: JournalBackend) -> tuple[set[str], dict[str, int]]:
    """Objects the journal says are stored, and those of unfinished purges (with their starting entry)."""
    expected: set[str] = set()
    purging: dict[str, int] = {}
    for entry in _entries_with_objects(journal):
        objects = set(entry.objects())
        if entry.kind == EntryKind.RECEIVED and _HEX64.fullmatch(entry.subject):
            objects.add(entry.subject)
        if entry.kind == EntryKind.PURGED:
            expected -= objects
            for obj in objects:
                purging.pop(obj, None)
        elif entry.kind == EntryKind.PURGE_STARTED:
            for obj in objects:
                purging[obj] = entry.seq
        else:
            expected |= objects
    return expected, purging


def _entries_with_objects(journal: JournalBackend) -> Iterator[Entry]:
    """Entries that may name stored objects, parsing only those (most entries name none)."""
    if isinstance(journal, SqlJournal):  # let the database filter: a few rows instead of all
        yield from journal.entries_naming_objects()
        return
    for record in journal_records(journal):
        body = record.body
        if b'"objects":[' in body or b'"kind":"received"' in body:
            try:
                yield parse_entry(body, record.hash)
            except JournalError:
                continue  # the chain check names it


def verify_archive(
    store: object,
    journal: JournalBackend,
    *,
    public_key: Ed25519PublicKey | Sequence[Ed25519PublicKey],
    tsa_roots: list[x509.Certificate] | None = None,
) -> list[Problem]:
    """Every problem in the archive: the chain, the seals, then the store's objects.

    ``store`` is a :class:`archive.store.DirectoryStore` (its ``objects`` folder is walked).
    """
    hashes, leaves, chain_problem = verified_chain(journal)
    problems = [chain_problem] if chain_problem else []
    problems += verify_seals(
        journal.seals(), hashes, public_key=public_key, tsa_roots=tsa_roots, leaves=leaves
    )
    objects_dir = getattr(store, "objects", None)
    if not isinstance(objects_dir, Path):
        raise TypeError(f"{store!r} has no objects folder to walk")
    expected, purging = object_ledger(journal)
    problems += verify_objects(objects_dir, expected, purging)
    return problems
