"""The payment matching engine: pure functions from open invoices and statement lines to proposals."""

from __future__ import annotations

from payments.matching.engine import Matcher, match_lines
from payments.matching.report import ibans_to_learn, report_row
from payments.matching.types import (
    Action,
    Allocation,
    Line,
    MatchSettings,
    OpenInvoice,
    Proposal,
    Suggestion,
    WriteOffReason,
)

__all__ = [
    "Action",
    "Allocation",
    "Line",
    "MatchSettings",
    "Matcher",
    "OpenInvoice",
    "Proposal",
    "Suggestion",
    "WriteOffReason",
    "ibans_to_learn",
    "match_lines",
    "report_row",
]
