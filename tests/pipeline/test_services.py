"""ledger.services, ledger.outbox and ledger.decision on SQLite and PostgreSQL (unit level)."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger import outbox, services
from ledger.decision import decide_statuses, irrecevable_reason
from ledger.models import Document, JobOutbox, LifecycleEvent, Notice
from schemas.errors import ErrorCode
from schemas.findings import Finding, Layer, Severity
from schemas.lifecycle import (
    Actor,
    ActorKind,
    ReasonCode,
    ReasonMissing,
    ReasonNotAllowed,
    Status,
    TransitionForbidden,
)
from tests.ledger import conftest as ledger_db

# the ledger's database fixtures: each test runs on SQLite and on PostgreSQL
postgres_server = ledger_db.postgres_server
_migrated_engines = ledger_db._migrated_engines
engine = ledger_db.engine
session = ledger_db.session

JOB = Actor(kind=ActorKind.JOB, id="test")


def _receive(session: Session, data: bytes = b"bytes") -> tuple[Document, bool]:
    return services.register_received(
        session, sha256=hashlib.sha256(data).hexdigest(), size=len(data), filename="f.xml"
    )


def test_receive_is_idempotent_on_the_sha256(session: Session) -> None:
    first, created = _receive(session)
    session.commit()
    again, created_again = _receive(session)
    assert (created, created_again) == (True, False)
    assert again.id == first.id
    assert first.status_code is None and first.processing_state == "received"
    assert session.scalar(select(Document.id).where(Document.has_sha256(first.digest))) == first.id


def test_record_status_follows_the_state_machine(session: Session) -> None:
    doc, _ = _receive(session)
    doc.invoice_summary = {"number": "F-1", "issue_date": "2026-01-02"}
    with pytest.raises(TransitionForbidden):
        services.record_status(session, document=doc, status=Status.MISE_A_DISPOSITION, actor=JOB)
    services.record_status(session, document=doc, status=Status.RECUE, actor=JOB)
    services.record_status(session, document=doc, status=Status.MISE_A_DISPOSITION, actor=JOB)
    with pytest.raises(ReasonMissing):
        services.record_status(session, document=doc, status=Status.REFUSEE, actor=JOB)
    with pytest.raises(ReasonNotAllowed):
        services.record_status(
            session, document=doc, status=Status.REFUSEE, actor=JOB, reasons=["IRR_SYNTAX"]
        )
    services.record_status(
        session, document=doc, status=Status.REFUSEE, actor=JOB, reasons=["CMD_ERR"], text="PO"
    )
    session.commit()
    events = services.history(session, document_id=doc.id)
    assert [(e.status_code, e.reason_codes) for e in events] == [
        ("202", []),
        ("203", []),
        ("210", ["CMD_ERR"]),
    ]
    assert doc.status_code == "210" and events[-1].actor_kind == "job"
    ref = services.invoice_reference(doc)
    assert ref.invoice_number == "F-1" and ref.issue_date == date(2026, 1, 2)
    assert [d.id for d in services.list_documents(session, status="210")] == [doc.id]
    assert services.list_documents(session, status="203") == []


def test_a_rejected_transition_writes_nothing(session: Session) -> None:
    doc, _ = _receive(session)
    services.record_status(session, document=doc, status=Status.REJETEE, actor=JOB, reasons=["REJ_SEMAN"])
    session.commit()
    with pytest.raises(TransitionForbidden):  # 213 is terminal
        services.record_status(session, document=doc, status=Status.RECUE, actor=JOB)
    session.rollback()
    assert (
        session.scalar(select(LifecycleEvent.status_code).where(LifecycleEvent.document_id == doc.id))
        == "213"
    )
    assert doc.status_code == "213"


def test_a_notice_is_claimed_once(session: Session) -> None:
    doc, _ = _receive(session)
    notice = services.claim_notice(
        session, document=doc, status=Status.REJETEE, message_id="<m@x>", recipient="a@b.fr"
    )
    assert notice is not None
    services.mark_notice_sent(session, notice=notice, message_id="<m@x>")
    session.commit()
    again = services.claim_notice(
        session, document=doc, status=Status.REJETEE, message_id="<m@x>", recipient="a@b.fr"
    )
    assert again is None
    assert session.scalar(select(Notice.id).where(Notice.document_id == doc.id)) == notice.id


def test_outbox_rows_follow_their_transaction(session: Session) -> None:
    doc, _ = _receive(session)
    session.commit()
    outbox.add_job(session, job="process_document", document_id=doc.id, args={"document_id": doc.id})
    session.rollback()  # the change it followed did not happen: no job either
    assert outbox.unfinished(session) == []
    row = outbox.add_job(session, job="process_document", document_id=doc.id, args={"document_id": doc.id})
    session.commit()
    assert [r.id for r in outbox.unfinished(session)] == [row.id]
    outbox.mark(session, outbox_id=row.id, state="done", attempt=True)
    outbox.mark(session, outbox_id=row.id, state="enqueued")  # a late duplicate cannot reopen it
    session.commit()
    stored = session.get(JobOutbox, row.id)
    assert stored is not None and (stored.state, stored.attempts) == ("done", 1)
    assert outbox.unfinished(session) == []


def test_rule_sets_are_stored_by_name(session: Session) -> None:
    services.save_ruleset(session, name="suppliers-default", scope="suppliers", yaml_text="a: 1\n")
    services.save_ruleset(session, name="suppliers-default", scope="suppliers", yaml_text="a: 2\n")
    session.commit()
    assert services.get_ruleset_text(session, scope="suppliers") == "a: 2\n"
    assert [r.name for r in services.list_rulesets(session)] == ["suppliers-default"]


def _fatal(rule_id: str, layer: Layer = Layer.SCHEMATRON) -> Finding:
    return Finding(rule_id=rule_id, severity=Severity.FATAL, layer=layer, message="m")


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("EMPTY_FILE", "IRR_VIDE_F"),
        ("PDF_NO_ATTACHMENT", "IRR_TYPE_F"),
        ("XML_UNKNOWN_ROOT", "IRR_TYPE_F"),
        ("XML_NOT_WELL_FORMED", "IRR_SYNTAX"),
        ("XML_UNSAFE_ENTITY", "IRR_SYNTAX"),
        ("TOO_LARGE", "IRR_TAILLE_F"),
        ("PDF_SEVERAL_XML", "IRR_EXT_DOC"),
        ("SOMETHING_NEW", "IRR_SYNTAX"),
    ],
)
def test_unreadable_files_map_to_501_reasons(code: str, reason: str) -> None:
    decision = decide_statuses(direction="incoming", error_code=code, readable=False, findings=[])
    assert decision.statuses == (Status.IRRECEVABLE,) and decision.reasons == (ReasonCode(reason),)
    assert irrecevable_reason(code) is ReasonCode(reason)
    assert not decision.registers_invoice


def test_decisions_for_readable_invoices() -> None:
    def run(**kw: object) -> tuple[list[str], list[str]]:
        d = decide_statuses(direction="incoming", error_code=None, readable=True, **kw)  # type: ignore[arg-type]
        return [s.value for s in d.statuses], [r.value for r in d.reasons]

    assert run(findings=[]) == (["202", "203"], [])
    assert run(findings=[_fatal("BR-CO-15")]) == (["213"], ["MONTANTTOTAL_ERR"])
    assert run(findings=[_fatal("BR-S-08"), _fatal("BR-02")]) == (["213"], ["CALCUL_ERR", "REJ_SEMAN"])
    assert run(findings=[_fatal("XSD", Layer.XSD)], duplicate_of="document 1") == (["213"], ["REJ_SEMAN"])
    assert run(findings=[], duplicate_of="document 1") == (["213"], ["DOUBLON"])
    refused = (Status.REFUSEE, [ReasonCode.CMD_ERR])
    assert run(findings=[_fatal("po", Layer.CUSTOMER)], billing=refused) == (
        ["202", "203", "210"],
        ["CMD_ERR"],
    )
    suspended = (Status.SUSPENDUE, [ReasonCode.JUSTIF_ABS])
    assert run(findings=[], billing=suspended) == (["202", "203", "208"], ["JUSTIF_ABS"])
    out = decide_statuses(direction="outgoing", error_code=None, readable=True, findings=[])
    assert out.statuses == (Status.DEPOSEE,) and out.registers_invoice
    assert ErrorCode.EMPTY_FILE.value == "EMPTY_FILE"
