"""The models on both backends: exact money, aware instants, the unique rules, append-only events."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, func, select, text, update
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from ledger import db
from ledger.keys import seller_key
from ledger.models import (
    AppendOnlyViolation,
    Document,
    Invoice,
    LifecycleEvent,
    Party,
    PartyContact,
    PartyIban,
    User,
    UserRole,
    ValidationReportRow,
)
from schemas.settings import Settings
from tests.ledger.seed import BIG, RECEIVED, digest_of, seed


def _document(data: bytes = b"x", **kw: object) -> Document:
    fields: dict[str, object] = {
        "digest": digest_of(data),
        "size_bytes": len(data),
        "format": "ubl-invoice",
        "direction": "incoming",
        "status_code": "200",
    }
    fields.update(kw)
    return Document(**fields)


def test_seed_round_trips_money_instants_and_json(session: Session) -> None:
    seed(session)
    session.expunge_all()
    invoice = session.scalars(select(Invoice)).one()
    assert invoice.amount_due == BIG and isinstance(invoice.amount_due, Decimal)
    assert invoice.amount_still_due == Decimal("-0.01")
    assert invoice.total_with_vat == Decimal("1200.00")
    assert str(invoice.total_vat) == "200.00"
    doc = invoice.document
    assert doc.received_at == RECEIVED
    assert doc.received_at.tzinfo is dt.UTC
    assert doc.received_at.isoformat() == "2026-03-29T00:59:59.123456+00:00"
    assert doc.sha256 == doc.digest and doc.hash_alg == "sha256"
    events = doc.events
    assert [e.status_code for e in events] == ["202", "213"]
    assert events[1].reason_codes == ["REJ_SEMAN", "CALCUL_ERR"]
    assert all(e.occurred_at.tzinfo is dt.UTC for e in events)
    report = doc.reports[0]
    assert report.findings[0]["terms"] == ["BT-112"]
    assert report.layers[1] == {"layer": "schematron", "status": "failed"}
    cashed = session.scalars(select(LifecycleEvent).where(LifecycleEvent.status_code == "212")).one()
    assert cashed.amount == Decimal("1234.56")
    supplier = session.scalars(select(Party).where(Party.kind == "supplier")).one()
    assert [i.bic for i in supplier.ibans] == ["PSSTFRPPLIL"]
    assert [c.role for c in supplier.contacts] == ["billing"]
    user = session.scalars(select(User)).one()
    assert sorted(r.role for r in user.roles) == ["collector", "customer"]


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (Decimal("2.675"), Decimal("2.68")),  # a float would give 2.67
        (Decimal("0.005"), Decimal("0.01")),
        (Decimal("-0.005"), Decimal("-0.01")),  # half away from zero, as ROUND_HALF_UP
        (Decimal("1234567890123456.78"), Decimal("1234567890123456.78")),
        (7, Decimal("7.00")),
    ],
)
def test_money_is_exact_and_rounded_half_up(session: Session, given: Decimal, stored: Decimal) -> None:
    session.add(_document(status_code="212"))
    session.flush()
    doc_id = session.scalars(select(Document.id)).one()
    session.add(LifecycleEvent(document_id=doc_id, status_code="212", actor_kind="system", amount=given))
    session.commit()
    session.expunge_all()
    assert session.scalars(select(LifecycleEvent.amount)).one() == stored
    # SQL arithmetic stays exact too
    total = session.scalar(select(func.sum(LifecycleEvent.amount)))
    assert total == stored and isinstance(total, Decimal)
    assert session.scalar(select(func.count()).where(LifecycleEvent.amount == stored)) == 1


def test_float_money_and_naive_instants_are_refused(session: Session) -> None:
    session.add(_document())
    session.commit()
    doc_id = session.scalars(select(Document.id)).one()
    session.add(LifecycleEvent(document_id=doc_id, status_code="212", actor_kind="system", amount=0.1))
    with pytest.raises(StatementError, match="never a float"):
        session.flush()
    session.rollback()
    session.add(LifecycleEvent(document_id=doc_id, status_code="212", actor_kind="system", amount=BIG + 1))
    with pytest.raises(StatementError, match="does not fit"):
        session.flush()
    session.rollback()
    session.add(_document(b"y", received_at=dt.datetime(2026, 1, 1, 12, 0)))
    with pytest.raises(StatementError, match="naive datetime"):
        session.flush()


def test_instant_in_another_zone_comes_back_as_the_same_utc_instant(session: Session) -> None:
    tokyo = dt.timezone(dt.timedelta(hours=9))
    session.add(_document(received_at=dt.datetime(2026, 1, 1, 8, 30, tzinfo=tokyo)))
    session.commit()
    session.expunge_all()
    got = session.scalars(select(Document.received_at)).one()
    assert got == dt.datetime(2025, 12, 31, 23, 30, tzinfo=dt.UTC) and got.tzinfo is dt.UTC
    # comparisons in SQL with an aware bound value work on both backends
    later = dt.datetime(2025, 12, 31, 23, 29, tzinfo=dt.UTC)
    assert session.scalar(select(func.count()).where(Document.received_at > later)) == 1


def test_same_bytes_twice_is_one_document(session: Session) -> None:
    session.add(_document(b"same bytes"))
    session.commit()
    found = session.scalars(
        select(Document).where(Document.has_sha256(digest_of(b"same bytes").upper()))
    ).one()
    assert found.size_bytes == len(b"same bytes")
    session.add(_document(b"same bytes", original_filename="again.xml", direction="outgoing"))
    with pytest.raises(IntegrityError):
        session.commit()


def test_same_number_from_the_same_seller_is_a_duplicate(session: Session) -> None:
    docs = [_document(bytes([i])) for i in range(4)]
    session.add_all(docs)
    session.flush()
    key = seller_key(siren="542 107 651")
    session.add(Invoice(document_id=docs[0].id, number="F-1", seller_key=key))
    # the same number from another seller, and another number from the same seller, are fine
    session.add(
        Invoice(document_id=docs[1].id, number="F-1", seller_key=seller_key(vat_number="FR40542107651"))
    )
    session.add(Invoice(document_id=docs[2].id, number="F-2", seller_key=key))
    session.commit()
    session.add(Invoice(document_id=docs[3].id, number="F-1", seller_key=seller_key(siren="54210765100017")))
    with pytest.raises(IntegrityError):
        session.commit()


def test_one_invoice_per_document(session: Session) -> None:
    session.add(doc := _document())
    session.flush()
    session.add(Invoice(document_id=doc.id, number="A", seller_key="NAME:a"))
    session.add(Invoice(document_id=doc.id, number="B", seller_key="NAME:a"))
    with pytest.raises(IntegrityError):
        session.commit()


def test_events_are_append_only(session: Session) -> None:
    session.add(doc := _document())
    session.flush()
    session.add(first := LifecycleEvent(document_id=doc.id, status_code="200", actor_kind="system"))
    session.commit()
    # appending is what history is for
    session.add(LifecycleEvent(document_id=doc.id, status_code="202", actor_kind="job", actor_id="receive"))
    session.commit()

    first.status_code = "213"
    with pytest.raises(AppendOnlyViolation, match="cannot be changed"):
        session.flush()
    session.rollback()
    session.delete(first)
    with pytest.raises(AppendOnlyViolation, match="cannot be deleted"):
        session.flush()
    session.rollback()
    with pytest.raises(AppendOnlyViolation, match="cannot be updated"):
        session.execute(update(LifecycleEvent).values(text="rewritten"))
    with pytest.raises(AppendOnlyViolation, match="cannot be deleted"):
        session.execute(delete(LifecycleEvent).where(LifecycleEvent.id == first.id))
    session.rollback()
    session.expunge_all()
    rows = session.execute(
        select(LifecycleEvent.status_code, LifecycleEvent.text).order_by(LifecycleEvent.id)
    )
    assert [tuple(r) for r in rows] == [("200", None), ("202", None)]


@pytest.mark.parametrize(
    "bad",
    [
        lambda s, p, d: s.add(_document(direction="sideways")),
        lambda s, p, d: s.add(_document(digest="abc")),
        lambda s, p, d: s.add(_document(hash_alg="md5", digest="0" * 32)),
        lambda s, p, d: s.add(Party(kind="prospect", name="X")),
        lambda s, p, d: s.add(PartyContact(party_id=p, role="boss")),
        lambda s, p, d: s.add(User(email="Upper@Example.com")),
        lambda s, p, d: s.add(User(email="u@example.com", roles=[UserRole(role="customer")])),
        lambda s, p, d: s.add(User(email="u@example.com", roles=[UserRole(role="superuser")])),
        lambda s, p, d: s.add(LifecycleEvent(document_id=9999, status_code="200", actor_kind="system")),
        lambda s, p, d: s.add(LifecycleEvent(document_id=d, status_code="200", actor_kind="robot")),
        lambda s, p, d: s.add(PartyIban(party_id=9999, iban="FR7630006000011234567890189")),
    ],
    ids=[
        "direction",
        "digest-length",
        "hash-alg",
        "party-kind",
        "contact-role",
        "email-case",
        "customer-role-without-party",
        "unknown-role",
        "event-dangling-document",
        "actor-kind",
        "iban-dangling-party",
    ],
)
def test_constraints_refuse_bad_rows(session: Session, bad) -> None:
    party = Party(kind="customer", name="P")
    doc = _document(b"ok")
    session.add_all([party, doc])
    session.commit()
    bad(session, party.id, doc.id)
    with pytest.raises(IntegrityError):
        session.commit()


def test_party_children_go_with_the_party(session: Session) -> None:
    party = Party(
        kind="both",
        name="Both Ways",
        ibans=[PartyIban(iban="FR7630006000011234567890189"), PartyIban(iban="DE89370400440532013000")],
        contacts=[PartyContact(email="a@b.example", role="accounting")],
    )
    session.add(party)
    session.commit()
    session.delete(party)
    session.commit()
    assert session.scalar(select(func.count()).select_from(PartyIban)) == 0
    assert session.scalar(select(func.count()).select_from(PartyContact)) == 0


def test_report_json_keeps_unicode_and_decimals(session: Session) -> None:
    session.add(doc := _document())
    session.flush()
    findings = [{"message": "Montant TTC ≠ HT + TVA", "value": Decimal("12.30"), "date": dt.date(2026, 1, 2)}]
    session.add(
        ValidationReportRow(document_id=doc.id, ruleset="facturx-7.8", valid=False, findings=findings)
    )
    session.commit()
    session.expunge_all()
    row = session.scalars(select(ValidationReportRow)).one()
    assert row.findings == [{"message": "Montant TTC ≠ HT + TVA", "value": "12.30", "date": "2026-01-02"}]
    assert row.layers == []


def test_sqlite_connections_get_the_pragmas(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        assert engine.dialect.driver == "psycopg"
        return
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == db.SQLITE_BUSY_TIMEOUT_MS
        assert conn.execute(text("SELECT 1")).scalar() == 1


def test_database_url_follows_the_settings(tmp_path: Path) -> None:
    data_dir = tmp_path / "nested" / "var"
    url = db.database_url(Settings(data_dir=data_dir, database_url=None))
    assert url == f"sqlite:///{data_dir.resolve() / 'encaisse.db'}"
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    finally:
        engine.dispose()
    assert (data_dir / "encaisse.db").is_file()  # the folder was created
    pg = db.database_url(Settings(data_dir=data_dir, database_url="postgresql://u:p@db.example:5433/enc"))
    assert pg == "postgresql+psycopg://u:p@db.example:5433/enc"


def test_database_url_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ENCAISSE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ENCAISSE_DATABASE_URL", raising=False)
    assert db.database_url(Settings()) == f"sqlite:///{tmp_path.resolve() / 'encaisse.db'}"
    monkeypatch.setenv("ENCAISSE_DATABASE_URL", "postgres://x@y/z")
    assert db.database_url(Settings()) == "postgresql+psycopg://x@y/z"
