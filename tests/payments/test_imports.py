"""Importing statements on SQLite and PostgreSQL: idempotent, overlap-proof, reported line by line."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ledger.bank import BankAccount, BankCsvMapping, BankImport
from ledger.bank import StatementLine as LineRow
from payments.imports import identity_key, import_file, line_from_row
from payments.statements import StatementLine, parse_statement

IBAN = "DE89370400440532013000"
HEAD = f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>
<GrpHdr><MsgId>M</MsgId><CreDtTm>2026-03-31T06:00:00</CreDtTm></GrpHdr>
<Stmt><Id>{{sid}}</Id><Acct><Id><IBAN>{IBAN}</IBAN></Id></Acct>"""
ENTRY = """<Ntry><NtryRef>N{n}</NtryRef><Amt Ccy="EUR">{amt}</Amt><CdtDbtInd>CRDT</CdtDbtInd>
<Sts><Cd>BOOK</Cd></Sts>
<BookgDt><Dt>2026-03-{day:02d}</Dt></BookgDt><AcctSvcrRef>ASR{n}</AcctSvcrRef>
<NtryDtls><TxDtls><RmtInf><Ustrd>INV-{n}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"""


def _camt(tmp_path: Path, name: str, numbers: range, sid: str) -> Path:
    entries = "".join(ENTRY.format(n=n, amt=f"{n}.50", day=1 + n % 28) for n in numbers)
    path = tmp_path / name
    path.write_text(HEAD.format(sid=sid) + entries + "</Stmt></BkToCstmrStmt></Document>", encoding="utf-8")
    return path


def _count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(LineRow)) or 0


def test_same_and_overlapping_statements_give_each_line_once(session: Session, tmp_path: Path) -> None:
    march_a = _camt(tmp_path, "a.xml", range(1, 11), "S-A")
    report = import_file(session, path=march_a, actor="staff:test")
    session.commit()
    assert (report.lines_read, report.lines_new, report.duplicates, report.error) == (10, 10, 0, None)
    again = import_file(session, path=march_a)
    session.commit()
    assert (again.lines_read, again.lines_new, again.duplicates) == (10, 0, 10)
    overlap = import_file(session, path=_camt(tmp_path, "b.xml", range(6, 16), "S-B"))
    session.commit()
    assert (overlap.lines_new, overlap.duplicates) == (5, 5)
    assert _count(session) == 15
    row = session.scalars(select(LineRow).where(LineRow.entry_ref == "N7")).one()
    assert (row.amount, row.booking_date, row.remittance, row.bank_ref) == (
        Decimal("7.50"),
        dt.date(2026, 3, 8),
        "INV-7",
        "ASR7",
    )
    assert line_from_row(row) == next(
        ln for ln in parse_statement(march_a).lines if ln.entry_ref == "N7"
    )  # stored and read back: nothing lost
    account = session.scalars(select(BankAccount)).one()
    assert account.account_ref == IBAN and account.iban == IBAN
    imports = list(session.scalars(select(BankImport).order_by(BankImport.id)))
    assert [(i.lines_new, i.lines_duplicate, i.statement_ids) for i in imports] == [
        (10, 0, ["S-A"]),
        (0, 10, ["S-A"]),
        (5, 5, ["S-B"]),
    ]


def test_lines_without_reference_use_the_occurrence_index(session: Session, tmp_path: Path) -> None:
    csv_file = tmp_path / "card.csv"
    rows = ["2026-03-02,-4.50,Coffee", "2026-03-02,-4.50,Coffee", "2026-03-03,-4.50,Coffee"]
    csv_file.write_text("Date,Amount,Text\n" + "\n".join(rows) + "\n", encoding="utf-8")
    mapping = tmp_path / "card.yaml"
    mapping.write_text(
        "name: card\ncurrency: EUR\ncolumns: {booking_date: Date, amount: Amount, remittance: Text}\n",
        encoding="utf-8",
    )
    first = import_file(session, path=csv_file, account=IBAN, mapping=mapping)
    session.commit()
    assert (first.lines_new, first.duplicates) == (3, 0)  # two equal coffees the same day are two lines
    # the mapping was saved with the account: the next import needs neither the file nor its name
    assert session.scalars(select(BankCsvMapping.name)).all() == ["card"]
    second = import_file(session, path=csv_file, account=IBAN)
    session.commit()
    assert (second.lines_new, second.duplicates, second.error) == (0, 3, None)
    csv_file.write_text("Date,Amount,Text\n" + "\n".join([*rows, "2026-03-03,-4.50,Coffee"]) + "\n", "utf-8")
    third = import_file(session, path=csv_file, account=IBAN, mapping="card")
    session.commit()
    assert (third.lines_new, third.duplicates) == (1, 3)
    assert _count(session) == 4


def test_refusals_are_reported_not_raised(session: Session, tmp_path: Path) -> None:
    csv_file = tmp_path / "x.csv"
    csv_file.write_text("Date,Amount\n2026-03-02,1.00\n", encoding="utf-8")
    assert import_file(session, path=csv_file).error["code"] == "CSV_MAPPING_INVALID"  # type: ignore[index]
    nope = import_file(session, path=csv_file, mapping="nope").error
    assert nope is not None
    assert nope["message"].startswith("no mapping file or saved mapping named 'nope'")
    statement = _camt(tmp_path, "a.xml", range(1, 3), "S")
    wrong = import_file(session, path=statement, account="FR7630006000011234567890189")
    assert "not FR7630006000011234567890189" in wrong.error["message"]  # type: ignore[index]
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b'<!DOCTYPE d [<!ENTITY x "y">]><d/>')
    assert import_file(session, path=bad).error["code"] == "XML_UNSAFE_ENTITY"  # type: ignore[index]
    assert _count(session) == 0


def test_identity_key_includes_date_and_amount_with_a_reference() -> None:
    line = StatementLine(
        booking_date=dt.date(2026, 3, 2), amount=Decimal("10.00"), currency="EUR", bank_ref="R"
    )
    other_day = StatementLine(
        booking_date=dt.date(2026, 3, 3), amount=Decimal("10.00"), currency="EUR", bank_ref="R"
    )
    same_amount = StatementLine(
        booking_date=dt.date(2026, 3, 2), amount=Decimal("10.0"), currency="EUR", bank_ref="R"
    )
    assert identity_key(line, IBAN) != identity_key(other_day, IBAN)
    assert identity_key(line, IBAN) == identity_key(same_amount, IBAN)
    assert identity_key(line, IBAN) != identity_key(line, "FR7630006000011234567890189")
