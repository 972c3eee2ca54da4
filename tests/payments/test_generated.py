"""The benchmark generator's camt.053.001.08 parses line for line as its truth file says."""

from __future__ import annotations

import csv
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from payments.statements import parse_statement
from tests.conftest import corpus_path


def test_generated_statement_matches_its_truth(tmp_path: Path) -> None:
    tool = corpus_path().parent / "tools" / "gen_bank_bench.py"
    out = tmp_path / "gb"
    subprocess.run(
        [sys.executable, str(tool), "--invoices", "600", "--seed", "11", "--out", str(out)],
        check=True,
        capture_output=True,
    )
    parsed = parse_statement(out / "statement.xml")
    with (out / "truth.csv").open(encoding="utf-8") as fh:
        truth = {row["line_id"]: row for row in csv.DictReader(fh)}
    assert parsed.unreadable == [] and len(parsed.lines) == len(truth)
    for line in parsed.lines:
        assert line.entry_ref is not None
        row = truth[line.entry_ref]
        assert line.amount == Decimal(row["line_amount"]), row  # signed: debits are negative there too
        assert line.currency == "EUR" and line.account_iban == "DE89370400440532013000"
        assert line.bank_ref == line.entry_ref.replace("NTRY", "ASR")  # the entry's AcctSvcrRef
    with_charges = [ln for ln in parsed.lines if ln.charges is not None]
    assert with_charges and all(ln.instructed_amount is not None for ln in with_charges)
    assert sum(1 for ln in parsed.lines if ln.creditor_refs) > len(parsed.lines) / 4
