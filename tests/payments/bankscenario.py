"""A small generated bank scenario (``gen_bank_bench.py``) with its truth, for the matching tests."""

from __future__ import annotations

import csv
import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from sqlalchemy.orm import Session

from payments.imports import import_file
from payments.receivables import import_receivables
from tests.conftest import corpus_path


@dataclass(frozen=True)
class TruthLine:
    """One statement line of the scenario as ``truth.csv`` tells it (invoice numbers, not ids)."""

    line_ref: str
    scenario: str
    subtype: str
    amount: Decimal
    numbers: tuple[str, ...]
    applied: tuple[Decimal, ...]
    expected: str
    difference: Decimal
    ambiguous: bool


@dataclass(frozen=True)
class Scenario:
    """The generated files and the truth per line reference (``NtryRef``)."""

    folder: Path
    truth: dict[str, TruthLine]
    amounts: dict[str, Decimal]  # invoice number -> amount due when taken over

    @property
    def invoices_csv(self) -> Path:
        return self.folder / "invoices.csv"

    @property
    def statement(self) -> Path:
        return self.folder / "statement.xml"

    def of(self, scenario: str, subtype: str | None = None) -> list[TruthLine]:
        """The lines of a scenario (and subtype), in statement order."""
        return [
            t
            for t in self.truth.values()
            if t.scenario == scenario and (subtype is None or t.subtype == subtype)
        ]


def generate(out: Path, *, invoices: int = 300, seed: int = 3) -> Scenario:
    """Run the shared generator into ``out`` and read its truth."""
    tool = corpus_path().parent / "tools" / "gen_bank_bench.py"
    subprocess.run(
        [sys.executable, str(tool), "--invoices", str(invoices), "--seed", str(seed), "--out", str(out)],
        check=True,
        capture_output=True,
    )
    with (out / "invoices.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    number = {r["invoice_id"]: r["invoice_number"] for r in rows}
    amounts = {r["invoice_number"]: Decimal(r["amount"]) for r in rows}
    truth: dict[str, TruthLine] = {}
    with (out / "truth.csv").open(encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            truth[r["line_id"]] = TruthLine(
                line_ref=r["line_id"],
                scenario=r["scenario"],
                subtype=r["subtype"],
                amount=Decimal(r["line_amount"]),
                numbers=tuple(number[i] for i in r["invoice_ids"].split(";") if i),
                applied=tuple(Decimal(a) for a in r["applied"].split(";") if a),
                expected=r["expected"],
                difference=Decimal(r["difference"] or "0"),
                ambiguous=r["ambiguous"] == "1",
            )
    return Scenario(out, truth, amounts)


def load(session: Session, scenario: Scenario) -> None:
    """Take over the open invoices and import the statement (the caller commits)."""
    report = import_receivables(session, path=scenario.invoices_csv)
    assert report.created == len(scenario.amounts) and not report.refused, report
    imported = import_file(session, path=scenario.statement)
    assert imported.error is None and imported.lines_new == len(scenario.truth), imported.as_dict()
