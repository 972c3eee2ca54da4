"""Acceptance of the matching engine on the seeded benchmark, at reduced scale.

``../shared/tools/gen_bank_bench.py`` writes invoices, a camt.053 statement and
the truth; the statement goes through the project's camt parser and the
engine, and the figures of the issue are asserted per seed: wrong automatic
matches at most 0.1 % of all lines, right automatic matches at least 95 % of
the matchable lines, and the right invoices among the suggestions for at least
80 % of the rest. That last figure is asserted on 20,000 invoices for the two
seeds where it is lowest (at 2,000 invoices, four seeds leave only 16 lines to
review, too few for a percentage). The baseline (exact references and amounts
only) runs on the same data and must do worse.
``bench/matching.py`` runs the same at full scale.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.matching import (
    GENERATOR,
    baseline,
    generate,
    read_invoices,
    read_lines,
    read_truth,
    score,
    score_baseline,
)
from payments.matching import match_lines

SEEDS = (1, 7, 42, 2026)


def _generator() -> Path:
    if not GENERATOR.is_file():
        reason = f"the benchmark generator is missing at {GENERATOR}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return GENERATOR


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, object]]:
    _generator()
    out: dict[int, dict[str, object]] = {}
    for seed in SEEDS:
        folder = generate(tmp_path_factory.mktemp(f"bank-{seed}"), invoices=2000, seed=seed)
        invoices = read_invoices(folder / "invoices.csv")
        lines = read_lines(folder / "statement.xml")
        truth = read_truth(folder / "truth.csv")
        proposals = match_lines(invoices, lines)
        out[seed] = {
            "tallies": score(proposals, truth),
            "baseline": score_baseline(baseline(invoices, lines), truth),
            "lines": len(lines),
            "proposals": proposals,
        }
    return out


@pytest.mark.parametrize("seed", SEEDS)
def test_wrong_automatic_matches_at_most_a_tenth_of_a_percent(runs, seed: int) -> None:  # type: ignore[no-untyped-def]
    all_ = runs[seed]["tallies"]["all"]
    assert all_.lines == runs[seed]["lines"] > 1000
    assert all_.auto_wrong <= 0.001 * all_.lines, all_.wrong_examples


@pytest.mark.parametrize("seed", SEEDS)
def test_right_automatic_matches_at_least_95_percent_of_matchable(runs, seed: int) -> None:  # type: ignore[no-untyped-def]
    tallies = runs[seed]["tallies"]
    all_ = tallies["all"]
    assert all_.auto_right >= 0.95 * all_.matchable
    for scenario in ("exact_rf", "text_ref", "amount_payer", "partial", "grouped", "fee_diff"):
        t = tallies[scenario]
        assert t.auto_right >= 0.85 * t.matchable, (scenario, t)
    # lines that pay no invoice are never applied
    for scenario in ("unrelated", "debit_noise"):
        assert tallies[scenario].auto_wrong == 0


@pytest.fixture(scope="module")
def larger_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, object]:
    """20,000 invoices for the two hardest seeds: the review queue holds 70 lines, not a dozen."""
    _generator()
    out: dict[int, object] = {}
    for seed in (7, 2026):
        folder = generate(tmp_path_factory.mktemp(f"bank-large-{seed}"), invoices=20_000, seed=seed)
        proposals = match_lines(read_invoices(folder / "invoices.csv"), read_lines(folder / "statement.xml"))
        out[seed] = score(proposals, read_truth(folder / "truth.csv"))["all"]
    return out


@pytest.mark.slow
@pytest.mark.parametrize("seed", (7, 2026))
def test_right_invoices_among_the_suggestions_for_80_percent_of_the_rest(larger_runs, seed: int) -> None:  # type: ignore[no-untyped-def]
    tally = larger_runs[seed]
    assert tally.rest >= 50
    assert tally.rest_suggested >= 0.8 * tally.rest, (tally.rest, tally.rest_suggested)
    assert tally.auto_wrong <= 0.001 * tally.lines
    assert tally.auto_right >= 0.95 * tally.matchable


def test_right_invoices_among_the_suggestions_at_small_scale(runs) -> None:  # type: ignore[no-untyped-def]
    # at 2,000 invoices only 16 lines are left to review over the four seeds (12 with the right set)
    rest = sum(r["tallies"]["all"].rest for r in runs.values())
    found = sum(r["tallies"]["all"].rest_suggested for r in runs.values())
    assert rest > 0
    assert found >= 0.7 * rest, (rest, found)


@pytest.mark.parametrize("seed", SEEDS)
def test_engine_beats_the_exact_reference_and_amount_baseline(runs, seed: int) -> None:  # type: ignore[no-untyped-def]
    all_ = runs[seed]["tallies"]["all"]
    base = runs[seed]["baseline"]
    engine_recall = 100.0 * all_.auto_right / all_.matchable
    engine_precision = 100.0 * all_.auto_right / (all_.auto_right + all_.auto_wrong)
    assert engine_recall > base["recall_pct"] + 10
    assert engine_precision >= base["precision_pct"]


def test_every_line_gets_one_proposal_in_order(runs) -> None:  # type: ignore[no-untyped-def]
    for r in runs.values():
        refs = [p.line_ref for p in r["proposals"]]
        assert len(refs) == len(set(refs)) == r["lines"]
        assert refs == sorted(refs)  # the generator numbers entries in statement order
