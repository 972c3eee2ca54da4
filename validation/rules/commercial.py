"""Conditions of commercial law and of the buyer's identity: payment terms, legal notes, PO threshold."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.fr import siren as fr_siren

from schemas.invoice import Identifier, Invoice, Party
from validation.rules.base import Condition, RuleKind, Violation, missing
from validation.rules.patterns import bounded, safe_pattern
from validation.rules.payterms import EomMethod, latest_due_date
from validation.rules.terms import values_of


class PaymentTerms(Condition):
    """The due date (BT-9) is within the legal limit from the issue date (BT-2).

    ``method: days`` allows ``max_days`` (60 by default) after issue;
    ``method: end_of_month`` allows ``eom_days`` (45) end of month, computed by
    ``eom_method``. A missing due date is a violation; credit notes are left out
    unless ``include_credit_notes``.
    """

    kind: Literal[RuleKind.PAYMENT_TERMS] = RuleKind.PAYMENT_TERMS
    method: Literal["days", "end_of_month"] = "days"
    max_days: int = Field(default=60, ge=0, le=366)
    eom_days: int = Field(default=45, ge=0, le=366)
    eom_method: EomMethod = EomMethod.DAYS_THEN_MONTH_END
    include_credit_notes: bool = False

    def limit(self, issue_date: date) -> date:
        """The latest due date allowed for an invoice issued on ``issue_date``."""
        return latest_due_date(
            issue_date,
            end_of_month=self.method == "end_of_month",
            days=self.max_days,
            eom_days=self.eom_days,
            eom_method=self.eom_method,
        )

    def describe(self) -> tuple[str, str]:
        """The limit in words (French, English)."""
        if self.method == "days":
            return f"{self.max_days} jours date de facture", f"{self.max_days} days from the invoice date"
        return f"{self.eom_days} jours fin de mois", f"{self.eom_days} days end of month"

    def check(self, invoice: Invoice) -> list[Violation]:
        """See the class docstring."""
        if invoice.is_credit_note and not self.include_credit_notes:
            return []
        if invoice.issue_date is None:
            return [missing("BT-2")]
        if invoice.due_date is None:
            return [
                Violation(
                    ("BT-9",),
                    None,
                    "BT-9 (date d'échéance) est absent : le délai de paiement ne peut être vérifié.",
                    "BT-9 (due date) is missing: the payment term cannot be checked.",
                )
            ]
        limit = self.limit(invoice.issue_date)
        if invoice.due_date <= limit:
            return []
        fr, en = self.describe()
        due, lim = invoice.due_date.isoformat(), limit.isoformat()
        return [
            Violation(
                ("BT-9", "BT-2"),
                due,
                f"L'échéance {due} dépasse le délai légal ({fr}) : au plus tard le {lim}.",
                f"Due date {due} exceeds the legal limit ({en}): {lim} at the latest.",
            )
        ]

    def terms(self) -> tuple[str, ...]:
        """See :meth:`Condition.terms`."""
        return ("BT-9", "BT-2")


#: What each legal note says, to recognise it in free text (BT-22, BT-20).
DEFAULT_NOTE_PATTERNS: dict[str, str] = {
    "PMD": r"p[ée]nalit[ée]|int[ée]r[êe]ts? (?:de|moratoires)|late[- ]payment (?:penalt|interest)|penalty",
    "PMT": r"(?s)(?=.*\b40\b)(?=.*(?:indemnit|recouvrement|recovery|compensation))",
    "AAB": r"escompte|discount",
}
_NOTE_NAMES = {
    "PMD": ("le taux des pénalités de retard", "the late-payment penalty rate"),
    "PMT": ("l'indemnité forfaitaire de recouvrement de 40 EUR", "the 40 EUR flat recovery indemnity"),
    "AAB": ("les conditions d'escompte", "the discount conditions"),
}


class LegalNotes(Condition):
    """Invoice notes (BG-1) carry the legal mentions: by subject code (BT-21) and, for robustness, text.

    A note with the subject code satisfies the rule when its text says what the
    mention must say (``check_text``); without such a note, any note or the payment
    terms (BT-20) whose text matches is accepted when ``text_fallback`` is on.
    """

    kind: Literal[RuleKind.LEGAL_NOTES] = RuleKind.LEGAL_NOTES
    subjects: list[Annotated[str, Field(pattern=r"^[A-Z]{3}$")]] = Field(min_length=1, max_length=20)
    text_fallback: bool = True
    check_text: bool = True
    patterns: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _patterns(self) -> LegalNotes:
        for code in self.patterns:
            if code not in self.subjects:
                raise ValueError(f"patterns names {code}, which is not in subjects")
        for code in self.subjects:
            if code not in self.patterns and code not in DEFAULT_NOTE_PATTERNS and self._needs_pattern():
                raise ValueError(f"no built-in text for subject {code}: give patterns.{code}")
            self.pattern(code)
        return self

    def _needs_pattern(self) -> bool:
        return self.text_fallback or self.check_text

    def pattern(self, code: str) -> re.Pattern[str] | None:
        """The compiled text pattern of a subject code, if any."""
        text = self.patterns.get(code, DEFAULT_NOTE_PATTERNS.get(code))
        return None if text is None else safe_pattern(text, flags=re.IGNORECASE)

    def check(self, invoice: Invoice) -> list[Violation]:
        """See the class docstring."""
        out: list[Violation] = []
        texts = [n.text for n in invoice.notes if n.text and n.text.strip()]
        if invoice.payment_terms:
            texts.append(invoice.payment_terms)
        for code in self.subjects:
            regex = self.pattern(code)
            coded = [n.text for n in invoice.notes if (n.subject_code or "").strip().upper() == code]
            coded = [t for t in coded if t and t.strip()]
            name_fr, name_en = _NOTE_NAMES.get(code, (f"la mention {code}", f"the {code} mention"))
            if coded and (not self.check_text or regex is None):
                continue
            if coded and regex is not None and any(regex.search(bounded(t)) for t in coded):
                continue
            if self.text_fallback and regex is not None and any(regex.search(bounded(t)) for t in texts):
                continue
            if coded:
                out.append(
                    Violation(
                        ("BT-21", "BT-22"),
                        coded[0][:200],
                        f"La note {code} ne mentionne pas {name_fr}.",
                        f"The {code} note does not state {name_en}.",
                    )
                )
            else:
                out.append(
                    Violation(
                        ("BT-21", "BT-22"),
                        None,
                        f"Aucune note (BT-21 = {code}) ne mentionne {name_fr}.",
                        f"No note (BT-21 = {code}) states {name_en}.",
                    )
                )
        return out

    def terms(self) -> tuple[str, ...]:
        """See :meth:`Condition.terms`."""
        return ("BT-21", "BT-22")


def _decimal(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    return value


class PoRequiredAbove(Condition):
    """A purchase order reference (BT-13) is given when the amount passes a threshold.

    The amount is BT-112 (total with VAT) by default, or BT-109 (without VAT);
    "above" is strictly greater unless ``inclusive``. With ``currency`` set, only
    invoices in that currency are concerned.
    """

    kind: Literal[RuleKind.PO_REQUIRED_ABOVE] = RuleKind.PO_REQUIRED_ABOVE
    threshold: Decimal = Field(ge=0, max_digits=18, decimal_places=2)
    amount_field: Literal["BT-112", "BT-109"] = "BT-112"
    inclusive: bool = False
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")

    @field_validator("threshold", mode="before")
    @classmethod
    def _no_float(cls, value: Any) -> Any:
        return _decimal(value)

    def check(self, invoice: Invoice) -> list[Violation]:
        """See the class docstring."""
        if self.currency and (invoice.currency or "").upper() != self.currency:
            return []
        totals = invoice.totals
        amount = totals.total_with_vat if self.amount_field == "BT-112" else totals.total_without_vat
        if amount is None or values_of(invoice, "BT-13"):
            return []
        over = amount >= self.threshold if self.inclusive else amount > self.threshold
        if not over:
            return []
        return [
            Violation(
                ("BT-13", self.amount_field),
                str(amount),
                f"BT-13 (référence de commande) est obligatoire au-delà de {self.threshold} "
                f"({self.amount_field} = {amount}).",
                f"BT-13 (purchase order reference) is required above {self.threshold} "
                f"({self.amount_field} = {amount}).",
            )
        ]

    def terms(self) -> tuple[str, ...]:
        """See :meth:`Condition.terms`."""
        return ("BT-13", self.amount_field)


def _buyer_sirens(party: Party) -> list[str]:
    found: list[str] = []
    if party.siren:
        found.append(party.siren)
    for ident in [party.legal_registration, *party.identifiers]:
        if ident is None or ident.scheme not in (None, "0002", "0009"):
            continue
        digits = "".join(ident.value.split())
        if digits.isdigit() and len(digits) in (9, 14):
            found.append(digits[:9])
    return list(dict.fromkeys(found))


class BuyerIdentity(Condition):
    """We are the buyer: our SIREN (BT-47/BT-46) and/or our electronic address (BT-49)."""

    kind: Literal[RuleKind.BUYER_IDENTITY] = RuleKind.BUYER_IDENTITY
    siren: str | None = None
    electronic_address: str | None = Field(default=None, min_length=1, max_length=200)
    electronic_address_scheme: str | None = Field(default=None, pattern=r"^[0-9A-Z]{1,6}$")

    @field_validator("siren")
    @classmethod
    def _siren(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(fr_siren.validate(value))
        except StdnumError as exc:
            raise ValueError(f"{value!r} is not a valid SIREN: {exc}") from None

    @model_validator(mode="after")
    def _something(self) -> BuyerIdentity:
        if self.siren is None and self.electronic_address is None:
            raise ValueError("give siren, electronic_address, or both")
        return self

    def check(self, invoice: Invoice) -> list[Violation]:
        """See the class docstring."""
        out: list[Violation] = []
        buyer = invoice.buyer
        if self.siren is not None:
            sirens = _buyer_sirens(buyer)
            if not sirens:
                out.append(
                    Violation(
                        ("BT-47", "BT-46"),
                        None,
                        f"Le SIREN de l'acheteur (BT-47) est absent ; attendu : {self.siren}.",
                        f"The buyer's SIREN (BT-47) is missing; expected: {self.siren}.",
                    )
                )
            elif self.siren not in sirens:
                out.append(
                    Violation(
                        ("BT-47", "BT-46"),
                        ", ".join(sirens),
                        f"Le SIREN de l'acheteur {', '.join(sirens)} n'est pas le nôtre ({self.siren}).",
                        f"The buyer's SIREN {', '.join(sirens)} is not ours ({self.siren}).",
                    )
                )
        if self.electronic_address is not None:
            out.extend(self._address(buyer.electronic_address))
        return out

    def _address(self, address: Identifier | None) -> list[Violation]:
        expected = self.electronic_address or ""
        scheme = self.electronic_address_scheme
        shown = f"{scheme}:{expected}" if scheme else expected
        if address is None or not address.value.strip():
            return [
                Violation(
                    ("BT-49",),
                    None,
                    f"L'adresse électronique de l'acheteur (BT-49) est absente ; attendue : {shown}.",
                    f"The buyer's electronic address (BT-49) is missing; expected: {shown}.",
                )
            ]
        same = address.value.strip().casefold() == expected.strip().casefold()
        if same and self.electronic_address_scheme in (None, address.scheme):
            return []
        got = address.value if not address.scheme else f"{address.scheme}:{address.value}"
        return [
            Violation(
                ("BT-49",),
                got,
                f"L'adresse électronique de l'acheteur (BT-49) {got} n'est pas la nôtre ({shown}).",
                f"The buyer's electronic address (BT-49) {got} is not ours ({shown}).",
            )
        ]

    def terms(self) -> tuple[str, ...]:
        """See :meth:`Condition.terms`."""
        terms: tuple[str, ...] = ()
        if self.siren is not None:
            terms += ("BT-47", "BT-46")
        if self.electronic_address is not None:
            terms += ("BT-49",)
        return terms
