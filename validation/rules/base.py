"""What every rule condition shares: its kind, its violations, its parameter model."""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from schemas.invoice import Invoice
from validation.rules.terms import is_term_id, term_paths


class RuleKind(StrEnum):
    """The kinds of billing constraints a rule can state."""

    FIELD_REQUIRED = "field_required"
    FIELD_FORMAT = "field_format"
    IDENTIFIER_VALID = "identifier_valid"
    CURRENCY_ALLOWED = "currency_allowed"
    PROFILE_ALLOWED = "profile_allowed"
    PAYMENT_TERMS = "payment_terms"
    LEGAL_NOTES = "legal_notes"
    PO_REQUIRED_ABOVE = "po_required_above"
    ATTACHMENTS_REQUIRED = "attachments_required"
    BUYER_IDENTITY = "buyer_identity"


@dataclass(frozen=True)
class Violation:
    """One way an invoice fails a condition: the terms concerned, the value, what is wrong."""

    terms: tuple[str, ...]
    value: str | None
    detail_fr: str
    detail_en: str


def known_term(value: str) -> str:
    """The term id, stripped; ``ValueError`` unless the invoice model holds it."""
    value = value.strip()
    if not is_term_id(value):
        raise ValueError(f"{value!r} is not a BT/BG id such as BT-13 or BG-24")
    if value not in term_paths():
        raise ValueError(f"{value} is not a term the invoice model holds")
    return value


#: A BT/BG id the invoice model holds, checked when a rule is read.
Term = Annotated[str, Field(min_length=4, max_length=12), AfterValidator(known_term)]


class Condition(BaseModel):
    """What a rule checks; subclasses add their parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @abstractmethod
    def check(self, invoice: Invoice) -> list[Violation]:
        """The violations found on ``invoice`` (empty when it meets the condition)."""

    @abstractmethod
    def terms(self) -> tuple[str, ...]:
        """The BT/BG ids the condition looks at."""


def missing(term: str) -> Violation:
    """The violation of a term that holds no value."""
    return Violation((term,), None, f"{term} est absent.", f"{term} is missing.")
