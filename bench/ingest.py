"""Benchmark: invoices per second through the whole pipeline, receive to final status.

The sample invoices of ``encaisse sample`` (default 1,000, 20% with a defect;
generated once and kept in ``var/bench/``) are submitted with
``encaisse ingest --json --wait`` and timed:

- **inline, SQLite**: no Redis; the ``encaisse ingest`` process runs every step
  itself, the rejection notices included (written to the ``.eml`` outbox);
- **PostgreSQL, 1 and 2 workers**: a real ``redis-server`` and ``encaisse worker``
  processes (warmed up on a dozen other invoices before the clock starts),
  notices sent to an SMTP server (aiosmtpd) in this process. Notices wait on
  their own queue, which the workers take only when no document waits.

Figures per run: ``status_s``, from the first document received to the last
final status (203, 213, 501, 210, 208), from the ledger's own timestamps, and
the invoices per second it gives (the headline figure); ``command_s``, the
wall time of ``encaisse ingest --wait`` (process start-up and polling
included); ``notices_s``, from the last status to the last notice sent (the
drain of the notice queue); the CPU seconds each component used meanwhile
(workers, the ingest client, PostgreSQL's backends, redis-server, this
process with the SMTP server); the load average before and after.

Then a profiled run (``--profile-count`` invoices, default 300): one worker
runs under cProfile on PostgreSQL; its top functions by cumulative and by own
time say where a worker's time goes.

Run: ``.venv/bin/python bench/ingest.py [--count 1000] [--modes inline,pg1,pg2]``.
Prints a table and writes JSON to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import pstats
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
    r"worker\.py:\d+\(|/(validation|notify|ingest|ledger|archive)/"
    r"|rq/(job|worker/base)\.py:\d+\((perform|execute_job|prepare_job|handle_job_success)"
    r"|weasyprint/__init__|saxonche|sqlalchemy/orm/session\.py:\d+\(commit|psycopg/cursor|smtplib"
)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    """One timed run."""

    mode: str
    workers: int
    invoices: int
    status_s: float  # first document received → last final status (the ledger's timestamps)
    invoices_per_s: float  # invoices / status_s: the headline figure
    command_s: float  # wall time of `encaisse ingest --wait` (start-up and polling included)
    command_per_s: float  # invoices / command_s
    notices_s: float  # last final status → last notice sent (the notice queue's drain)
    all_s: float  # command start → every document settled and every notice sent
    statuses: dict[str, int]
    notices: int
    cpu_s: dict[str, float]  # CPU seconds per component during the run
    loadavg_before: list[float]
    loadavg_after: list[float]


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


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _progress(url: str) -> tuple[int, int, int, int]:
    """(documents, decided documents, unfinished outbox jobs, notices sent): one cheap query."""
    from sqlalchemy import text

    from ledger import db

    final = ", ".join(f"'{code}'" for code in sorted(FINAL))
    engine = _engines.get(url) or _engines.setdefault(url, db.make_engine(url))
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM documents),"
                " (SELECT count(*) FROM documents WHERE processing_state IN ('done', 'failed')"
                f"   AND status_code IN ({final})),"
                " (SELECT count(*) FROM job_outbox WHERE state IN ('pending', 'enqueued')),"
                " (SELECT count(*) FROM notices WHERE sent_at IS NOT NULL)"
            )
        ).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


_engines: dict[str, Any] = {}


def _wait_settled(url: str, count: int, timeout: float, notices: int | None = None) -> None:
    """Until ``count`` documents have a final status, the outbox is empty (and ``notices`` were sent).

    Polled with one small query every 0.25 s: the bench must not take CPU from what it measures.
    """
    deadline = time.monotonic() + timeout
    while True:
        docs, decided, unfinished, sent = _progress(url)
        if docs >= count and decided == docs and unfinished == 0 and (notices is None or sent >= notices):
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"not settled after {timeout:.0f} s ({decided}/{docs} documents decided)")
        time.sleep(0.25)


def _summary(url: str, after_id: int = 0) -> tuple[dict[str, int], int]:
    """Statuses and notices of the documents with an id above ``after_id`` (the timed ones)."""
    ledger = read_ledger(url)
    docs = [d for d in ledger.documents if d.id > after_id]
    statuses: dict[str, int] = {}
    for doc in docs:
        statuses[str(doc.status)] = statuses.get(str(doc.status), 0) + 1
    return dict(sorted(statuses.items())), sum(len(d.notices) for d in docs)


def _timeline(url: str, after_id: int = 0) -> tuple[float, float]:
    """(first received → last status, last status → last notice sent) in seconds, from the ledger."""
    from sqlalchemy import func, select

    from ledger import db
    from ledger.models import Document, LifecycleEvent, Notice

    engine = db.make_engine(url)
    try:
        with db.make_session_factory(engine)() as session:
            first = session.scalar(select(func.min(Document.received_at)).where(Document.id > after_id))
            last_status = session.scalar(
                select(func.max(LifecycleEvent.recorded_at)).where(
                    LifecycleEvent.document_id > after_id, LifecycleEvent.status_code.in_(FINAL)
                )
            )
            last_notice = session.scalar(
                select(func.max(Notice.sent_at)).where(Notice.document_id > after_id)
            )
    finally:
        engine.dispose()
    if first is None or last_status is None:
        raise SystemExit("nothing was decided")
    drained = (last_notice - last_status).total_seconds() if last_notice is not None else 0.0
    return (last_status - first).total_seconds(), max(0.0, drained)


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a live process, 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _tree(pid: int) -> list[int]:
    """A process and its descendants (a worker and the scheduler it forks)."""
    out = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return out
    for child in children:
        out.extend(_tree(int(child)))
    return out


def _pg_backends(url: str) -> list[int]:
    import psycopg

    name = url.partition("?")[0].rsplit("/", 1)[1]
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (name,)
        ).fetchall()
    return [int(pid) for (pid,) in rows]


class CpuMeter:
    """CPU seconds used by named groups of processes between :meth:`start` and :meth:`stop`.

    Long-lived processes (workers, redis-server, PostgreSQL backends) are read
    from ``/proc``; the ingest command from this process's reaped children; this
    process (the SMTP server's thread) from its own usage.
    """

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.before: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        own = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = {name: sum(_proc_cpu(p) for p in pids) for name, pids in self.groups.items()}
        out["ingest client"] = kids.ru_utime + kids.ru_stime
        out["bench + SMTP server"] = own.ru_utime + own.ru_stime
        return out

    def start(self) -> None:
        """Take the first reading."""
        self.before = self._read()

    def stop(self) -> dict[str, float]:
        """CPU seconds per group since :meth:`start`."""
        after = self._read()
        return {k: round(after[k] - self.before.get(k, 0.0), 2) for k in after}


def _ingest(files: list[Path], supplier: int, env: dict[str, str], cwd: Path, timeout: float) -> float:
    """Run ``encaisse ingest --json --wait``; its wall time."""
    start = time.perf_counter()
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
    return time.perf_counter() - start


def _result(
    mode: str, workers: int, files: list[Path], url: str, after_id: int, times: dict[str, Any]
) -> Result:
    statuses, notices = _summary(url, after_id)
    status_s, notices_s = _timeline(url, after_id)
    return Result(
        mode=mode,
        workers=workers,
        invoices=len(files),
        status_s=round(status_s, 2),
        invoices_per_s=round(len(files) / status_s, 2),
        command_s=round(times["command"], 2),
        command_per_s=round(len(files) / times["command"], 2),
        notices_s=round(notices_s, 2),
        all_s=round(times["all"], 2),
        statuses=statuses,
        notices=notices if times.get("smtp") is None else int(times["smtp"]),
        cpu_s=times["cpu"],
        loadavg_before=times["load_before"],
        loadavg_after=_loadavg(),
    )


def _expected_notices(files: list[Path]) -> int:
    entries = load_manifest(files[0].parent)
    return sum(1 for e in entries if not e.expected_valid and e.path in {f.name for f in files})


def run_inline(files: list[Path], work: Path, timeout: float) -> Result:
    """Inline on SQLite: the ingest process does everything, notices included."""
    from ledger import db

    data_dir = work / "inline" / "var"
    url = f"sqlite:///{data_dir / db.SQLITE_FILENAME}"
    db.upgrade(url)
    supplier = add_supplier(url)
    env = app_env(data_dir=data_dir)
    meter = CpuMeter({})
    load_before = _loadavg()
    meter.start()
    start = time.perf_counter()
    command = _ingest(files, supplier, env, work, timeout)
    _wait_settled(url, len(files), timeout)
    end = time.perf_counter()
    times = {"command": command, "all": end - start, "cpu": meter.stop(), "load_before": load_before}
    return _result("inline-sqlite", 0, files, url, 0, times)


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
        warmed = read_ledger(url).documents
        last_warm_id = max(d.id for d in warmed)
        warm_notices = sum(len(d.notices) for d in warmed)
        assert redis.proc is not None
        meter = CpuMeter(
            {
                "workers": [p for w in pool.alive() for p in _tree(w.pid)],
                "postgresql": _pg_backends(url),
                "redis-server": [redis.proc.pid],
            }
        )
        smtp.clear()
        load_before = _loadavg()
        meter.start()
        start = time.perf_counter()
        command = _ingest(files, supplier, env, run_dir, timeout)
        _wait_settled(url, len(warmed) + len(files), timeout, warm_notices + _expected_notices(files))
        end = time.perf_counter()
        cpu = meter.stop()
        if len(pool.alive()) != workers:
            raise SystemExit(f"a worker died:\n{pool.logs()}")
        times = {
            "command": command,
            "all": end - start,
            "cpu": cpu,
            "load_before": load_before,
            "smtp": len(smtp.messages),
        }
        return _result(f"postgresql-{workers}w", workers, files, url, last_warm_id, times)
    finally:
        pool.stop()
        smtp.stop()
        redis.stop()


WORKER_SCRIPT = "import sys, cli\nsys.argv[0] = 'encaisse'\nsys.argv[1:] = ['worker']\ncli.main()\n"


def profile_worker(
    files: list[Path], warm: list[Path], work: Path, pg: PostgresDatabases, timeout: float, top: int = 25
) -> str:
    """One worker under cProfile on PostgreSQL: its top functions by cumulative and by own time."""
    from ledger import db

    run_dir = work / "profile"
    run_dir.mkdir(parents=True, exist_ok=True)
    redis = RedisServer(run_dir / "redis").start()
    smtp = SmtpSink().start()
    url = pg.create("prof")
    db.upgrade(url)
    supplier = add_supplier(url)
    env = app_env(data_dir=run_dir / "var", database_url=url, redis_url=redis.url, smtp_url=smtp.url)
    script = run_dir / "worker_main.py"
    script.write_text(WORKER_SCRIPT, encoding="utf-8")
    stats_path = run_dir / "worker.prof"
    with (run_dir / "worker.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cProfile", "-o", str(stats_path), str(script)],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _ingest(warm, supplier, env, run_dir, timeout)
        _wait_settled(url, len(warm), timeout)
        before = len(read_ledger(url).documents)
        _ingest(files, supplier, env, run_dir, timeout)
        _wait_settled(url, before + len(files), timeout)
    finally:
        proc.send_signal(signal.SIGTERM)  # a warm shutdown: the profile is written on the way out
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the scheduler it forked
        smtp.stop()
        redis.stop()
    if not stats_path.is_file():
        return f"no profile written (see {run_dir / 'worker.log'})"
    out = io.StringIO()
    stats = pstats.Stats(str(stats_path), stream=out)
    out.write(
        f"one worker under cProfile, {len(warm)} warm-up + {len(files)} invoices and their notices "
        "(start-up and warm-up included); top functions by cumulative time:\n"
    )
    stats.sort_stats("cumulative").print_stats(PROFILE_FOCUS, top)
    out.write("top functions by own time:\n")
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


def _table(results: list[Result]) -> str:
    lines = [
        f"{'mode':<16} {'workers':>7} {'invoices':>8} {'status s':>8} {'inv/s':>6} {'cmd s':>6} "
        f"{'cmd/s':>6} {'notices s':>9} {'all s':>6}  statuses"
    ]
    for r in results:
        lines.append(
            f"{r.mode:<16} {r.workers:>7} {r.invoices:>8} {r.status_s:>8.1f} {r.invoices_per_s:>6.1f} "
            f"{r.command_s:>6.1f} {r.command_per_s:>6.1f} {r.notices_s:>9.1f} {r.all_s:>6.1f}  "
            f"{r.statuses} notices={r.notices}"
        )
    lines.append("")
    lines.append("CPU seconds during each run (load average before → after):")
    for r in results:
        cpu = ", ".join(f"{k} {v:.1f}" for k, v in r.cpu_s.items())
        lines.append(f"  {r.mode:<16} {cpu}  (load {r.loadavg_before} → {r.loadavg_after})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table; write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=1000, help="sample invoices (default 1000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--modes", default="inline,pg1,pg2", help="comma-separated: inline, pg1, pg2")
    parser.add_argument(
        "--profile-count", type=int, default=300, help="invoices in the profiled worker run (0: none)"
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
                print(f"profiling one worker on {args.profile_count} invoices...", flush=True)
                pg = pg or PostgresDatabases(tag="bench")
                profile = profile_worker(files[: args.profile_count], warm, work, pg, args.timeout)
        finally:
            for engine in _engines.values():
                engine.dispose()
            if pg is not None:
                pg.drop_all()

    print()
    print(_table(results))
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
    out.write_text(
        json.dumps(
            {
                "benchmark": "ingest",
                "when": stamp,
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "loadavg_at_end": _loadavg(),
                },
                "count": len(files),
                "seed": args.seed,
                "results": [asdict(r) for r in results],
                "profile_worker": profile,
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
