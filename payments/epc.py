"""EPC QR codes (EPC069-12, "SEPA credit transfer" QR, version 002) that banking apps scan.

:func:`epc_payload` builds the text a QR code carries, checked against the
guideline's field rules: service tag ``BCD``, version ``002``, character set ``1``
(UTF-8), identification ``SCT``, the beneficiary's BIC (optional in version 002),
name (at most 70 characters), IBAN, the amount as ``EUR`` and 0.01 to
999999999.99, an optional 4-letter purpose code, and the remittance: an RF
creditor reference in the structured field (then the unstructured one stays
empty), at most 331 bytes in all. :func:`epc_svg` draws it with segno, error
correction level M as the guideline asks, as an inline SVG.
"""

from __future__ import annotations

import re
from decimal import Decimal

import segno
from stdnum import bic as stdnum_bic
from stdnum import iban as stdnum_iban
from stdnum.exceptions import ValidationError

from payments.rf import InvalidReference, validate_rf
from schemas.errors import ErrorCode, InputRejected

MAX_NAME = 70
MAX_PAYLOAD_BYTES = 331
MAX_AMOUNT = Decimal("999999999.99")
_PURPOSE = re.compile(r"^[A-Z]{4}$")


class EpcRejected(InputRejected):
    """A value that cannot go into an EPC QR code as given."""

    code = ErrorCode.PAYMENT_REJECTED


def epc_payload(
    *,
    name: str,
    iban: str,
    amount: Decimal | None,
    reference: str,
    bic: str | None = None,
    purpose: str = "",
) -> str:
    """The EPC069-12 (version 002) payload of a SEPA transfer with an RF reference.

    >>> print(epc_payload(name="Encaisse Démo SAS", iban="FR76 3000 6000 0112 3456 7890 189",
    ...                   bic="AGRIFRPP", amount=Decimal("1234.5"), reference="RF18 5390 0754 7034"))
    BCD
    002
    1
    SCT
    AGRIFRPP
    Encaisse Démo SAS
    FR7630006000011234567890189
    EUR1234.50
    <BLANKLINE>
    RF18539007547034
    """
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME:
        raise EpcRejected(f"the beneficiary's name must have 1 to {MAX_NAME} characters", where="name")
    try:
        iban_c = str(stdnum_iban.validate(iban))
        bic_c = str(stdnum_bic.validate(bic)) if bic else ""
    except ValidationError as exc:
        raise EpcRejected(f"not a valid IBAN or BIC: {exc}", where="iban") from exc
    try:
        rf = validate_rf(reference)
    except InvalidReference as exc:
        raise EpcRejected(exc.message, where="reference") from exc
    amount_text = ""
    if amount is not None:
        if not amount.is_finite() or amount < Decimal("0.01") or amount > MAX_AMOUNT:
            raise EpcRejected("the amount must be between 0.01 and 999999999.99 EUR", where="amount")
        amount_text = f"EUR{amount.quantize(Decimal('0.01'))}"
    if purpose and not _PURPOSE.match(purpose):
        raise EpcRejected("a purpose code has four capital letters", where="purpose")
    lines = ["BCD", "002", "1", "SCT", bic_c, name, iban_c, amount_text, purpose, rf]
    payload = "\n".join(lines)
    if len(payload.encode()) > MAX_PAYLOAD_BYTES:
        raise EpcRejected(f"the payload is longer than {MAX_PAYLOAD_BYTES} bytes", where="name")
    return payload


def epc_svg(payload: str, *, title: str = "EPC QR code", scale: int = 4) -> str:
    """The QR code of ``payload`` as an inline ``<svg>`` (level M, byte mode, UTF-8).

    >>> epc_svg(epc_payload(name="X", iban="FR7630006000011234567890189", amount=None,
    ...                     reference="RF18539007547034"))[:4]
    '<svg'
    """
    qr = segno.make(payload, error="m", boost_error=False, micro=False, encoding="utf-8")
    if qr.version is None or int(qr.version) > 13:  # the guideline's largest version
        raise EpcRejected("the payload needs a QR code larger than version 13")
    svg: str = qr.svg_inline(scale=scale, title=title, svgclass="epc-qr", lineclass=None, border=4)
    return svg
