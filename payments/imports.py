"""Importing bank statements: each line once, whatever how many times or in how many files it comes.

Line identity (``statement_lines.identity_key``, unique per account), the
SHA-256 of:

* when the bank gives a reference -- ``ref`` + the account + the account
  servicer's reference (camt ``AcctSvcrRef``, MT940 ``//`` reference; ``NONREF``
  does not count) + the entry reference (camt ``NtryRef``) + the transaction's
  index in a batch entry + the booking date + the signed amount and currency.
  The date and amount are in the key because some banks reuse references: a
  collision would silently drop a real payment, while a missed duplicate is visible.
* otherwise -- ``hash`` + the account + booking date + signed amount and currency +
  counterparty IBAN and name + remittance text + end-to-end id, and the
  *occurrence index* of that combination within the file (two identical card
  payments on the same day are two lines; importing the file again, or an
  overlapping one, finds both).

So the same statement imported twice, or two statements covering overlapping
days, store each line once; the report counts the rest as duplicates.
Inserts use ``ON CONFLICT DO NOTHING`` on that key (SQLite and PostgreSQL), so
two imports running at once cannot store a line twice either.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ledger.bank import BankAccount, BankCsvMapping, BankImport
from ledger.bank import StatementLine as LineRow
from ledger.models import utcnow
from payments.statements import (
    CsvMapping,
    MappingInvalid,
    StatementLine,
    StatementRejected,
    detect_format,
    parse_statement,
)
from payments.statements.csvfile import load_mapping
from payments.statements.iban import normalise_iban
from schemas.errors import ErrorCode, InputRejected

_BATCH = 2000


@dataclass
class ImportReport:
    """What one file gave: lines read, new, already known, and what could not be read."""

    file: str
    format: str = ""
    accounts: list[str] = field(default_factory=list)
    lines_read: int = 0
    lines_new: int = 0
    duplicates: int = 0
    unreadable: list[dict[str, str | None]] = field(default_factory=list)
    error: dict[str, Any] | None = None  # the whole file refused: why

    def as_dict(self) -> dict[str, Any]:
        """Serialisable form (``--json``)."""
        return {
            "file": self.file,
            "format": self.format,
            "accounts": self.accounts,
            "lines_read": self.lines_read,
            "new": self.lines_new,
            "duplicates": self.duplicates,
            "unreadable": self.unreadable,
            "error": self.error,
        }


def identity_key(line: StatementLine, account_ref: str, occurrence: int = 0) -> str:
    """The line's identity within its account (see the module docstring), as hex SHA-256.

    >>> import datetime as dt; from decimal import Decimal
    >>> day = dt.date(2026, 3, 2)
    >>> a = StatementLine(booking_date=day, amount=Decimal("10.00"), currency="EUR", bank_ref="X1")
    >>> identity_key(a, "DE89370400440532013000") == identity_key(a, "DE89370400440532013000", 5)
    True
    """
    amount = f"{line.amount.normalize():f}{line.currency}"
    if line.bank_ref or line.entry_ref:
        parts = ["ref", account_ref, line.bank_ref or "", line.entry_ref or "", str(line.tx_index)]
        parts += [line.booking_date.isoformat(), amount]
    else:
        parts = ["hash", account_ref, line.booking_date.isoformat(), amount, line.counterparty_iban or ""]
        parts += [(line.counterparty_name or "").casefold(), " ".join(line.remittance.split()).casefold()]
        parts += [line.end_to_end_id or "", str(occurrence)]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def resolve_mapping(session: Session, spec: str | Path | CsvMapping | None) -> CsvMapping | None:
    """A mapping given as an object, a file (saved under its name) or the name of a saved one."""
    if spec is None or isinstance(spec, CsvMapping):
        mapping = spec
    elif Path(spec).is_file():
        mapping = load_mapping(spec)
    else:
        row = session.scalars(select(BankCsvMapping).where(BankCsvMapping.name == str(spec))).one_or_none()
        if row is None:
            known = (
                ", ".join(session.scalars(select(BankCsvMapping.name).order_by(BankCsvMapping.name)))
                or "none"
            )
            raise MappingInvalid(f"no mapping file or saved mapping named {str(spec)!r} (saved: {known})")
        return CsvMapping.from_dict(row.spec)
    if mapping is not None:
        row = session.scalars(select(BankCsvMapping).where(BankCsvMapping.name == mapping.name)).one_or_none()
        if row is None:
            session.add(BankCsvMapping(name=mapping.name, spec=mapping.to_dict()))
        else:
            row.spec = mapping.to_dict()
        session.flush()
    return mapping


def _account(session: Session, ref: str, currency: str | None) -> BankAccount:
    account = session.scalars(select(BankAccount).where(BankAccount.account_ref == ref)).one_or_none()
    if account is None:
        account = BankAccount(account_ref=ref, iban=normalise_iban(ref), currency=currency)
        session.add(account)
        session.flush()
    return account


def _saved_mapping(session: Session, account_ref: str | None) -> CsvMapping | None:
    if account_ref is None:
        return None
    account = session.scalars(select(BankAccount).where(BankAccount.account_ref == account_ref)).one_or_none()
    if account is None or account.csv_mapping is None:
        return None
    return CsvMapping.from_dict(account.csv_mapping.spec)


def _looks_csv(path: Path) -> bool:
    with path.open("rb") as fh:
        return detect_format(fh.read(8192)) == "csv"


def import_file(
    session: Session,
    *,
    path: str | Path,
    account: str | None = None,
    mapping: str | Path | CsvMapping | None = None,
    actor: str | None = None,
) -> ImportReport:
    """Import one statement file; the caller commits. Never raises for a bad file: the report says why.

    ``account`` (an IBAN or the bank's account id) is checked against the file's
    own, or names the account when the file does not (CSV). A CSV file needs a
    mapping: given here (a file, saved under its name, or a saved name) or the
    one saved with the account by an earlier import.
    """
    p = Path(path)
    report = ImportReport(file=str(p))
    wanted = (normalise_iban(account) or account.strip()) if account else None
    try:
        chosen = resolve_mapping(session, mapping)
        if chosen is None and p.is_file() and _looks_csv(p):
            chosen = _saved_mapping(session, wanted)
        parsed = parse_statement(p, mapping=chosen, account_iban=wanted)
    except InputRejected as exc:
        report.error = exc.as_dict()
        return report
    report.format = parsed.format
    report.unreadable = [{"where": u.where, "reason": u.reason} for u in parsed.unreadable]
    report.lines_read = len(parsed.lines) + len(parsed.unreadable)
    by_account: dict[str, list[StatementLine]] = defaultdict(list)
    for line in parsed.lines:
        ref = line.account_iban or line.account_id or wanted
        if ref is None:
            report.error = InputRejected(
                "the file does not say which account it is for: give --account IBAN", code=ErrorCode.USAGE
            ).as_dict()
            return report
        if wanted and ref != wanted:
            report.error = StatementRejected(
                f"the file is a statement of account {ref}, not {wanted}", code=ErrorCode.USAGE
            ).as_dict()
            return report
        by_account[ref].append(line)
    with p.open("rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
    for ref, lines in by_account.items():
        acct = _account(session, ref, lines[0].currency)
        if chosen is not None:
            saved = session.scalars(select(BankCsvMapping).where(BankCsvMapping.name == chosen.name)).one()
            acct.csv_mapping_id = saved.id
        new = _store(session, acct, lines, p, digest, parsed.format, actor, report)
        report.accounts.append(ref)
        report.lines_new += new
        report.duplicates += len(lines) - new
    return report


def _store(
    session: Session,
    account: BankAccount,
    lines: list[StatementLine],
    path: Path,
    digest: str,
    fmt: str,
    actor: str | None,
    report: ImportReport,
) -> int:
    batch = BankImport(
        account_id=account.id,
        filename=path.name[:512],
        digest=digest,
        format=fmt,
        statement_ids=sorted({ln.statement_id for ln in lines if ln.statement_id}),
        lines_read=len(lines),
        unreadable=report.unreadable,
        actor_id=actor,
    )
    session.add(batch)
    session.flush()
    seen: Counter[str] = Counter()
    now = utcnow()
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = LineRow.__table__
    assert isinstance(table, Table)
    stmt = (
        insert(table)
        .on_conflict_do_nothing(index_elements=["account_id", "identity_key"])
        .returning(table.c.id)
    )
    conn = session.connection()
    new = 0
    for start in range(0, len(lines), _BATCH):  # Core executemany: one statement per batch
        rows: list[dict[str, Any]] = []
        for line in lines[start : start + _BATCH]:
            occurrence = 0
            if not (line.bank_ref or line.entry_ref):
                base = identity_key(line, account.account_ref, -1)
                occurrence = seen[base]
                seen[base] += 1
            key = identity_key(line, account.account_ref, occurrence)
            rows.append(_row(line, account.id, batch.id, key, now))
        new += len(conn.execute(stmt, rows).all())
    batch.lines_new = new
    batch.lines_duplicate = len(lines) - new
    return new


def _row(line: StatementLine, account_id: int, import_id: int, key: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "import_id": import_id,
        "identity_key": key,
        "booking_date": line.booking_date,
        "value_date": line.value_date,
        "amount": line.amount,
        "currency": line.currency,
        "counterparty_name": (line.counterparty_name or None) and line.counterparty_name[:200],
        "counterparty_iban": line.counterparty_iban,
        "counterparty_bic": (line.counterparty_bic or None) and line.counterparty_bic[:11],
        "remittance": line.remittance,
        "creditor_refs": list(line.creditor_refs),
        "referred_docs": [[n, None if a is None else str(a)] for n, a in line.referred_docs],
        "end_to_end_id": _cut(line.end_to_end_id),
        "entry_ref": _cut(line.entry_ref),
        "bank_ref": _cut(line.bank_ref),
        "tx_index": line.tx_index,
        "charges": line.charges,
        "instructed_amount": line.instructed_amount,
        "instructed_currency": line.instructed_currency,
        "return_reason": (line.return_reason or None) and line.return_reason[:35],
        "bank_tx_code": (line.bank_tx_code or None) and line.bank_tx_code[:64],
        "statement_id": _cut(line.statement_id),
        "match_state": "unmatched",
        "created_at": now,
    }


def line_from_row(row: LineRow) -> StatementLine:
    """A stored line back as the parsers' :class:`StatementLine` (what the matching engine reads)."""
    return StatementLine(
        booking_date=row.booking_date,
        value_date=row.value_date,
        amount=row.amount,
        currency=row.currency,
        counterparty_name=row.counterparty_name,
        counterparty_iban=row.counterparty_iban,
        counterparty_bic=row.counterparty_bic,
        remittance=row.remittance,
        creditor_refs=tuple(row.creditor_refs or ()),
        referred_docs=tuple((n, None if a is None else Decimal(a)) for n, a in row.referred_docs or ()),
        end_to_end_id=row.end_to_end_id,
        entry_ref=row.entry_ref,
        bank_ref=row.bank_ref,
        charges=row.charges,
        instructed_amount=row.instructed_amount,
        instructed_currency=row.instructed_currency,
        return_reason=row.return_reason,
        bank_tx_code=row.bank_tx_code,
        account_iban=row.account.iban,
        account_id=row.account.account_ref,
        statement_id=row.statement_id,
        tx_index=row.tx_index,
    )


def _cut(text: str | None) -> str | None:
    return text[:140] if text else None


__all__ = ["ImportReport", "identity_key", "import_file", "line_from_row", "resolve_mapping"]
