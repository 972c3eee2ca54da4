"""The conditions a billing-constraint rule can state, one parameter model per rule kind."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from validation.rules.base import Condition, RuleKind, Violation
from validation.rules.commercial import BuyerIdentity, LegalNotes, PaymentTerms, PoRequiredAbove
from validation.rules.fields import (
    AttachmentsRequired,
    CurrencyAllowed,
    FieldFormat,
    FieldRequired,
    IdentifierValid,
    IdScheme,
    ProfileAllowed,
)
from validation.rules.patterns import nested_repetition, safe_pattern
from validation.rules.payterms import EomMethod, latest_due_date, month_end

__all__ = [
    "CONDITIONS",
    "AnyCondition",
    "AttachmentsRequired",
    "BuyerIdentity",
    "Condition",
    "CurrencyAllowed",
    "EomMethod",
    "FieldFormat",
    "FieldRequired",
    "IdScheme",
    "IdentifierValid",
    "LegalNotes",
    "PaymentTerms",
    "PoRequiredAbove",
    "ProfileAllowed",
    "RuleKind",
    "Violation",
    "latest_due_date",
    "month_end",
    "nested_repetition",
    "safe_pattern",
]

AnyCondition = Annotated[
    FieldRequired
    | FieldFormat
    | IdentifierValid
    | CurrencyAllowed
    | ProfileAllowed
    | PaymentTerms
    | LegalNotes
    | PoRequiredAbove
    | AttachmentsRequired
    | BuyerIdentity,
    Field(discriminator="kind"),
]

#: The parameter model of each rule kind.
CONDITIONS: dict[RuleKind, type[Condition]] = {
    RuleKind.FIELD_REQUIRED: FieldRequired,
    RuleKind.FIELD_FORMAT: FieldFormat,
    RuleKind.IDENTIFIER_VALID: IdentifierValid,
    RuleKind.CURRENCY_ALLOWED: CurrencyAllowed,
    RuleKind.PROFILE_ALLOWED: ProfileAllowed,
    RuleKind.PAYMENT_TERMS: PaymentTerms,
    RuleKind.LEGAL_NOTES: LegalNotes,
    RuleKind.PO_REQUIRED_ABOVE: PoRequiredAbove,
    RuleKind.ATTACHMENTS_REQUIRED: AttachmentsRequired,
    RuleKind.BUYER_IDENTITY: BuyerIdentity,
}
