"""Export and import of the whole archive as a BagIt bag (RFC 8493), for reversibility.

The bag holds, under ``data/``: every stored object (``objects/ab/cdef...``, as in
the store), the journal and the seals in the plain-text format of
:class:`archive.journal.FileJournal` (``journal/journal.log``: ``<hash> <body>``
lines; ``journal/seals.log``), the legal holds and purge records
(``holds.jsonl``, ``purges.jsonl``, canonical JSON lines) and the public keys
(``keys/``). ``manifest-sha256.txt`` lists every payload file's SHA-256,
``tagmanifest-sha256.txt`` the tag files'; any BagIt tool (``bagit.py
--validate``) checks them. :func:`import_bag` checks every hash, the chain and
the seals before writing anything, and only into an empty instance.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from sqlalchemy import func, insert, select

from archive.canonical import dumps_plain, loads, plain
from archive.journal import FileJournal, SealRecord
from archive.journal_sql import SqlJournal
from archive.signing import load_public_pem
from archive.store import DirectoryStore
from archive.tables import legal_holds, purges
from archive.timestamp import load_certificates
from archive.verify import object_ledger, verified_chain, verify_seals
from schemas.errors import EncaisseError, ErrorCode

BAGIT_TXT = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
_TAG_FILES = ("bagit.txt", "bag-info.txt", "manifest-sha256.txt")


class BagError(EncaisseError):
    """The bag is incomplete or altered, or cannot be imported here."""

    code = ErrorCode.ARCHIVE_BAG


@dataclass(frozen=True, slots=True)
class BagSummary:
    """What a bag holds."""

    objects: int
    entries: int
    seals: int
    chain_head: str | None
    holds: int
    purges: int


def _write(path: Path, data: bytes) -> str:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise BagError(f"cannot write {path}: {exc.strerror or exc}", where=str(path)) from exc
    return hashlib.sha256(data).hexdigest()


def _file_sha256(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _rows_jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(dumps_plain(plain(row)) + b"\n" for row in rows)


def export_bag(
    *,
    store: DirectoryStore,
    journal: SqlJournal,
    out: Path,
    public_keys_pem: list[bytes],
    tsa_ca_pem: bytes | None = None,
    now: dt.datetime | None = None,
) -> BagSummary:
    """Write the whole archive as a bag in ``out`` (a new or empty folder)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BagError(f"{out} is not empty: export into a new folder", where=str(out))
    manifest: dict[str, str] = {}
    octets = 0
    objects = 0
    for folder in sorted(store.objects.iterdir()) if store.objects.is_dir() else []:
        for item in sorted(folder.iterdir()):
            if item.name.startswith(".tmp-"):
                continue  # an interrupted write, never part of the archive
            name = folder.name + item.name
            raw = item.read_bytes()
            if hashlib.sha256(raw).hexdigest() != name:
                raise BagError(
                    f"object {name} no longer matches its hash: run `encaisse archive verify`",
                    where=str(item),
                )
            rel = f"data/objects/{folder.name}/{item.name}"
            manifest[rel] = _write(out / rel, raw)
            octets += len(raw)
            objects += 1
    lines, head, entries = [], None, 0
    for _, hash_, _, body in journal.iter_rows():
        lines.append(hash_.encode("ascii") + b" " + body + b"\n")
        head, entries = hash_, entries + 1
    seal_records = journal.seals()
    seal_lines = [
        dumps_plain(
            {
                "body": s.body.decode("utf-8"),
                "hash": s.hash,
                "signature": base64.b64encode(s.signature).decode("ascii"),
                "timestamp": base64.b64encode(s.timestamp).decode("ascii") if s.timestamp else None,
            }
        )
        + b"\n"
        for s in seal_records
    ]
    with journal.engine.connect() as conn:
        hold_rows = [dict(r._asdict()) for r in conn.execute(select(legal_holds).order_by(legal_holds.c.id))]
        purge_rows = [
            dict(r._asdict())
            for r in conn.execute(select(purges).order_by(purges.c.started_seq, purges.c.object_sha256))
        ]
    for row in hold_rows + purge_rows:  # SQLite gives naive datetimes back: they are UTC
        for key, value in row.items():
            if isinstance(value, dt.datetime) and value.tzinfo is None:
                row[key] = value.replace(tzinfo=dt.UTC)
    payload = {
        "data/journal/journal.log": b"".join(lines),
        "data/journal/seals.log": b"".join(seal_lines),
        "data/holds.jsonl": _rows_jsonl(hold_rows),
        "data/purges.jsonl": _rows_jsonl(purge_rows),
    }
    for n, pem in enumerate(public_keys_pem):
        payload[f"data/keys/seal-public-{n}.pem"] = pem
    if tsa_ca_pem:
        payload["data/keys/tsa-ca.pem"] = tsa_ca_pem
    for rel, raw in payload.items():
        manifest[rel] = _write(out / rel, raw)
        octets += len(raw)
    summary = BagSummary(objects, entries, len(seal_records), head, len(hold_rows), len(purge_rows))
    stamp = (now or dt.datetime.now(dt.UTC)).date().isoformat()
    info = (
        f"Bagging-Date: {stamp}\nPayload-Oxum: {octets}.{len(manifest)}\n"
        "External-Description: Encaisse evidence archive (objects, hash-chained journal, seals)\n"
        f"Encaisse-Journal-Entries: {entries}\nEncaisse-Chain-Head: {head or '-'}\n"
        f"Encaisse-Seals: {len(seal_records)}\nEncaisse-Objects: {objects}\n"
    ).encode()
    tags = {
        "bagit.txt": _write(out / "bagit.txt", BAGIT_TXT),
        "bag-info.txt": _write(out / "bag-info.txt", info),
        "manifest-sha256.txt": _write(
            out / "manifest-sha256.txt", "".join(f"{h}  {p}\n" for p, h in sorted(manifest.items())).encode()
        ),
    }
    _write(out / "tagmanifest-sha256.txt", "".join(f"{h}  {p}\n" for p, h in sorted(tags.items())).encode())
    return summary


def _manifest(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BagError(f"cannot read {path.name}: {exc}", where=str(path)) from exc
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        digest, sep, rel = line.partition("  ")
        if not sep or len(digest) != 64 or not rel:
            raise BagError(f"{path.name} line {n} is not '<sha256>  <path>'", where=path.name)
        if rel in out or rel.startswith("/") or ".." in Path(rel).parts:
            raise BagError(f"{path.name} line {n} names {rel!r} twice or outside the bag", where=path.name)
        out[rel] = digest.lower()
    return out


def _payload_files(data: Path, root: Path) -> Iterator[str]:
    for folder, _, files in os.walk(data):
        for name in files:
            yield (Path(folder) / name).relative_to(root).as_posix()


def validate_bag(path: Path) -> dict[str, str]:
    """Check the bag's declaration, tag manifest, every payload hash and completeness; its bag-info fields.

    Raises :class:`BagError` naming the first file that fails.
    """
    root = Path(path)
    if not (root / "bagit.txt").is_file():
        raise BagError(f"{root} is not a bag: no bagit.txt", where=str(root))
    if not (root / "bagit.txt").read_bytes().startswith(b"BagIt-Version: "):
        raise BagError("bagit.txt does not declare a BagIt version", where="bagit.txt")
    tags = _manifest(root / "tagmanifest-sha256.txt")
    for name in _TAG_FILES:
        if name not in tags:
            raise BagError(f"tagmanifest-sha256.txt does not list {name}", where=name)
    for rel, digest in tags.items():
        if not (root / rel).is_file():
            raise BagError(f"{rel} is listed in tagmanifest-sha256.txt but missing", where=rel)
        if _file_sha256(root / rel)[0] != digest:
            raise BagError(f"{rel} does not match its SHA-256 in tagmanifest-sha256.txt", where=rel)
    manifest = _manifest(root / "manifest-sha256.txt")
    octets = 0
    for rel, digest in sorted(manifest.items()):
        target = root / rel
        if not rel.startswith("data/") or not target.is_file():
            raise BagError(f"{rel} is listed in manifest-sha256.txt but missing", where=rel)
        actual, size = _file_sha256(target)
        if actual != digest:
            raise BagError(f"{rel} does not match its SHA-256 in manifest-sha256.txt", where=rel)
        octets += size
    for rel in sorted(set(_payload_files(root / "data", root)) - set(manifest)):
        raise BagError(f"{rel} is in the payload but not in manifest-sha256.txt", where=rel)
    info: dict[str, str] = {}
    for line in (root / "bag-info.txt").read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            info[key.strip()] = value.strip()
    oxum = info.get("Payload-Oxum")
    if oxum is not None and oxum != f"{octets}.{len(manifest)}":
        raise BagError(
            f"Payload-Oxum says {oxum}, the payload has {octets}.{len(manifest)}", where="bag-info.txt"
        )
    return info


def _aware_rows(raw: bytes, datetimes: tuple[str, ...], dates: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for line in raw.splitlines():
        row = loads(line)
        for key in datetimes:
            if row.get(key) is not None:
                row[key] = dt.datetime.fromisoformat(str(row[key]).replace("Z", "+00:00"))
        for key in dates:
            if row.get(key) is not None:
                row[key] = dt.date.fromisoformat(str(row[key]))
        rows.append(row)
    return rows


def import_bag(
    *, path: Path, store: DirectoryStore, journal: SqlJournal, tsa_roots: list[x509.Certificate] | None = None
) -> tuple[BagSummary, list[bytes]]:
    """Restore a bag into an empty instance, after checking every hash, the chain and the seals.

    Returns the summary and the bag's public keys (PEM), which the caller must
    trust (:func:`archive.signing.trust_public_key`) for ``archive verify``.
    """
    root = Path(path)
    try:
        return _import_bag(root, store, journal, tsa_roots)
    except OSError as exc:
        raise BagError(
            f"cannot read the bag: {exc.strerror or exc}", where=str(exc.filename or root)
        ) from exc


def _import_bag(
    root: Path, store: DirectoryStore, journal: SqlJournal, tsa_roots: list[x509.Certificate] | None
) -> tuple[BagSummary, list[bytes]]:
    validate_bag(root)
    data = root / "data"
    bag_journal = FileJournal(data / "journal", fsync=False)
    hashes, leaves, problem = verified_chain(bag_journal)
    if problem is not None:
        raise BagError(f"the bag's journal does not verify: {problem}", where="data/journal/journal.log")
    pems = [p.read_bytes() for p in sorted((data / "keys").glob("seal-public-*.pem"))]
    if not pems:
        raise BagError("the bag has no seal public key", where="data/keys")
    roots = list(tsa_roots or [])
    if (data / "keys" / "tsa-ca.pem").is_file():
        roots += load_certificates((data / "keys" / "tsa-ca.pem").read_bytes())
    bag_seals = bag_journal.seals()
    seal_problems = verify_seals(
        bag_seals, hashes, public_key=[load_public_pem(p) for p in pems], tsa_roots=roots, leaves=leaves
    )
    if seal_problems:
        raise BagError(f"the bag's seals do not verify: {seal_problems[0]}", where="data/journal/seals.log")
    expected, purging = object_ledger(bag_journal)
    bag_objects = (
        {p.parent.name + p.name: p for p in (data / "objects").glob("*/*") if p.is_file()}
        if (data / "objects").is_dir()
        else {}
    )
    for name in sorted(expected - set(bag_objects) - set(purging)):
        raise BagError(f"object {name} is journaled but not in the bag", where=f"data/objects/{name[:2]}")
    if journal.count() or journal.seals():
        raise BagError("this instance's journal is not empty: import only into an empty instance")
    if store.objects.is_dir() and any(store.objects.iterdir()):
        raise BagError("this instance's store is not empty: import only into an empty instance")
    for name, file in sorted(bag_objects.items()):
        if store.put(file.read_bytes()) != name:
            raise BagError(f"object {name} does not match its name", where=str(file))
    journal.restore((line[:64].decode("ascii"), line[65:]) for line in bag_journal.iter_lines() if line)
    with journal.transaction() as conn:
        for seal in bag_seals:
            journal.add_seal(
                SealRecord(seal.body, seal.hash, seal.signature, seal.timestamp), connection=conn
            )
        holds = _aware_rows((data / "holds.jsonl").read_bytes(), ("set_at", "released_at"))
        if holds:
            conn.execute(insert(legal_holds), holds)
        purge_rows = _aware_rows(
            (data / "purges.jsonl").read_bytes(), ("started_at", "finished_at"), ("retention_until",)
        )
        if purge_rows:
            conn.execute(insert(purges), purge_rows)
        if holds and conn.dialect.name == "postgresql":  # the id sequence continues after the imported ids
            top = conn.execute(select(func.max(legal_holds.c.id))).scalar_one()
            conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('legal_holds', 'id'), {int(top)})")
    summary = BagSummary(
        len(bag_objects),
        len(hashes),
        len(bag_seals),
        hashes[-1] if len(hashes) else None,
        len(holds),
        len(purge_rows),
    )
    return summary, pems
