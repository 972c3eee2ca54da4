"""Benchmark: invoices per second through the whole pipeline, receive to final status.

The sample invoices of ``encaisse sample`` (default 1,000, 20% with a defect;
generated once and kept in ``var/bench/``) are submitted with
``encaisse ingest --json --wait`` and timed until every document has its final
status (203, 213 or 501) and the job outbox is empty (rejection notices sent):

- **inline, SQLite**: no Redis; the ``encaisse ingest`` process runs every step
  itself, notices written to the ``.eml`` outbox;
- **PostgreSQL, 1 and 2 workers**: a real ``redis-server`` and ``encaisse worker``
  processes (warmed up on a dozen other invoices before the clock starts),
  notices sent to an SMTP server (aiosmtpd) in this process.

Then one inline run (``--profile-count`` invoices, default 200) under cProfile:
the top 15 functions by cumulative time say where the time goes.

Run: ``.venv/bin/python bench/ingest.py [--count 1000] [--modes inline,pg1,pg2]``.
Prints a table and writes JSON to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ingest.sample import MANIFEST_NAME, generate_samples, load_manifest  # noqa: E402
from tests.pipeline.scenario import add_supplier, ingest_args, read_ledger  # noqa: E402
from tests.services import (  # noqa: E402
    PostgresDatabases,
    RedisServer,
    SmtpSink,
    Workers,
    app_env,
    encaisse_command,
)

FINAL = {"203", "213", "501", "210", "208"}
TARGET_PER_S = 40.0
#: the frames a profile is read for: the stages and the libraries doing their work
PROFILE_FOCUS = (
    r"worker\.py:\d+\((_process|_notify|_notice_data)|/(validation|notify|ingest|ledger|archive)/"
    r"|weasyprint/__init__|saxonche|sqlalchemy/orm/session\.py:\d+\(commit|psycopg|smtplib"
)


@dataclass
class Result:
    """One timed run."""

    mode: str
    workers: int
    invoices: int
    status_s: float  # receive until every document had its final status
    invoices_per_s: float  # invoices / status_s
    all_s: float  # receive until the outbox was empty too (every notice sent)
    statuses: dict[str, int]
    notices: int


def sample_dir(count: int, seed: int) -> Path:
    """The sample set (generated on first use, then reused: rendering PDFs takes a second each)."""
    directory = ROOT / "var" / "bench" / f"samples-{count}-s{seed}"
    if not (directory / MANIFEST_NAME).is_file():
        print(f"generating {count} sample invoices into {directory} (once)...", flush=True)
        tmp = directory.with_name(directory.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        generate_samples(tmp, count, seed=seed)
        tmp.rename(directory)
    return directory


def files_of(directory: Path) -> list[Path]:
    """The sample files in manifest order."""
    return [directory / e.path for e in load_manifest(directory)]


def _wait_settled(url: str, count: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        ledger = read_ledger(url)
        if ledger.settled(count) and all(d.status in FINAL for d in ledger.documents):
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"not settled after {timeout:.0f} s ({len(ledger.documents)} documents)")
        time.sleep(0.2)


def _summary(url: str, after_id: int = 0) -> tuple[dict[str, int], int]:
    """Statuses and notices of the documents with an id above ``after_id`` (the timed ones)."""
    ledger = read_ledger(url)
    docs = [d for d in ledger.documents if d.id > after_id]
    statuses: dict[str, int] = {}
    for doc in docs:
        statuses[str(doc.status)] = statuses.get(str(doc.status), 0) + 1
    return dict(sorted(statuses.items())), sum(len(d.notices) for d in docs)


def _ingest(files: list[Path], supplier: int, env: dict[str, str], cwd: Path, timeout: float) -> None:
    proc = subprocess.run(
        encaisse_command(*ingest_args(files, supplier)),
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode not in (0, 1):
        raise SystemExit(f"encaisse ingest exited {proc.returncode}:\n{proc.stderr[-4000:]}")


def run_inline(files: list[Path], work: Path, timeout: float) -> Result:
    """Inline on SQLite: the ingest process does everything."""
    from ledger import db

    data_dir = work / "inline" / "var"
    url = f"sqlite:///{data_dir / db.SQLITE_FILENAME}"
    db.upgrade(url)
    supplier = add_supplier(url)
    env = app_env(data_dir=data_dir)
    start = time.perf_counter()
    _ingest(files, supplier, env, work, timeout)
    waited = time.perf_counter()
    _wait_settled(url, len(files), timeout)
    end = time.perf_counter()
    statuses, notices = _summary(url)
    return Result(
        "inline-sqlite",
        0,
        len(files),
        round(waited - start, 2),
        round(len(files) / (waited - start), 2),
        round(end - start, 2),
        statuses,
        notices,
    )


def run_workers(
    files: list[Path], warm: list[Path], workers: int, work: Path, pg: PostgresDatabases, timeout: float
) -> Result:
    """PostgreSQL, redis-server, ``workers`` worker processes, SMTP."""
    from ledger import db

    run_dir = work / f"pg{workers}"
    redis = RedisServer(run_dir / "redis").start()
    smtp = SmtpSink().start()
    url = pg.create(f"w{workers}")
    db.upgrade(url)
    supplier = add_supplier(url)
    env = app_env(data_dir=run_dir / "var", database_url=url, redis_url=redis.url, smtp_url=smtp.url)
    pool = Workers(env, run_dir / "logs")
    try:
        pool.start(workers)
        _ingest(warm, supplier, env, run_dir, timeout)  # compiles the stylesheets in every worker
        _wait_settled(url, len(warm), timeout)
        before = len(read_ledger(url).documents)
        last_warm_id = max(d.id for d in read_ledger(url).documents)
        smtp.clear()
        start = time.perf_counter()
        _ingest(files, supplier, env, run_dir, timeout)
        waited = time.perf_counter()
        _wait_settled(url, before + len(files), timeout)
        end = time.perf_counter()
        if len(pool.alive()) != workers:
            raise SystemExit(f"a worker died:\n{pool.logs()}")
        statuses, _ = _summary(url, last_warm_id)
        return Result(
            f"postgresql-{workers}w",
            workers,
            len(files),
            round(waited - start, 2),
            round(len(files) / (waited - start), 2),
            round(end - start, 2),
            statuses,
            len(smtp.messages),
        )
    finally:
        pool.stop()
        smtp.stop()
        redis.stop()


def profile_inline(files: list[Path], work: Path, top: int = 15) -> str:
    """cProfile of an inline SQLite ingest run in this process: the top functions by cumulative time."""
    from cli import main as encaisse
    from ledger import db
    from schemas.settings import get_settings

    data_dir = work / "profile" / "var"
    url = f"sqlite:///{data_dir / db.SQLITE_FILENAME}"
    db.upgrade(url)
    supplier = add_supplier(url)
    saved = {k: v for k, v in os.environ.items() if k.startswith("ENCAISSE_")}
    for key in saved:
        del os.environ[key]
    os.environ["ENCAISSE_DATA_DIR"] = str(data_dir)
    get_settings.cache_clear()
    profiler = cProfile.Profile()
    out = io.StringIO()
    try:
        profiler.enable()
        try:
            encaisse(ingest_args(files, supplier))
        except SystemExit as exc:
            if exc.code not in (0, 1, None):
                raise
        finally:
            profiler.disable()
    finally:
        del os.environ["ENCAISSE_DATA_DIR"]
        os.environ.update(saved)
        get_settings.cache_clear()
    stats = pstats.Stats(profiler, stream=out)
    # the command's own frames (typer, click, cli.ingest, submit) wrap everything: left out
    out.write("top functions by cumulative time, below the command's own frames:\n")
    stats.sort_stats("cumulative").print_stats(PROFILE_FOCUS, top)
    out.write("top functions by own time:\n")
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table; write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=1000, help="sample invoices (default 1000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--modes", default="inline,pg1,pg2", help="comma-separated: inline, pg1, pg2")
    parser.add_argument(
        "--profile-count", type=int, default=200, help="invoices in the profiled run (0: none)"
    )
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)

    files = files_of(sample_dir(args.count, args.seed))
    warm = files_of(sample_dir(12, args.seed + 1000))
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    results: list[Result] = []
    profile = ""
    pg: PostgresDatabases | None = None
    with tempfile.TemporaryDirectory(prefix="encaisse-bench-") as tmp:
        work = Path(tmp)
        try:
            for mode in modes:
                print(f"running {mode} on {len(files)} invoices...", flush=True)
                if mode == "inline":
                    results.append(run_inline(files, work, args.timeout))
                elif mode in ("pg1", "pg2"):
                    pg = pg or PostgresDatabases(tag="bench")
                    results.append(run_workers(files, warm, int(mode[2:]), work, pg, args.timeout))
                else:
                    parser.error(f"unknown mode {mode!r}")
                print(f"  {asdict(results[-1])}", flush=True)
            if args.profile_count:
                print(f"profiling an inline run of {args.profile_count} invoices...", flush=True)
                profile = profile_inline(files[: args.profile_count], work)
        finally:
            if pg is not None:
                pg.drop_all()

    print()
    print(f"{'mode':<16} {'workers':>7} {'invoices':>8} {'status s':>8} {'inv/s':>7} {'all s':>8}  statuses")
    for r in results:
        print(
            f"{r.mode:<16} {r.workers:>7} {r.invoices:>8} {r.status_s:>8.1f} {r.invoices_per_s:>7.1f} "
            f"{r.all_s:>8.1f}  {r.statuses} notices={r.notices}"
        )
    two = next((r for r in results if r.workers == 2), None)
    if two is not None:
        verdict = "meets" if two.invoices_per_s >= TARGET_PER_S else "misses"
        print(f"2 workers: {two.invoices_per_s:.1f} invoices/s, {verdict} the target of {TARGET_PER_S:.0f}/s")
    if profile:
        print()
        print(profile)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.out / f"ingest-{stamp}.json"
    load = os.getloadavg()
    out.write_text(
        json.dumps(
            {
                "benchmark": "ingest",
                "when": stamp,
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "loadavg_at_end": [round(x, 2) for x in load],
                },
                "count": len(files),
                "seed": args.seed,
                "results": [asdict(r) for r in results],
                "profile_top15_cumulative": profile,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
