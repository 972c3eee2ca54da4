"""Bank statement readers: camt.052/053/054, MT940/942 and mapped CSV, one line type out.

:func:`parse_statement` detects the format from the file's first bytes and
returns a :class:`ParsedStatement`; a file that is none of them, or is broken
as a whole, raises :class:`StatementRejected` (an ``InputRejected``) saying why.
A line that cannot be read does not stop the others: it is listed in
``ParsedStatement.unreadable`` with the reason.
"""

from __future__ import annotations

from pathlib import Path

from ingest.safexml import check_declarations
from payments.statements.camt import parse_camt, sniff
from payments.statements.csvfile import CsvMapping, MappingInvalid, load_mapping, parse_csv
from payments.statements.model import ParsedStatement, StatementLine, StatementRejected, Unreadable
from payments.statements.mt940 import decode, looks_like_mt940, parse_mt940
from schemas.errors import ErrorCode

__all__ = [
    "CsvMapping",
    "MappingInvalid",
    "ParsedStatement",
    "StatementLine",
    "StatementRejected",
    "Unreadable",
    "detect_format",
    "load_mapping",
    "parse_statement",
]

#: Largest MT940 or CSV file read (they are read whole; camt files are streamed).
MAX_TEXT_BYTES = 64 * 1024 * 1024


def detect_format(head: bytes) -> str:
    r"""``camt``, ``mt940`` or ``csv`` from a file's first bytes (CSV is what is left).

    >>> detect_format(b'<?xml version="1.0"?><Document xmlns="urn:iso:...:camt.054.001.08"/>')
    'camt'
    >>> detect_format(b":20:STARTUMS\n:25:12345678/0001\n:60F:C200101EUR0,00")
    'mt940'
    """
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"<"):
        return "camt"
    if looks_like_mt940(decode(head)):
        return "mt940"
    return "csv"


def parse_statement(
    path: str | Path, *, mapping: CsvMapping | None = None, account_iban: str | None = None
) -> ParsedStatement:
    """Read one statement file, whatever its format.

    ``mapping`` is needed for CSV files (and refused as missing otherwise);
    ``account_iban`` names our account when a CSV export does not.
    """
    p = Path(path)
    try:
        with p.open("rb") as fh:
            head = fh.read(8192)
    except OSError as exc:
        raise StatementRejected(f"cannot read {p.name}: {exc.strerror}") from None
    if not head.strip():
        raise StatementRejected(f"{p.name} is empty", code=ErrorCode.EMPTY_FILE)
    kind = detect_format(head)
    if kind == "camt":
        check_declarations(head)  # an unsafe document is refused as such, whatever it is
        if sniff(head) is None:
            raise StatementRejected(
                f"{p.name} is XML but not an ISO 20022 camt.052/053/054 statement",
                code=ErrorCode.STATEMENT_UNKNOWN_FORMAT,
            )
        return parse_camt(p, head=head)
    if p.stat().st_size > MAX_TEXT_BYTES:
        raise StatementRejected(f"{p.name} is over {MAX_TEXT_BYTES} bytes", code=ErrorCode.TOO_LARGE)
    data = p.read_bytes()
    if kind == "mt940":
        return parse_mt940(data)
    if mapping is None:
        raise MappingInvalid(
            f"{p.name} looks like a CSV export: give its column mapping once for the account"
            " (--mapping NAME|FILE)"
        )
    return parse_csv(data, mapping, account_iban=account_iban)
