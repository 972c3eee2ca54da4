"""Acceptance 1: every file of ../shared/corpus/bank parses, or is refused for a reason listed here.

The tables below are the whole contract: a file refused for another reason, a
line left unreadable that is not listed, or a listed refusal that no longer
happens, fails the test. A sample of lines is checked field by field against
values read in the files by hand (the line of the file is given in a comment).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest

from payments.statements import ParsedStatement, StatementLine, load_mapping, parse_statement
from schemas.errors import InputRejected
from tests.conftest import CORPUS, corpus_path

MAPPINGS = Path(__file__).parent / "mappings"

#: Files refused as a whole, with the reason the refusal must give.
KNOWN_REFUSALS = {
    "genkgo_camt053.v2.wrong.xml": "has no statement, notification or report",  # GrpHdr only
    "oca_test-wrong-file.940": "unknown tag :9401:",  # ':9401:' where ':940:' belongs
    "wolph_betterplace_currency_in_25.sta": "no opening balance (:60F:) and no transaction",  # one :25: line
}

#: Files that parse but leave lines unreadable: the reason of each such line, in order.
KNOWN_UNREADABLE = {
    "bsp_golden_camt053_garbled_amount.xml": ["the entry amount '12..34' is not a decimal number"],
    "dvbern_CH_camt054_NoCrdtBookedNotReversed.xml": ["entry status PDNG"],
    "moov_FI_camt_054_sample.xml": ["entry status INFO"],
    "subite_LT_camt054_2024-03-11.xml": ["entry status INFO"],
    "subite_LT_camt054_2024-11-12.xml": ["entry status INFO"],
    "wolph_self_provided_sparkassen.sta": ["no currency: the statement has no balance"],
    "rp_ing.csv": ["amount 'EUR' is not a number"],  # row 22 lacks its Verwendungszweck column
    "rp_sparkasse-lzo-camt-v8.csv": ["not imported: Info is 'Umsatz vorgemerkt'"] * 3,
    "rp_sparkasse-lzo-mt940.csv": ["not imported: Info is 'Umsatz vorgemerkt'"] * 3,
}

#: CSV files and the mapping (tests/payments/mappings/NAME.yaml) that reads them.
CSV_MAPPINGS = {
    "bsp_sample_statement.csv": "bsp-iso",
    "bsp_csv_european_decimals.csv": "bsp-de",
    "bsp_csv_french_headers.csv": "bsp-fr",
    "bsp_csv_spanish_headers.csv": "bsp-es",
    "oca_sample_statement_en.csv": "oca-sheet",
    "oca_multi_currency.csv": "oca-sheet",
    "oca_original_currency.csv": "oca-sheet",
    "oca_balance.csv": "oca-sheet-nocur",
    "oca_debit_credit.csv": "oca-dc",
    "rp_commerzbank.csv": "rp-commerzbank",
    "rp_dkb.csv": "rp-dkb",
    "rp_gls-bank.csv": "rp-genossenschaft",
    "rp_sparda-bank-west.csv": "rp-genossenschaft",
    "rp_vr-teilhaberbank.csv": "rp-genossenschaft",
    "rp_ing.csv": "rp-ing",
    "rp_sparkasse-lzo-camt-v8.csv": "rp-sparkasse-camt",
    "rp_sparkasse-lzo-mt940.csv": "rp-sparkasse-mt940",
    "rp_targobank-duesseldorf.csv": "rp-targobank",
}


def _files() -> list[Path]:
    root = CORPUS / "bank"
    return sorted(p for p in root.glob("*/*") if p.is_file()) if root.is_dir() else []


def _parse(path: Path) -> ParsedStatement:
    mapping = load_mapping(MAPPINGS / f"{CSV_MAPPINGS[path.name]}.yaml") if path.suffix == ".csv" else None
    return parse_statement(path, mapping=mapping)


def test_the_corpus_is_there_and_every_file_is_covered() -> None:
    bank = corpus_path() / "bank"
    files = sorted(p for p in bank.glob("*/*") if p.is_file())
    assert len(files) == 98, len(files)  # 28 camt.053, 20 camt.054, 32 MT940, 18 CSV
    csv_files = {p.name for p in files if p.suffix == ".csv"}
    assert csv_files == set(CSV_MAPPINGS)
    names = {p.name for p in files}
    assert set(KNOWN_REFUSALS) <= names and set(KNOWN_UNREADABLE) <= names


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.name)
def test_each_file_parses_or_is_refused_for_its_listed_reason(path: Path) -> None:
    corpus_path()
    if path.name in KNOWN_REFUSALS:
        with pytest.raises(InputRejected) as info:
            _parse(path)
        assert KNOWN_REFUSALS[path.name] in info.value.message
        return
    parsed = _parse(path)
    reasons = [u.reason for u in parsed.unreadable]
    expected = KNOWN_UNREADABLE.get(path.name, [])
    assert len(reasons) == len(expected), reasons
    for got, want in zip(reasons, expected, strict=True):
        assert want in got
    for line in parsed.lines:
        assert isinstance(line.amount, Decimal) and isinstance(line.booking_date, dt.date)
        assert re.fullmatch(r"[A-Z]{3}", line.currency), line
    raw = path.read_bytes()
    if parsed.format.startswith("camt"):  # every <Ntry> gave a line, several (a batch), or a reason
        entries = sum(1 for ln in parsed.lines if ln.tx_index in (0, 1)) + len(parsed.unreadable)
        assert entries == len(re.findall(rb"<(?:\w+:)?Ntry>", raw))
    elif parsed.format == "mt940":  # every :61: gave a line or a reason
        assert len(parsed.lines) + len(parsed.unreadable) == len(re.findall(rb"(?m)^:61:", raw))


def _line(name: str, index: int) -> StatementLine:
    corpus_path()
    path = next(p for p in _files() if p.name == name)
    return _parse(path).lines[index]


# (file, line index, booking date, signed amount, currency, other fields) -- read in the files by hand
SAMPLES = [
    # camt053/oca_test-camt053.xml l.51-55: 754.25 DBIT, BookgDt 2014-01-05, Cdtr INSURANCE COMPANY TESTX
    (
        "oca_test-camt053.xml",
        0,
        "2014-01-05",
        "-754.25",
        "EUR",
        {"counterparty_name": "INSURANCE COMPANY TESTX"},
    ),
    # camt053/subite_BE_deutschebank_202411.xml l.57 and l.86: 50000 CRDT from Stellar Ltd
    (
        "subite_BE_deutschebank_202411.xml",
        0,
        "2024-11-29",
        "50000",
        "EUR",
        {"counterparty_name": "Stellar Ltd"},
    ),
    # camt053/genkgo_camt053.v8.xml: v08, Pty/Nm and RF-less structured reference
    ("genkgo_camt053.v8.xml", 0, "2014-12-31", "8.85", "EUR", {"creditor_refs": ("4654654654654654",)}),
    # camt053/oca_test-camt053-txdtls.xml: one line, QRR reference
    ("oca_test-camt053-txdtls.xml", 0, "2017-03-22", "2187.00", "CHF", {}),
    # camt054/oca_test-camt054.xml l.33-38, l.114: 5.00 CRDT 2022-01-26, Ref 000...003, AcctSvcrRef 98888208N8
    (
        "oca_test-camt054.xml",
        0,
        "2022-01-26",
        "5.00",
        "EUR",
        {"creditor_refs": ("000000000000000000000000003",), "entry_ref": "NL0000000000000000000"},
    ),
    # camt054/moov_CH_camt054-returns.xml l.32, l.37, l.110: 400.00 CHF 2019-05-20, return reason AC01
    ("moov_CH_camt054-returns.xml", 0, "2019-05-20", "400.00", "CHF", {"return_reason": "AC01"}),
    # mt940/oca_test-ing.940 :61:1402200220C1,57NRTIEREF//00000000001007, :86:/RTRN/MS03//EREF/20120123456789
    (
        "oca_test-ing.940",
        2,
        "2014-02-20",
        "1.57",
        "EUR",
        {"return_reason": "MS03", "end_to_end_id": "20120123456789", "bank_ref": "00000000001007"},
    ),
    # the same file, :61: with the bank reference wrapped over two lines ('00000000001' + '005')
    ("oca_test-ing.940", 0, "2014-02-20", "1.56", "EUR", {"bank_ref": "00000000001005"}),
    # mt940/wolph_jejik_sns.sta l.5: :61:1206070608D20,00 -> value 2012-06-07, entry 06-08
    ("wolph_jejik_sns.sta", 0, "2012-06-08", "-20.00", "EUR", {"value_date": dt.date(2012, 6, 7)}),
    # mt940/phpmt940_spk_sample.sta l.5: :61:1002170204C80, -> value 2010-02-17, entry 02-04
    ("phpmt940_spk_sample.sta", 0, "2010-02-04", "80", "EUR", {"value_date": dt.date(2010, 2, 17)}),
    # mt940/oca_test-sns.940: counterparty on the :61: second line, IBAN as the customer reference
    ("oca_test-sns.940", 0, "2017-12-27", "-713.13", "EUR", {"counterparty_iban": "NL49RABO0166416932"}),
    # csv/rp_dkb.csv l.7: "05.12.25";...;"-62,3";...;"5012502091"
    ("rp_dkb.csv", 1, "2025-12-05", "-62.3", "EUR", {"end_to_end_id": "5012502091"}),
    # csv/bsp_csv_french_headers.csv l.2: 2026-04-02;Loyer Avril;1234,56 in the Débit column
    ("bsp_csv_french_headers.csv", 0, "2026-04-02", "-1234.56", "EUR", {"remittance": "Loyer Avril"}),
    # csv/rp_targobank-duesseldorf.csv l.11: 10.11.2025;Gutschrift ...;;83,16 (credit column)
    ("rp_targobank-duesseldorf.csv", 10, "2025-11-10", "83.16", "EUR", {}),
]


@pytest.mark.parametrize(("name", "index", "booked", "amount", "currency", "fields"), SAMPLES)
def test_sampled_lines_carry_the_values_in_the_file(
    name: str, index: int, booked: str, amount: str, currency: str, fields: dict[str, object]
) -> None:
    line = _line(name, index)
    assert line.booking_date == dt.date.fromisoformat(booked)
    assert line.amount == Decimal(amount)
    assert line.currency == currency
    for key, value in fields.items():
        assert getattr(line, key) == value, key
