"""Conditions on fields: required, format, valid identifiers, allowed currencies and profiles, attachments."""

from __future__ import annotations

import re
import warnings
from enum import StrEnum
from typing import Annotated, Any, Literal

import schwifty
from pydantic import Field, field_validator, model_validator
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.fr import siren as fr_siren
from stdnum.fr import siret as fr_siret

from ingest.detect import profile_from_specification
from ingest.kinds import Profile
from schemas.invoice import Identifier, Invoice
from validation.rules.base import Condition, RuleKind, Term, Violation, missing
from validation.rules.patterns import MAX_MATCH_LENGTH, bounded, safe_pattern
from validation.rules.terms import as_text, values_of


class FieldRequired(Condition):
    """Each listed term holds a value (``mode: any``: at least one of them does)."""

    kind: Literal[RuleKind.FIELD_REQUIRED] = RuleKind.FIELD_REQUIRED
    fields: list[Term] = Field(min_length=1, max_length=20)
    mode: Literal["all", "any"] = "all"

    def check(self, invoice: Invoice) -> list[Violation]:
        """See the class docstring."""
        absent = [t for t in self.fields if not values_of(invoice, t)]
        if self.mode == "all":
            return [missing(t) for t in absent]
        if len(absent) < len(self.fields):
            return []
        names = ", ".join(absent)
        return [
            Violation(tuple(absent), None, f"Aucun de {names} n'est renseigné.", f"None of {names} is given.")
        ]

    def terms(self) -> tuple[str, ...]:
        """See :meth:`Condition.terms`."""
        return tuple(self.fields)


class FieldFormat(Condition):
    """Every value of a term matches a regular expression, whole (``re.fullmatch``)."""

    kind: Literal[RuleKind.FIELD_FORMAT] = RuleKind.FIELD_FORMAT
    field: Term
    pattern: str = Field(min_length=1)
    ignore_case: bool = False
    required: bool = False
    max_length: int = Field(default=256, ge=1, le=MAX_MATCH_LENGTH)

    @model_validator(mode="after")
    def _compiles(self) -> FieldFormat:
        self.regex()
        return self

    def regex(self) -> re.Pattern[str]:
        """The compiled pattern (cached)."""
        return safe_pattern(self.pattern, flags=re.IGNORECASE if self.ignore_case else 0)

    def check(self, invoice: Invoice) -> list[Violation]:
        """See the class docstring."""
        values = values_of(invoice, self.field)
        if not values:
            return [missing(self.field)] if self.required else []
        out: list[Violation] = []
        for raw in values:
            text = as_text(raw)
            if len(text) > self.max_length:
                out.append(
                    Violation(
                        (self.field,),
                        text[:80] + "…",
                        f"{self.field} est trop long ({len(text)} caractères, {self.max_length} au plus).",
                        f"{self.field} is too long ({len(text)} characters, at most {self.max_length}).",
                    )
                )
            elif self.regex().fullmatch(text) is None:
                out.append(
                    Violation(
                        (self.field,),
                        text,
                        f"{self.field} « {text} » n'a pas le format attendu ({self.pattern}).",
                        f"{self.field} '{text}' does not have the expected format ({self.pattern}).",
                    )
                )
        return out

    def terms(self) -> tuple[str, ...]:
        """See :meth:`Condition.terms`."""
        return (self.field,)


class IdScheme(StrEnum):
    """Identifiers checked with their check digits."""

    SIREN = "siren"
    SIRET = "siret"
    VAT = "vat"
    IBAN = "iban"
    BIC = "bic"


_DEFAULT_ICD = {IdScheme.SIREN: "0002", IdScheme.SIRET: "0009"}


def _valid_id(scheme: IdScheme, value: str) -> str | None:
    """None when ``value`` is a valid identifier of ``scheme``, else why it is not."""
    try:
        if scheme is IdScheme.SIREN:
            fr_siren.validate(value)
        elif scheme is IdScheme.SIRET:
            fr_siret.validate(value)
        elif scheme is IdScheme.VAT:
            eu_vat.validate(value)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                (schwifty.IBAN if scheme is IdScheme.IBAN else schwifty.BIC)(value)
    except (StdnumError, ValueError) as exc:  # schwifty's errors are ValueErrors
        return str(exc) or type(exc).__name__
    return None


class IdentifierValid(Condition):
    """Every value of a term is a valid SIREN, SIRET, VAT number, IBAN or BIC (check digits included).

    For identifier lists with a scheme (BT-29/BT-46, BT-30/BT-47), only those of
    ``icd`` are checked (by default 0002 for SIREN, 0009 for SIRET; identifiers
    without a scheme are always checked).
    """

    kind: Literal[RuleKind.IDENTIFIER_VALID] = RuleKind.IDENTIFIER_VALID
    field: Term
    scheme: IdScheme
    icd: str | None = Field(default=None, pattern=r"^[0-9A-Z]{1,6}$")
    required: bool = False

    def check(self, invoice: Invoice) -> list[Violation]:
        """See the class docstring."""
        icd = self.icd or _DEFAULT_ICD.get(self.scheme)
        values = [
            v
            for v in values_of(invoice, self.field)
            if not (isinstance(v, Identifier) and icd and v.scheme not in (None, icd))
        ]
        if not values:
            return [missing(self.field)] if self.required else []
        out: list[Violation] = []
        for raw in values:
            text = as_text(raw)
            why = _valid_id(self.scheme, bounded(text))
            if why is not None:
                name = self.scheme.value.upper()
                out.append(
                    Violation(
                        (self.field,),
                        text,
                        f"{self.field} « {text} » n'est pas un {name} valide ({why}).",
                        f"{self.field} '{text}' is not a valid {name} ({why}).",
                    )
                )
        return out

    def terms(self) -> tuple[str, ...]:
        """See :meth:`Condition.terms`."""
        return (self.field,)


class CurrencyAllowed(Condition):
    """The invoice currency (BT-5) is one of the listed ISO 4217 codes."""

    kind: Literal[RuleKind.CURRENCY_ALLOWED] = RuleKind.CURRENCY_ALLOWED
    currencies: list[Annotated[str, Field(pattern=r"^[A-Z]{3}$")]] = Field(min_length=1, max_length=50)

    def check(self, invoice: Invoice) -> list[Violation]:
        """See the class docstring."""
        allowed = ", ".join(self.currencies)
        if not invoice.currency:
            return [missing("BT-5")]
        if invoice.currency.strip().upper() in self.currencies:
            return []
        return [
            Violation(
                ("BT-5",),
                invoice.currency,
                f"La devise {invoice.currency} n'est pas acceptée (acceptées : {allowed}).",
                f"Currency {invoice.currency} is not accepted (accepted: {allowed}).",
            )
        ]

    def terms(self) -> tuple[str, ...]:
        """See :meth:`Condition.terms`."""
        return ("BT-5",)


class ProfileAllowed(Condition):
    """The profile named by BT-24 is one of the listed Factur-X / EN 16931 profiles."""

    kind: Literal[RuleKind.PROFILE_ALLOWED] = RuleKind.PROFILE_ALLOWED
    profiles: list[Profile] = Field(min_length=1)

    @field_validator("profiles", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        return [p.strip().lower() if isinstance(p, str) else p for p in value]

    def check(self, invoice: Invoice) -> list[Violation]:
        """See the class docstring."""
        allowed = ", ".join(p.value for p in self.profiles)
        profile = profile_from_specification(invoice.specification_id)
        if profile in self.profiles:
            return []
        shown = invoice.specification_id or None
        return [
            Violation(
                ("BT-24",),
                shown,
                f"Le profil {profile.value if profile else shown or '(absent)'} n'est pas accepté "
                f"(acceptés : {allowed}).",
                f"Profile {profile.value if profile else shown or '(missing)'} is not accepted "
                f"(accepted: {allowed}).",
            )
        ]

    def terms(self) -> tuple[str, ...]:
        """See :meth:`Condition.terms`."""
        return ("BT-24",)


class AttachmentsRequired(Condition):
    """At least ``min_count`` supporting documents (BG-24), matching ``pattern`` when given.

    The pattern is searched, case-insensitively, in the description (BT-123), the
    file name (BT-125-2) and the reference (BT-122).
    """

    kind: Literal[RuleKind.ATTACHMENTS_REQUIRED] = RuleKind.ATTACHMENTS_REQUIRED
    min_count: int = Field(default=1, ge=1, le=100)
    pattern: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _compiles(self) -> AttachmentsRequired:
        self.regex()
        return self

    def regex(self) -> re.Pattern[str] | None:
        """The compiled pattern, if any."""
        return None if self.pattern is None else safe_pattern(self.pattern, flags=re.IGNORECASE)

    def check(self, invoice: Invoice) -> list[Violation]:
        """See the class docstring."""
        regex = self.regex()
        count = 0
        for att in invoice.attachments:
            texts = [t for t in (att.description, att.filename, att.reference) if t]
            if regex is None or any(regex.search(bounded(t)) for t in texts):
                count += 1
        if count >= self.min_count:
            return []
        what_fr = f" correspondant à « {self.pattern} »" if self.pattern else ""
        what_en = f" matching '{self.pattern}'" if self.pattern else ""
        return [
            Violation(
                ("BG-24",),
                str(count),
                f"{self.min_count} pièce(s) jointe(s){what_fr} attendue(s), {count} trouvée(s).",
                f"{self.min_count} supporting document(s){what_en} expected, {count} found.",
            )
        ]

    def terms(self) -> tuple[str, ...]:
        """See :meth:`Condition.terms`."""
        return ("BG-24",)
