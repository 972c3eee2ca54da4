"""Customers' billing constraints: declarative rule sets, evaluated on the canonical invoice.

One rule set holds what we accept from suppliers; one per customer holds what that
customer requires of our invoices. Each rule maps to a lifecycle status (210
Refusée or 208 Suspendue) and an official reason code; :func:`decide` gives the
outcome of a set of findings. Rule sets are read from and written to YAML
(:func:`load_ruleset`, :func:`dump_ruleset`, :func:`rules_from_file`); storing
them in the database is the ledger's business, not this package's.
"""

from __future__ import annotations

from validation.rules.conditions import (
    CONDITIONS,
    EomMethod,
    IdScheme,
    RuleKind,
    Violation,
    latest_due_date,
    month_end,
    nested_repetition,
)
from validation.rules.io import (
    MAX_RULES_BYTES,
    RuleProblem,
    check_rules_file,
    check_rules_text,
    dump_ruleset,
    load_ruleset,
    rules_from_file,
)
from validation.rules.model import RULE_STATUSES, Rule, RuleScope, RuleSet, decide
from validation.rules.terms import resolve, values_of

__all__ = [
    "CONDITIONS",
    "MAX_RULES_BYTES",
    "RULE_STATUSES",
    "EomMethod",
    "IdScheme",
    "Rule",
    "RuleKind",
    "RuleProblem",
    "RuleScope",
    "RuleSet",
    "Violation",
    "check_rules_file",
    "check_rules_text",
    "decide",
    "dump_ruleset",
    "latest_due_date",
    "load_ruleset",
    "month_end",
    "nested_repetition",
    "resolve",
    "rules_from_file",
    "values_of",
]
