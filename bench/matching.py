"""Benchmark and acceptance figures of the payment matching engine.

Data comes from ``../shared/tools/gen_bank_bench.py`` (seeded; ``truth.csv``
says which invoices each statement line pays). For each run:

- **import** (reported apart): ``invoices.csv`` read into ``OpenInvoice`` values,
  ``statement.xml`` (camt.053.001.08) read by ``payments.statements.camt.parse_camt``
  and turned into matcher ``Line`` values;
- **match**: :func:`payments.matching.match_lines` on one core (indexing included);
- **quality**, per scenario and for the ``ambiguous`` lines apart: wrong automatic
  matches (% of all lines), right automatic matches (% of matchable lines), and for
  the matchable lines not matched automatically, the share whose exact invoice set
  is among the suggestions; the same for a **baseline** matcher that only knows exact
  references and exact amounts (precision and recall side by side);
- **scale**: match time at several line counts (invoices = 1.15 x lines) and peak RSS.

Run: ``.venv/bin/python -m bench.matching [--seeds 1,7,42,2026] [--invoices 20000]
[--scale 10000,25000,50000,100000]``; writes JSON to ``bench/results/``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from payments.matching import Line, MatchSettings, OpenInvoice, Proposal, match_lines
from payments.matching.adapt import line_from_statement
from payments.rf import find_rfs, normalise_rf
from payments.statements.camt import parse_camt

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = Path(
    os.environ.get("ENCAISSE_BANK_BENCH", ROOT.parent / "shared" / "tools" / "gen_bank_bench.py")
)
RESULTS = Path(__file__).resolve().parent / "results"
SCENARIOS = (
    "exact_rf",
    "text_ref",
    "amount_payer",
    "partial",
    "grouped",
    "fee_diff",
    "unrelated",
    "debit_noise",
)


def generate(out: Path, *, invoices: int, seed: int, lines: int | None = None) -> Path:
    """Run the generator into ``out`` (once; kept when already there)."""
    if not (out / "truth.csv").exists():
        cmd = [
            sys.executable,
            str(GENERATOR),
            "--invoices",
            str(invoices),
            "--seed",
            str(seed),
            "--out",
            str(out),
        ]
        if lines:
            cmd += ["--lines", str(lines)]
        subprocess.run(cmd, check=True, capture_output=True)
    return out


def read_invoices(path: Path) -> list[OpenInvoice]:
    """``invoices.csv`` of the generator as open invoices."""
    with path.open(encoding="utf-8", newline="") as fh:
        return [
            OpenInvoice(
                id=r["invoice_id"],
                number=r["invoice_number"],
                customer_id=r["customer_id"],
                customer_name=r["customer_name"],
                amount_due=Decimal(r["amount"]),
                currency=r["currency"],
                issue_date=dt.date.fromisoformat(r["issue_date"]),
                due_date=dt.date.fromisoformat(r["due_date"]),
                rf_reference=r["rf_reference"] or None,
                customer_ibans=tuple(i for i in r["customer_ibans"].split(";") if i),
            )
            for r in csv.DictReader(fh)
        ]


def read_lines(path: Path) -> list[Line]:
    """``statement.xml`` through the project's camt parser."""
    parsed = parse_camt(path)
    if parsed.unreadable:
        raise SystemExit(f"{path}: unreadable parts: {parsed.unreadable[:3]}")
    return [line_from_statement(sl) for sl in parsed.lines]


@dataclass
class Truth:
    scenario: str
    subtype: str
    invoice_ids: frozenset[str]
    ambiguous: bool


def read_truth(path: Path) -> dict[str, Truth]:
    with path.open(encoding="utf-8", newline="") as fh:
        return {
            r["line_id"]: Truth(
                r["scenario"],
                r["subtype"],
                frozenset(i for i in r["invoice_ids"].split(";") if i),
                r["ambiguous"] == "1",
            )
            for r in csv.DictReader(fh)
        }


# ----------------------------------------------------------------------------- baseline


def baseline(invoices: Sequence[OpenInvoice], lines: Sequence[Line]) -> list[tuple[str, frozenset[str]]]:
    """What simple tools do: an exact RF or invoice number with the exact open amount,
    else an amount equal to exactly one open invoice. Returns (line_ref, invoice ids) applied."""
    by_rf = {normalise_rf(i.rf_reference): i for i in invoices if i.rf_reference}
    by_number = {i.number.upper(): i for i in invoices}
    by_amount: dict[Decimal, list[OpenInvoice]] = defaultdict(list)
    for inv in invoices:
        by_amount[inv.amount_due].append(inv)
    paid: set[str] = set()
    out = []
    for line in lines:
        if line.amount <= 0:
            continue
        refs = [normalise_rf(r) for r in line.structured_refs if r.upper().startswith("RF")]
        refs += find_rfs(line.remittance) if "RF" in line.remittance.upper() else []
        hit = next((by_rf[r] for r in refs if r in by_rf), None)
        if hit is None:
            words = line.remittance.upper().replace(",", " ").split()
            hit = next((by_number[w] for w in words if w in by_number), None)
        if hit is None:
            same = [i for i in by_amount.get(line.amount, ()) if i.id not in paid]
            hit = same[0] if len(same) == 1 else None
        if hit is not None and hit.id not in paid and hit.amount_due == line.amount:
            paid.add(hit.id)
            out.append((line.line_ref, frozenset({hit.id})))
    return out


# ----------------------------------------------------------------------------- scoring


@dataclass
class Tally:
    lines: int = 0
    matchable: int = 0
    auto_right: int = 0
    auto_wrong: int = 0
    rest: int = 0
    rest_suggested: int = 0
    rest_covered: int = 0
    wrong_examples: list[str] = field(default_factory=list)

    def as_dict(self, total_lines: int) -> dict[str, Any]:
        pct = lambda a, b: round(100.0 * a / b, 2) if b else None  # noqa: E731
        return {
            "lines": self.lines,
            "matchable": self.matchable,
            "auto_right": self.auto_right,
            "auto_wrong": self.auto_wrong,
            "wrong_pct_of_all_lines": pct(self.auto_wrong, total_lines),
            "right_pct_of_matchable": pct(self.auto_right, self.matchable),
            "rest": self.rest,
            "rest_suggested_pct": pct(self.rest_suggested, self.rest),
            "rest_covered_pct": pct(self.rest_covered, self.rest),
        }


def score(proposals: Sequence[Proposal], truth: dict[str, Truth]) -> dict[str, Tally]:
    """Tallies per scenario, ``ambiguous`` apart, and ``all``."""
    tallies: dict[str, Tally] = defaultdict(Tally)
    for p in proposals:
        t = truth[p.line_ref]
        keys = ["ambiguous" if t.ambiguous else t.scenario, "all"]
        for key in keys:
            tally = tallies[key]
            tally.lines += 1
            matchable = bool(t.invoice_ids)
            tally.matchable += matchable
            if p.auto and p.action == "apply":
                if matchable and p.invoice_ids == t.invoice_ids:
                    tally.auto_right += 1
                    continue
                tally.auto_wrong += 1
                if len(tally.wrong_examples) < 8:
                    tally.wrong_examples.append(f"{p.line_ref} {t.scenario}/{t.subtype}: {p.explanation}")
            if matchable:
                tally.rest += 1
                suggestions = p.suggestions()
                tally.rest_suggested += any(s.invoice_ids == t.invoice_ids for s in suggestions)
                shown = {i for s in suggestions for i in s.invoice_ids}
                tally.rest_covered += t.invoice_ids <= shown
    return dict(tallies)


def score_baseline(applied: list[tuple[str, frozenset[str]]], truth: dict[str, Truth]) -> dict[str, float]:
    right = sum(1 for ref, ids in applied if truth[ref].invoice_ids == ids)
    matchable = sum(1 for t in truth.values() if t.invoice_ids)
    return {
        "auto": len(applied),
        "right": right,
        "precision_pct": round(100.0 * right / len(applied), 2) if applied else 0.0,
        "recall_pct": round(100.0 * right / matchable, 2),
        "wrong_pct_of_all_lines": round(100.0 * (len(applied) - right) / len(truth), 3),
    }


def engine_precision(tallies: dict[str, Tally]) -> dict[str, float]:
    a = tallies["all"]
    auto = a.auto_right + a.auto_wrong
    return {
        "auto": auto,
        "right": a.auto_right,
        "precision_pct": round(100.0 * a.auto_right / auto, 2) if auto else 0.0,
        "recall_pct": round(100.0 * a.auto_right / a.matchable, 2),
        "wrong_pct_of_all_lines": round(100.0 * a.auto_wrong / a.lines, 3),
    }


def run_quality(folder: Path, settings: MatchSettings | None = None) -> dict[str, Any]:
    """Match one generated folder; tallies, baseline and timings."""
    t0 = time.perf_counter()
    invoices = read_invoices(folder / "invoices.csv")
    t1 = time.perf_counter()
    lines = read_lines(folder / "statement.xml")
    t2 = time.perf_counter()
    c2 = time.process_time()
    proposals = match_lines(invoices, lines, settings)
    t3 = time.perf_counter()
    c3 = time.process_time()
    truth = read_truth(folder / "truth.csv")
    tallies = score(proposals, truth)
    return {
        "invoices": len(invoices),
        "lines": len(lines),
        "read_invoices_s": round(t1 - t0, 3),
        "parse_statement_s": round(t2 - t1, 3),
        "match_s": round(t3 - t2, 3),
        "match_cpu_s": round(c3 - c2, 3),
        "tallies": {k: v.as_dict(len(lines)) for k, v in tallies.items()},
        "wrong_examples": tallies["all"].wrong_examples,
        "engine": engine_precision(tallies),
        "baseline": score_baseline(baseline(invoices, lines), truth),
    }


def _print_quality(seed: int, res: dict[str, Any]) -> None:
    print(
        f"\nseed {seed}: {res['invoices']} invoices, {res['lines']} lines; match {res['match_s']} s "
        f"(cpu {res['match_cpu_s']} s) "
        f"(read invoices {res['read_invoices_s']} s, parse camt {res['parse_statement_s']} s)"
    )
    print(
        f"{'scenario':14} {'lines':>6} {'matchable':>9} {'wrong % all':>11} {'right % m.':>10} "
        f"{'rest':>5} {'sugg. % rest':>12} {'covered %':>9}"
    )
    for key in (*SCENARIOS, "ambiguous", "all"):
        t = res["tallies"].get(key)
        if t:
            print(
                f"{key:14} {t['lines']:>6} {t['matchable']:>9} {t['wrong_pct_of_all_lines']!s:>11} "
                f"{t['right_pct_of_matchable']!s:>10} {t['rest']:>5} {t['rest_suggested_pct']!s:>12} "
                f"{t['rest_covered_pct']!s:>9}"
            )
    e, b = res["engine"], res["baseline"]
    for name, x in (("engine  ", e), ("baseline", b)):
        print(
            f"{name} precision {x['precision_pct']}% recall {x['recall_pct']}% "
            f"wrong {x['wrong_pct_of_all_lines']}% of all lines"
        )
    for ex in res["wrong_examples"]:
        print("  wrong:", ex)


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_scale(work: Path, n_lines: int, seed: int) -> dict[str, Any]:
    """One scale point, in this process: generate, import, match; peak RSS after."""
    folder = generate(
        work / f"scale-{n_lines}-{seed}", invoices=round(n_lines * 1.15), seed=seed, lines=n_lines
    )
    res = run_quality(folder)
    res["peak_rss_mb"] = _peak_rss_mb()
    res["load"] = os.getloadavg()[0]
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="1,7,42,2026")
    ap.add_argument("--invoices", type=int, default=20_000, help="invoices per quality seed")
    ap.add_argument(
        "--scale", default="10000,25000,50000,100000", help="line counts for the time curve ('' = none)"
    )
    ap.add_argument("--work", default=None, help="folder for generated data (default: a temp folder)")
    ap.add_argument("--one-scale", type=int, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    work = Path(a.work or tempfile.mkdtemp(prefix="encaisse-bench-matching-"))
    if a.one_scale:  # child process: one scale point, JSON on stdout
        print(json.dumps(run_scale(work, a.one_scale, 1)))
        return 0
    out: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "load_average_start": os.getloadavg(),
        "quality": {},
        "scale": {},
    }
    for seed in [int(s) for s in a.seeds.split(",") if s]:
        folder = generate(work / f"q-{a.invoices}-{seed}", invoices=a.invoices, seed=seed)
        res = run_quality(folder)
        out["quality"][seed] = res
        _print_quality(seed, res)
    if a.scale:
        print(
            f"\n{'lines':>7} {'invoices':>8} {'match s':>8} {'cpu s':>7} {'us/line':>8} {'parse s':>8} "
            f"{'rss MB':>7} {'wrong %':>7} {'right %':>7} {'load':>5}"
        )
        for n in [int(s) for s in a.scale.split(",") if s]:
            proc = subprocess.run(
                [sys.executable, "-m", "bench.matching", "--one-scale", str(n), "--work", str(work)],
                check=True,
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            out["scale"][n] = res
            t = res["tallies"]["all"]
            print(
                f"{n:>7} {res['invoices']:>8} {res['match_s']:>8} {res['match_cpu_s']:>7} "
                f"{1e6 * res['match_cpu_s'] / n:>8.1f} {res['parse_statement_s']:>8} {res['peak_rss_mb']:>7} "
                f"{t['wrong_pct_of_all_lines']!s:>7} {t['right_pct_of_matchable']!s:>7} {res['load']:>5.2f}"
            )
    out["load_average_end"] = os.getloadavg()
    print(f"\nload average: start {out['load_average_start']}, end {out['load_average_end']}")
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"matching-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(out, indent=1, default=str), encoding="utf-8")
    print(f"written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
