"""The pipeline run inline (no Redis) on SQLite and PostgreSQL: statuses, duplicates, notices, outbox.

The sample invoices of ``ingest.sample`` say what each file must give: every one
ends with the status and reasons its manifest implies; a rejected one gets
exactly one notice, even when the notify step runs again.
"""

from __future__ import annotations

import email
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

import worker
from archive.store import ArchiveError
from ingest.kinds import DocumentKind
from ingest.sample import SampleEntry, generate_samples
from ledger import db, outbox, services
from ledger.decision import irrecevable_reason, rejection_reasons
from ledger.models import Document, Invoice, JobOutbox, Notice, Party, PartyContact
from schemas.settings import Settings
from tests.ledger import conftest as ledger_db

postgres_server = ledger_db.postgres_server
db_url = ledger_db.db_url

SUPPLIER_EMAIL = "compta@fournisseur.test"


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[SampleEntry]]:
    folder = tmp_path_factory.mktemp("samples")
    return folder, generate_samples(folder, 12, seed=4, invalid_share=0.5)


def _settings(data_dir: Path, **more: Any) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=None,
        redis_url=None,
        smtp_url=None,
        mail_from="Encaisse Démo <factures@encaisse.test>",
        **more,
    )


@pytest.fixture
def quick_report_pdf(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in for the report PDF (weasyprint, about 2 s each on this machine): the tests using
    ``rt`` check the pipeline; the billing test renders the real PDF (notify's tests check its content)."""
    monkeypatch.setattr("notify.report_pdf.render_report_pdf", lambda data: b"%PDF-1.7 stub report")


@pytest.fixture
def rt(db_url: str, tmp_path: Path, quick_report_pdf: None) -> Iterator[worker.Runtime]:
    db.upgrade(db_url)
    runtime = worker.Runtime.from_settings(_settings(tmp_path / "var"), url=db_url)
    worker.configure(runtime)
    try:
        yield runtime
    finally:
        worker.configure(None)


def _supplier(rt: worker.Runtime) -> int:
    with rt.sessions() as session, session.begin():
        party = Party(kind="supplier", name="Fournisseur Test", language="fr")
        party.contacts = [PartyContact(name="Compta", email=SUPPLIER_EMAIL, role="billing")]
        session.add(party)
        session.flush()
        return party.id


def expected(entry: SampleEntry) -> tuple[str, list[str]]:
    """The final status and reasons a sample must end with."""
    if entry.expected_valid:
        return "203", []
    if entry.error_code is not None:
        return "501", [irrecevable_reason(entry.error_code).value]
    if entry.format is DocumentKind.PLAIN_PDF:
        return "501", ["IRR_TYPE_F"]
    return "213", [r.value for r in rejection_reasons(entry.fatal_rule_ids)]


def _outbox_files(rt: worker.Runtime) -> list[Path]:
    return sorted((rt.settings.data_dir / "outbox").glob("*.eml"))


def test_every_sample_ends_with_its_status_and_one_notice(
    rt: worker.Runtime, samples: tuple[Path, list[SampleEntry]]
) -> None:
    folder, entries = samples
    supplier = _supplier(rt)
    kinds = {expected(e)[0] for e in entries}
    assert kinds == {"203", "213", "501"}, "the sample set should cover acceptance and both rejections"
    results: dict[str, int] = {}
    for entry in entries:
        sub = worker.submit((folder / entry.path).read_bytes(), filename=entry.path, supplier_id=supplier)
        assert sub.created
        results[entry.path] = sub.document_id
    rejected: set[int] = set()
    with rt.sessions() as session:
        for entry in entries:
            doc = services.get_document(session, document_id=results[entry.path])
            status, reasons = expected(entry)
            events = services.history(session, document_id=doc.id)
            got = [(e.status_code, list(e.reason_codes)) for e in events]
            want = [("202", []), ("203", [])] if status == "203" else [(status, reasons)]
            assert (doc.processing_state, got) == ("done", want), entry.path
            report = services.latest_report(session, document_id=doc.id)
            assert report is not None
            fatal = {f["rule_id"] for f in report.findings if f["severity"] == "fatal"}
            assert set(entry.fatal_rule_ids) <= fatal, entry.path
            if entry.invoice and status != "501":
                assert doc.invoice_number == entry.invoice["number"], entry.path
            if status != "203":
                rejected.add(doc.id)
        registered = set(session.scalars(select(Invoice.document_id)))
        assert registered == set(results.values()) - rejected  # only accepted invoices are registered
        sent = session.execute(select(Notice.document_id, Notice.status_code, Notice.sent_at)).all()
        assert sorted(d for d, _, _ in sent) == sorted(rejected)
        assert all(at is not None for _, _, at in sent)
        assert outbox.unfinished(session) == []
    files = _outbox_files(rt)
    assert len(files) == len(rejected)
    for path in files:
        msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert msg["To"].addresses[0].addr_spec == SUPPLIER_EMAIL
        assert int(msg["X-Encaisse-Document"]) in rejected
        assert any(part.get_filename() for part in msg.walk()), "the report PDF is attached"

    # the notify step run again (a retried job, a reconciler): nothing new is sent
    with rt.sessions() as session:
        notices = list(session.scalars(select(Notice)))
    for notice in notices:
        assert worker.notify_document(notice.document_id, notice.status_code) == "already sent"
    assert _outbox_files(rt) == files
    # and the processing step run again changes nothing either
    some = next(iter(rejected))
    assert worker.process_document(some) in {"213", "501"}
    with rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Notice)) == len(rejected)


def test_same_bytes_twice_give_one_document(
    rt: worker.Runtime, samples: tuple[Path, list[SampleEntry]]
) -> None:
    folder, entries = samples
    data = (folder / next(e.path for e in entries if e.expected_valid)).read_bytes()
    first = worker.submit(data, filename="a.xml")
    second = worker.submit(data, filename="renamed.xml")
    assert (first.created, second.created) == (True, False)
    assert second.document_id == first.document_id and second.sha256 == first.sha256
    with rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Document)) == 1
        assert session.scalar(select(func.count()).select_from(JobOutbox)) == 1
        assert services.get_document(session, document_id=first.document_id).status_code == "203"


def _valid_cii(entries: list[SampleEntry], folder: Path) -> bytes:
    entry = next(e for e in entries if e.expected_valid and e.format is DocumentKind.CII_XML)
    return (folder / entry.path).read_bytes()


def test_duplicate_number_is_doublon_and_resubmission_after_213_is_accepted(
    rt: worker.Runtime, samples: tuple[Path, list[SampleEntry]]
) -> None:
    folder, entries = samples
    good = _valid_cii(entries, folder)
    code = b"<ram:InvoiceCurrencyCode>EUR</ram:InvoiceCurrencyCode>"
    assert code in good
    broken = good.replace(code, b"<ram:InvoiceCurrencyCode>XXX</ram:InvoiceCurrencyCode>")
    rejected = worker.submit(broken, filename="broken.xml")
    corrected = worker.submit(good, filename="corrected.xml")
    duplicate = worker.submit(good + b"\n<!-- sent again -->\n", filename="again.xml")
    with rt.sessions() as session:

        def final(doc_id: int) -> tuple[str | None, list[str]]:
            events = services.history(session, document_id=doc_id)
            return events[-1].status_code, list(events[-1].reason_codes)

        status, reasons = final(rejected.document_id)
        # BR-CL-04 (unknown currency) is semantic; the totals rules then find no amount in XXX
        assert (status, reasons[-1]) == ("213", "REJ_SEMAN")
        assert final(corrected.document_id) == ("203", [])  # a 213 was never received: the number is free
        assert final(duplicate.document_id) == ("213", ["DOUBLON"])
        numbers = session.scalars(select(Invoice.document_id)).all()
        assert numbers == [corrected.document_id]  # one invoice, not two


RULES = """\
version: 1
name: {name}
scope: suppliers
rules:
  - id: number-format
    kind: field_format
    severity: fatal
    status: "{status}"
    reason: {reason}
    message_fr: Numéro au format NEVER.
    message_en: Number in the NEVER format.
    params:
      field: BT-1
      pattern: NEVER-\\d+
"""


def test_billing_constraints_refuse_or_suspend(
    db_url: str, tmp_path: Path, samples: tuple[Path, list[SampleEntry]]
) -> None:
    folder, entries = samples
    rules = tmp_path / "suppliers.yaml"
    rules.write_text(RULES.format(name="from-file", status="208", reason="JUSTIF_ABS"), encoding="utf-8")
    db.upgrade(db_url)
    rt = worker.Runtime.from_settings(_settings(tmp_path / "var", supplier_rules=rules), url=db_url)
    worker.configure(rt)
    try:
        supplier = _supplier(rt)
        good = _valid_cii(entries, folder)
        suspended = worker.submit(good, filename="a.xml", supplier_id=supplier)
        with rt.sessions() as session, session.begin():  # a rule set in the database wins over the file
            yaml_text = RULES.format(name="stored", status="210", reason="CMD_ERR")
            services.save_ruleset(session, name="stored", scope="suppliers", yaml_text=yaml_text)
        other = next(e for e in entries if e.expected_valid and e.format is DocumentKind.UBL_INVOICE)
        refused = worker.submit((folder / other.path).read_bytes(), filename="b.xml", supplier_id=supplier)
        with rt.sessions() as session:
            for sub, status, reason in ((suspended, "208", "JUSTIF_ABS"), (refused, "210", "CMD_ERR")):
                events = services.history(session, document_id=sub.document_id)
                assert [(e.status_code, list(e.reason_codes)) for e in events] == [
                    ("202", []),
                    ("203", []),
                    (status, [reason]),
                ]
                assert session.scalar(select(Invoice.id).where(Invoice.document_id == sub.document_id))
            assert len(services.notices_for(session, document_id=refused.document_id)) == 1
        assert len(_outbox_files(rt)) == 2
        for path in _outbox_files(rt):
            msg = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            pdfs = [p.get_content() for p in msg.walk() if p.get_content_type() == "application/pdf"]
            assert len(pdfs) == 1 and pdfs[0].startswith(b"%PDF-")
            assert msg["X-Encaisse-Status"] in {"208", "210"}
            body = msg.get_body(preferencelist=("plain",))
            assert body is not None and "NEVER" in body.get_content()
    finally:
        worker.configure(None)


class Recorder:
    """A dispatcher that checks, when handed jobs, that their rows are committed."""

    def __init__(self, rt: worker.Runtime) -> None:
        self.rt = rt
        self.seen: list[int] = []

    def dispatch(self, jobs: Any) -> None:
        for outbox_id, _name, kwargs in jobs:
            with self.rt.sessions() as session:  # another connection: sees only committed rows
                assert outbox.get_job(session, outbox_id=outbox_id) is not None
                assert session.get(Document, kwargs["document_id"]) is not None
            self.seen.append(outbox_id)


def test_jobs_are_dispatched_after_commit_and_never_for_a_rollback(rt: worker.Runtime) -> None:
    recorder = Recorder(rt)
    rt.dispatcher = recorder
    for i in range(5):
        worker.submit(f"<not-an-invoice n='{i}'/>".encode(), filename=f"{i}.xml")
    assert len(recorder.seen) == 5
    with rt.sessions() as session:
        doc, _ = services.register_received(session, sha256="ab" * 32, size=1, filename="x")
        outbox.add_job(session, job=worker.JOB_PROCESS, document_id=doc.id, args={"document_id": doc.id})
        session.rollback()
    assert worker.reconcile(rt) == 5  # the 5 committed rows, still pending: nothing for the rolled-back one
    assert len(recorder.seen) == 10
    rt.dispatcher = worker.InlineDispatcher(rt)
    assert worker.reconcile(rt) == 5  # run inline now, and finished
    assert worker.reconcile(rt) == 0
    with rt.sessions() as session:
        assert {d.status_code for d in services.list_documents(session)} == {"501"}


def test_a_failed_processing_shows_failed_and_can_run_again(
    rt: worker.Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_get = rt.store.get

    def broken(sha256: str) -> bytes:
        raise ArchiveError("disk unreadable", where="test")

    monkeypatch.setattr(rt.store, "get", broken)
    sub = worker.submit(b"<Invoice/>", filename="x.xml")
    with rt.sessions() as session:
        doc = services.get_document(session, document_id=sub.document_id)
        assert (doc.status_code, doc.processing_state) == (None, "failed")
        assert doc.last_error is not None and "disk unreadable" in doc.last_error
        (row,) = outbox.jobs_for(session, document_id=doc.id)
        assert row.state == "failed" and "disk unreadable" in (row.last_error or "")
        assert [d.id for d in services.list_documents(session, status="failed")] == [doc.id]
    monkeypatch.setattr(rt.store, "get", real_get)
    assert worker.process_document(sub.document_id, row.id) == "501"
    with rt.sessions() as session:
        doc = services.get_document(session, document_id=sub.document_id)
        assert (doc.status_code, doc.processing_state, doc.last_error) == ("501", "done", None)
