"""Rule sets as YAML: read with bounds, checked rule by rule, written back the same way.

The text is untrusted (an administrator's upload): it is bounded in size, scanned
event by event before it is loaded (no aliases, bounded nesting and node count,
so neither an "anchors bomb" nor deep nesting gets through), then read with
``yaml.safe_load`` only (no Python tags). Every problem names the rule's index,
its id and the field, and all problems are reported at once.

>>> rs = load_ruleset('''
... version: 1
... name: acme
... scope: customer
... rules:
...   - id: po-required
...     kind: field_required
...     status: "210"
...     reason: CMD_ERR
...     message_fr: Numéro de commande obligatoire.
...     message_en: Purchase order number required.
...     params: {fields: [BT-13]}
... ''')
>>> rs.rules[0].kind.value, load_ruleset(dump_ruleset(rs)) == rs
('field_required', True)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from schemas.errors import ErrorCode, InputRejected
from validation.rules.conditions import RuleKind
from validation.rules.model import Rule, RuleSet

#: Largest rule-set text accepted, in bytes.
MAX_RULES_BYTES = 512 * 1024
#: Most rules in one set.
MAX_RULES = 500
#: Deepest nesting of YAML collections.
MAX_DEPTH = 10
#: Most YAML nodes (scalars and collections) in one text.
MAX_NODES = 100_000

_TOP_KEYS = ("version", "name", "scope", "party", "description", "rules")
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class RuleProblem:
    """One problem in a rule-set text: where (rule index and id, field) and what."""

    message: str
    index: int | None = None
    rule_id: str | None = None
    field: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where: list[str] = []
        if self.index is not None:
            where.append(f"rule {self.index}" + (f" ({self.rule_id})" if self.rule_id else ""))
        if self.field:
            where.append(f"field {self.field}")
        if self.line is not None:
            where.append(f"line {self.line}")
        return (", ".join(where) + ": " if where else "") + self.message


def _rejected(problems: list[RuleProblem], source: str | None) -> InputRejected:
    head = f"{len(problems)} problem(s) in the rule set" + (f" {source}" if source else "")
    return InputRejected(
        head + ": " + "; ".join(str(p) for p in problems),
        code=ErrorCode.CUSTOMER_RULES_INVALID,
        where=source,
        problems=[str(p) for p in problems],
    )


def _scan(text: str) -> list[RuleProblem]:
    """Refuse aliases, deep nesting and too many nodes before anything is built."""
    depth = nodes = 0
    try:
        for event in yaml.parse(text, Loader=_SafeLoader):
            line = event.start_mark.line + 1 if event.start_mark is not None else None
            if isinstance(event, yaml.AliasEvent):
                return [RuleProblem("YAML aliases (*name) are not accepted in rule sets", line=line)]
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    return [RuleProblem(f"the YAML is nested deeper than {MAX_DEPTH} levels", line=line)]
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            if isinstance(event, yaml.NodeEvent):
                nodes += 1
                if nodes > MAX_NODES:
                    return [RuleProblem(f"the YAML holds more than {MAX_NODES} values", line=line)]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        return [RuleProblem(f"not valid YAML: {problem}", line=line)]
    return []


def _field(loc: tuple[int | str, ...]) -> str:
    kinds = {k.value for k in RuleKind}
    # drop the discriminator tag pydantic inserts ("params.field_format.pattern" -> "params.pattern")
    parts = [str(p) for i, p in enumerate(loc) if not (i == 1 and loc[0] == "params" and p in kinds)]
    return ".".join(parts)


def _rule_problems(index: int, raw: Any) -> tuple[Rule | None, list[RuleProblem]]:
    if not isinstance(raw, dict):
        return None, [RuleProblem("a rule must be a mapping of id, kind, params...", index=index)]
    rule_id = raw.get("id") if isinstance(raw.get("id"), str) else None
    kind = raw.get("kind")
    kinds = [k.value for k in RuleKind]
    if kind not in kinds:
        msg = f"unknown rule kind {kind!r}; known kinds: {', '.join(kinds)}"
        return None, [RuleProblem(msg, index=index, rule_id=rule_id, field="kind")]
    params = raw.get("params", {})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        return None, [RuleProblem("params must be a mapping", index=index, rule_id=rule_id, field="params")]
    data = {k: v for k, v in raw.items() if k != "kind"}
    data["params"] = {**params, "kind": kind}
    try:
        return Rule.model_validate(data), []
    except ValidationError as exc:
        return None, [
            RuleProblem(
                str(err["msg"]).removeprefix("Value error, "),
                index=index,
                rule_id=rule_id,
                field=_field(tuple(err["loc"])) or None,
            )
            for err in exc.errors()
        ]


def check_rules_text(text: str) -> tuple[RuleSet | None, list[RuleProblem]]:
    """Read a rule-set text; the rule set when it is sound, and every problem found."""
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_RULES_BYTES:
        return None, [RuleProblem(f"the rule set is {size} bytes; at most {MAX_RULES_BYTES} are accepted")]
    problems = _scan(text)
    if problems:
        return None, problems
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:  # tags such as !!python/object are refused here
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        return None, [RuleProblem(f"not accepted YAML: {getattr(exc, 'problem', None) or exc}", line=line)]
    if not isinstance(data, dict):
        return None, [RuleProblem("a rule set must be a mapping with version, name, scope and rules")]
    known = ", ".join(_TOP_KEYS)
    problems = [RuleProblem(f"unknown key {k!r}; known: {known}") for k in data if k not in _TOP_KEYS]
    raw_rules = data.get("rules", [])
    if not isinstance(raw_rules, list):
        return None, [*problems, RuleProblem("rules must be a list", field="rules")]
    if len(raw_rules) > MAX_RULES:
        return None, [*problems, RuleProblem(f"{len(raw_rules)} rules; at most {MAX_RULES}", field="rules")]
    rules: list[Rule] = []
    for index, raw in enumerate(raw_rules):
        rule, found = _rule_problems(index, raw)
        problems.extend(found)
        if rule is not None:
            rules.append(rule)
    seen: dict[str, int] = {}
    for index, rule in enumerate(rules):
        if rule.id in seen:
            problems.append(RuleProblem("the id is used twice", index=index, rule_id=rule.id, field="id"))
        seen.setdefault(rule.id, index)
    if problems:
        return None, problems
    head = {k: v for k, v in data.items() if k != "rules"}
    try:
        return RuleSet.model_validate({**head, "rules": rules}), []
    except ValidationError as exc:
        return None, [
            RuleProblem(str(e["msg"]).removeprefix("Value error, "), field=_field(tuple(e["loc"])) or None)
            for e in exc.errors()
        ]


def load_ruleset(text: str, *, source: str | None = None) -> RuleSet:
    """The rule set a YAML text describes; raises ``InputRejected`` naming every problem."""
    ruleset, problems = check_rules_text(text)
    if ruleset is None:
        raise _rejected(problems or [RuleProblem("the rule set could not be read")], source)
    return ruleset


def dump_ruleset(ruleset: RuleSet) -> str:
    """The YAML text of a rule set; ``load_ruleset(dump_ruleset(rs)) == rs``."""
    return str(
        yaml.safe_dump(
            ruleset.to_data(), sort_keys=False, allow_unicode=True, default_flow_style=False, width=100
        )
    )


def _read(path: str | Path) -> str:
    file = Path(path)
    try:
        size = file.stat().st_size
        if size > MAX_RULES_BYTES:
            raise InputRejected(
                f"the rule set is {size} bytes; at most {MAX_RULES_BYTES} are accepted",
                code=ErrorCode.CUSTOMER_RULES_INVALID,
                where=str(file),
            )
        with file.open("rb") as fh:
            data = fh.read(MAX_RULES_BYTES + 1)
    except OSError as exc:
        raise InputRejected(
            f"the rule set cannot be read: {exc.strerror or exc}",
            code=ErrorCode.CUSTOMER_RULES_INVALID,
            where=str(file),
        ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputRejected(
            f"the rule set is not UTF-8 text (byte {exc.start})",
            code=ErrorCode.CUSTOMER_RULES_INVALID,
            where=str(file),
        ) from None


def rules_from_file(path: str | Path) -> RuleSet:
    """The rule set of a YAML file (``encaisse validate --rules FILE``); ``InputRejected`` otherwise."""
    return load_ruleset(_read(path), source=str(path))


def check_rules_file(path: str | Path) -> tuple[RuleSet | None, list[RuleProblem]]:
    """Check a YAML rule-set file (``encaisse rules check FILE``): the rule set if sound, and the problems.

    A file that cannot be read at all gives one problem saying why.
    """
    try:
        text = _read(path)
    except InputRejected as exc:
        return None, [RuleProblem(exc.message)]
    return check_rules_text(text)
