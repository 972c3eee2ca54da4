"""Benchmark: journal append rate, whole-journal verification vs a plain hashlib loop, bundle export.

- **append**: entries/s of ``FileJournal.append`` (one ``fsync`` per entry),
  ``SqlJournal.append`` on SQLite (one commit per entry) and the batched
  ``append_many`` (one lock and one ``fsync``/commit per batch of 10,000).
- **verify**: :func:`archive.verify.verified_chain` + :func:`archive.verify.verify_seals`
  (hash of each entry, every link, the Merkle root of each sealed period and
  each seal's signature) over ``--entries`` (default 1,000,000) file-journal
  entries sealed every 100,000, against the **floor**: a plain loop that reads
  the same stored lines and hashes each entry's canonical bytes with
  ``hashlib.sha256``. Then the same entries restored into an SQLite journal
  (``sql_*``: the ``archive verify`` path), its floor reading the same rows with
  the driver's cursor. One core; floor and verifier alternate ``--repeat`` times
  and the best of each is kept, in wall-clock and CPU time (CPU time is the
  fairer figure on a shared machine; the load average is recorded).
- **bundle**: time to export an evidence bundle for an invoice with 100 journal
  events among 5,100, with the PDF summary and without it.

Run: ``.venv/bin/python -m bench.archive [--entries 1000000] [--no-sql]``; writes JSON to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from archive.bundle import BundleInput, bundle_files, export_bundle, write_bundle
from archive.canonical import sha256_hex
from archive.journal import EntryKind, Event, FileJournal
from archive.journal_sql import SqlJournal
from archive.seal import seal_period
from archive.signing import public_pem
from archive.tables import metadata as archive_metadata
from archive.verify import verified_chain, verify_seals
from ledger import db

RESULTS = Path(__file__).resolve().parent / "results"
BATCH = 10_000


def _event(i: int) -> Event:
    return Event(
        EntryKind.STATUS_CHANGED,
        f"{i % 5000:064x}",
        "system",
        {"status_code": "205", "invoice": f"invoice:{i % 5000}", "amount": "120.00"},
    )


def bench_append(root: Path, n: int) -> dict[str, float]:
    out: dict[str, float] = {}
    journal = FileJournal(root / "append-file")
    t = time.perf_counter()
    for i in range(n):
        journal.append(_event(i))
    out["file_append_per_s"] = n / (time.perf_counter() - t)
    engine = db.make_engine(f"sqlite:///{root / 'append.db'}")
    archive_metadata.create_all(engine)  # the archive's tables only (revisions 0100 and 0101)
    sql = SqlJournal(engine)
    t = time.perf_counter()
    for i in range(n):
        sql.append(_event(i))
    out["sqlite_append_per_s"] = n / (time.perf_counter() - t)
    t = time.perf_counter()
    sql.append_many([_event(i) for i in range(BATCH)])
    out["sqlite_append_many_per_s"] = BATCH / (time.perf_counter() - t)
    engine.dispose()
    return out


def build_journal(root: Path, entries: int, key: Ed25519PrivateKey) -> tuple[FileJournal, float]:
    journal = FileJournal(root / "big")
    t = time.perf_counter()
    done = 0
    while done < entries:
        size = min(BATCH, entries - done)
        journal.append_many([_event(done + i) for i in range(size)])
        done += size
        if done % 100_000 == 0 or done == entries:
            seal_period(journal, key=key)
    return journal, entries / (time.perf_counter() - t)


def floor_loop(journal: FileJournal) -> tuple[int, float, float]:
    t, c = time.perf_counter(), time.process_time()
    n = 0
    sha256 = hashlib.sha256
    with journal.entries_path.open("rb") as handle:
        for line in handle:
            sha256(line[65:-1]).hexdigest()
            n += 1
    return n, time.perf_counter() - t, time.process_time() - c


def sql_copy(root: Path, journal: FileJournal) -> SqlJournal:
    """The same entries and seals in an SQLite journal (restored byte for byte)."""
    engine = db.make_engine(f"sqlite:///{root / 'verify.db'}")
    archive_metadata.create_all(engine)
    sql = SqlJournal(engine)
    with sql.transaction() as conn:
        sql.restore(((line[:64].decode(), line[65:]) for line in journal.iter_lines()), connection=conn)
        for seal in journal.seals():
            sql.add_seal(seal, connection=conn)
    return sql


def sql_floor_loop(journal: SqlJournal) -> tuple[int, float, float]:
    """Read the stored bodies with the driver's cursor and hash each one: the floor for the SQL journal."""
    t, c = time.perf_counter(), time.process_time()
    n = 0
    sha256 = hashlib.sha256
    with journal.engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute("SELECT body FROM journal_entries ORDER BY seq")
        while rows := cursor.fetchmany(20_000):
            for (body,) in rows:
                sha256(body.encode()).hexdigest()
                n += 1
        cursor.close()
    return n, time.perf_counter() - t, time.process_time() - c


def verify_all(journal: FileJournal | SqlJournal, key: Ed25519PrivateKey) -> tuple[int, float, float]:
    t, c = time.perf_counter(), time.process_time()
    hashes, leaves, problem = verified_chain(journal)
    problems = verify_seals(journal.seals(), hashes, public_key=key.public_key(), leaves=leaves)
    elapsed, cpu = time.perf_counter() - t, time.process_time() - c
    if problem or problems:
        raise SystemExit(f"the benchmark journal does not verify: {problem} {problems}")
    return len(hashes), elapsed, cpu


def compare(
    name: str,
    floor: Callable[[], tuple[int, float, float]],
    verify: Callable[[], tuple[int, float, float]],
    repeat: int,
) -> dict[str, float]:
    """Floor and verification alternately, ``repeat`` times; the best of each (wall and CPU time)."""
    floor()  # warm the page cache (and the database's) for both sides
    floors, verifies = [], []
    for _ in range(repeat):
        floors.append(floor())
        verifies.append(verify())
    if {n for n, _, _ in floors + verifies} != {floors[0][0]}:
        raise SystemExit(f"{name}: the floor and the verifier did not see the same entries")
    floor_s, floor_cpu = min(f[1] for f in floors), min(f[2] for f in floors)
    verify_s, verify_cpu = min(v[1] for v in verifies), min(v[2] for v in verifies)
    return {
        f"{name}floor_s": floor_s,
        f"{name}verify_s": verify_s,
        f"{name}verify_per_floor": verify_s / floor_s,
        f"{name}floor_cpu_s": floor_cpu,
        f"{name}verify_cpu_s": verify_cpu,
        f"{name}verify_per_floor_cpu": verify_cpu / floor_cpu,
    }


def bench_bundle(root: Path, key: Ed25519PrivateKey, events: int = 100) -> tuple[float, float]:
    journal = FileJournal(root / "bundle-journal", fsync=False)
    original = b"%PDF-1.7 invoice for the benchmark"
    doc = sha256_hex(original)
    journal.append_many([_event(i) for i in range(5000)])  # other documents' entries around it
    journal.append(Event(EntryKind.RECEIVED, doc, "supplier", {"objects": [doc]}))
    journal.append_many(
        [
            Event(EntryKind.PORTAL_VIEWED, "invoice:1", f"customer:{i}", {"related": [doc]})
            for i in range(events - 1)
        ]
    )
    seal_period(journal, key=key)
    inp = BundleInput(
        document_sha256=doc, original=original, invoice_id="invoice:1", invoice={"number": "B-1"}
    )
    t = time.perf_counter()
    export_bundle(inp, journal, root / "bundle.zip", public_key_pem=public_pem(key))
    with_pdf = time.perf_counter() - t
    t = time.perf_counter()
    write_bundle(bundle_files(inp, journal, public_key_pem=public_pem(key), summary=False), root / "b2.zip")
    return with_pdf, time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--append", type=int, default=2000, help="entries for the one-by-one append rates")
    parser.add_argument("--no-sql", action="store_true", help="skip the SQLite journal verification")
    parser.add_argument("--repeat", type=int, default=3, help="runs of floor and verifier; the best is kept")
    args = parser.parse_args()
    key = Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory(prefix="encaisse-bench-") as tmp:
        root = Path(tmp)
        result: dict[str, object] = {"entries": args.entries}
        result.update(bench_append(root, args.append))
        journal, build_rate = build_journal(root, args.entries, key)
        result["file_append_many_per_s"] = build_rate
        result["journal_bytes"] = journal.entries_path.stat().st_size
        result["seals"] = len(journal.seals())
        result.update(compare("", lambda: floor_loop(journal), lambda: verify_all(journal, key), args.repeat))
        if not args.no_sql:
            t = time.perf_counter()
            sql = sql_copy(root, journal)
            result["sql_restore_per_s"] = args.entries / (time.perf_counter() - t)
            result.update(
                compare("sql_", lambda: sql_floor_loop(sql), lambda: verify_all(sql, key), args.repeat)
            )
            sql.engine.dispose()
        result["bundle_100_events_s"], result["bundle_100_events_without_pdf_s"] = bench_bundle(root, key)
    result["load_average"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    result["python"] = sys.version.split()[0]
    result["machine"] = platform.machine()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"archive-{stamp}.json").write_text(json.dumps(result, indent=2))
    for name, value in result.items():
        print(f"{name:28} {value:,.3f}" if isinstance(value, float) else f"{name:28} {value}")


if __name__ == "__main__":
    main()
