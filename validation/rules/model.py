"""Billing-constraint rules and rule sets, and the lifecycle decision they lead to.

A :class:`Rule` states one condition (see :mod:`validation.rules.conditions`), the
messages a sender reads when it fails, its severity, and the lifecycle status and
official reason code the buyer answers with: 210 Refusée or 208 Suspendue, with a
reason the BR-FR-CDV code lists allow for that status (checked when the rule is
built). A :class:`RuleSet` is either what we accept from suppliers or what one
customer requires of our invoices; :meth:`RuleSet.as_customer_rules` hands it to
:func:`validation.validate`, and :func:`decide` turns the findings into a status.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.findings import Finding, Layer, Severity
from schemas.invoice import Invoice
from schemas.lifecycle import ReasonCode, Status, allowed_reasons
from validation.explanations import explain
from validation.rules.conditions import AnyCondition, RuleKind, Violation

if TYPE_CHECKING:
    from validation.engine import CustomerRule

#: The statuses a billing constraint may lead to, the more severe first.
RULE_STATUSES: tuple[Status, ...] = (Status.REFUSEE, Status.SUSPENDUE)

RULE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"


class RuleScope(StrEnum):
    """Whose constraints a rule set holds."""

    SUPPLIERS = "suppliers"
    """What we accept from our suppliers (incoming invoices)."""
    CUSTOMER = "customer"
    """What one customer requires of the invoices we send it (outgoing invoices)."""


class Rule(BaseModel):
    """One billing constraint: a condition, its messages, and the status and reason it maps to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=RULE_ID_PATTERN)
    description: str | None = Field(default=None, max_length=1000)
    severity: Literal[Severity.FATAL, Severity.WARNING] = Severity.FATAL
    status: Status
    reason: ReasonCode
    message_fr: str = Field(min_length=1, max_length=1000)
    message_en: str = Field(min_length=1, max_length=1000)
    params: AnyCondition

    @field_validator("id")
    @classmethod
    def _not_official(cls, value: str) -> str:
        if explain(value) is not None:
            raise ValueError(f"{value!r} is the id of an official rule or error code; choose another id")
        return value

    @field_validator("status", mode="before")
    @classmethod
    def _status_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _reason_allowed(self) -> Rule:
        if self.status not in RULE_STATUSES:
            raise ValueError(
                f"status {self.status} ({self.status.label_en}) is not one a billing constraint leads to; "
                "use 210 (Refusée) or 208 (Suspendue)"
            )
        allowed = allowed_reasons(self.status)
        if self.reason not in allowed:
            raise ValueError(
                f"reason {self.reason} is not allowed for status {self.status} ({self.status.label_fr}); "
                f"allowed: {', '.join(sorted(allowed))}"
            )
        return self

    @property
    def kind(self) -> RuleKind:
        """The kind of condition the rule states."""
        return self.params.kind

    def finding(self, violation: Violation) -> Finding:
        """The finding that reports one violation of this rule."""
        return Finding(
            rule_id=self.id,
            severity=self.severity,
            layer=Layer.CUSTOMER,
            message=f"{self.message_fr} / {self.message_en} ({violation.detail_en})",
            terms=violation.terms,
            value=violation.value,
            explanation_fr=self.message_fr,
            explanation_en=self.message_en,
            hint_fr=violation.detail_fr,
            hint_en=violation.detail_en,
        )

    def __call__(self, invoice: Invoice) -> list[Finding]:
        """The findings this rule raises on the invoice (none when it is met)."""
        return [self.finding(v) for v in self.params.check(invoice)]

    def to_data(self) -> dict[str, Any]:
        """The rule as plain data (the YAML form): parameters left at their defaults are left out."""
        data: dict[str, Any] = {"id": self.id, "kind": self.kind.value}
        if self.description is not None:
            data["description"] = self.description
        data["severity"] = self.severity.value
        data["status"] = self.status.value
        data["reason"] = self.reason.value
        data["message_fr"] = self.message_fr
        data["message_en"] = self.message_en
        data["params"] = self.params.model_dump(mode="json", exclude={"kind"}, exclude_defaults=True)
        return data


class RuleSet(BaseModel):
    """The rules of one party: what we accept from suppliers, or what one customer requires."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    name: str = Field(min_length=1, max_length=200)
    scope: RuleScope
    party: str | None = Field(default=None, max_length=200, description="the customer's id (scope customer)")
    description: str | None = Field(default=None, max_length=2000)
    rules: tuple[Rule, ...] = ()

    @model_validator(mode="after")
    def _unique_ids(self) -> RuleSet:
        seen: set[str] = set()
        for index, rule in enumerate(self.rules):
            if rule.id in seen:
                raise ValueError(f"rule {index} ({rule.id}): the id is used twice")
            seen.add(rule.id)
        return self

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id; ``KeyError`` when there is none."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)

    def as_customer_rules(self) -> list[CustomerRule]:
        """The rules as :class:`~validation.engine.CustomerRule` callables for ``validate``."""
        return list(self.rules)

    def evaluate(self, invoice: Invoice) -> list[Finding]:
        """Every finding of every rule on the invoice, in rule order."""
        return [f for rule in self.rules for f in rule(invoice)]

    def to_data(self) -> dict[str, Any]:
        """The rule set as plain data (the YAML form)."""
        data: dict[str, Any] = {"version": self.version, "name": self.name, "scope": self.scope.value}
        if self.party is not None:
            data["party"] = self.party
        if self.description is not None:
            data["description"] = self.description
        data["rules"] = [r.to_data() for r in self.rules]
        return data


def decide(
    findings: Iterable[Finding], rules: RuleSet | Sequence[Rule]
) -> tuple[Status, list[ReasonCode]] | None:
    """The status and reason codes the buyer answers with, or ``None`` when no rule refuses.

    Only fatal findings of the customer layer count, matched to their rule by id;
    any 210 Refusée outweighs 208 Suspendue, and the reasons are those of the
    rules at that status, in rule order, without repeats. Findings of ids no rule
    has are ignored (they belong to another rule set).
    """
    by_id = {r.id: r for r in (rules.rules if isinstance(rules, RuleSet) else rules)}
    failed = {
        f.rule_id
        for f in findings
        if f.layer is Layer.CUSTOMER and f.severity is Severity.FATAL and f.rule_id in by_id
    }
    if not failed:
        return None
    hit = [r for r in by_id.values() if r.id in failed]
    status = next(s for s in RULE_STATUSES if any(r.status is s for r in hit))
    reasons = list(dict.fromkeys(r.reason for r in hit if r.status is status))
    return status, reasons
