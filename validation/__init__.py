"""Validation of an invoice in layers, reported in one ValidationReport.

The public names are loaded on first use, so importing ``validation.report``
alone stays cheap and does not start Saxon or the ingest stage.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from validation.engine import CustomerRule, iter_validate, validate, validate_many, warm_up
    from validation.report import LayerResult, LayerStatus, ValidationReport
    from validation.rulesets import available_rulesets, get_ruleset, register_ruleset_dir

_WHERE = {
    "CustomerRule": "validation.engine",
    "iter_validate": "validation.engine",
    "validate": "validation.engine",
    "validate_many": "validation.engine",
    "warm_up": "validation.engine",
    "LayerResult": "validation.report",
    "LayerStatus": "validation.report",
    "ValidationReport": "validation.report",
    "available_rulesets": "validation.rulesets",
    "get_ruleset": "validation.rulesets",
    "register_ruleset_dir": "validation.rulesets",
}

__all__ = [
    "CustomerRule",
    "LayerResult",
    "LayerStatus",
    "ValidationReport",
    "available_rulesets",
    "get_ruleset",
    "iter_validate",
    "register_ruleset_dir",
    "validate",
    "validate_many",
    "warm_up",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'validation' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
