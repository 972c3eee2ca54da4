"""`encaisse ingest`, `invoices list|history|cdar|cdar-import` and `jobs`, inline on the embedded SQLite.

The CDAR messages written for the pipeline's events (203, 213, 210, 501) pass the
D22B XSD and the BR-FR-CDV FATAL schematron; an official CDAR example is recorded
on the matching document, once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import worker
from cli import app
from ingest.safexml import parse_xml
from ingest.sample import generate_samples
from ledger import db, services
from ledger.models import Party, PartyContact
from schemas.cdar import read_cdar
from schemas.lifecycle import Actor, ActorKind, Status
from schemas.settings import get_settings
from tests.schemas import test_cdar

xsd = test_cdar.xsd
schematron = test_cdar.schematron

RULES = """\
version: 1
name: suppliers-test
scope: suppliers
rules:
  - id: known-numbers
    kind: field_format
    severity: fatal
    status: "210"
    reason: CMD_ERR
    message_fr: Numéro inconnu de nos commandes.
    message_en: Number unknown to our orders.
    params:
      field: BT-1
      pattern: F2025-0000[12]
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in ("ENCAISSE_DATABASE_URL", "ENCAISSE_REDIS_URL", "ENCAISSE_SMTP_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENCAISSE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("ENCAISSE_MAIL_FROM", "Encaisse <factures@encaisse.test>")
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    monkeypatch.setenv("ENCAISSE_SUPPLIER_RULES", str(rules))
    monkeypatch.setattr("notify.report_pdf.render_report_pdf", lambda data: b"%PDF-1.7 stub report")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()
    worker.configure(None)


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, (args, result.output, result.exception)
    return result.output


def _lines(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_ingest_list_history_cdar(env: Path, xsd: Any, schematron: Any) -> None:
    files = env / "in"
    entries = generate_samples(files, 3, seed=2, invalid_share=0.0)
    assert [e.expected_valid for e in entries] == [True, True, True]
    cii = next(files / e.path for e in entries if e.path.endswith("cii-xml-en16931.xml"))
    broken = cii.read_bytes().replace(b">EUR</ram:InvoiceCurrencyCode>", b">XXX</ram:InvoiceCurrencyCode>")
    (files / "broken.xml").write_bytes(broken)
    (files / "empty.xml").write_bytes(b"")

    run("invoices", "list")  # migrates the embedded database on first use
    url = db.database_url(get_settings())
    assert db.current_revision(url) == db.head_revision()
    engine = db.make_engine(url)
    with db.make_session_factory(engine)() as session, session.begin():
        party = Party(
            kind="supplier", name="Fournisseur", siren="100000009", routing_address="100000009_STATUTS"
        )
        party.contacts = [PartyContact(email="compta@fournisseur.test", role="billing")]
        session.add(party)
        session.flush()
        supplier = str(party.id)

    answers = {
        Path(a["file"]).name: a for a in _lines(run("ingest", "--json", "--supplier", supplier, str(files)))
    }
    assert set(answers) == {e.path for e in entries} | {"broken.xml", "empty.xml"}
    for answer in answers.values():
        assert {
            "document_id",
            "sha256",
            "invoice_number",
            "status",
            "status_code",
            "reasons",
            "findings",
        } <= set(answer)
        assert answer["created"] is True and answer["processing_state"] == "done"
    got = {name: (a["status_code"], a["reasons"]) for name, a in answers.items()}
    assert got["empty.xml"] == ("501", ["IRR_VIDE_F"])
    assert got["broken.xml"][0] == "213" and got["broken.xml"][1][-1] == "REJ_SEMAN"  # BR-CL-04 and totals
    assert sorted(got[e.path] for e in entries) == [("203", []), ("203", []), ("210", ["CMD_ERR"])]
    assert answers["broken.xml"]["findings"] and answers["broken.xml"]["invoice_number"] == "F2025-00002"

    again = _lines(run("ingest", "--json", str(cii)))  # the same bytes: the first answer
    assert again[0]["document_id"] == answers[cii.name]["document_id"] and again[0]["created"] is False

    listed = _lines(run("invoices", "list", "--json", "--status", "213"))
    assert [a["document_id"] for a in listed] == [answers["broken.xml"]["document_id"]]
    refused = next(a for a in answers.values() if a["status_code"] == "210")
    history = _lines(run("invoices", "history", "--json", str(refused["document_id"])))
    assert [(h["status_code"], h["reasons"]) for h in history] == [
        ("202", []),
        ("203", []),
        ("210", ["CMD_ERR"]),
    ]

    for name, status in ((cii.name, "203"), ("broken.xml", "213"), ("empty.xml", "501")):
        out = env / f"{name}-{status}.xml"
        run("invoices", "cdar", str(answers[name]["document_id"]), "--status", status, "--out", str(out))
        data = out.read_bytes()
        assert xsd.validate(parse_xml(data)), (name, str(xsd.error_log))
        assert schematron(data) == [], name
        (event,) = read_cdar(parse_xml(data))
        assert event.status.value == status
    out = env / "refused.xml"
    run("invoices", "cdar", str(refused["document_id"]), "--out", str(out))  # the latest event: 210
    assert read_cdar(parse_xml(out.read_bytes()))[0].reason_codes == ("CMD_ERR",)
    assert xsd.validate(parse_xml(out.read_bytes())) and schematron(out.read_bytes()) == []
    run("invoices", "cdar", "999", code=1)

    run("jobs", "--reconcile")
    assert "ENCAISSE_REDIS_URL" in run("jobs", "--failed", code=2)
    engine.dispose()


def test_cdar_import_records_an_official_example_once(env: Path, corpus: Path) -> None:
    example = corpus / "fr/cdar/examples/UC4_F202500006_04-CDV-207_En_litige.xml"
    (event,) = read_cdar(parse_xml(example.read_bytes()))
    run("invoices", "list")
    rt = worker.Runtime.from_settings(get_settings())
    job = Actor(kind=ActorKind.JOB, id="test")
    with rt.sessions() as session, session.begin():
        doc, _ = services.register_received(session, sha256="cd" * 32, size=10, filename="f.xml")
        doc.invoice_number = event.invoice.invoice_number
        doc.invoice_summary = {
            "number": event.invoice.invoice_number,
            "seller_party": {"siren": event.invoice.seller_siren, "name": "LE VENDEUR"},
        }
        doc.processing_state = "done"
        services.record_status(session, document=doc, status=Status.RECUE, actor=job)
        services.record_status(session, document=doc, status=Status.MISE_A_DISPOSITION, actor=job)
        doc_id = doc.id
    assert f"document {doc_id}: 207 En litige recorded" in run("invoices", "cdar-import", str(example))
    assert "already recorded" in run("invoices", "cdar-import", str(example))
    history = _lines(run("invoices", "history", "--json", str(doc_id)))
    assert [(h["status_code"], h["reasons"]) for h in history][-1] == ("207", ["TX_TVA_ERR"])
    assert len(history) == 3 and history[-1]["actor"].startswith("platform")
    other = env / "other.xml"
    other.write_bytes(example.read_bytes().replace(b"F202500006", b"F209999999"))
    assert "no document for invoice" in run("invoices", "cdar-import", str(other), code=1)
    rt.engine.dispose()


def test_a_platforms_203_publishes_our_invoice_to_the_customer_once(env: Path) -> None:
    """An invoice we issued, made available by the platform (CDAR 203): its customer is told, once."""
    from datetime import UTC, datetime

    from schemas.cdar import write_cdar

    entries = generate_samples(env / "out", 6, seed=8, invalid_share=0.0)
    path = next(env / "out" / e.path for e in entries if e.path.endswith(".pdf"))
    run("invoices", "list")  # migrates the embedded database
    rt = worker.Runtime.from_settings(get_settings())
    with rt.sessions() as session, session.begin():
        party = Party(kind="customer", name="Client Publié SA", language="fr")
        party.contacts.append(PartyContact(email="compta@client.test", role="billing"))
        session.add(party)
        session.flush()
        customer = party.id
    (answer,) = _lines(
        run("ingest", "--json", "--direction", "outgoing", "--customer", str(customer), str(path))
    )
    assert answer["status_code"] == "200"
    with rt.sessions() as session:
        doc = services.get_document(session, document_id=answer["document_id"])
        deposited = services.event_model(doc, services.history(session, document_id=doc.id)[-1])
    received, available = (
        deposited.model_copy(
            update={"status": status, "event_id": f"pa-{status.value}", "timestamp": datetime.now(UTC)}
        )
        for status in (Status.RECUE, Status.MISE_A_DISPOSITION)
    )
    first, message = env / "cdar-202.xml", env / "cdar-203.xml"
    first.write_bytes(write_cdar(received))
    message.write_bytes(write_cdar(available))
    assert "202 Reçue recorded" in run("invoices", "cdar-import", str(first))
    outbox = env / "var" / "outbox"
    before = set(outbox.glob("*.eml")) if outbox.exists() else set()
    assert "203 Mise à disposition recorded" in run("invoices", "cdar-import", str(message))
    sent = set(outbox.glob("*.eml")) - before
    assert len(sent) == 1
    mail = next(iter(sent)).read_text(encoding="utf-8", errors="replace")
    assert "compta@client.test" in mail and str(answer["invoice_number"]) in mail
    assert "already recorded" in run("invoices", "cdar-import", str(message))
    assert set(outbox.glob("*.eml")) - before == sent  # not twice
    rt.engine.dispose()
