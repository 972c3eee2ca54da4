"""The statement line: what every parser returns, whatever the bank's format."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from schemas.errors import ErrorCode, InputRejected


class StatementRejected(InputRejected):
    """A bank statement file (or one of its lines) cannot be read; the message says why."""

    code = ErrorCode.STATEMENT_UNREADABLE


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One booked movement on our bank account, as the bank reported it.

    ``amount`` is signed: positive for money received (credit), negative for
    money leaving the account (debit). A SEPA return of a payment we had
    received is a debit carrying ``return_reason`` (e.g. ``AC04``).

    References, from the bank's point of view:
    ``entry_ref`` is camt ``Ntry/NtryRef`` (MT940: none), ``bank_ref`` the
    account servicer's reference (camt ``AcctSvcrRef``, MT940 the reference after
    ``//`` in ``:61:``), ``end_to_end_id`` the payer's end-to-end id (``NOTPROVIDED``
    is dropped). ``creditor_refs`` are the structured creditor references
    (ISO 11649 ``RF…``, Swiss QRR/ESR, Finnish reference numbers), in order;
    ``referred_docs`` the documents a structured remittance names (camt
    ``Strd/RfrdDocInf/Nb``: usually invoice numbers) with the amount remitted
    for each when given. ``remittance`` is the unstructured text, its segments
    (camt ``Ustrd``, MT940 lines) joined (see :func:`payments.statements.text.join_segments`).
    """

    booking_date: dt.date
    amount: Decimal
    currency: str
    value_date: dt.date | None = None
    counterparty_name: str | None = None
    counterparty_iban: str | None = None
    counterparty_bic: str | None = None
    remittance: str = ""
    creditor_refs: tuple[str, ...] = ()
    referred_docs: tuple[tuple[str, Decimal | None], ...] = ()
    end_to_end_id: str | None = None
    entry_ref: str | None = None
    bank_ref: str | None = None
    charges: Decimal | None = None
    instructed_amount: Decimal | None = None
    instructed_currency: str | None = None
    return_reason: str | None = None
    bank_tx_code: str | None = None
    account_iban: str | None = None
    account_id: str | None = None
    statement_id: str | None = None
    tx_index: int = 0

    @property
    def is_credit(self) -> bool:
        """Money received."""
        return self.amount > 0

    @property
    def line_ref(self) -> str | None:
        """The reference reports show for the line: the entry reference, else the bank's."""
        return self.entry_ref or self.bank_ref


@dataclass(slots=True)
class Unreadable:
    """A line (or a whole statement) that could not be read, and why."""

    reason: str
    where: str | None = None


@dataclass(slots=True)
class ParsedStatement:
    """What one file gave: lines, plus what could not be read."""

    format: str
    lines: list[StatementLine] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)
