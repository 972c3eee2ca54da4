"""The matcher's view of a parsed statement line (``payments.statements``)."""

from __future__ import annotations

from payments.matching.types import Line
from payments.statements.model import StatementLine


def line_from_statement(sl: StatementLine) -> Line:
    """A :class:`~payments.statements.model.StatementLine` as a matcher :class:`Line`.

    Structured creditor references and the numbers of referred documents
    (``RfrdDocInf/Nb``, usually invoice numbers) both become structured references.

    >>> import datetime as dt
    >>> from decimal import Decimal
    >>> sl = StatementLine(dt.date(2026, 3, 2), Decimal("12.00"), "EUR", entry_ref="NTRY1",
    ...                    creditor_refs=("RF18539007547034",), referred_docs=(("F-1", None),))
    >>> line_from_statement(sl).structured_refs
    ('RF18539007547034', 'F-1')
    """
    return Line(
        line_ref=sl.line_ref or "",
        booking_date=sl.booking_date,
        amount=sl.amount,
        currency=sl.currency,
        counterparty_name=sl.counterparty_name or "",
        counterparty_iban=sl.counterparty_iban or "",
        remittance=sl.remittance,
        structured_refs=sl.creditor_refs + tuple(nb for nb, _ in sl.referred_docs),
        end_to_end_id=sl.end_to_end_id or "",
        charges=sl.charges,
        instructed_amount=sl.instructed_amount,
        return_reason=sl.return_reason,
    )
