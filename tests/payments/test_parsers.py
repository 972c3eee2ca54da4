"""Statement parsers on small hand-written inputs: the dialects, the edge cases, the refusals."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from payments.statements import MappingInvalid, StatementRejected, parse_statement
from payments.statements.csvfile import CsvMapping, parse_amount, parse_csv
from payments.statements.iban import normalise_iban
from payments.statements.mt940 import parse_mt940
from payments.statements.text import join_segments

CAMT = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.{v}">
 <BkToCstmrStmt><GrpHdr><MsgId>M1</MsgId><CreDtTm>2026-03-31T06:00:00</CreDtTm></GrpHdr>
  <Stmt><Id>S1</Id><Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>EUR</Ccy></Acct>
   {entries}
  </Stmt></BkToCstmrStmt></Document>"""

ENTRY = """<Ntry><NtryRef>{ref}</NtryRef><Amt Ccy="EUR">{amt}</Amt><CdtDbtInd>{cd}</CdtDbtInd>
 <Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-03-02</Dt></BookgDt><ValDt><Dt>2026-03-03</Dt></ValDt>
 <AcctSvcrRef>ASR-{ref}</AcctSvcrRef>
 <Chrgs><TtlChrgsAndTaxAmt Ccy="EUR">15.00</TtlChrgsAndTaxAmt></Chrgs>
 <NtryDtls><TxDtls><Refs><EndToEndId>E2E-1</EndToEndId></Refs>
  <AmtDtls><InstdAmt><Amt Ccy="EUR">375.28</Amt></InstdAmt></AmtDtls>
  <RltdPties><Dbtr><Pty><Nm>Linvawal Textil</Nm></Pty></Dbtr>
   <DbtrAcct><Id><IBAN>NL29RABO8022049883</IBAN></Id></DbtrAcct></RltdPties>
  <RltdAgts><DbtrAgt><FinInstnId><BICFI>RABONL2U</BICFI></FinInstnId></DbtrAgt></RltdAgts>
  <RmtInf><Ustrd>{u1}</Ustrd><Ustrd>{u2}</Ustrd>
   <Strd><RfrdDocInf><Nb>INV-7</Nb></RfrdDocInf><RfrdDocAmt><RmtdAmt Ccy="EUR">100.00</RmtdAmt></RfrdDocAmt>
    <CdtrRefInf><Ref>RF18 5390 0754 7034</Ref></CdtrRefInf></Strd></RmtInf>
  <RtrInf><Rsn><Cd>AC04</Cd></Rsn></RtrInf>
 </TxDtls></NtryDtls></Ntry>"""


def _write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_camt_entry_fields(tmp_path: Path) -> None:
    u1 = "Facture INV-2026-0" + "x" * 122  # a full 140-character Ustrd: the next one is glued on
    entry = ENTRY.format(ref="N1", amt="360.28", cd="CRDT", u1=u1, u2="00018 merci")
    for version in ("02", "04", "08"):
        parsed = parse_statement(_write(tmp_path, f"s{version}.xml", CAMT.format(v=version, entries=entry)))
        (line,) = parsed.lines
        assert parsed.format == f"camt.053.001.{version}"
        assert (line.booking_date, line.value_date) == (dt.date(2026, 3, 2), dt.date(2026, 3, 3))
        assert (line.amount, line.currency, line.charges) == (Decimal("360.28"), "EUR", Decimal("15.00"))
        assert (line.instructed_amount, line.instructed_currency) == (Decimal("375.28"), "EUR")
        assert line.counterparty_name == "Linvawal Textil"
        assert (line.counterparty_iban, line.counterparty_bic) == ("NL29RABO8022049883", "RABONL2U")
        assert line.remittance == u1 + "00018 merci"
        assert line.creditor_refs == ("RF18539007547034",)
        assert line.referred_docs == (("INV-7", Decimal("100.00")),)
        assert (line.end_to_end_id, line.entry_ref, line.bank_ref) == ("E2E-1", "N1", "ASR-N1")
        assert line.return_reason == "AC04"
        assert (line.account_iban, line.statement_id) == ("DE89370400440532013000", "S1")


def test_camt_debit_is_negative_and_pending_entries_are_reported(tmp_path: Path) -> None:
    debit = ENTRY.format(ref="N2", amt="12.50", cd="DBIT", u1="a", u2="b")
    pending = debit.replace("<Cd>BOOK</Cd>", "<Cd>PDNG</Cd>").replace("N2", "N3")
    parsed = parse_statement(_write(tmp_path, "s.xml", CAMT.format(v="08", entries=debit + pending)))
    assert [ln.amount for ln in parsed.lines] == [Decimal("-12.50")]
    assert parsed.lines[0].remittance == "a b"
    assert [(u.where, u.reason[:17]) for u in parsed.unreadable] == [
        ("entry N3 of statement S1", "entry status PDNG")
    ]


def test_camt_batch_entry_gives_one_line_per_transaction(tmp_path: Path) -> None:
    txs = "".join(
        f"<TxDtls><Refs><AcctSvcrRef>T{i}</AcctSvcrRef></Refs>"
        f"<Amt Ccy='EUR'>{a}</Amt><CdtDbtInd>CRDT</CdtDbtInd>"
        f"<RmtInf><Strd><CdtrRefInf><Ref>{r}</Ref></CdtrRefInf></Strd></RmtInf></TxDtls>"
        for i, (a, r) in enumerate([("10.00", "R1"), ("15.50", "R2")])
    )
    entry = (
        "<Ntry><Amt Ccy='EUR'>25.50</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>"
        f"<BookgDt><Dt>2026-01-05</Dt></BookgDt><NtryDtls><Btch><NbOfTxs>2</NbOfTxs></Btch>{txs}</NtryDtls></Ntry>"
    )
    parsed = parse_statement(_write(tmp_path, "b.xml", CAMT.format(v="02", entries=entry)))
    assert [(ln.amount, ln.creditor_refs, ln.bank_ref, ln.tx_index) for ln in parsed.lines] == [
        (Decimal("10.00"), ("R1",), "T0", 1),
        (Decimal("15.50"), ("R2",), "T1", 2),
    ]


NS = b"urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (
            b'<!DOCTYPE d [<!ENTITY x "y">]><Document xmlns="' + NS + b'"/>',
            "entit",
        ),
        (
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>',
            "not well-formed",
        ),
        (b"<Invoice><ID>1</ID></Invoice>", "not an ISO 20022 camt"),
        (b"", "is empty"),
    ],
)
def test_bad_xml_is_refused_with_a_reason(tmp_path: Path, data: bytes, reason: str) -> None:
    with pytest.raises(
        StatementRejected if reason in ("not an ISO 20022 camt", "is empty") else ValueError
    ) as info:
        parse_statement(_write(tmp_path, "bad.xml", data))
    assert reason in str(info.value)


MT940_DE = """:20:STARTUMS
:25:10020030/1234567890
:28C:00001/001
:60F:C260301EUR1000,00
:61:2603020302CR250,00NTRFNONREF//BANKREF1
:86:166?00GUTSCHR. UEBERWEISUNG?109075?20EREF+E2E-42?21SVWZ+Rechnung INV-2026-00001?22
8 danke?30COBADEFFXXX?31DE89370400440532013000?32MUSTER GMBH
:61:2603030303RDR10,00NMSCNONREF
:86:806?00STORNO?20Rueckbuchung
:62F:C260303EUR1240,00
-
"""


def test_mt940_german_structured_details() -> None:
    parsed = parse_mt940(MT940_DE.encode())
    first, second = parsed.lines
    assert (first.booking_date, first.amount, first.currency) == (
        dt.date(2026, 3, 2),
        Decimal("250.00"),
        "EUR",
    )
    assert first.bank_ref == "BANKREF1" and first.end_to_end_id == "E2E-42"
    assert first.remittance == "Rechnung INV-2026-000018 danke"  # ?21 is 27 characters: ?22 is glued on
    assert (first.counterparty_name, first.counterparty_iban) == ("MUSTER GMBH", "DE89370400440532013000")
    assert first.counterparty_bic == "COBADEFFXXX" and first.account_id == "10020030/1234567890"
    assert second.amount == Decimal("10.00")  # RD: reversal of a debit, money back in
    assert second.statement_id == "STARTUMS/00001/001"


def test_mt940_refusals() -> None:
    with pytest.raises(StatementRejected, match="unknown tag :9999:"):
        parse_mt940(b":20:X\n:25:1\n:9999:Y\n:60F:C260301EUR1,00\n")
    with pytest.raises(StatementRejected, match="no :20:/:25:/:61: tags"):
        parse_mt940(b"nothing here")
    broken = parse_mt940(b":20:X\n:25:1\n:60F:C260301EUR1,00\n:61:26AB01C1,00NTRF\n")
    assert broken.lines == [] and "does not have the MT940 layout" in broken.unreadable[0].reason


def test_csv_mapping_and_errors() -> None:
    mapping = CsvMapping.from_dict(
        {
            "name": "t",
            "delimiter": ";",
            "decimal": ",",
            "date_format": ["%d.%m.%Y", "%d.%m.%y"],
            "columns": {
                "booking_date": "Tag",
                "amount": "Betrag",
                "remittance": ["Text", "Mehr"],
                "currency": "W",
            },
            "skip": {"Status": "offen"},
        }
    )
    data = "Konto;X\n\nTag;Betrag;Text;Mehr;W;Status\n01.03.2026;1.234,50;a;b;EUR;gebucht\n"
    data += "02.03.26;-3,00;c;;EUR;offen\n"
    data += "xx;1,00;d;;EUR;gebucht\n"
    parsed = parse_csv(data.encode(), mapping, account_iban="DE89370400440532013000")
    assert [(ln.booking_date, ln.amount, ln.remittance) for ln in parsed.lines] == [
        (dt.date(2026, 3, 1), Decimal("1234.50"), "a b")
    ]
    assert [u.reason for u in parsed.unreadable] == [
        "not imported: Status is 'offen'",
        "date 'xx' does not match %d.%m.%Y or %d.%m.%y",
    ]
    assert CsvMapping.from_dict(mapping.to_dict()) == mapping
    with pytest.raises(MappingInvalid, match="needs amount, or debit and credit"):
        CsvMapping.from_dict({"name": "x", "columns": {"booking_date": "D"}})
    with pytest.raises(MappingInvalid, match="unknown field 'amout'"):
        CsvMapping.from_dict({"name": "x", "columns": {"booking_date": "D", "amout": "A"}})
    with pytest.raises(MappingInvalid, match="column 'Betrag' is not in the file's header"):
        parse_csv(b"Tag;Amount\n01.03.2026;1\n", mapping)


def test_small_helpers() -> None:
    assert parse_amount("1.234,56-", ",", ".") == Decimal("-1234.56")
    with pytest.raises(StatementRejected):
        parse_amount("12..34")
    assert normalise_iban("DE89 3704 0044 0532 0130 00") == "DE89370400440532013000"
    assert normalise_iban("DE89370400440532013001") is None
    assert join_segments(["abc", "def"], 3) == "abcdef" and join_segments(["ab", "cd"], 3) == "ab cd"
