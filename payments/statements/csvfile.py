"""Bank CSV exports, read through a column mapping.

Every bank exports differently, so a CSV file is read with a *mapping*, given
once per bank account (``encaisse bank import --mapping FILE``) and then kept
with the account. A mapping is a YAML or JSON document::

    name: dkb-giro              # how it is saved and referred to (--mapping dkb-giro)
    delimiter: ";"              # default ","
    decimal: ","                # decimal separator, default "."; thousands: the other one
    thousands: "."              # optional; "" for none
    date_format: "%d.%m.%y"     # strptime format, or a list of formats tried in order
    encoding: utf-8             # default utf-8 (a BOM is skipped); e.g. cp1252
    currency: EUR               # when the file has no currency column
    header: true                # false: columns are 0-based indexes and every row is data
    columns:                    # field: column name (or 0-based index); a list = first non-empty
      booking_date: Buchungsdatum         # required
      value_date: Wertstellung
      amount: "Betrag (€)"                # or debit: / credit: (two columns), see below
      currency: Währung
      counterparty_name: ["Zahlungspflichtige*r"]
      counterparty_iban: IBAN
      counterparty_bic: BIC
      remittance: [Verwendungszweck]      # a list is joined with spaces
      reference: Referenz                 # the bank's reference for the line (identity key)
      end_to_end_id: Kundenreferenz
      account_iban: IBAN Auftragskonto    # our account, when the export says it
      direction: "D/C"                    # a credit/debit indicator column...
    debit_values: [D, S, Soll]            # ...and the values meaning debit (amount made negative)
    skip:                                 # rows not imported (reported with the reason)
      Status: [Vorgemerkt]

With ``debit`` and ``credit`` columns instead of ``amount``, a debit is made
negative whatever its sign in the file. The header row is the first row that
holds the ``booking_date`` column's name, so preamble lines (account, period,
balance) before it are passed over. Amounts accept a sign before or after
(``9,90-``), currency symbols and quotes around them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

from payments.statements.iban import normalise_iban
from payments.statements.model import ParsedStatement, StatementLine, StatementRejected, Unreadable
from schemas.errors import ErrorCode, InputRejected

FIELDS = (
    "booking_date", "value_date", "amount", "debit", "credit", "currency", "counterparty_name",
    "counterparty_iban", "counterparty_bic", "remittance", "reference", "end_to_end_id", "account_iban",
    "direction",
)  # fmt: skip
Column = str | int


class MappingInvalid(InputRejected):
    """A CSV column mapping is missing, malformed or does not fit the file."""

    code = ErrorCode.CSV_MAPPING_INVALID


@dataclass(frozen=True)
class CsvMapping:
    """How to read one bank's CSV export (see the module docstring for the file format)."""

    name: str
    columns: dict[str, list[Column]]
    delimiter: str = ","
    decimal: str = "."
    thousands: str | None = None
    date_formats: tuple[str, ...] = ("%Y-%m-%d",)
    encoding: str = "utf-8"
    currency: str | None = None
    header: bool = True
    debit_values: tuple[str, ...] = ("D", "DBIT", "S", "Soll", "Debit")
    skip: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> CsvMapping:
        """Build and check a mapping from its YAML/JSON form."""
        if not isinstance(spec, dict):
            raise MappingInvalid("a CSV mapping is a mapping (YAML/JSON object)")
        name = spec.get("name")
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
            raise MappingInvalid("the mapping needs a 'name' (letters, digits, '.', '_', '-')")
        raw_cols = spec.get("columns")
        if not isinstance(raw_cols, dict):
            raise MappingInvalid(f"mapping {name}: 'columns' must map fields to column names")
        unknown = sorted(set(raw_cols) - set(FIELDS))
        if unknown:
            raise MappingInvalid(f"mapping {name}: unknown field {unknown[0]!r} (known: {', '.join(FIELDS)})")
        columns: dict[str, list[Column]] = {}
        for key, value in raw_cols.items():
            values = value if isinstance(value, list) else [value]
            if not values or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in values):
                raise MappingInvalid(f"mapping {name}: column for {key!r} must be a name, an index or a list")
            columns[key] = list(values)
        if "booking_date" not in columns:
            raise MappingInvalid(f"mapping {name}: 'columns' needs booking_date")
        if "amount" not in columns and not {"debit", "credit"} <= set(columns):
            raise MappingInvalid(f"mapping {name}: 'columns' needs amount, or debit and credit")
        formats = spec.get("date_format", "%Y-%m-%d")
        decimal = str(spec.get("decimal", "."))
        if decimal not in (".", ","):
            raise MappingInvalid(f"mapping {name}: decimal must be '.' or ','")
        thousands = spec.get("thousands", "," if decimal == "." else ".")
        skip = spec.get("skip") or {}
        if not isinstance(skip, dict):
            raise MappingInvalid(f"mapping {name}: 'skip' maps a column to the values of rows left out")
        try:
            return cls(
                name=name,
                columns=columns,
                delimiter=str(spec.get("delimiter", ",")),
                decimal=decimal,
                thousands=str(thousands) if thousands else None,
                date_formats=tuple(formats) if isinstance(formats, list) else (str(formats),),
                encoding=str(spec.get("encoding", "utf-8")),
                currency=spec.get("currency"),
                header=bool(spec.get("header", True)),
                debit_values=tuple(str(v) for v in spec.get("debit_values", cls.debit_values)),
                skip={
                    str(k): tuple(str(x) for x in (v if isinstance(v, list) else [v]))
                    for k, v in skip.items()
                },
            )
        except (TypeError, ValueError) as exc:
            raise MappingInvalid(f"mapping {name}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        """The YAML/JSON form (what is saved with the account)."""
        return {
            "name": self.name,
            "delimiter": self.delimiter,
            "decimal": self.decimal,
            "thousands": self.thousands or "",
            "date_format": list(self.date_formats),
            "encoding": self.encoding,
            "currency": self.currency,
            "header": self.header,
            "columns": {k: v[0] if len(v) == 1 else list(v) for k, v in self.columns.items()},
            "debit_values": list(self.debit_values),
            "skip": {k: list(v) for k, v in self.skip.items()},
        }


def load_mapping(path: str | Path) -> CsvMapping:
    """Read a mapping file (``.yaml``/``.yml``/``.json``)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingInvalid(f"cannot read the mapping file {p}: {exc.strerror}") from None
    try:
        spec = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise MappingInvalid(f"the mapping file {p.name} is not valid YAML/JSON: {exc}") from None
    return CsvMapping.from_dict(spec)


def parse_amount(raw: str, decimal: str = ".", thousands: str | None = ",") -> Decimal:
    """A signed amount from a bank export's text.

    >>> parse_amount("-1.234,56", ",", "."), parse_amount("9,90-", ",", "."), parse_amount('"1,525.00"')
    (Decimal('-1234.56'), Decimal('-9.90'), Decimal('1525.00'))
    """
    s = raw.strip().replace("\u00a0", "").replace(" ", "").strip("'\"€$£")
    negative = s.startswith("-") or s.endswith("-") or (s.startswith("(") and s.endswith(")"))
    s = s.strip("-+()")
    if thousands:
        s = s.replace(thousands, "")
    if decimal != ".":
        s = s.replace(decimal, ".")
    if not re.fullmatch(r"\d+(\.\d*)?|\.\d+", s):
        raise StatementRejected(f"amount {raw!r} is not a number")
    try:
        value = Decimal(s)
    except InvalidOperation:  # pragma: no cover - the pattern refuses it first
        raise StatementRejected(f"amount {raw!r} is not a number") from None
    return -value if negative else value


class _Row:
    def __init__(self, values: list[str], index: dict[str, int], mapping: CsvMapping) -> None:
        self.values = values
        self.index = index
        self.mapping = mapping

    def cell(self, column: Column) -> str:
        pos = column if isinstance(column, int) else self.index.get(column)
        if pos is None or pos >= len(self.values):
            return ""
        return self.values[pos].strip()

    def get(self, key: str) -> str:
        for column in self.mapping.columns.get(key, []):
            value = self.cell(column)
            if value:
                return value
        return ""

    def joined(self, key: str) -> str:
        return " ".join(
            " ".join(self.cell(c).split()) for c in self.mapping.columns.get(key, []) if self.cell(c)
        )


def _date(raw: str, formats: tuple[str, ...]) -> dt.date:
    for fmt in formats:
        try:
            return dt.datetime.strptime(raw.strip(), fmt).date()
        except ValueError:
            continue
    raise StatementRejected(f"date {raw!r} does not match {' or '.join(formats)}")


def parse_csv(data: bytes, mapping: CsvMapping, *, account_iban: str | None = None) -> ParsedStatement:
    """Read a bank CSV export with ``mapping``; rows that cannot be read are listed with why."""
    try:
        text = data.decode(mapping.encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise MappingInvalid(f"mapping {mapping.name}: the file is not {mapping.encoding}: {exc}") from None
    text = text.lstrip("\ufeff")
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=mapping.delimiter))
    index: dict[str, int] = {}
    start = 0
    if mapping.header:
        wanted = [c for c in mapping.columns["booking_date"] if isinstance(c, str)]
        for i, raw_row in enumerate(rows):
            cells = [c.strip().lstrip("\ufeff") for c in raw_row]
            if any(w in cells for w in wanted):
                index = {}
                for pos, name in enumerate(cells):
                    index.setdefault(name, pos)
                start = i + 1
                break
        else:
            column = wanted[0] if wanted else "?"
            raise MappingInvalid(
                f"mapping {mapping.name}: no header row with the booking date column {column!r}"
            )
        missing = [
            c for cols in mapping.columns.values() for c in cols if isinstance(c, str) and c not in index
        ] + [c for c in mapping.skip if c not in index]
        if missing:
            raise MappingInvalid(f"mapping {mapping.name}: column {missing[0]!r} is not in the file's header")
    result = ParsedStatement(format=f"csv:{mapping.name}")
    for number, cells in enumerate(rows[start:], start=start + 1):
        if not any(v.strip() for v in cells):
            continue
        row = _Row(cells, index, mapping)
        where = f"row {number}"
        skipped = next(
            (f"{c} is {row.cell(c)!r}" for c, vals in mapping.skip.items() if row.cell(c) in vals), None
        )
        if skipped:
            result.unreadable.append(Unreadable(f"not imported: {skipped}", where))
            continue
        try:
            result.lines.append(_line(row, mapping, account_iban))
        except StatementRejected as exc:
            result.unreadable.append(Unreadable(exc.message, where))
    return result


def _line(row: _Row, mapping: CsvMapping, account_iban: str | None) -> StatementLine:
    raw_date = row.get("booking_date")
    if not raw_date:
        raise StatementRejected("no booking date")
    booking = _date(raw_date, mapping.date_formats)
    value_raw = row.get("value_date")
    value = _date(value_raw, mapping.date_formats) if value_raw else None
    if "amount" in mapping.columns:
        raw_amount = row.get("amount")
        if not raw_amount:
            raise StatementRejected("no amount")
        amount = parse_amount(raw_amount, mapping.decimal, mapping.thousands)
        if "direction" in mapping.columns:
            amount = -abs(amount) if row.get("direction") in mapping.debit_values else abs(amount)
    else:
        debit, credit = row.get("debit"), row.get("credit")
        if not debit and not credit:
            raise StatementRejected("neither a debit nor a credit amount")
        amount = (
            -abs(parse_amount(debit, mapping.decimal, mapping.thousands))
            if debit
            else abs(parse_amount(credit, mapping.decimal, mapping.thousands))
        )
    currency = row.get("currency").upper() or mapping.currency
    if not currency or not re.fullmatch(r"[A-Z]{3}", currency):
        raise StatementRejected(f"no currency (currency {currency!r}); set 'currency' in the mapping")
    own = normalise_iban(row.get("account_iban")) or account_iban
    reference = row.get("reference") or None
    e2e = row.get("end_to_end_id") or None
    return StatementLine(
        booking_date=booking,
        value_date=value,
        amount=amount,
        currency=currency,
        counterparty_name=row.get("counterparty_name") or None,
        counterparty_iban=normalise_iban(row.get("counterparty_iban")),
        counterparty_bic=row.get("counterparty_bic") or None,
        remittance=row.joined("remittance"),
        end_to_end_id=None if e2e == "NOTPROVIDED" else e2e,
        bank_ref=reference,
        account_iban=own,
        account_id=own,
    )
