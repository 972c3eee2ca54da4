"""From what the checks found to lifecycle statuses: the pipeline's decide step, a pure function.

For an incoming supplier invoice (we are the buyer, and the platform that receives it):

============================================  =================================================
what the checks found                          statuses set, in order (reasons on the last one)
============================================  =================================================
no readable structured invoice (empty file,    501 Irrecevable with the matching ``IRR_*`` reason
plain PDF, broken XML, unknown root...)        (:data:`IRRECEVABLE_REASONS`); no status before it
fatal XSD / EN 16931 / BR-FR / container       213 Rejetée: ``MONTANTTOTAL_ERR`` when a document
finding                                        total is wrong, ``CALCUL_ERR`` when a sum, VAT
                                               amount or line calculation is wrong (see
                                               :data:`PRECISE_REJECTION_REASONS`), and
                                               ``REJ_SEMAN`` for every other fatal rule
same seller and invoice number as an invoice   213 Rejetée, ``DOUBLON``
already registered (different bytes)
billing constraints failed (rule set)          202 Reçue, 203 Mise à disposition, then the rule's
                                               210 Refusée or 208 Suspendue and its reasons
everything passed                              202 Reçue, 203 Mise à disposition
============================================  =================================================

The first status is the decision itself and not 200 Déposée at receipt, because the
state machine only lets 501 and 213 come first (XP Z12-012: an irrecevable or rejected
deposit never was "déposée"); until the decision the document shows its
``processing_state`` instead. An outgoing invoice (we are the seller) that passes
gets 200 Déposée; it gets 501 or 213 like an incoming one otherwise, and no notice. One
that fails the billing constraints its customer set (the rule set stored for that customer)
is not deposited: 213 with ``REJ_COH`` (a consistency check of the data against the
recipient's requirements), the text naming the refusal the customer's rules would give.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from schemas.errors import ErrorCode
from schemas.findings import Finding, Layer, Severity
from schemas.lifecycle import ReasonCode, Status

#: The ``IRR_*`` reason for each reason a file cannot be read (501 Irrecevable).
IRRECEVABLE_REASONS: dict[ErrorCode, ReasonCode] = {
    ErrorCode.EMPTY_FILE: ReasonCode.IRR_VIDE_F,
    ErrorCode.TOO_LARGE: ReasonCode.IRR_TAILLE_F,
    ErrorCode.XML_TOO_LARGE: ReasonCode.IRR_TAILLE_F,
    ErrorCode.NOT_AN_INVOICE: ReasonCode.IRR_TYPE_F,
    ErrorCode.XML_UNKNOWN_ROOT: ReasonCode.IRR_TYPE_F,
    ErrorCode.PDF_NO_ATTACHMENT: ReasonCode.IRR_TYPE_F,
    ErrorCode.PDF_ENCRYPTED: ReasonCode.IRR_TYPE_F,
    ErrorCode.PDF_ATTACHMENT_NOT_CII: ReasonCode.IRR_EXT_DOC,
    ErrorCode.PDF_UNEXPECTED_ATTACHMENT: ReasonCode.IRR_EXT_DOC,
    ErrorCode.PDF_SEVERAL_XML: ReasonCode.IRR_EXT_DOC,
    ErrorCode.XML_NOT_WELL_FORMED: ReasonCode.IRR_SYNTAX,
    ErrorCode.XML_BAD_ENCODING: ReasonCode.IRR_SYNTAX,
    ErrorCode.XML_TOO_DEEP: ReasonCode.IRR_SYNTAX,
    ErrorCode.XML_UNSAFE_DTD: ReasonCode.IRR_SYNTAX,
    ErrorCode.XML_UNSAFE_ENTITY: ReasonCode.IRR_SYNTAX,
    ErrorCode.XML_UNSAFE_XINCLUDE: ReasonCode.IRR_SYNTAX,
    ErrorCode.XML_UNSAFE_SCHEMA_LOCATION: ReasonCode.IRR_SYNTAX,
    ErrorCode.PDF_MALFORMED: ReasonCode.IRR_SYNTAX,
    ErrorCode.PDF_TOO_COMPLEX: ReasonCode.IRR_SYNTAX,
    ErrorCode.PDF_BOMB: ReasonCode.IRR_SYNTAX,
    ErrorCode.PDF_RECURSIVE: ReasonCode.IRR_SYNTAX,
    ErrorCode.ZIP_BOMB: ReasonCode.IRR_SYNTAX,
    ErrorCode.PARSE_FAILED: ReasonCode.IRR_SYNTAX,
}


def _rules(text: str, reason: ReasonCode) -> dict[str, ReasonCode]:
    return dict.fromkeys(text.split(), reason)


#: Fatal rules whose failure has a more precise 213 reason than ``REJ_SEMAN``: the document
#: totals (BR-CO-13 sum of line nets, BR-CO-15 total with VAT, BR-CO-16 amount due) give
#: ``MONTANTTOTAL_ERR``; the other sums and the VAT breakdown calculations of each VAT
#: category (BR-x-08 taxable amount, BR-x-09 VAT amount) give ``CALCUL_ERR``.
PRECISE_REJECTION_REASONS: dict[str, ReasonCode] = {
    **_rules("BR-CO-13 BR-CO-15 BR-CO-16", ReasonCode.MONTANTTOTAL_ERR),
    **_rules(
        "BR-CO-10 BR-CO-11 BR-CO-12 BR-CO-14 BR-CO-17 "
        + " ".join(
            f"BR-{cat}-{n:02d}"
            for cat in ("S", "Z", "E", "AE", "K", "G", "IC", "IG", "IP", "O")
            for n in (8, 9)
        ),
        ReasonCode.CALCUL_ERR,
    ),
}


_FXEXT_VARIANT = re.compile(r"^BR-(?:FXEXT-)?([A-Z]+)-?(\d\d)[a-z]*$")


def _base_rule(rule_id: str) -> str:
    """The EN 16931 rule a Factur-X EXTENDED variant restates (``BR-FXEXT-S08b`` → ``BR-S-08``).

    >>> [_base_rule(r) for r in ("BR-FXEXT-CO-15", "BR-FXEXT-S08b", "BR-FXEXT-Z-08rev", "BR-02")]
    ['BR-CO-15', 'BR-S-08', 'BR-Z-08', 'BR-02']
    """
    match = _FXEXT_VARIANT.match(rule_id)
    return f"BR-{match[1]}-{match[2]}" if match else rule_id


def rejection_reasons(fatal_rule_ids: Sequence[str]) -> tuple[ReasonCode, ...]:
    """The 213 reasons for a set of fatal rules: the precise ones, and ``REJ_SEMAN`` for the rest.

    >>> [r.value for r in rejection_reasons(["BR-CO-15", "BR-S-08"])]
    ['MONTANTTOTAL_ERR', 'CALCUL_ERR']
    >>> [r.value for r in rejection_reasons(["BR-CO-15", "BR-02"])]
    ['MONTANTTOTAL_ERR', 'REJ_SEMAN']
    >>> [r.value for r in rejection_reasons(["BR-FXEXT-CO-10", "BR-FXEXT-CO-13"])]
    ['MONTANTTOTAL_ERR', 'CALCUL_ERR']
    >>> [r.value for r in rejection_reasons(["XSD"])]
    ['REJ_SEMAN']
    """
    found = {PRECISE_REJECTION_REASONS.get(_base_rule(rule), ReasonCode.REJ_SEMAN) for rule in fatal_rule_ids}
    order = (ReasonCode.MONTANTTOTAL_ERR, ReasonCode.CALCUL_ERR, ReasonCode.REJ_SEMAN)
    return tuple(reason for reason in order if reason in found)


def irrecevable_reason(code: str | None) -> ReasonCode:
    """The ``IRR_*`` reason for an input error code (``IRR_SYNTAX`` when the code says nothing better).

    >>> [irrecevable_reason(c).value for c in ("EMPTY_FILE", "PDF_NO_ATTACHMENT", None)]
    ['IRR_VIDE_F', 'IRR_TYPE_F', 'IRR_SYNTAX']
    """
    try:
        return (
            IRRECEVABLE_REASONS.get(ErrorCode(code), ReasonCode.IRR_SYNTAX) if code else ReasonCode.IRR_SYNTAX
        )
    except ValueError:
        return ReasonCode.IRR_SYNTAX


@dataclass(frozen=True)
class Decision:
    """The statuses to set, in order; ``reasons`` and ``text`` go with the last one."""

    statuses: tuple[Status, ...]
    reasons: tuple[ReasonCode, ...] = ()
    text: str | None = None
    #: the invoice passed the conformity checks: it gets an ``invoices`` row
    registers_invoice: bool = False

    @property
    def final(self) -> Status:
        """The status the document ends in."""
        return self.statuses[-1]


def decide_statuses(
    *,
    direction: str,
    error_code: str | None,
    readable: bool,
    findings: Sequence[Finding],
    duplicate_of: str | None = None,
    billing: tuple[Status, Sequence[ReasonCode]] | None = None,
) -> Decision:
    """Map what the checks found to the statuses to set (see the module's table).

    ``readable``: a structured invoice was read into the model; ``error_code`` the
    input error when it was not; ``duplicate_of`` describes the invoice already
    registered with the same seller and number; ``billing`` is the outcome of the
    rule set (``validation.customer_rules.decide``).

    >>> decide_statuses(direction="incoming", error_code="EMPTY_FILE", readable=False, findings=[]).reasons
    (<ReasonCode.IRR_VIDE_F: 'IRR_VIDE_F'>,)
    >>> accepted = decide_statuses(direction="incoming", error_code=None, readable=True, findings=[])
    >>> [s.value for s in accepted.statuses]
    ['202', '203']
    >>> held = decide_statuses(direction="outgoing", error_code=None, readable=True, findings=[],
    ...                        billing=(Status.REFUSEE, [ReasonCode.CMD_ERR]))
    >>> [s.value for s in held.statuses], [r.value for r in held.reasons], held.registers_invoice
    (['213'], ['REJ_COH'], False)
    """
    if not readable:
        reason = irrecevable_reason(error_code)
        return Decision((Status.IRRECEVABLE,), (reason,), text=f"input error {error_code or 'unknown'}")
    fatal = sorted(
        {f.rule_id for f in findings if f.severity is Severity.FATAL and f.layer is not Layer.CUSTOMER}
    )
    if fatal:
        shown = ", ".join(fatal[:20]) + (" ..." if len(fatal) > 20 else "")
        return Decision((Status.REJETEE,), rejection_reasons(fatal), text=f"fatal rules: {shown}")
    if duplicate_of is not None:
        return Decision((Status.REJETEE,), (ReasonCode.DOUBLON,), text=f"duplicate of {duplicate_of}")
    if direction == "outgoing":
        if billing is not None:  # the customer's own constraints fail: we do not send it
            status, reasons = billing
            named = ", ".join(f"{status.value} {r.value}" for r in reasons)
            return Decision(
                (Status.REJETEE,),
                (ReasonCode.REJ_COH,),
                text=f"the customer's billing constraints would refuse it ({named})",
            )
        return Decision((Status.DEPOSEE,), registers_invoice=True)
    accepted = (Status.RECUE, Status.MISE_A_DISPOSITION)
    if billing is not None:
        status, reasons = billing
        return Decision(
            (*accepted, status), tuple(reasons), text="billing constraints", registers_invoice=True
        )
    return Decision(accepted, registers_invoice=True)
