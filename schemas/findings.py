"""Findings: what a check found, named the way EN 16931 names things."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class Severity(StrEnum):
    """How bad a finding is; only ``fatal`` makes an invoice invalid."""

    FATAL = "fatal"
    WARNING = "warning"
    INFORMATION = "information"


class Layer(StrEnum):
    """The validation layer that produced a finding, in the order they run."""

    SAFETY = "safety"
    CONTAINER = "container"
    XSD = "xsd"
    SCHEMATRON = "schematron"
    FRENCH = "french"
    CUSTOMER = "customer"


class Finding(BaseModel):
    """One problem (or remark) about one document."""

    model_config = ConfigDict(frozen=True)

    rule_id: str
    severity: Severity
    layer: Layer
    message: str
    location: str | None = Field(default=None, description="XPath of the offending node")
    line: int | None = None
    terms: tuple[str, ...] = Field(default=(), description="BT/BG ids the rule concerns")
    value: str | None = Field(default=None, description="the offending value, where one exists")
    explanation_fr: str | None = None
    explanation_en: str | None = None
    hint_fr: str | None = None
    hint_en: str | None = None
