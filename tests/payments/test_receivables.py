"""`invoices import --csv`: open receivables taken over once, with customers, IBANs and status 203."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.models import Document, Invoice, LifecycleEvent, Party, PartyIban
from payments.receivables import import_receivables
from schemas.errors import InputRejected

HEADER = (
    "invoice_id,invoice_number,customer_id,customer_name,customer_ibans,currency,amount,issue_date,"
    "due_date,rf_reference,status\n"
)
ROWS = [
    "I1,INV-1,C1,Mohal Partners GmbH,DE28965536114065035935,EUR,467.01,2025-11-30,2025-12-14,"
    "RF580000140000001,open",
    "I2,INV-2,C1,Mohal Partners GmbH,DE28965536114065035935,EUR,41.34,2025-11-11,2025-12-11,,open",
    "I3,INV-3,C2,Linvawal Textil B.V.,NL29RABO8022049883,EUR,1200.00,2025-11-11,2025-12-11,,open",
    "I4,INV-4,C2,Linvawal Textil B.V.,NL29RABO8022049883,EUR,10.00,2025-11-11,2025-12-11,,paid",
    "I5,INV-5,C3,No Date SA,,EUR,5.00,,not-a-date,,open",
]


def _csv(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "invoices.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_import_is_idempotent_and_creates_customers(session: Session, tmp_path: Path) -> None:
    path = _csv(tmp_path, ROWS)
    report = import_receivables(session, path=path)
    session.commit()
    counts = (report.rows, report.created, report.existing, report.skipped, report.customers_created)
    assert counts == (5, 3, 0, 1, 2)  # the paid row is skipped; the refused one creates no customer
    assert report.refused == [{"row": "6", "reason": "due_date 'not-a-date' is not a date (YYYY-MM-DD)"}]
    again = import_receivables(session, path=path)
    session.commit()
    assert (again.created, again.existing, again.customers_created) == (0, 3, 0)
    assert session.scalar(select(func.count()).select_from(Invoice)) == 3
    inv = session.scalars(select(Invoice).where(Invoice.number == "INV-1")).one()
    assert (inv.amount_due, inv.amount_still_due, inv.currency) == (
        Decimal("467.01"),
        Decimal("467.01"),
        "EUR",
    )
    assert (inv.due_date, inv.payment_reference) == (dt.date(2025, 12, 14), "RF580000140000001")
    buyer = session.get(Party, inv.buyer_party_id)
    assert buyer is not None and buyer.name == "Mohal Partners GmbH" and buyer.kind == "customer"
    assert [i.iban for i in session.scalars(select(PartyIban).where(PartyIban.party_id == buyer.id))] == [
        "DE28965536114065035935"
    ]
    doc = session.get(Document, inv.document_id)
    assert doc is not None and (doc.status_code, doc.direction) == ("203", "outgoing")
    events = session.scalars(select(LifecycleEvent.status_code).where(LifecycleEvent.document_id == doc.id))
    assert list(events) == ["202", "203"]


def test_a_known_customer_is_found_by_iban_and_a_number_clash_is_refused(
    session: Session, tmp_path: Path
) -> None:
    import_receivables(session, path=_csv(tmp_path, ROWS[:1]))
    renamed = ROWS[1].replace("Mohal Partners GmbH", "MOHAL PARTNERS")  # same IBAN, another spelling
    clash = ROWS[2].replace("INV-3", "INV-1")  # INV-1 is Mohal's
    report = import_receivables(session, path=_csv(tmp_path, [renamed, clash]))
    session.commit()
    assert (report.created, report.customers_created) == (1, 1)
    assert report.refused == [{"row": "3", "reason": "invoice INV-1 is already there for another customer"}]
    assert session.scalar(select(func.count()).select_from(Party)) == 2


def test_missing_columns_are_a_clear_error(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("number,amount\n1,2\n", encoding="utf-8")
    with pytest.raises(InputRejected, match="lacks the column"):
        import_receivables(session, path=path)


def test_customers_sharing_a_name_stay_apart_by_their_id(session: Session, tmp_path: Path) -> None:
    rows = [
        "I1,INV-1,C1,Dupont SARL,FR7630006000011234567890189,EUR,10.00,,2026-01-31,,open",
        "I2,INV-2,C2,Dupont SARL,,EUR,20.00,,2026-01-31,,open",
        "I3,INV-3,C1,DUPONT S.A.R.L.,,EUR,30.00,,2026-01-31,,open",  # renamed, same id
    ]
    report = import_receivables(session, path=_csv(tmp_path, rows))
    session.commit()
    assert (report.created, report.customers_created) == (3, 2)
    buyers = dict(session.execute(select(Invoice.number, Invoice.buyer_party_id)).tuples().all())
    assert buyers["INV-1"] == buyers["INV-3"] != buyers["INV-2"]
