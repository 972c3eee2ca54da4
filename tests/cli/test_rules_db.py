"""Rule sets stored in the database: `rules import --customer` and `validate --rules customer:ID`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from ingest.sample import generate_samples
from ledger import db
from ledger.models import Party
from schemas.settings import get_settings

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
CUSTOMER_RULES = ROOT / "examples" / "rules" / "customer-example.yaml"


@pytest.fixture
def customer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """An embedded database under a temporary data directory, with one customer; yields its id."""
    for name in ("ENCAISSE_DATABASE_URL", "ENCAISSE_REDIS_URL", "ENCAISSE_SMTP_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENCAISSE_DATA_DIR", str(tmp_path / "var"))
    get_settings.cache_clear()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    engine = db.make_engine(db.database_url())
    with db.make_session_factory(engine)() as session, session.begin():
        party = Party(kind="customer", name="ACME Industrie", siren="732829320")
        session.add(party)
        session.flush()
        party_id = party.id
    engine.dispose()
    yield party_id
    get_settings.cache_clear()


def test_customer_rules_stored_then_used_by_validate(customer: int, tmp_path: Path) -> None:
    # the file names its party ACME-INDUSTRIE, which is no customer's id, SIREN or name here
    unknown = runner.invoke(app, ["rules", "import", str(CUSTOMER_RULES)])
    assert unknown.exit_code == 2
    assert "ACME-INDUSTRIE" in unknown.output and "no customer" in unknown.output

    stored = runner.invoke(app, ["rules", "import", str(CUSTOMER_RULES), "--customer", "732829320"])
    assert stored.exit_code == 0, stored.output
    assert f"for customer {customer}" in stored.output

    entries = generate_samples(tmp_path / "samples", count=6, seed=3)
    entry = next(e for e in entries if e.expected_valid and e.path.endswith(".xml"))
    invoice = tmp_path / "samples" / entry.path
    plain = json.loads(runner.invoke(app, ["validate", "--json", str(invoice)]).stdout)
    assert plain["valid"] is True
    assert all(f["layer"] != "customer" for f in plain["findings"])

    result = runner.invoke(app, ["validate", "--json", "--rules", f"customer:{customer}", str(invoice)])
    obj = json.loads(result.stdout)
    customer_rules = {f["rule_id"] for f in obj["findings"] if f["layer"] == "customer"}
    # the sample's purchase order is not in ACME's format and it names no contract
    assert {"acme-po-format", "acme-contract-required"} <= customer_rules
    assert obj["valid"] is False and result.exit_code == 1
    by_name = runner.invoke(app, ["validate", "--json", "--rules", "customer:ACME Industrie", str(invoice)])
    assert json.loads(by_name.stdout)["findings"] == obj["findings"]


def test_customer_rules_missing_or_unknown_customer_is_a_usage_error(customer: int, tmp_path: Path) -> None:
    entries = generate_samples(tmp_path / "samples", count=2, seed=3)
    invoice = tmp_path / "samples" / entries[0].path
    none_stored = runner.invoke(app, ["validate", "--rules", f"customer:{customer}", str(invoice)])
    assert none_stored.exit_code == 2
    assert "no rule set is stored for customer" in none_stored.output
    nobody = runner.invoke(app, ["validate", "--rules", "customer:999", str(invoice)])
    assert nobody.exit_code == 2 and "no customer match '999'" in nobody.output
    assert "Traceback" not in none_stored.output + nobody.output


def test_outgoing_invoice_failing_its_customers_rules_is_not_deposited(customer: int, tmp_path: Path) -> None:
    entries = generate_samples(tmp_path / "samples", count=6, seed=3)
    valid = [tmp_path / "samples" / e.path for e in entries if e.expected_valid]
    first, second = valid[0], valid[1]

    def ingest(path: Path) -> dict[str, object]:
        result = runner.invoke(
            app, ["ingest", "--json", "--direction", "outgoing", "--customer", str(customer), str(path)]
        )
        assert result.exit_code == 0, result.output
        answer: dict[str, object] = json.loads(result.stdout.splitlines()[0])
        return answer

    # no rule set stored for the customer: a valid invoice of ours is deposited
    assert ingest(first)["status_code"] == "200"
    stored = runner.invoke(app, ["rules", "import", str(CUSTOMER_RULES), "--customer", str(customer)])
    assert stored.exit_code == 0, stored.output
    held = ingest(second)
    assert (held["status_code"], held["reasons"]) == ("213", ["REJ_COH"])
    customer_findings = [f for f in held["findings"] if f["layer"] == "customer"]  # type: ignore[attr-defined]
    assert any(f["rule_id"] == "acme-contract-required" for f in customer_findings)
