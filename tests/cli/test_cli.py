"""The `encaisse` command, driven through typer's runner and as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("samples")
    result = runner.invoke(app, ["sample", "--out", str(out), "--count", "12", "--seed", "7"])
    assert result.exit_code == 0, result.output
    return out


def _manifest(samples: Path) -> list[dict[str, object]]:
    data = json.loads((samples / "manifest.json").read_text(encoding="utf-8"))
    entries = data["files"] if isinstance(data, dict) else data
    assert isinstance(entries, list)
    return entries


def test_validate_json_follows_the_manifest(samples: Path) -> None:
    result = runner.invoke(app, ["validate", "--json", str(samples)])
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    by_name = {Path(obj["path"]).name: obj for obj in lines}
    entries = _manifest(samples)
    assert len(by_name) == len(entries)
    for entry in entries:
        obj = by_name[Path(str(entry["path"])).name]
        assert set(obj) >= {"path", "format", "profile", "valid", "fatal", "warnings", "findings", "invoice"}
        assert obj["valid"] is entry["expected_valid"], (entry, obj["fatal"])
    any_invalid = any(not e["expected_valid"] for e in entries)
    assert result.exit_code == (1 if any_invalid else 0)


def test_validate_exit_codes(samples: Path, tmp_path: Path) -> None:
    entries = _manifest(samples)
    valid = [samples / Path(str(e["path"])).name for e in entries if e["expected_valid"]]
    invalid = [samples / Path(str(e["path"])).name for e in entries if not e["expected_valid"]]
    assert valid and invalid
    assert runner.invoke(app, ["validate", str(valid[0])]).exit_code == 0
    assert runner.invoke(app, ["validate", str(invalid[0])]).exit_code == 1
    assert runner.invoke(app, ["validate", str(tmp_path / "missing.xml")]).exit_code == 2
    assert runner.invoke(app, ["validate", "--ruleset", "no-such-rules", str(valid[0])]).exit_code == 2
    assert runner.invoke(app, ["validate", "--bogus"]).exit_code == 2


def test_validate_json_invoice_summary_matches_manifest(samples: Path) -> None:
    entries = [e for e in _manifest(samples) if e["expected_valid"]]
    for entry in entries[:4]:
        path = samples / Path(str(entry["path"])).name
        result = runner.invoke(app, ["validate", "--json", str(path)])
        obj = json.loads(result.stdout)
        expected = entry["invoice"]
        assert isinstance(expected, dict)
        for key in ("number", "issue_date", "currency", "total_with_vat", "amount_due", "due_date"):
            assert obj["invoice"][key] == expected[key], key


def test_bad_input_gives_a_finding_not_a_traceback(tmp_path: Path) -> None:
    cases = {
        "empty.xml": b"",
        "xxe.xml": b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
        "root.xml": b"<shopping-list><item>milk</item></shopping-list>",
        "trunc.pdf": b"%PDF-1.7\n1 0 obj <<",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    result = runner.invoke(app, ["validate", "--json", str(tmp_path)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    objs = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(objs) == len(cases)
    for obj in objs:
        assert obj["valid"] is False
        assert obj["error"]["code"]
        assert obj["error"]["message"]


def test_workers_give_the_same_verdicts(samples: Path) -> None:
    one = runner.invoke(app, ["validate", "--json", str(samples)])
    two = runner.invoke(app, ["validate", "--json", "--workers", "2", str(samples)])
    parse = lambda text: {  # noqa: E731
        Path(o["path"]).name: (o["valid"], o["fatal"]) for o in map(json.loads, text.splitlines()) if o
    }
    assert parse(one.stdout) == parse(two.stdout)


def test_show_prints_terms(samples: Path) -> None:
    entry = next(e for e in _manifest(samples) if e["expected_valid"] and str(e["path"]).endswith(".pdf"))
    path = samples / Path(str(entry["path"])).name
    result = runner.invoke(app, ["show", str(path)])
    assert result.exit_code == 0, result.output
    invoice = entry["invoice"]
    assert isinstance(invoice, dict)
    assert str(invoice["number"]) in result.stdout
    assert "BT-9" in result.stdout
    as_json = runner.invoke(app, ["show", "--json", str(path)])
    assert json.loads(as_json.stdout)["number"] == invoice["number"]


def test_console_script_runs_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b"<Invoice><unclosed></Invoice>")
    proc = subprocess.run(
        [sys.executable, "-m", "cli", "validate", str(bad)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "bad.xml" in proc.stdout + proc.stderr  # it ran and named the file, not a launch error


def test_rules_check_and_validate_with_rules(tmp_path: Path) -> None:
    example = ROOT / "examples" / "rules" / "customer-example.yaml"
    ok = runner.invoke(app, ["rules", "check", str(example)])
    assert ok.exit_code == 0, ok.output
    assert "all sound" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: x\nscope: customer\nrules:\n  - id: a\n    kind: psychic\n")
    refused = runner.invoke(app, ["rules", "check", str(bad)])
    assert refused.exit_code == 1
    assert "psychic" in refused.stdout
    assert runner.invoke(app, ["validate", "--rules", str(bad), str(example)]).exit_code == 2


def test_validate_with_rules_adds_the_customer_layer(samples: Path) -> None:
    entry = next(e for e in _manifest(samples) if e["expected_valid"] and str(e["path"]).endswith(".xml"))
    path = samples / Path(str(entry["path"])).name
    rules = ROOT / "examples" / "rules" / "suppliers-default.yaml"
    result = runner.invoke(app, ["validate", "--json", "--rules", str(rules), str(path)])
    obj = json.loads(result.stdout)
    layers = {layer["layer"]: layer["status"] for layer in obj["layers"]}
    assert layers["customer"] in ("passed", "failed")
    customer_fatal = [f["rule_id"] for f in obj["findings"] if f["layer"] == "customer"]
    assert obj["valid"] is (
        not customer_fatal
        or all(f["severity"] != "fatal" for f in obj["findings"] if f["layer"] == "customer")
    )
