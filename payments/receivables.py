"""Taking over open receivables from another system: ``encaisse invoices import --csv FILE``.

The file is a UTF-8 CSV with a header row (the columns of
``gen_bank_bench.py``'s ``invoices.csv``; extra columns are ignored)::

    invoice_number  required   the invoice number (BT-1); unique per seller
    customer_name   required   the customer; created when unknown
    amount          required   the amount still due, e.g. 1234.50
    currency        required   ISO 4217 code
    due_date        required   YYYY-MM-DD
    issue_date      optional   YYYY-MM-DD
    rf_reference    optional   the ISO 11649 creditor reference printed on the invoice
    customer_ibans  optional   the customer's known IBANs, separated by ';'
    customer_id     optional   the other system's customer id (kept: it finds the customer next time)
    invoice_id      optional   the other system's invoice id (kept with the document)
    status          optional   only ``open`` rows (or an empty status) are taken over

Each invoice becomes an outgoing document and invoice of ours (the seller is
the operator company, else ``ENCAISSE_COMPANY_NAME``) with its amount due, and
the lifecycle statuses 202 then 203 (made available), so that it can be
matched and cashed (212). A customer is found by its ``customer_id`` when
the file has one (two customers may share a name), else by one of its IBANs,
else by its exact name; otherwise it is created with its IBANs. Importing the
same file again changes nothing: an invoice is keyed by (seller, number), and a number already
there for another customer is reported, not overwritten.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from ledger.bank import PartyExternalRef
from ledger.keys import seller_key
from ledger.models import Document, Invoice, LifecycleEvent, OperatorCompany, Party, PartyIban, utcnow
from payments.statements.iban import normalise_iban
from schemas.errors import ErrorCode, InputRejected
from schemas.lifecycle import ActorKind, can_transition
from schemas.lifecycle_codes import Status
from schemas.settings import get_settings

REQUIRED = ("invoice_number", "customer_name", "amount", "currency", "due_date")
FORMAT = "open-item-csv"
SOURCE = "invoices-import"  # PartyExternalRef.source of the customer ids read here
_BATCH = 1000


@dataclass
class ReceivablesReport:
    """What an import did: rows read, invoices created, already there, and rows refused with why."""

    file: str
    rows: int = 0
    created: int = 0
    existing: int = 0
    skipped: int = 0  # rows whose status is not open
    customers_created: int = 0
    refused: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Serialisable form (``--json``)."""
        return dict(self.__dict__)


def _seller(session: Session) -> tuple[str, str]:
    company = session.scalars(select(OperatorCompany).order_by(OperatorCompany.id)).first()
    if company is not None:
        return seller_key(siren=company.siren, vat_number=company.vat_number, name=company.name), company.name
    name = get_settings().company_name
    return seller_key(name=name), name


def _date(raw: str, column: str) -> dt.date | None:
    if not raw.strip():
        return None
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        raise InputRejected(f"{column} {raw!r} is not a date (YYYY-MM-DD)", code=ErrorCode.USAGE) from None


class _Customers:
    """Customers by the other system's id, by IBAN and by folded name: loaded once, created on demand."""

    def __init__(self, session: Session) -> None:
        self.session = session
        customer = Party.kind.in_(("customer", "both"))
        self.by_ref: dict[str, int] = dict(
            session.execute(
                select(PartyExternalRef.ref, PartyExternalRef.party_id).where(
                    PartyExternalRef.source == SOURCE
                )
            )
            .tuples()
            .all()
        )
        self.with_ref = set(self.by_ref.values())
        self.by_iban: dict[str, int] = dict(
            session.execute(
                select(PartyIban.iban, PartyIban.party_id)
                .join(Party, Party.id == PartyIban.party_id)
                .where(customer)
            )
            .tuples()
            .all()
        )
        self.by_name: dict[str, int] = {
            name.casefold(): pid
            for pid, name in session.execute(select(Party.id, Party.name).where(customer))
        }
        self.created = 0

    def find_or_create(self, ref: str | None, name: str, ibans: list[str], country: str | None) -> int:
        """The customer's party id, created when not found.

        With the other system's id, only that id, or an IBAN of a customer not yet
        linked to an id, finds it: two customers may share a name.
        """
        if ref:
            if ref in self.by_ref:
                return self.by_ref[ref]
            found = next((self.by_iban[i] for i in ibans if i in self.by_iban), None)
            if found is not None and found not in self.with_ref:
                self._link(found, ref)
                return found
        else:
            for iban in ibans:
                if iban in self.by_iban:
                    return self.by_iban[iban]
            if name.casefold() in self.by_name:
                return self.by_name[name.casefold()]
        party = Party(kind="customer", name=name[:200], country_code=(country or "FR")[:2])
        party.ibans = [PartyIban(iban=i) for i in dict.fromkeys(ibans)]
        self.session.add(party)
        self.session.flush()
        self.by_name.setdefault(name.casefold(), party.id)
        for iban in ibans:
            self.by_iban.setdefault(iban, party.id)
        if ref:
            self._link(party.id, ref)
        self.created += 1
        return party.id

    def _link(self, party_id: int, ref: str) -> None:
        self.session.add(PartyExternalRef(party_id=party_id, source=SOURCE, ref=ref[:100]))
        self.by_ref[ref] = party_id
        self.with_ref.add(party_id)


def import_receivables(
    session: Session, *, path: str | Path, actor: str = "invoices-import"
) -> ReceivablesReport:
    """Take over the open invoices of a CSV file (see the module docstring); the caller commits.

    Raises :class:`InputRejected` when the file cannot be read or lacks a required column;
    a bad row is refused in the report and the others are imported. Rows are written in
    batches (documents, invoices and their two lifecycle events), so 100,000 open items
    take seconds, not minutes.
    """
    p = Path(path)
    report = ReceivablesReport(file=str(p))
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise InputRejected(f"cannot read {p}: {exc.strerror}", code=ErrorCode.USAGE) from None
    except UnicodeDecodeError:
        raise InputRejected(f"{p.name} is not UTF-8 text", code=ErrorCode.USAGE) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise InputRejected(
            f"{p.name} lacks the column(s) {', '.join(missing)} (needed: {', '.join(REQUIRED)})",
            code=ErrorCode.USAGE,
        )
    # the same two steps for every invoice taken over: checked once by the state machine
    steps = (Status.RECUE, Status.MISE_A_DISPOSITION)
    assert can_transition(None, steps[0]) and can_transition(steps[0], steps[1])
    key, seller_name = _seller(session)
    known = {
        number: buyer
        for number, buyer in session.execute(
            select(Invoice.number, Invoice.buyer_party_id).where(Invoice.seller_key == key)
        )
    }
    customers = _Customers(session)
    pending: list[dict[str, Any]] = []
    for row_number, row in enumerate(reader, start=2):
        report.rows += 1
        try:
            if (row.get("status") or "open").strip().lower() != "open":
                report.skipped += 1
                continue
            item = _read_row(row, key, known, customers)
        except InputRejected as exc:
            report.refused.append({"row": str(row_number), "reason": exc.message})
            continue
        if item is None:
            report.existing += 1
            continue
        pending.append(item)
        if len(pending) >= _BATCH:
            _write(session, pending, key, seller_name, actor, p.name, steps)
            report.created += len(pending)
            pending = []
    if pending:
        _write(session, pending, key, seller_name, actor, p.name, steps)
        report.created += len(pending)
    report.customers_created = customers.created
    return report


def _read_row(
    row: dict[str, str], key: str, known: dict[str, int | None], customers: _Customers
) -> dict[str, Any] | None:
    """The checked values of one row; ``None`` when the invoice is already there."""
    number = (row.get("invoice_number") or "").strip()
    name = " ".join((row.get("customer_name") or "").split())
    if not number or not name:
        raise InputRejected("invoice_number and customer_name must not be empty", code=ErrorCode.USAGE)
    try:
        amount = Decimal((row.get("amount") or "").strip())
    except InvalidOperation:
        raise InputRejected(f"amount {row.get('amount')!r} is not a number", code=ErrorCode.USAGE) from None
    currency = (row.get("currency") or "").strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise InputRejected(f"currency {currency!r} is not an ISO 4217 code", code=ErrorCode.USAGE)
    due = _date(row.get("due_date") or "", "due_date")
    if due is None:
        raise InputRejected("due_date is empty", code=ErrorCode.USAGE)
    issued = _date(row.get("issue_date") or "", "issue_date")
    ibans = [i for i in (normalise_iban(x) for x in (row.get("customer_ibans") or "").split(";")) if i]
    ref = (row.get("customer_id") or "").strip() or None
    party_id = customers.find_or_create(ref, name, ibans, (ibans[0][:2] if ibans else None))
    if number in known:
        if known[number] != party_id:
            raise InputRejected(
                f"invoice {number} is already there for another customer", code=ErrorCode.USAGE
            )
        return None
    known[number] = party_id
    rf = (row.get("rf_reference") or "").replace(" ", "").upper() or None
    return {
        "number": number[:200],
        "name": name[:200],
        "party_id": party_id,
        "amount": amount,
        "currency": currency,
        "due": due,
        "issued": issued,
        "rf": rf,
        "external": (row.get("invoice_id") or "").strip() or None,
        "canonical": "\x1f".join(["encaisse-open-item", key, number]).encode("utf-8"),
    }


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _write(
    session: Session,
    items: list[dict[str, Any]],
    key: str,
    seller_name: str,
    actor: str,
    filename: str,
    steps: tuple[Status, Status],
) -> None:
    now = utcnow()
    for it in items:  # the document's bytes: what identifies the open item (same item, same document)
        it["digest"] = hashlib.sha256(it["canonical"]).hexdigest()
    docs = [
        {
            "hash_alg": "sha256",
            "digest": it["digest"],
            "size_bytes": len(it["canonical"]),
            "format": FORMAT,
            "direction": "outgoing",
            "original_filename": f"{filename}#{it['external'] or it['number']}"[:512],
            "received_at": now,
            "customer_party_id": it["party_id"],
            "status_code": steps[-1].value,
            "processing_state": "done",
            "invoice_number": it["number"],
            "invoice_summary": {
                "number": it["number"],
                "issue_date": it["issued"].isoformat() if it["issued"] else None,
                "buyer_party": {"name": it["name"]},
                "external_id": it["external"],
                "payment_reference": it["rf"],
            },
        }
        for it in items
    ]
    conn = session.connection()
    doc_table = _table(Document)
    ids = dict(
        conn.execute(insert(doc_table).returning(doc_table.c.digest, doc_table.c.id), docs).tuples().all()
    )
    conn.execute(
        insert(_table(Invoice)),
        [
            {
                "document_id": ids[it["digest"]],
                "number": it["number"],
                "issue_date": it["issued"],
                "due_date": it["due"],
                "type_code": "380",
                "currency": it["currency"],
                "total_with_vat": it["amount"],
                "amount_due": it["amount"],
                "amount_still_due": it["amount"],
                "payment_reference": it["rf"],
                "seller_key": key,
                "seller_name": seller_name,
                "buyer_name": it["name"],
                "buyer_party_id": it["party_id"],
                "created_at": now,
            }
            for it in items
        ],
    )
    text = "taken over from another system (encaisse invoices import)"
    conn.execute(
        insert(_table(LifecycleEvent)),
        [
            {
                "document_id": ids[it["digest"]],
                "status_code": step.value,
                "reason_codes": [],
                "text": text,
                "actor_kind": ActorKind.SYSTEM.value,
                "actor_id": actor,
                "occurred_at": now,
                "recorded_at": now,
            }
            for it in items
            for step in steps
        ],
    )
