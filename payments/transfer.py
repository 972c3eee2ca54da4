"""Pay by transfer: our account, the invoice's RF creditor reference and its EPC QR code.

The reference is the invoice's own (BT-83) when that is a valid RF reference,
else one made from the invoice number (:func:`payments.rf.create_rf`), which the
matching engine also recognises; a number too long for an RF payload falls back
to the invoice id, so every invoice gets one.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ledger.models import Invoice
from payments.epc import EpcRejected, epc_payload, epc_svg
from payments.rf import InvalidReference, create_rf, format_rf, is_valid_rf, normalise_rf


def invoice_rf(*, number: str, payment_reference: str | None, invoice_id: int) -> str:
    """The RF creditor reference a transfer paying this invoice carries (compact form).

    >>> invoice_rf(number="FA-2026-001", payment_reference=None, invoice_id=7)
    'RF11FA2026001'
    >>> invoice_rf(number="x", payment_reference="RF18 5390 0754 7034", invoice_id=7)
    'RF18539007547034'
    """
    if payment_reference and is_valid_rf(payment_reference):
        return normalise_rf(payment_reference)
    try:
        return create_rf(number)
    except InvalidReference:
        return create_rf(f"INV{invoice_id}")


@dataclass(frozen=True, slots=True)
class TransferDetails:
    """What a customer needs to pay an invoice by transfer; ``qr_svg`` empty when no IBAN is set."""

    name: str
    iban: str | None
    bic: str | None
    reference: str
    reference_printed: str
    amount: Decimal | None
    payload: str
    qr_svg: str
    problem: str | None = None


def transfer_details(
    invoice: Invoice, *, company_name: str, iban: str | None, bic: str | None
) -> TransferDetails:
    """Our account, the invoice's RF reference and the EPC QR code for what is still due."""
    reference = invoice_rf(
        number=invoice.number, payment_reference=invoice.payment_reference, invoice_id=invoice.id
    )
    due = invoice.amount_still_due if (invoice.amount_still_due or 0) > 0 else None
    amount = due if (invoice.currency or "EUR") == "EUR" else None
    payload = svg = ""
    problem = None
    if iban:
        try:
            payload = epc_payload(
                name=company_name[:70], iban=iban, bic=bic, amount=amount, reference=reference
            )
            svg = epc_svg(payload, title=f"EPC QR code {format_rf(reference)}")
        except EpcRejected as exc:
            problem = exc.message
    return TransferDetails(
        name=company_name,
        iban=" ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) if iban else None,
        bic=bic,
        reference=reference,
        reference_printed=format_rf(reference),
        amount=amount,
        payload=payload,
        qr_svg=svg,
        problem=problem,
    )
