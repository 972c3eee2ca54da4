"""Benchmark: the receivables dashboard's figures over a two-year history on PostgreSQL.

    .venv/bin/python bench/receivables.py [--customers 10000] [--invoices 500000] [--repeat 5]

A seeded history (``ledger.history``: customers with payment habits, invoices, payments,
disputes, promises) is loaded into a throwaway PostgreSQL database (load time reported
apart). Then, in the same run and on the same table:

- **floor**: ``SELECT sum(amount_due) FROM invoices``, the least any figure can cost;
- **dashboard**: ``ledger.receivables.figures`` (totals, aging, outstanding per customer
  with credit limits, DSO and its 12-month trend, 12-week forecast, top late payers),
  and each of its parts on its own.

With ``--dunning``, the daily dunning run (``worker.run_dunning``) on the same history: a
dry run, a baseline the day before (what is already due recorded as skipped), the day's run
(e-mails rendered and counted, letters rendered as PDFs), the same day again, the next day
(each once).

Each is run ``--repeat`` times after one warm-up; the median and the best are reported,
with the ratio to the floor. Results go to ``bench/results/receivables-*.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from ledger import db, receivables  # noqa: E402
from ledger.history import generate_history, load_history  # noqa: E402
from tests.services import PostgresDatabases  # noqa: E402

END = dt.date(2026, 11, 20)


def _timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    fn()  # warm-up: plans cached, pages in memory
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"median_ms": statistics.median(times) * 1000, "best_ms": min(times) * 1000}


class _CountingTransport:
    """Keeps a count of the reminders instead of sending them (the run's own cost, not a server's)."""

    def __init__(self) -> None:
        self.sent = 0

    def send(self, message: Any) -> str:
        self.sent += 1
        return str(message["Message-ID"])


def _dunning(url: str, engine: Any) -> dict[str, Any]:
    """The daily dunning run: a baseline the day before, then the run of END (and of the day after).

    Every customer gets a collection contact, so e-mails are rendered; they are counted,
    not sent. Letters and formal notices are rendered as PDFs into a temporary archive.
    """
    import tempfile

    import worker
    from ledger.models import Party, PartyContact
    from schemas.settings import Settings

    with Session(engine) as session, session.begin():
        ids = session.scalars(select(Party.id).where(Party.kind == "customer")).all()
        session.execute(
            insert(PartyContact),
            [
                {
                    "party_id": i,
                    "email": f"compta{i}@client.test",
                    "phone": "+33 1 00 00 00 00",
                    "role": "collection",
                }
                for i in ids
            ],
        )
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        rt = worker.Runtime.from_settings(
            Settings(data_dir=Path(tmp), smtp_url=None, redis_url=None), url=url
        )
        rt.transport = _CountingTransport()
        for name, day, kwargs in (
            ("dry run (plan only)", END, {"dry_run": True}),
            ("baseline (day before)", END - dt.timedelta(days=1), {"baseline": True}),
            ("daily run", END, {}),
            ("daily run, same day again", END, {}),
            ("daily run, next day", END + dt.timedelta(days=1), {}),
        ):
            start = time.perf_counter()
            summary = worker.run_dunning(day, rt=rt, **kwargs)
            seconds = time.perf_counter() - start
            s = summary.as_json()
            keep = ("open_items", "planned", "recorded", "emails_sent", "tasks", "documents")
            out[name] = {"seconds": round(seconds, 2), "summary": {k: s[k] for k in keep}}
        rt.engine.dispose()
    return out


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print a table and write the JSON results."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--invoices", type=int, default=500_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dunning", action="store_true", help="Also time the daily dunning run.")
    args = parser.parse_args(argv)

    pg = PostgresDatabases("bench")
    try:
        url = pg.create("receivables")
        db.upgrade(url)
        engine = db.make_engine(url)
        start = time.perf_counter()
        history = generate_history(customers=args.customers, invoices=args.invoices, end=END, seed=args.seed)
        generated = time.perf_counter() - start
        start = time.perf_counter()
        with db.make_session_factory(engine)() as session, session.begin():
            load_history(session, history)
        with engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()
        loaded = time.perf_counter() - start
        results: dict[str, Any] = {
            "customers": args.customers,
            "invoices": args.invoices,
            "payments": len(history.payments),
            "generate_s": round(generated, 2),
            "load_s": round(loaded, 2),
            "loadavg_before": os.getloadavg(),
        }
        with Session(engine) as session:
            parts: dict[str, Callable[[], Any]] = {
                "floor: SELECT sum(amount_due)": lambda: session.execute(
                    text("SELECT sum(amount_due) FROM invoices")
                ).scalar(),
                "dashboard (all figures)": lambda: receivables.figures(session, as_of=END),
                "  outstanding per customer + aging": lambda: receivables.customer_lines(session, as_of=END),
                "  DSO + 12-month trend": lambda: receivables.dso_series(
                    session, days=[*receivables.month_ends(END), END]
                ),
                "  12-week forecast": lambda: receivables.forecast(session, as_of=END),
            }
            timings = {name: _timed(fn, args.repeat) for name, fn in parts.items()}
        floor = timings["floor: SELECT sum(amount_due)"]["median_ms"]
        results["timings"] = timings
        results["dashboard_vs_floor"] = round(timings["dashboard (all figures)"]["median_ms"] / floor, 1)
        if args.dunning:
            results["dunning"] = _dunning(url, engine)
        results["loadavg_after"] = os.getloadavg()
        engine.dispose()
    finally:
        pg.drop_all()
    print(
        f"{args.invoices:,} invoices, {args.customers:,} customers, {results['payments']:,} payments "
        f"(generated in {results['generate_s']} s, loaded in {results['load_s']} s)"
    )
    print(f"{'':40} {'median ms':>10} {'best ms':>10} {'x floor':>8}")
    for name, t in timings.items():
        print(f"{name:40} {t['median_ms']:10.1f} {t['best_ms']:10.1f} {t['median_ms'] / floor:8.1f}")
    for name, d in results.get("dunning", {}).items():
        print(f"dunning {name:32} {d['seconds']:8.2f} s  {d['summary']}")
    print(f"load average before {results['loadavg_before']}, after {results['loadavg_after']}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    (out / f"receivables-{stamp}.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
