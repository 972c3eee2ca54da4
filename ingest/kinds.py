"""What :func:`ingest.detect` tells about a file."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from schemas.errors import ErrorCode
from schemas.findings import Finding
from schemas.invoice import Syntax


class DocumentKind(StrEnum):
    """The kinds of file an invoice can arrive as."""

    FACTURX_PDF = "facturx-pdf"  # Factur-X / ZUGFeRD 2.x (CII in PDF/A-3)
    ZUGFERD1_PDF = "zugferd1-pdf"
    XRECHNUNG_PDF = "xrechnung-pdf"  # XRechnung (CII or UBL) attached to a PDF
    CII_XML = "cii-xml"
    ZUGFERD1_XML = "zugferd1-xml"
    UBL_INVOICE = "ubl-invoice"
    UBL_CREDITNOTE = "ubl-creditnote"
    PLAIN_PDF = "plain-pdf"  # a PDF without structured data
    NOT_INVOICE = "not-invoice"


class Profile(StrEnum):
    """Factur-X / ZUGFeRD 2 profiles, and EN 16931 for CIUS like XRechnung/Peppol."""

    MINIMUM = "minimum"
    BASIC_WL = "basicwl"
    BASIC = "basic"
    EN16931 = "en16931"
    EXTENDED = "extended"


class Detection(BaseModel):
    """The result of format detection, with the structured XML when there is one."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    kind: DocumentKind
    syntax: Syntax | None = None
    xml: bytes | None = Field(default=None, repr=False)
    attachment_name: str | None = None
    specification_id: str | None = Field(default=None, description="BT-24 as written in the XML")
    profile: Profile | None = Field(default=None, description="profile read from BT-24")
    xmp_profile: str | None = Field(default=None, description="profile declared in the PDF's XMP metadata")
    code: ErrorCode | None = Field(default=None, description="why it is not an invoice, when it is not")
    reason: str | None = None
    findings: list[Finding] = Field(default_factory=list, description="container findings (XMP mismatch...)")

    @property
    def is_structured(self) -> bool:
        """True when structured invoice XML was found."""
        return self.xml is not None and self.kind is not DocumentKind.NOT_INVOICE
