"""Plain-data forms of proposals: the ``encaisse bank match --json`` rows, the IBANs to learn."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from payments.matching.book import normalise_iban
from payments.matching.types import Action, Line, OpenInvoice, Proposal


def report_row(line: Line, proposal: Proposal, *, applied: bool | None = None) -> dict[str, Any]:
    """One JSON object per statement line, as ``encaisse bank match --json`` prints it.

    ``applied`` defaults to the proposal's ``auto`` (a dry run passes ``False``).

    >>> import datetime as dt
    >>> from decimal import Decimal
    >>> from payments.matching.types import Allocation
    >>> line = Line("NTRY1", dt.date(2026, 3, 2), Decimal("120.00"), "EUR")
    >>> p = Proposal("NTRY1", Action.APPLY, (Allocation("I1", "F-1", Decimal("120.00")),), 0.99,
    ...              "RF reference RF18…34 matches invoice F-1; amount equal", True)
    >>> report_row(line, p)["invoices"]
    [{'number': 'F-1', 'amount_applied': '120.00'}]
    """
    row: dict[str, Any] = {
        "line_ref": line.line_ref,
        "amount": str(line.amount),
        "currency": line.currency,
        "action": str(proposal.action),
        "invoices": [
            {"number": a.invoice_number, "amount_applied": str(a.amount)} for a in proposal.allocations
        ],
        "confidence": proposal.confidence,
        "applied": proposal.auto if applied is None else applied,
        "explanation": proposal.explanation,
    }
    if proposal.write_off:
        row["write_off"] = {"amount": str(proposal.write_off), "reason": str(proposal.write_off_reason)}
    if proposal.credit:
        row["credit"] = str(proposal.credit)
    if proposal.alternatives:
        row["alternatives"] = [
            {
                "invoices": [a.invoice_number for a in s.allocations],
                "confidence": s.confidence,
                "explanation": s.explanation,
            }
            for s in proposal.alternatives
        ]
    return row


def ibans_to_learn(
    line: Line, proposal: Proposal, invoices: Mapping[str, OpenInvoice]
) -> list[tuple[str, str]]:
    """(customer id, IBAN) pairs a confirmed payment teaches: the payer's account is the customer's.

    Only for an applied payment of one customer's invoices whose IBAN is not
    known for that customer yet; returns and lines without an IBAN teach nothing.

    >>> import datetime as dt
    >>> from decimal import Decimal
    >>> from payments.matching.types import Allocation
    >>> day = dt.date(2026, 3, 2)
    >>> inv = OpenInvoice("I1", "F-1", "C1", "Dupont", Decimal("1"), "EUR", day, day)
    >>> line = Line("N1", day, Decimal("1"), "EUR", counterparty_iban="fr76 3000 6000 0112 3456 7890 189")
    >>> p = Proposal("N1", Action.APPLY, (Allocation("I1", "F-1", Decimal("1")),), 0.99, "…", True)
    >>> ibans_to_learn(line, p, {"I1": inv})
    [('C1', 'FR7630006000011234567890189')]
    """
    if proposal.action is not Action.APPLY or not proposal.allocations or not line.counterparty_iban:
        return []
    customers = {invoices[a.invoice_id].customer_id for a in proposal.allocations}
    if len(customers) != 1:
        return []
    (customer,) = customers
    iban = normalise_iban(line.counterparty_iban)
    known = {normalise_iban(i) for a in proposal.allocations for i in invoices[a.invoice_id].customer_ibans}
    return [] if iban in known else [(customer, iban)]
