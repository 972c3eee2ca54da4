"""Benchmark: journal append rate, whole-journal verification vs a plain hashlib loop, bundle export.

- **append**: entries/s of ``FileJournal.append`` (one ``fsync`` per entry),
  ``SqlJournal.append`` on SQLite (one commit per entry) and the batched
  ``append_many`` (one lock and one ``fsync``/commit per batch of 10,000).
- **verify**: :func:`archive.verify.verify_chain` + :func:`archive.verify.verify_seals`
  (hash of each entry, every link, the Merkle root of each sealed period and
  each seal's signature) over ``--entries`` (default 1,000,000) file-journal
  entries sealed every 100,000, against the **floor**: a plain loop that reads
  the same stored lines and hashes each entry's canonical bytes with
  ``hashlib.sha256``. Both on one core, in the same run.
- **bundle**: time to export an evidence bundle for an invoice with 100 journal
  events among 5,100, with the WeasyPrint PDF summary and without it.

Run: ``.venv/bin/python -m bench.archive [--entries 1000000]``; writes JSON to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from archive.bundle import BundleInput, bundle_files, export_bundle, write_bundle
from archive.canonical import sha256_hex
from archive.journal import EntryKind, Event, FileJournal
from archive.journal_sql import SqlJournal
from archive.seal import seal_period
from archive.signing import public_pem
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
    url = f"sqlite:///{root / 'append.db'}"
    db.upgrade(url)
    engine = db.make_engine(url)
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


def floor_loop(journal: FileJournal) -> tuple[int, float]:
    t = time.perf_counter()
    n = 0
    sha256 = hashlib.sha256
    with journal.entries_path.open("rb") as handle:
        for line in handle:
            sha256(line[65:-1]).hexdigest()
            n += 1
    return n, time.perf_counter() - t


def verify_all(journal: FileJournal, key: Ed25519PrivateKey) -> tuple[int, float]:
    t = time.perf_counter()
    hashes, leaves, problem = verified_chain(journal)
    problems = verify_seals(journal.seals(), hashes, public_key=key.public_key(), leaves=leaves)
    elapsed = time.perf_counter() - t
    if problem or problems:
        raise SystemExit(f"the benchmark journal does not verify: {problem} {problems}")
    return len(hashes), elapsed


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
    args = parser.parse_args()
    key = Ed25519PrivateKey.generate()
    with tempfile.TemporaryDirectory(prefix="encaisse-bench-") as tmp:
        root = Path(tmp)
        result: dict[str, object] = {"entries": args.entries}
        result.update(bench_append(root, args.append))
        journal, build_rate = build_journal(root, args.entries, key)
        result["file_append_many_per_s"] = build_rate
        result["journal_bytes"] = journal.entries_path.stat().st_size
        floor_loop(journal)  # warm the page cache for both sides
        n_floor, floor_s = floor_loop(journal)
        n_verify, verify_s = verify_all(journal, key)
        assert n_floor == n_verify == args.entries
        result.update(
            floor_s=floor_s,
            verify_s=verify_s,
            verify_per_floor=verify_s / floor_s,
            seals=len(journal.seals()),
        )
        result["bundle_100_events_s"], result["bundle_100_events_without_pdf_s"] = bench_bundle(root, key)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    result["python"] = sys.version.split()[0]
    result["machine"] = platform.machine()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"archive-{stamp}.json").write_text(json.dumps(result, indent=2))
    for name, value in result.items():
        print(f"{name:28} {value:,.3f}" if isinstance(value, float) else f"{name:28} {value}")


if __name__ == "__main__":
    main()
