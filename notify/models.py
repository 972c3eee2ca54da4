"""What a rejection notice says, as plain values handed in by the caller.

The job that sends a notice loads the supplier, the document and its last
status from the ledger and the findings from the validation report, and builds
a :class:`NoticeData`; this package never reads the database itself.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from email.utils import parseaddr
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.findings import Finding, Severity
from schemas.lifecycle import ReasonCode, Status, StatusReason, check_reasons
from schemas.settings import Settings

Lang = Literal["fr", "en"]

_ADDRESS = re.compile(r"[^@\s<>\"',;()\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")


def _address(value: str) -> str:
    value = value.strip()
    if not _ADDRESS.fullmatch(value):
        raise ValueError(f"{value!r} is not an e-mail address such as factures@example.fr")
    return value


#: A bare e-mail address (no display name, no line break: it goes into headers).
EmailAddress = Annotated[str, AfterValidator(_address)]


class NoticeKind(StrEnum):
    """The four situations a supplier is told about; each reads differently."""

    NO_STRUCTURED_DATA = "no_structured_data"  # a plain PDF without XML: 501
    UNREADABLE = "unreadable"  # the file cannot be read: 501
    INVALID = "invalid"  # read, but fails XSD / EN 16931 / BR-FR: 213
    REFUSED = "refused"  # valid, but fails the buyer's billing rules: 210, or 208 when it can be completed

    @classmethod
    def for_status(cls, status: Status, *, structured: bool = True) -> NoticeKind:
        """The kind of notice a status calls for; ``structured=False`` for a PDF without XML.

        >>> NoticeKind.for_status(Status.SUSPENDUE)
        <NoticeKind.REFUSED: 'refused'>
        >>> NoticeKind.for_status(Status.IRRECEVABLE, structured=False)
        <NoticeKind.NO_STRUCTURED_DATA: 'no_structured_data'>
        """
        if status not in _STATUSES_BY_KIND[cls.REFUSED] | _STATUSES_BY_KIND[cls.INVALID] | {
            Status.IRRECEVABLE
        }:
            raise ValueError(f"status {status} ({status.label_en}) calls for no rejection notice")
        if status is Status.IRRECEVABLE:
            return cls.UNREADABLE if structured else cls.NO_STRUCTURED_DATA
        return cls.INVALID if status is Status.REJETEE else cls.REFUSED


_STATUSES_BY_KIND: dict[NoticeKind, frozenset[Status]] = {
    NoticeKind.NO_STRUCTURED_DATA: frozenset({Status.IRRECEVABLE}),
    NoticeKind.UNREADABLE: frozenset({Status.IRRECEVABLE}),
    NoticeKind.INVALID: frozenset({Status.REJETEE}),
    NoticeKind.REFUSED: frozenset({Status.REFUSEE, Status.SUSPENDUE}),
}

#: Statuses for which a supplier receives a notice.
NOTICE_STATUSES: frozenset[Status] = frozenset().union(*_STATUSES_BY_KIND.values())


class Recipient(BaseModel):
    """Who receives the notice: the supplier's invoicing contact."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = None
    email: EmailAddress
    language: Lang = "fr"


class Company(BaseModel):
    """Us: the operator (the buyer, for incoming invoices) and the address notices come from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    email: EmailAddress = Field(description="the From address of notices")
    reference: str | None = Field(default=None, description="our reference for this supplier or file")
    reply_to: EmailAddress | None = None


def company_from_settings(settings: Settings, *, reference: str | None = None) -> Company:
    """Us, as the settings describe us: ``ENCAISSE_COMPANY_NAME``, ``ENCAISSE_MAIL_FROM`` (and reply-to).

    >>> company_from_settings(Settings(mail_from="Acme SAS <factures@acme.fr>", company_name="Acme")).email
    'factures@acme.fr'
    """
    display, address = parseaddr(settings.mail_from)
    return Company(
        name=settings.company_name or display,
        email=address or settings.mail_from,
        reference=reference,
        reply_to=parseaddr(settings.mail_reply_to)[1] if settings.mail_reply_to else None,
    )


def resubmission_from_settings(settings: Settings) -> Resubmission:
    """How to resubmit, from ``ENCAISSE_RESUBMIT_URL`` and the reply-to address."""
    reply = parseaddr(settings.mail_reply_to)[1] if settings.mail_reply_to else None
    return Resubmission(portal_url=settings.resubmit_url, email=reply or None)


class DocumentInfo(BaseModel):
    """The file as we received it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    document_id: str = Field(min_length=1)
    file_name: str | None = None
    received_at: datetime

    @field_validator("received_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return _as_utc(value)


class InvoiceSummary(BaseModel):
    """What we could read of the invoice; any of it may be missing (an unreadable file has none)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    number: str | None = Field(default=None, description="BT-1")
    issue_date: date | None = Field(default=None, description="BT-2")
    total_with_vat: Decimal | None = Field(default=None, description="BT-112")
    currency: str | None = Field(default=None, description="BT-5")


class Resubmission(BaseModel):
    """How the supplier sends a corrected invoice; with none given, the notice says to reply."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    portal_url: str | None = None
    email: EmailAddress | None = None
    einvoicing_address: str | None = Field(
        default=None, description="our electronic invoicing address or routing code (BT-49 / BT-10)"
    )


class NoticeData(BaseModel):
    """Everything one rejection notice shows; built by the caller, rendered by :mod:`notify.render`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: NoticeKind
    recipient: Recipient
    company: Company
    document: DocumentInfo
    invoice: InvoiceSummary = Field(default_factory=InvoiceSummary)
    status: Status
    reasons: tuple[ReasonCode, ...] = ()
    findings: tuple[Finding, ...] = ()
    resubmit: Resubmission = Field(default_factory=Resubmission)
    report_pdf: bytes | None = Field(default=None, repr=False)
    issued_at: datetime = Field(
        default_factory=lambda: datetime.now(UTC), description="the Date of the message"
    )

    @field_validator("issued_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return _as_utc(value)

    @model_validator(mode="after")
    def _consistent(self) -> NoticeData:
        if self.status not in _STATUSES_BY_KIND[self.kind]:
            allowed = ", ".join(sorted(_STATUSES_BY_KIND[self.kind]))
            raise ValueError(f"a {self.kind} notice is for status {allowed}, not {self.status}")
        check_reasons(self.status, [StatusReason(code=code) for code in self.reasons])
        return self

    @property
    def language(self) -> Lang:
        """The recipient's language."""
        return self.recipient.language

    @property
    def blocking(self) -> tuple[Finding, ...]:
        """The findings the supplier must correct (fatal ones), in the order given."""
        return tuple(f for f in self.findings if f.severity is Severity.FATAL)

    @property
    def remarks(self) -> tuple[Finding, ...]:
        """Warnings and information, shown after what must be corrected."""
        return tuple(f for f in self.findings if f.severity is not Severity.FATAL)


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware (UTC)")
    return value.astimezone(UTC)
