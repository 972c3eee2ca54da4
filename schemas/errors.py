"""One exception tree for the whole project.

Every error carries a stable ``code`` (an :class:`ErrorCode`) that reports, the
API and the notices sent to senders reuse, and a message a user can act on.
Input problems derive from :class:`InputRejected`, which is also a
``ValueError``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Stable codes for everything that can go wrong with a document."""

    EMPTY_FILE = "EMPTY_FILE"
    TOO_LARGE = "TOO_LARGE"
    NOT_AN_INVOICE = "NOT_AN_INVOICE"
    XML_NOT_WELL_FORMED = "XML_NOT_WELL_FORMED"
    XML_UNSAFE_DTD = "XML_UNSAFE_DTD"
    XML_UNSAFE_ENTITY = "XML_UNSAFE_ENTITY"
    XML_UNSAFE_XINCLUDE = "XML_UNSAFE_XINCLUDE"
    XML_UNSAFE_SCHEMA_LOCATION = "XML_UNSAFE_SCHEMA_LOCATION"
    XML_TOO_DEEP = "XML_TOO_DEEP"
    XML_TOO_LARGE = "XML_TOO_LARGE"
    XML_BAD_ENCODING = "XML_BAD_ENCODING"
    XML_UNKNOWN_ROOT = "XML_UNKNOWN_ROOT"
    PDF_MALFORMED = "PDF_MALFORMED"
    PDF_ENCRYPTED = "PDF_ENCRYPTED"
    PDF_TOO_COMPLEX = "PDF_TOO_COMPLEX"
    PDF_BOMB = "PDF_BOMB"
    PDF_RECURSIVE = "PDF_RECURSIVE"
    PDF_NO_ATTACHMENT = "PDF_NO_ATTACHMENT"
    PDF_UNEXPECTED_ATTACHMENT = "PDF_UNEXPECTED_ATTACHMENT"
    PDF_SEVERAL_XML = "PDF_SEVERAL_XML"
    PDF_ATTACHMENT_NOT_CII = "PDF_ATTACHMENT_NOT_CII"
    PDF_WRONG_AFRELATIONSHIP = "PDF_WRONG_AFRELATIONSHIP"
    PDF_PROFILE_MISMATCH = "PDF_PROFILE_MISMATCH"
    PDF_XMP_MISSING = "PDF_XMP_MISSING"
    PDF_XMP_FILENAME = "PDF_XMP_FILENAME"
    PDF_XMP_UNREADABLE = "PDF_XMP_UNREADABLE"
    ZIP_BOMB = "ZIP_BOMB"
    PARSE_FAILED = "PARSE_FAILED"
    RULESET_UNKNOWN = "RULESET_UNKNOWN"
    RULE_ENGINE_FAILED = "RULE_ENGINE_FAILED"
    CUSTOMER_RULES_INVALID = "CUSTOMER_RULES_INVALID"
    USAGE = "USAGE"
    RF_REFERENCE_INVALID = "RF_REFERENCE_INVALID"
    LIFECYCLE_TRANSITION = "LIFECYCLE_TRANSITION"
    LIFECYCLE_REASON = "LIFECYCLE_REASON"
    LIFECYCLE_REASON_MISSING = "LIFECYCLE_REASON_MISSING"
    LIFECYCLE_AMOUNT_MISSING = "LIFECYCLE_AMOUNT_MISSING"
    CDAR_INVALID = "CDAR_INVALID"
    LEDGER_APPEND_ONLY = "LEDGER_APPEND_ONLY"
    DB_MIGRATION_FAILED = "DB_MIGRATION_FAILED"
    SMTP_TRANSIENT = "SMTP_TRANSIENT"
    SMTP_PERMANENT = "SMTP_PERMANENT"
    ARCHIVE_IO = "ARCHIVE_IO"
    ARCHIVE_NOT_FOUND = "ARCHIVE_NOT_FOUND"
    ARCHIVE_WRITE_ONCE = "ARCHIVE_WRITE_ONCE"
    ARCHIVE_NOT_CANONICAL = "ARCHIVE_NOT_CANONICAL"
    ARCHIVE_JOURNAL = "ARCHIVE_JOURNAL"
    ARCHIVE_SEAL = "ARCHIVE_SEAL"
    ARCHIVE_TIMESTAMP = "ARCHIVE_TIMESTAMP"
    ARCHIVE_BUNDLE = "ARCHIVE_BUNDLE"
    ARCHIVE_HOLD = "ARCHIVE_HOLD"
    ARCHIVE_BAG = "ARCHIVE_BAG"
    DOCUMENT_NOT_FOUND = "DOCUMENT_NOT_FOUND"
    NOT_FOUND = "NOT_FOUND"
    AUTH_REQUIRED = "AUTH_REQUIRED"
    AUTH_FAILED = "AUTH_FAILED"
    AUTH_THROTTLED = "AUTH_THROTTLED"
    CSRF_REJECTED = "CSRF_REJECTED"
    FORM_INVALID = "FORM_INVALID"
    DB_NOT_MIGRATED = "DB_NOT_MIGRATED"
    JOB_FAILED = "JOB_FAILED"
    RATE_UNKNOWN = "RATE_UNKNOWN"
    STATEMENT_UNREADABLE = "STATEMENT_UNREADABLE"
    STATEMENT_UNKNOWN_FORMAT = "STATEMENT_UNKNOWN_FORMAT"
    CSV_MAPPING_INVALID = "CSV_MAPPING_INVALID"
    DUNNING_SCENARIOS_INVALID = "DUNNING_SCENARIOS_INVALID"
    WEBHOOK_REJECTED = "WEBHOOK_REJECTED"
    PAYMENT_REJECTED = "PAYMENT_REJECTED"


#: Codes a sender of a document can be told about: what was wrong with the file
#: itself. Every one has a plain-language explanation (validation/explanations.json);
#: the other codes are operator, staff or transport errors.
SENDER_FACING_CODES: frozenset[ErrorCode] = frozenset(
    code
    for code in ErrorCode
    if code.startswith(("EMPTY_", "TOO_", "NOT_AN_", "XML_", "PDF_", "ZIP_"))
    or code in ("PARSE_FAILED", "RULE_ENGINE_FAILED")
)


class EncaisseError(Exception):
    """Root of every error the project raises on purpose."""

    code: ErrorCode = ErrorCode.PARSE_FAILED

    def __init__(
        self, message: str, *, code: ErrorCode | None = None, where: str | None = None, **fields: Any
    ) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.where = where
        self.fields = fields

    def __str__(self) -> str:
        where = f" (at {self.where})" if self.where else ""
        return f"[{self.code}] {self.message}{where}"

    def as_dict(self) -> dict[str, Any]:
        """Serialisable form for JSON output and reports."""
        out: dict[str, Any] = {"code": str(self.code), "message": self.message}
        if self.where:
            out["where"] = self.where
        out.update({k: v for k, v in self.fields.items() if v is not None})
        return out


class InputRejected(EncaisseError, ValueError):
    """The input cannot be accepted as it is; the message says why and where."""

    code = ErrorCode.NOT_AN_INVOICE


class UnsafeXml(InputRejected):
    """The XML uses a construct we never process (DTD, entities, XInclude...)."""

    code = ErrorCode.XML_UNSAFE_DTD


class XmlNotWellFormed(InputRejected):
    """The bytes are not well-formed XML."""

    code = ErrorCode.XML_NOT_WELL_FORMED


class PdfRejected(InputRejected):
    """The PDF is malformed, encrypted, too complex or a bomb."""

    code = ErrorCode.PDF_MALFORMED


class TooLarge(InputRejected):
    """The input is larger than the configured bound."""

    code = ErrorCode.TOO_LARGE


class RuleEngineError(EncaisseError):
    """A validation layer could not run: validation fails closed."""

    code = ErrorCode.RULE_ENGINE_FAILED


class UnknownRuleset(EncaisseError):
    """The rule set asked for is not installed."""

    code = ErrorCode.RULESET_UNKNOWN
