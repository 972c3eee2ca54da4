"""`encaisse bank match|review|confirm|reject|undo` on SQLite and PostgreSQL, on a generated scenario."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cli import app
from schemas.settings import get_settings
from tests.payments.bankscenario import Scenario, generate

runner = CliRunner()
ROW_KEYS = {"line_ref", "amount", "invoices", "confidence", "applied", "explanation"}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return generate(tmp_path_factory.mktemp("bank") / "gb", invoices=300, seed=5)


@pytest.fixture
def database(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The command on an empty database (SQLite file or PostgreSQL), migrated, inline jobs."""
    for name in ("ENCAISSE_REDIS_URL", "ENCAISSE_SMTP_URL", "ENCAISSE_MATCH_AUTO_THRESHOLD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENCAISSE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("ENCAISSE_DATABASE_URL", db_url)
    get_settings.cache_clear()
    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    yield db_url
    get_settings.cache_clear()


def _ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def _json(*args: str) -> Any:
    return json.loads(_ok(*args))


def test_bank_match_json_dry_run_then_apply_then_nothing(database: str, scenario: Scenario) -> None:
    _ok("invoices", "import", "--csv", str(scenario.invoices_csv))
    _ok("bank", "import", str(scenario.statement))

    dry = _json("bank", "match", "--json", "--dry-run")
    assert len(dry) == len(scenario.truth) and all(set(r) >= ROW_KEYS for r in dry)
    assert not any(r["applied"] for r in dry) and any(r.get("would_apply") for r in dry)

    rows = _json("bank", "match", "--json")
    assert [r["line_ref"] for r in rows] == [r["line_ref"] for r in dry]  # the dry run wrote nothing
    applied = [r for r in rows if r["applied"]]
    assert len(applied) >= 0.9 * sum(1 for t in scenario.truth.values() if t.numbers)
    for r in rows:
        assert set(r) >= ROW_KEYS
        truth = scenario.truth[r["line_ref"]]
        if r["applied"]:
            assert {x["number"] for x in r["invoices"]} == set(truth.numbers), r
            assert sum(float(x["amount_applied"]) for x in r["invoices"]) > 0
        else:
            assert r["explanation"]  # why it was left
        if not truth.numbers:
            assert not r["applied"]

    again = _json("bank", "match", "--json")
    assert not any(r["applied"] for r in again) and len(again) == len(rows) - len(applied) - sum(
        1 for r in rows if r.get("review")
    )
    assert "0 applied" in _ok("bank", "match")

    # undo one automatic match: the line goes to the review queue; confirm it back
    grouped = next(r for r in applied if len(r["invoices"]) > 1)
    undone = runner.invoke(app, ["bank", "undo", str(grouped["decision_id"]), "--reason", "test"])
    assert undone.exit_code == 0 and "undo (undone)" in undone.output, undone.output
    queue = _json("bank", "review", "--json")
    item = next(q for q in queue if q["line"]["line_ref"] == grouped["line_ref"])
    assert [x["number"] for x in item["suggestions"][0]["invoices"]] == [
        x["number"] for x in grouped["invoices"]
    ]
    assert all(x["amount_still_due"] != "0.00" for x in item["suggestions"][0]["invoices"])
    assert "decision" in _ok("bank", "review")
    confirmed = _ok("bank", "confirm", str(item["decision_id"]))
    assert "confirm (applied)" in confirmed
    assert all(q["line"]["line_ref"] != grouped["line_ref"] for q in _json("bank", "review", "--json"))


def test_bank_undo_and_confirm_refuse_clearly(database: str) -> None:
    missing = runner.invoke(app, ["bank", "undo", "424242"])
    assert missing.exit_code == 1 and "NOT_FOUND" in missing.output and "Traceback" not in missing.output
    nothing = runner.invoke(app, ["bank", "confirm", "424242"])
    assert nothing.exit_code == 1 and "no match decision 424242" in nothing.output
    assert "the review queue is empty" in _ok("bank", "review")
    assert _json("bank", "match", "--json") == []
