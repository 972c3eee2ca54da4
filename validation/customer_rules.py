"""Customers' billing constraints: the public names of :mod:`validation.rules`, under the issue's name."""

from __future__ import annotations

from validation.rules import (
    RULE_STATUSES,
    Rule,
    RuleKind,
    RuleProblem,
    RuleScope,
    RuleSet,
    check_rules_file,
    check_rules_text,
    decide,
    dump_ruleset,
    latest_due_date,
    load_ruleset,
    rules_from_file,
)

__all__ = [
    "RULE_STATUSES",
    "Rule",
    "RuleKind",
    "RuleProblem",
    "RuleScope",
    "RuleSet",
    "check_rules_file",
    "check_rules_text",
    "decide",
    "dump_ruleset",
    "latest_due_date",
    "load_ruleset",
    "rules_from_file",
]
