"""Every stage of the pipeline writes its event to the archive journal, in the stage's own transaction."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

import worker
from archive.journal_sql import SqlJournal
from ingest.sample import generate_samples
from ledger import db
from ledger.models import Party, PartyContact
from schemas.settings import get_settings


@pytest.fixture
def rt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[worker.Runtime]:
    for name in ("ENCAISSE_DATABASE_URL", "ENCAISSE_REDIS_URL", "ENCAISSE_SMTP_URL", "ENCAISSE_TSA_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENCAISSE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("ENCAISSE_MAIL_FROM", "Encaisse <factures@encaisse.test>")
    monkeypatch.setattr("notify.report_pdf.render_report_pdf", lambda data: b"%PDF-1.7 stub report")
    get_settings.cache_clear()
    worker.ensure_database(db.database_url())
    runtime = worker.Runtime.from_settings()
    worker.configure(runtime)
    yield runtime
    worker.configure(None)
    get_settings.cache_clear()


def test_received_detected_validated_statuses_and_notice_are_journaled(
    rt: worker.Runtime, tmp_path: Path
) -> None:
    entries = generate_samples(tmp_path / "in", 10, seed=5, invalid_share=0.5)
    with rt.sessions() as session, session.begin():
        party = Party(kind="supplier", name="Fournisseur SARL", language="fr")
        party.contacts.append(PartyContact(email="factures@fournisseur.test", role="billing"))
        session.add(party)
        session.flush()
        supplier = party.id
    bad = next(e for e in entries if not e.expected_valid and e.error_code is None and e.fatal_rule_ids)
    good = next(e for e in entries if e.expected_valid)
    answers = {
        e.path: worker.submit((tmp_path / "in" / e.path).read_bytes(), filename=e.path, supplier_id=supplier)
        for e in (good, bad)
    }
    journal = SqlJournal(rt.engine)
    rejected = journal.about([answers[bad.path].sha256])
    kinds = [e.kind for e in rejected]
    assert kinds[:3] == ["received", "detected", "validated"] and "registered" not in kinds
    status = next(e for e in rejected if e.kind == "status_changed")
    assert status.fields["data"]["status"] == "213" and status.fields["data"]["reasons"]
    validated = next(e for e in rejected if e.kind == "validated")
    assert set(bad.fatal_rule_ids) <= set(validated.fields["data"]["fatal"])
    assert validated.fields["data"]["rules"]  # the rule versions that judged it
    sent = [e for e in rejected if e.kind == "notice_sent"]
    assert len(sent) == 1 and sent[0].fields["data"]["to"] == "factures@fournisseur.test"
    accepted = [e.kind for e in journal.about([answers[good.path].sha256])]
    assert accepted == ["received", "detected", "validated", "registered", "status_changed", "status_changed"]
    # the stored report is the one the journal names
    with rt.sessions() as session:
        assert session.scalar(select(Party.id)) == supplier
    report = json.loads(rt.store.get(validated.fields["data"]["objects"][0]))
    assert report["valid"] is False
