"""Rule sets as YAML: round trip, problems named by rule and field, hostile input refused cleanly."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from schemas.errors import ErrorCode, InputRejected
from validation.rules import (
    MAX_RULES_BYTES,
    RuleKind,
    RuleScope,
    check_rules_file,
    check_rules_text,
    dump_ruleset,
    load_ruleset,
    nested_repetition,
    rules_from_file,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "rules"

HEAD = """version: 1
name: test
scope: customer
party: C42
rules:
"""


def one_rule(body: str, *, rule_id: str = "r1") -> str:
    return (
        HEAD
        + f"""  - id: {rule_id}
    status: "210"
    reason: CMD_ERR
    message_fr: Commande.
    message_en: Order.
"""
        + body
    )


def problems(text: str) -> list[str]:
    ruleset, found = check_rules_text(text)
    assert ruleset is None
    return [str(p) for p in found]


# --------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("name", ["suppliers-default.yaml", "customer-example.yaml"])
def test_examples_round_trip(name: str) -> None:
    rs = rules_from_file(EXAMPLES / name)
    assert len(rs.rules) >= 8
    text = dump_ruleset(rs)
    again = load_ruleset(text)
    assert again == rs
    assert dump_ruleset(again) == text  # stable
    assert yaml.safe_load(text)["rules"][0]["status"] in ("210", "208")


def test_examples_cover_the_kinds_the_issue_names() -> None:
    kinds = {
        r.kind
        for name in ("suppliers-default.yaml", "customer-example.yaml")
        for r in rules_from_file(EXAMPLES / name).rules
    }
    assert kinds == set(RuleKind)
    default = rules_from_file(EXAMPLES / "suppliers-default.yaml")
    assert default.scope is RuleScope.SUPPLIERS
    assert {r.kind for r in default.rules} >= {
        RuleKind.BUYER_IDENTITY,
        RuleKind.PO_REQUIRED_ABOVE,
        RuleKind.PAYMENT_TERMS,
        RuleKind.LEGAL_NOTES,
    }


def test_defaults_are_left_out_and_values_typed() -> None:
    rs = load_ruleset(
        one_rule(
            """    kind: po_required_above
    params: {threshold: 5000, amount_field: BT-112}
"""
        )
    )
    data = yaml.safe_load(dump_ruleset(rs))
    assert data["rules"][0]["params"] == {"threshold": "5000"}
    assert data["rules"][0]["severity"] == "fatal"
    assert data["party"] == "C42"
    rs2 = load_ruleset(
        one_rule("    kind: field_required\n    params: {fields: [BT-13]}\n").replace('"210"', "210")
    )
    assert rs2.rules[0].status.value == "210"  # an unquoted YAML number is the status code


# --------------------------------------------------------------------------- problems named by rule and field


def test_unknown_kind() -> None:
    [p] = problems(one_rule("    kind: telepathy\n    params: {}\n", rule_id="psychic"))
    assert p.startswith("rule 0 (psychic), field kind: unknown rule kind 'telepathy'")
    assert "field_required" in p


def test_bad_regex_is_refused_at_load() -> None:
    [p] = problems(one_rule("    kind: field_format\n    params: {field: BT-13, pattern: 'PO(\\d+'}\n"))
    assert p.startswith("rule 0 (r1), field params") and "not a valid regular expression" in p


@pytest.mark.parametrize("pattern", [r"(a+)+$", r"(a|aa)*", r"(\w+\s?)*$", r"((ab)*)+", r"(x{1,9}){2,}"])
def test_catastrophic_regexes_are_refused(pattern: str) -> None:
    assert nested_repetition(pattern)
    body = f"    kind: field_format\n    params:\n      field: BT-13\n      pattern: '{pattern}'\n"
    [p] = problems(one_rule(body))
    assert "field params" in p and "exponential" in p


@pytest.mark.parametrize(
    "pattern", [r"PO\d{6,10}", r"(?:PO|BC)-\d{4}-\d+", r"(?>a+)+", r"(a+)++", r"(ab)?c+", r"[(]+"]
)
def test_ordinary_regexes_are_accepted(pattern: str) -> None:
    assert not nested_repetition(pattern)


def test_regex_runs_on_bounded_text_only() -> None:
    rs = load_ruleset(
        one_rule("    kind: legal_notes\n    params: {subjects: [PMT], patterns: {PMT: 'a*b'}}\n")
    )
    from schemas.invoice import Invoice, Note

    inv = Invoice(notes=[Note(subject_code="PMT", text="a" * 2_000_000)])
    start = time.perf_counter()
    assert len(rs.rules[0](inv)) == 1
    assert time.perf_counter() - start < 2


@pytest.mark.parametrize(
    ("status", "reason", "expected"),
    [
        ("210", "SIRET_ERR", "reason SIRET_ERR is not allowed for status 210"),
        ("208", "REF_ERR", None),
        ("213", "REJ_SEMAN", "use 210 (Refusée) or 208 (Suspendue)"),
        ("210", "NOPE", "field reason"),
    ],
)
def test_status_and_reason_checked_at_load(status: str, reason: str, expected: str | None) -> None:
    text = one_rule("    kind: field_required\n    params: {fields: [BT-13]}\n")
    text = text.replace('status: "210"', f'status: "{status}"').replace(
        "reason: CMD_ERR", f"reason: {reason}"
    )
    if expected is None:
        assert load_ruleset(text).rules[0].reason.value == reason
        return
    with pytest.raises(InputRejected) as info:
        load_ruleset(text, source="rules.yaml")
    assert info.value.code is ErrorCode.CUSTOMER_RULES_INVALID
    assert "rule 0 (r1)" in info.value.message and expected in info.value.message
    assert info.value.where == "rules.yaml"


def test_all_problems_reported_at_once() -> None:
    text = (
        HEAD
        + """  - id: ok
    kind: field_required
    status: "208"
    reason: CODE_ROUTAGE_ERR
    message_fr: a
    message_en: b
    params: {fields: [BT-10]}
  - id: bad-term
    kind: field_required
    status: "210"
    reason: CMD_ERR
    message_fr: a
    message_en: b
    params: {fields: [BT-9999]}
  - id: ok
    kind: currency_allowed
    status: "210"
    reason: NON_CONFORME
    message_fr: a
    message_en: b
    params: {currencies: [eur], extra: 1}
  - just a string
"""
    )
    found = problems(text)
    assert any(p.startswith("rule 1 (bad-term), field params.fields.0") and "BT-9999" in p for p in found)
    assert any(p.startswith("rule 2 (ok), field params.currencies.0") for p in found)
    assert any(p.startswith("rule 2 (ok), field params.extra") for p in found)
    assert any(p.startswith("rule 3: a rule must be a mapping") for p in found)


def test_duplicate_ids_and_unknown_top_keys() -> None:
    rule = one_rule("    kind: field_required\n    params: {fields: [BT-13]}\n")
    twice = rule + rule.split("rules:\n", 1)[1]
    assert any("rule 1 (r1), field id: the id is used twice" in p for p in problems(twice))
    assert any("unknown key 'colour'" in p for p in problems("colour: red\n" + rule))
    assert any("field scope" in p for p in problems(rule.replace("scope: customer", "scope: everyone")))


def test_messages_and_ids_required() -> None:
    text = one_rule("    kind: field_required\n    params: {fields: [BT-13]}\n").replace(
        "    message_en: Order.\n", ""
    )
    assert any("field message_en" in p for p in problems(text))
    assert any("field id" in p for p in problems(text.replace("id: r1", "id: 'bad id!'")))


# --------------------------------------------------------------------------- hostile YAML


def test_python_tags_are_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = f'!!python/object/apply:os.system ["touch {marker}"]\n'
    found = problems(text)
    assert found and "not accepted YAML" in found[0]
    assert not marker.exists()
    found = problems(one_rule("    kind: !!python/name:os.system\n    params: {}\n"))
    assert found and not marker.exists()


def test_anchor_bomb_is_refused_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 30):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    text = "\n".join(lines) + "\nrules: *a29\n"
    start = time.perf_counter()
    found = problems(text)
    assert time.perf_counter() - start < 2
    assert "aliases" in found[0]


def test_deep_nesting_is_refused_without_recursion_error() -> None:
    found = problems("rules: " + "[" * 50_000 + "]" * 50_000 + "\n")
    assert "nested deeper" in found[0]


def test_huge_input_is_refused_before_parsing(tmp_path: Path) -> None:
    big = one_rule("    kind: field_required\n    params: {fields: [BT-13]}\n") + "#" * MAX_RULES_BYTES + "\n"
    start = time.perf_counter()
    assert "at most" in problems(big)[0]
    path = tmp_path / "big.yaml"
    path.write_text(big)
    with pytest.raises(InputRejected, match="at most"):
        rules_from_file(path)
    assert time.perf_counter() - start < 2


def test_not_a_mapping_and_not_yaml() -> None:
    assert "must be a mapping" in problems("- a\n- b\n")[0]
    assert "not valid YAML" in problems("rules: [unclosed\n")[0]
    assert "rules must be a list" in problems(HEAD.replace("rules:\n", "rules: 3\n"))[0]


def test_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    ruleset, found = check_rules_file(missing)
    assert ruleset is None and "cannot be read" in str(found[0])
    with pytest.raises(InputRejected, match="cannot be read"):
        rules_from_file(missing)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("name: é\n".encode("latin-1"))
    assert "not UTF-8" in str(check_rules_file(latin)[1][0])
    good = tmp_path / "good.yaml"
    good.write_text(dump_ruleset(rules_from_file(EXAMPLES / "customer-example.yaml")), encoding="utf-8")
    ruleset, found = check_rules_file(good)
    assert found == [] and ruleset is not None and ruleset.name == "acme-industrie"
