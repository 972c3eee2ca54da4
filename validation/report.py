"""The one report type every validation layer writes into."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from schemas.findings import Finding, Layer, Severity
from schemas.invoice import Invoice


class LayerStatus(StrEnum):
    """What happened to a layer in one validation run."""

    PASSED = "passed"  # ran, no fatal finding
    FAILED = "failed"  # ran, at least one fatal finding
    SKIPPED = "skipped"  # made impossible by an earlier layer (reason given)
    NOT_APPLICABLE = "not-applicable"  # e.g. French rules for a German seller


class LayerResult(BaseModel):
    """The outcome of one layer, with the versions of the artefacts it used."""

    layer: Layer
    status: LayerStatus
    artefact: str | None = Field(default=None, description="rule set / stylesheet / schema used")
    version: str | None = None
    reason: str | None = Field(default=None, description="why it was skipped or not applicable")


class ValidationReport(BaseModel):
    """Everything one validation pass found about one document."""

    format: str = Field(description="DocumentKind value")
    syntax: str | None = None
    profile: str | None = None
    ruleset: str
    layers: list[LayerResult] = Field(default_factory=list)
    findings: list[Finding] = Field(default_factory=list)
    invoice: Invoice | None = None
    error: dict[str, Any] | None = Field(default=None, description="the rejection, when input was refused")
    #: the invoice XML that was read (for a PDF, the one extracted from it); kept for the archive
    xml: bytes | None = Field(default=None, exclude=True, repr=False)

    @property
    def valid(self) -> bool:
        """Valid means: structured, every applicable layer ran, and no fatal finding."""
        if self.error is not None or self.invoice is None:
            return False
        if any(lr.status is LayerStatus.SKIPPED for lr in self.layers):
            return False
        return not any(f.severity is Severity.FATAL for f in self.findings)

    def rule_ids(self, severity: Severity, *layers: Layer) -> list[str]:
        """Sorted distinct rule ids of one severity, optionally limited to some layers."""
        return sorted(
            {f.rule_id for f in self.findings if f.severity is severity and (not layers or f.layer in layers)}
        )

    def as_json(self, path: str | None = None) -> dict[str, Any]:
        """The `encaisse validate --json` object for this document."""
        out: dict[str, Any] = {
            "path": path,
            "format": self.format,
            "profile": self.profile,
            "ruleset": self.ruleset,
            "valid": self.valid,
            "fatal": self.rule_ids(Severity.FATAL),
            "warnings": self.rule_ids(Severity.WARNING),
            "findings": [f.model_dump(mode="json", exclude_none=True) for f in self.findings],
            "layers": [lr.model_dump(mode="json", exclude_none=True) for lr in self.layers],
            "invoice": self.invoice.summary() if self.invoice is not None else None,
        }
        if self.error is not None:
            out["error"] = self.error
        return out
