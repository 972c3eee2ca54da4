"""The canonical invoice model (EN 16931 semantic model), findings and errors.

Nothing here imports any other package of the project: every stage depends on
this one, never the other way round.
"""

from __future__ import annotations

from schemas.errors import EncaisseError, ErrorCode, InputRejected
from schemas.findings import Finding, Layer, Severity
from schemas.invoice import Invoice

__all__ = [
    "EncaisseError",
    "ErrorCode",
    "Finding",
    "InputRejected",
    "Invoice",
    "Layer",
    "Severity",
]
