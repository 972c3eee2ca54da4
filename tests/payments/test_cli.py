"""`encaisse bank import` and `encaisse invoices import --csv` on the embedded database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from schemas.settings import get_settings
from tests.conftest import corpus_path

runner = CliRunner()
MAPPINGS = Path(__file__).parent / "mappings"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in ("ENCAISSE_DATABASE_URL", "ENCAISSE_REDIS_URL", "ENCAISSE_SMTP_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENCAISSE_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_bank_import_reports_new_then_duplicates(data_dir: Path) -> None:
    bank = corpus_path() / "bank"
    files = [str(bank / "camt053" / "oca_test-camt053.xml"), str(bank / "mt940" / "oca_test-ing.940")]
    first = runner.invoke(app, ["bank", "import", "--json", *files])
    assert first.exit_code == 0, first.output
    got = [(r["format"], r["lines_read"], r["new"], r["duplicates"]) for r in json.loads(first.output)]
    assert got == [("camt.053.001.02", 4, 4, 0), ("mt940", 8, 8, 0)]
    again = runner.invoke(app, ["bank", "import", *files])
    assert again.exit_code == 0
    assert "4 read, 0 new, 4 duplicates, 0 unreadable" in again.output


def test_bank_import_csv_needs_a_mapping_once(data_dir: Path) -> None:
    csv_file = str(corpus_path() / "bank" / "csv" / "rp_dkb.csv")
    iban = "DE42120300001033738756"
    refused = runner.invoke(app, ["bank", "import", "--account", iban, csv_file])
    assert refused.exit_code == 1 and "CSV_MAPPING_INVALID" in refused.output
    ok = runner.invoke(
        app, ["bank", "import", "--account", iban, "--mapping", str(MAPPINGS / "rp-dkb.yaml"), csv_file]
    )
    assert ok.exit_code == 0 and "8 read, 8 new" in ok.output
    saved = runner.invoke(app, ["bank", "import", "--json", "--account", iban, csv_file])
    assert json.loads(saved.output)[0]["duplicates"] == 8


def test_invoices_import_csv(data_dir: Path) -> None:
    path = data_dir / "invoices.csv"
    path.write_text(
        "invoice_number,customer_name,customer_ibans,currency,amount,due_date\n"
        "F-1,ACME,DE89370400440532013000,EUR,10.00,2026-04-30\n",
        encoding="utf-8",
    )
    first = runner.invoke(app, ["invoices", "import", "--csv", str(path), "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["created"] == 1
    again = runner.invoke(app, ["invoices", "import", "--csv", str(path)])
    assert again.exit_code == 0 and "created 0" in again.output and "existing 1" in again.output
    missing = runner.invoke(app, ["invoices", "import", "--csv", str(data_dir / "nope.csv")])
    assert missing.exit_code == 1 and "cannot read" in missing.output
