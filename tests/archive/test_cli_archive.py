"""`encaisse evidence` and `encaisse archive verify|seal|hold|purge|export|import` on the embedded SQLite."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

import worker
from archive.bundle_verify import verify_bundle
from archive.journal import EntryKind
from archive.journal_sql import SqlJournal
from archive.service import journal_event
from cli import app
from ingest.sample import generate_samples
from ledger import db
from ledger.models import Document, Invoice
from schemas.settings import get_settings


def _use(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENCAISSE_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    worker.configure(None)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in ("ENCAISSE_DATABASE_URL", "ENCAISSE_REDIS_URL", "ENCAISSE_SMTP_URL", "ENCAISSE_TSA_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ENCAISSE_MAIL_FROM", "Encaisse <factures@encaisse.test>")
    monkeypatch.setattr("notify.report_pdf.render_report_pdf", lambda data: b"%PDF-1.7 stub report")
    _use(tmp_path / "var", monkeypatch)
    yield tmp_path
    get_settings.cache_clear()
    worker.configure(None)


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, (args, result.output, result.exception)
    return result.output


def flat(text: str) -> str:
    """Rich wraps long lines on a narrow console."""
    return " ".join(text.split())


def _sessions():
    engine = db.make_engine(db.database_url(get_settings()))
    return engine, db.make_session_factory(engine)


def test_evidence_verify_hold_purge_export_import(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entries = generate_samples(env / "in", 3, seed=4, invalid_share=0.0)
    answers = [
        json.loads(line)
        for line in run("ingest", "--json", str(env / "in")).splitlines()
        if line.startswith("{")
    ]
    assert len(answers) == len(entries) == 3
    engine, sessions = _sessions()
    # the pipeline journaled each stage: received, detected (the XML), validated (the report), statuses
    journal = SqlJournal(engine)
    for a in answers:
        kinds = [e.kind for e in journal.about([a["sha256"]])]
        assert kinds[:4] == ["received", "detected", "validated", "registered"], kinds
        assert kinds.count("status_changed") == 2  # 202 then 203
    with sessions() as session, session.begin():
        journal_event(session, kind=EntryKind.PORTAL_VIEWED, subject=answers[0]["sha256"], actor="customer:7")
    run("archive", "verify")
    first, second, third = answers

    bundle = env / "bundle.zip"
    assert "written to" in run("evidence", str(first["document_id"]), "--out", str(bundle))
    result = verify_bundle(bundle)
    assert result.ok, result.report()
    with zipfile.ZipFile(bundle) as z:
        names = set(z.namelist())
    assert {"document/invoice.xml", "validation-report.json", "summary.pdf", "README.txt"} <= names
    last = journal.head()
    assert last is not None and last.kind == "evidence_exported" and last.subject == first["sha256"]
    assert json.loads(run("archive", "verify", "--json"))["ok"] is True
    run("evidence", "999", "--out", str(env / "none.zip"), code=1)
    with sessions() as session:
        invoice_id = session.scalars(
            select(Invoice.id).where(Invoice.document_id == second["document_id"])
        ).one()
    run("evidence", f"invoice:{invoice_id}", "--out", str(env / "second.zip"))
    assert verify_bundle(env / "second.zip").ok

    # legal hold: set with a reason, refused twice; purge keeps it, takes the other old one
    run("archive", "hold", "set", first["sha256"], "--reason", "case 17", "--actor", "staff:ana")
    assert "already under legal hold" in flat(run("archive", "hold", "set", "1", "--reason", "again", code=1))
    run("archive", "hold", "set", "1", code=2)  # no --reason: a usage error
    with sessions() as session, session.begin():
        session.execute(update(Invoice).values(issue_date=dt.date(2012, 5, 1)))
        session.execute(update(Document).values(received_at=dt.datetime(2012, 5, 1, tzinfo=dt.UTC)))
    dry = run("archive", "purge", "--dry-run")
    assert dry.count("would purge") == 2 and f"kept under legal hold: {first['sha256']}" in dry
    count = journal.count()
    assert journal.count() == count
    run("archive", "hold", "release", str(third["document_id"]), "--reason", "x", code=1)
    run("archive", "hold", "set", str(third["document_id"]), "--reason", "audit")
    run("archive", "hold", "release", str(third["document_id"]), "--reason", "audit over")
    purged = run("archive", "purge")
    assert purged.count("purged ") == 2 and second["sha256"] in purged and third["sha256"] in purged
    kinds = [e.kind for e in journal.iter()]
    assert kinds[-4:] == ["purge_started", "purged", "purge_started", "purged"]
    assert kinds.count("legal_hold_set") == 2 and kinds.count("legal_hold_released") == 1
    run("archive", "seal")
    assert json.loads(run("archive", "verify", "--json")) | {"entries": 0} == {
        "ok": True,
        "entries": 0,
        "problems": [],
    }

    # export, then import into an empty instance: same objects, same chain head, verify clean
    bag = env / "bag"
    run("archive", "export", str(bag))
    head = journal.head()
    assert head is not None
    objects = sorted(
        p.relative_to(env / "var" / "archive")
        for p in (env / "var/archive/objects").rglob("*")
        if p.is_file()
    )
    (bag / "data" / "holds.jsonl").write_bytes(b"")  # tampered bag
    assert "holds.jsonl does not match" in flat(run("archive", "import", str(bag), code=1))
    run("archive", "export", str(env / "bag2"))
    _use(env / "other", monkeypatch)
    imported = run("archive", "import", str(env / "bag2"))
    assert head.hash in flat(imported)
    assert json.loads(run("archive", "verify", "--json"))["ok"] is True
    assert (
        sorted(
            p.relative_to(env / "other" / "archive")
            for p in (env / "other/archive/objects").rglob("*")
            if p.is_file()
        )
        == objects
    )
    engine2, _ = _sessions()
    assert SqlJournal(engine2).head().hash == head.hash  # type: ignore[union-attr]
    assert "not empty" in flat(run("archive", "import", str(env / "bag2"), code=1))

    # damage is classified and exits non-zero
    victim = next(p for p in (env / "other/archive/objects").rglob("*") if p.is_file())
    victim.chmod(0o644)
    victim.write_bytes(b"changed")
    report = json.loads(run("archive", "verify", "--json", code=1))
    assert [p["class"] for p in report["problems"]] == ["changed"]
    engine.dispose()
    engine2.dispose()
