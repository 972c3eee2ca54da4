"""The French e-invoicing lifecycle (AFNOR XP Z12-012 V1.4): statuses, reasons, actions, transitions.

Where each list comes from (paths relative to ``../shared/corpus/fr/``):

* **Status codes** (:class:`Status`): the 18 codes the platform handles, a subset of the
  list of ``custom:is-valid-invoice-status-code`` (BR-FR-CDV-CL-06, MDT-105) in
  ``cdar/schematron/BR-FR-CDV-Schematron-CDAR.sch`` (V1.4.0.03). French labels are the
  wording of ``docs/annex-b/XP_Z12-014_CAS_USAGE_Annexe_B_V1.4.pdf`` §1.1-1.2 and of the
  MDT-106 values of the official examples in ``cdar/examples/``; English labels are
  those of the English edition (``XP_Z12-014_CAS_USAGE_Annexe_B_V1.4_EN.pdf``: Submitted,
  Issued, Received, Made available, Taken, Approved, Partially Approved, Disputed,
  Suspended, Completed, Refused, Payment sent, Payment Received, Rejected, Canceled),
  except 214, 221 and 501, which it does not name (ours: Endorsed, Routing error,
  Inadmissible).
* **Reason codes** (:class:`ReasonCode`): the closed list of
  ``custom:is-valid-status-reason-code`` (BR-FR-CDV-CL-09, MDT-113), in the schematron's
  order. **Allowed per status** (:data:`REASONS_BY_STATUS`): the asserts
  ``BR-FR-CDV-CL-09_MDT-113_{200,206,207,208,210,210B2G,213,221,501}`` of the same file
  (``SOURCES.md`` tabulates them). Statuses without such an assert accept any code of
  the closed list, exactly as the schematron does. **Mandatory reason** for 206, 207,
  208, 210, 213 and 501: BR-FR-CDV-15.
  The reason *labels* are not in the corpus: AFNOR publishes them in XP Z12-012 Annexe A
  ("Tableau des motifs de statuts"), which is not part of it. The French labels are
  those of Annexe A as reproduced by public implementations (Akretion's Odoo
  ``fr.einvoicing.event.detail`` and the Chorus Pro refusal list); the two labels that
  none of them gives (``RETRAIT_MAN_SERV``, ``IRR_NOM_F``) are marked "libellé non publié"
  and described from the code. Labels are for people; only codes are exchanged.
* **Action codes** (:class:`ActionCode`): ``custom:is-valid-invoice-action-code``
  (BR-FR-CDV-CL-10, MDT-121). The labels of NIN and CNF are the MDT-122 texts of
  ``cdar/examples/UC4_...`` and ``UC5_...``; the others come from the same public
  reproductions of Annexe A.
* **Characteristic type codes** (:class:`CharacteristicType`): BR-FR-CDV-CL-11 (MDT-207).
  MEN (amount cashed incl. VAT, with its VAT rate, BR-FR-CDV-14) and MPA (amount paid)
  are described in ``XP_Z12-012_Annexe_B_EXEMPLES_V1.4.pdf`` §1.2.
* **Transitions** (:func:`can_transition`): XP Z12-014 Annexe B §1.1-1.2. Transmission
  statuses follow each other in order (Déposée or Rejetée, Émise, Reçue or Rejetée, Mise
  à disposition); Rejetée is terminal; processing statuses "peuvent intervenir à tout
  moment et dans n'importe quel ordre" once the invoice is made available (Suspendue
  "puis" Complétée); Refusée is terminal for every mandatory status; Annulée closes the
  lifecycle. Irrecevable (501) and Erreur de routage (221) are platform verdicts on a
  file that never entered a lifecycle, hence terminal too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.errors import ErrorCode, InputRejected
from schemas.lifecycle_codes import (
    AMOUNT_ALLOWED,
    AMOUNT_REQUIRED,
    MANDATORY_STATUSES,
    PROCESSING_STATUSES,
    REASON_REQUIRED,
    REASONS_BY_STATUS,
    REFUSAL_REASONS_B2G,
    TERMINAL_STATUSES,
    TRANSMISSION_STATUSES,
    ActionCode,
    CharacteristicType,
    ReasonCode,
    Status,
    allowed_reasons,
)

# --------------------------------------------------------------------------- transitions

_ANY_PROCESSING = PROCESSING_STATUSES | {Status.REFUSEE, Status.ANNULEE}

_NEXT: dict[Status | None, frozenset[Status]] = {
    None: frozenset(
        {
            Status.DEPOSEE,
            Status.REJETEE,
            Status.RECUE,
            Status.ERREUR_DE_ROUTAGE,
            Status.IRRECEVABLE,
        }
    ),
    Status.DEPOSEE: frozenset(
        {
            Status.EMISE,
            Status.RECUE,
            Status.REJETEE,
            Status.ERREUR_DE_ROUTAGE,
            Status.ANNULEE,
        }
    ),
    Status.EMISE: frozenset({Status.RECUE, Status.REJETEE, Status.ERREUR_DE_ROUTAGE, Status.ANNULEE}),
    Status.RECUE: frozenset({Status.MISE_A_DISPOSITION, Status.ANNULEE}),
    Status.MISE_A_DISPOSITION: _ANY_PROCESSING,
    Status.REFUSEE: frozenset({Status.ANNULEE}),
    Status.REJETEE: frozenset(),
    Status.ANNULEE: frozenset(),
    Status.ERREUR_DE_ROUTAGE: frozenset(),
    Status.IRRECEVABLE: frozenset(),
}
for _status in PROCESSING_STATUSES:
    # any processing status may follow any other; a status is not repeated, except
    # payments and cashing, which may be partial.
    _NEXT[_status] = _ANY_PROCESSING - {_status}
_NEXT[Status.SUSPENDUE] = _NEXT[Status.SUSPENDUE] | {Status.COMPLETEE}
_NEXT[Status.COMPLETEE] = _ANY_PROCESSING
_NEXT[Status.PAIEMENT_TRANSMIS] = _NEXT[Status.PAIEMENT_TRANSMIS] | {Status.PAIEMENT_TRANSMIS}
_NEXT[Status.ENCAISSEE] = _NEXT[Status.ENCAISSEE] | {Status.ENCAISSEE}


def next_statuses(current: Status | None) -> frozenset[Status]:
    """Every status that may follow ``current`` (``None``: no status yet)."""
    return _NEXT[current]


def can_transition(from_status: Status | None, to: Status) -> bool:
    """True when ``to`` may follow ``from_status`` (``None``: the first status).

    >>> can_transition(None, Status.DEPOSEE), can_transition(Status.REJETEE, Status.RECUE)
    (True, False)
    """
    return to in _NEXT[from_status]


# --------------------------------------------------------------------------- errors


class LifecycleRejected(InputRejected):
    """A lifecycle event breaks the rules of XP Z12-012 / BR-FR-CDV."""

    code = ErrorCode.LIFECYCLE_TRANSITION


class TransitionForbidden(LifecycleRejected):
    """The status cannot follow the current one."""

    code = ErrorCode.LIFECYCLE_TRANSITION


class ReasonNotAllowed(LifecycleRejected):
    """A reason code is not in the closed list allowed for the status."""

    code = ErrorCode.LIFECYCLE_REASON


class ReasonMissing(LifecycleRejected):
    """The status requires a reason code (BR-FR-CDV-15)."""

    code = ErrorCode.LIFECYCLE_REASON_MISSING


class AmountMissing(LifecycleRejected):
    """A 212 Encaissée event without the amount cashed, or an amount where none belongs."""

    code = ErrorCode.LIFECYCLE_AMOUNT_MISSING


# --------------------------------------------------------------------------- the model


class ActorKind(StrEnum):
    """Who set a status: a person, the platform itself, or a background job."""

    USER = "user"
    SYSTEM = "system"
    JOB = "job"


class Actor(BaseModel):
    """The author of an event inside Encaisse."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ActorKind
    id: str = Field(min_length=1)


class Identifier(BaseModel):
    """An identifier with its ISO 6523 / EAS scheme (0002 SIREN, 0009 SIRET, 0225, 0238...)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: str = Field(min_length=1)
    scheme: str | None = "0002"


class PartyRole(StrEnum):
    """Party role codes the CDAR accepts (BR-FR-CDV-CL-02/03/04/08, UNCL 3035 + DFH)."""

    BUYER = "BY"
    BUYER_AGENT = "AB"
    FACTOR = "DL"
    SELLER = "SE"
    SELLER_AGENT = "SR"
    PLATFORM = "WK"
    PPF = "DFH"
    PAYEE = "PE"
    PAYER = "PR"
    INVOICER = "II"
    INVOICEE = "IV"


class Party(BaseModel):
    """A party to a lifecycle message: its role, identifiers, name and electronic address."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    role: PartyRole
    ids: tuple[Identifier, ...] = ()
    name: str | None = None
    address: Identifier | None = Field(
        default=None, description="electronic address (MDT-73), scheme 0225 in France"
    )


class InvoiceReference(BaseModel):
    """The invoice an event concerns (MDG-33: MDT-87, MDT-91, MDT-95, MDT-100, MDT-129)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    invoice_number: str = Field(min_length=1, description="BT-1 (for 501: the file name)")
    issue_date: date | None = Field(default=None, description="BT-2; absent only for 501")
    type_code: str = Field(default="380", description="BT-3")
    seller: Party | None = None
    buyer: Party | None = None
    received_at: datetime | None = Field(
        default=None, description="MDT-95: when the party setting the status received it"
    )
    document_id: str | None = Field(default=None, description="our document id, when known")

    @field_validator("received_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _as_utc(value)

    @property
    def seller_siren(self) -> str | None:
        """The seller's SIREN (scheme 0002), when known."""
        if self.seller is None:
            return None
        return next((i.value for i in self.seller.ids if i.scheme == "0002"), None)


class StatusReason(BaseModel):
    """One reason of a status (MDG-37): code, its text, and the action requested."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: ReasonCode
    text: str | None = Field(default=None, description="MDT-114")
    action: ActionCode | None = Field(default=None, description="MDT-121")
    action_text: str | None = Field(default=None, description="MDT-122")


class DocumentCharacteristic(BaseModel):
    """A value reported or expected with a status (MDG-43), e.g. the amount cashed (MEN)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type_code: CharacteristicType
    id: str | None = Field(default=None, description="MDT-206, e.g. BT-152")
    value_changed: bool | None = None
    name: str | None = None
    location: str | None = Field(default=None, description="XPath of the data in the invoice")
    value: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    value_date: date | None = None
    percent: Decimal | None = None


class MessageInfo(BaseModel):
    """Envelope of the CDAR message an event came in or went out with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    message_id: str | None = Field(default=None, description="MDT-4")
    name: str | None = Field(default=None, description="MDT-5")
    created_at: datetime | None = Field(default=None, description="MDT-8")
    business_process: str | None = Field(default="REGULATED", description="MDT-2")
    guideline: str = Field(default="urn.cpro.gouv.fr:1p0:CDV:invoice", description="MDT-3")

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _as_utc(value)


class LifecycleEvent(BaseModel):
    """One status set on one invoice: history is a list of these, append-only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str = Field(default_factory=lambda: uuid.uuid4().hex, min_length=1)
    invoice: InvoiceReference
    status: Status
    reasons: tuple[StatusReason, ...] = ()
    free_text: str | None = None
    actor: Actor
    timestamp: datetime = Field(description="MDT-78, aware UTC")
    amount: Decimal | None = Field(default=None, description="212: cashed; 211: paid")
    currency: str | None = None
    vat_rate: Decimal | None = Field(default=None, description="VAT rate of the amount cashed")
    payment_date: date | None = None
    characteristics: tuple[DocumentCharacteristic, ...] = ()
    sender: Party | None = Field(default=None, description="MDG-9")
    issuer: Party | None = Field(default=None, description="MDG-10: who sets the status")
    recipients: tuple[Party, ...] = Field(default=(), description="MDG-13")
    b2g: bool = False
    message: MessageInfo | None = None

    @field_validator("timestamp")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _as_utc(value)

    @property
    def reason_codes(self) -> tuple[ReasonCode, ...]:
        """The reason codes, in order."""
        return tuple(r.code for r in self.reasons)


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware (UTC)")
    return value.astimezone(UTC)


# --------------------------------------------------------------------------- checks


def _as_reason(item: ReasonCode | str | StatusReason, where: str) -> StatusReason:
    if isinstance(item, StatusReason):
        return item
    try:
        return StatusReason(code=ReasonCode(str(item).strip()))
    except ValueError:
        raise ReasonNotAllowed(
            f"{item!r} is not a status reason code of BR-FR-CDV-CL-09",
            where=where,
            reason=str(item),
        ) from None


def check_reasons(status: Status, reasons: Iterable[StatusReason], *, b2g: bool = False) -> None:
    """Raise unless ``reasons`` suit ``status`` (BR-FR-CDV-15 and BR-FR-CDV-CL-09)."""
    codes = [r.code for r in reasons]
    if status in REASON_REQUIRED and not codes:
        raise ReasonMissing(
            f"status {status} ({status.label_en}) needs a reason code (BR-FR-CDV-15); "
            f"allowed: {', '.join(sorted(allowed_reasons(status, b2g=b2g)))}",
            where="MDT-113",
            status=str(status),
        )
    allowed = allowed_reasons(status, b2g=b2g)
    for code in codes:
        if code not in allowed:
            raise ReasonNotAllowed(
                f"reason {code} is not allowed for status {status} ({status.label_en}); "
                f"allowed: {', '.join(sorted(allowed))}",
                where="MDT-113",
                status=str(status),
                reason=str(code),
            )


def check_amount(status: Status, amount: Decimal | None) -> None:
    """Raise unless ``amount`` suits ``status``: required for 212, only for 211 and 212."""
    if status in AMOUNT_REQUIRED and amount is None:
        raise AmountMissing(
            f"status {status} ({status.label_en}) needs the amount cashed (MDT-215, BR-FR-CDV-14)",
            where="MDT-215",
            status=str(status),
        )
    if amount is not None and status not in AMOUNT_ALLOWED:
        raise AmountMissing(
            f"status {status} ({status.label_en}) carries no amount; only 211 and 212 do",
            where="MDT-215",
            status=str(status),
        )
    if amount is not None and amount < 0:
        raise AmountMissing(f"the amount must not be negative, got {amount}", where="MDT-215")


def transition(
    current: Status | None,
    to: Status,
    *,
    invoice: InvoiceReference,
    actor: Actor,
    reasons: Sequence[ReasonCode | str | StatusReason] = (),
    amount: Decimal | None = None,
    currency: str | None = "EUR",
    vat_rate: Decimal | None = None,
    payment_date: date | None = None,
    free_text: str | None = None,
    at: datetime | None = None,
    b2g: bool = False,
    event_id: str | None = None,
    sender: Party | None = None,
    issuer: Party | None = None,
    recipients: Sequence[Party] = (),
) -> LifecycleEvent:
    """Check that ``to`` may follow ``current`` and return the event that records it.

    ``sender``, ``issuer`` and ``recipients`` name the parties of the CDAR message (the
    writer derives them from the invoice when left out). Raises :class:`TransitionForbidden`,
    :class:`ReasonMissing`, :class:`ReasonNotAllowed` or :class:`AmountMissing`.

    >>> ev = transition(None, Status.RECUE, invoice=InvoiceReference(invoice_number="F1"),
    ...                 actor=Actor(kind=ActorKind.JOB, id="register"))
    >>> ev.status.label_fr
    'Reçue'
    """
    if not can_transition(current, to):
        after = "as a first status" if current is None else f"after {current} ({current.label_en})"
        allowed = ", ".join(sorted(next_statuses(current))) or "none (terminal status)"
        raise TransitionForbidden(
            f"status {to} ({to.label_en}) cannot be set {after}; allowed: {allowed}",
            where="MDT-105",
            current=None if current is None else str(current),
            target=str(to),
        )
    items = tuple(_as_reason(r, "MDT-113") for r in reasons)
    check_reasons(to, items, b2g=b2g)
    check_amount(to, amount)
    fields: dict[str, Any] = {
        "invoice": invoice,
        "status": to,
        "reasons": items,
        "free_text": free_text,
        "actor": actor,
        "timestamp": at if at is not None else datetime.now(UTC),
        "amount": amount,
        "currency": currency if amount is not None else None,
        "vat_rate": vat_rate,
        "payment_date": payment_date,
        "b2g": b2g,
        "sender": sender,
        "issuer": issuer,
        "recipients": tuple(recipients),
    }
    if event_id is not None:
        fields["event_id"] = event_id
    return LifecycleEvent(**fields)


def check_history(events: Sequence[LifecycleEvent]) -> None:
    """Raise unless ``events`` (oldest first) form an allowed sequence."""
    current: Status | None = None
    for event in events:
        if not can_transition(current, event.status):
            raise TransitionForbidden(
                f"status {event.status} cannot follow {current or 'nothing'} (event {event.event_id})",
                where="MDT-105",
            )
        check_reasons(event.status, event.reasons, b2g=event.b2g)
        check_amount(event.status, event.amount)
        current = event.status


__all__ = [
    "AMOUNT_ALLOWED",
    "AMOUNT_REQUIRED",
    "MANDATORY_STATUSES",
    "PROCESSING_STATUSES",
    "REASONS_BY_STATUS",
    "REASON_REQUIRED",
    "REFUSAL_REASONS_B2G",
    "TERMINAL_STATUSES",
    "TRANSMISSION_STATUSES",
    "ActionCode",
    "Actor",
    "ActorKind",
    "AmountMissing",
    "CharacteristicType",
    "DocumentCharacteristic",
    "Identifier",
    "InvoiceReference",
    "LifecycleEvent",
    "LifecycleRejected",
    "MessageInfo",
    "Party",
    "PartyRole",
    "ReasonCode",
    "ReasonMissing",
    "ReasonNotAllowed",
    "Status",
    "StatusReason",
    "TransitionForbidden",
    "allowed_reasons",
    "can_transition",
    "check_amount",
    "check_history",
    "check_reasons",
    "next_statuses",
    "transition",
]
