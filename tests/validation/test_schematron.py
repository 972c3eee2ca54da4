"""The schematron, French and customer layers on single documents, and SVRL reading."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from ingest.kinds import Profile
from ingest.safexml import parse_xml
from schemas.errors import UnknownRuleset
from schemas.findings import Finding, Layer, Severity
from schemas.invoice import Invoice, Syntax
from schemas.settings import get_settings
from validation import ValidationReport, get_ruleset, rulesets, validate, validate_many
from validation import schematron as sch
from validation.report import LayerStatus
from validation.rulesets import unregister_ruleset

VALID_FR = "cii-xml/python-factur-x/xml/factur-x-en16931.xml"
BRFR_FAILS = "cii-xml/mustangproject/validV2FR.xml"  # French seller, fails BR-FR rules
GERMAN_INVALID = "cii-xml/kosit-xrechnung-schematron/cii/cii-br-de-11-test.xml"
MINIMUM_NOT_USED = "cii-xml/zugferd-csharp/demodata/zugferd21/zugferd_2p1_MINIMUM_Rechnung-factur-x.xml"
UBL_CN_INVALID = "ubl-xml/kosit-xrechnung-schematron/ubl-cn/ubl-cn-peppol-en16931-r110.xml"
DYNAMIC_ERROR = "cii-xml/mustangproject/Extended_fremdwaehrung.xml"

SVRL = b"""<svrl:schematron-output xmlns:svrl="http://purl.oclc.org/dsdl/svrl">
  <svrl:fired-rule context="/a"/>
  <svrl:failed-assert test="x" id="BR-01" location="/*:a[namespace-uri()=''][1]/*:b[namespace-uri()=''][1]">
    <svrl:text>[BR-01]-An Invoice shall have a Specification identifier (BT-24).</svrl:text>
  </svrl:failed-assert>
  <svrl:failed-assert test="y" id="W-1" flag="warning" location="/*:a[namespace-uri()=''][1]/@v">
    <svrl:text>a warning about BG-23 and BT-116</svrl:text>
  </svrl:failed-assert>
  <svrl:successful-report test="@schemeID" location="/*:a[namespace-uri()=''][1]">
    <svrl:text>Attribute @schemeID' marked as not used in the given context.</svrl:text>
  </svrl:successful-report>
</svrl:schematron-output>"""


def _layer(report: ValidationReport, layer: Layer) -> LayerStatus:
    return next(lr.status for lr in report.layers if lr.layer is layer)


def test_svrl_findings_severity_ids_terms_lines_and_values() -> None:
    source = parse_xml(b'<a v="7">\n<b>urn:wrong</b>\n</a>')
    found = sch.findings_from_svrl(SVRL, Layer.SCHEMATRON, source)
    assert [f.rule_id for f in found] == ["BR-01", "W-1", sch.NOT_USED_ID]
    br01, warning, not_used = found
    assert br01.severity is Severity.FATAL and br01.terms == ("BT-24",)
    assert br01.line == 2 and br01.value == "urn:wrong"
    assert br01.message.startswith("[BR-01]-An Invoice")
    assert warning.severity is Severity.WARNING and warning.terms == ("BG-23", "BT-116")
    assert warning.value == "7" and warning.line == 1
    assert not_used.severity is Severity.FATAL and sch.reference_id(not_used.rule_id) == "(no id)"


def test_stylesheet_follows_the_profile() -> None:
    rules = get_ruleset("facturx-7.8")
    assert rules.stylesheet(Syntax.CII, Profile.MINIMUM).name == "Factur-X_1.09_MINIMUM.xsl"
    assert rules.stylesheet(Syntax.CII, Profile.BASIC_WL).name == "FACTUR-X_BASIC-WL.xslt"
    assert rules.stylesheet(Syntax.CII, Profile.EXTENDED).name == "FACTUR-X_EXTENDED.xslt"
    assert rules.stylesheet(Syntax.CII, None).name == "FACTUR-X_EN16931.xslt"
    assert rules.stylesheet(Syntax.UBL, None).name == "EN16931-UBL-validation.xslt"


def test_unknown_ruleset_is_refused() -> None:
    with pytest.raises(UnknownRuleset):
        validate(b"<a/>", ruleset="no-such-rules-9.9")


def test_valid_french_invoice_passes_every_layer(corpus: Path) -> None:
    report = validate((corpus / VALID_FR).read_bytes())
    assert report.valid, report.findings
    statuses = {lr.layer: lr.status for lr in report.layers}
    assert statuses[Layer.SCHEMATRON] is LayerStatus.PASSED
    assert statuses[Layer.FRENCH] is LayerStatus.PASSED  # French seller: on by default
    assert statuses[Layer.CUSTOMER] is LayerStatus.NOT_APPLICABLE
    sch_layer = next(lr for lr in report.layers if lr.layer is Layer.SCHEMATRON)
    assert sch_layer.artefact == "facturx-7.8: FACTUR-X_EN16931.xslt"
    assert (
        sch_layer.version is not None and "factur-x 7.8" in sch_layer.version and "Saxon" in sch_layer.version
    )


def test_schematron_findings_of_an_invalid_invoice(corpus: Path) -> None:
    report = validate((corpus / GERMAN_INVALID).read_bytes())
    assert not report.valid
    assert _layer(report, Layer.SCHEMATRON) is LayerStatus.FAILED
    fatal = [f for f in report.findings if f.layer is Layer.SCHEMATRON and f.severity is Severity.FATAL]
    assert fatal and all(f.location and f.location.startswith("/") for f in fatal)
    assert _layer(report, Layer.FRENCH) is LayerStatus.NOT_APPLICABLE  # German seller


def test_french_layer_follows_seller_unless_forced(corpus: Path) -> None:
    fr_data = (corpus / BRFR_FAILS).read_bytes()
    assert _layer(validate(fr_data), Layer.FRENCH) is LayerStatus.FAILED
    assert _layer(validate(fr_data, french=False), Layer.FRENCH) is LayerStatus.NOT_APPLICABLE
    de_data = (corpus / GERMAN_INVALID).read_bytes()
    forced = validate(de_data, french=True)
    assert _layer(forced, Layer.FRENCH) in (LayerStatus.PASSED, LayerStatus.FAILED)
    french = [f for f in forced.findings if f.layer is Layer.FRENCH]
    assert all(f.rule_id.startswith("BR-FR") for f in french)


def test_french_rules_do_not_apply_to_minimum(corpus: Path) -> None:
    report = validate((corpus / MINIMUM_NOT_USED).read_bytes(), french=True)
    french = next(lr for lr in report.layers if lr.layer is Layer.FRENCH)
    assert french.status is LayerStatus.NOT_APPLICABLE and french.reason and "BASIC WL" in french.reason
    ids = report.rule_ids(Severity.FATAL, Layer.SCHEMATRON)
    assert ids == [sch.NOT_USED_ID]


def test_ubl_credit_note(corpus: Path) -> None:
    report = validate((corpus / UBL_CN_INVALID).read_bytes())
    assert report.format == "ubl-creditnote"
    assert "UBL-SR-53" in report.rule_ids(Severity.FATAL, Layer.SCHEMATRON)


def test_dynamic_error_in_rules_is_a_fatal_finding_not_a_crash(corpus: Path) -> None:
    """The official CII rules stop on this document (normalize-space of two items): reported, never valid."""
    report = validate((corpus / DYNAMIC_ERROR).read_bytes(), ruleset="facturx-7.8", french=False)
    assert not report.valid
    assert _layer(report, Layer.XSD) is LayerStatus.FAILED
    assert _layer(report, Layer.SCHEMATRON) is LayerStatus.FAILED
    stopped = [f for f in report.findings if f.rule_id == sch.RUNTIME_ERROR_ID]
    assert (
        len(stopped) == 1 and stopped[0].layer is Layer.SCHEMATRON and stopped[0].severity is Severity.FATAL
    )
    assert "normalize-space" in stopped[0].message


def test_customer_rules_hook(corpus: Path) -> None:
    def invoices_in_usd(invoice: Invoice) -> Iterable[Finding]:
        if invoice.currency != "USD":
            yield Finding(
                rule_id="CUST-CURRENCY",
                severity=Severity.FATAL,
                layer=Layer.SCHEMATRON,  # corrected to CUSTOMER by the engine
                message=f"this customer is invoiced in USD, not {invoice.currency} (BT-5)",
                terms=("BT-5",),
            )

    def always_fine(invoice: Invoice) -> Iterable[Finding]:
        return ()

    data = (corpus / VALID_FR).read_bytes()
    assert _layer(validate(data, customer_rules=[always_fine]), Layer.CUSTOMER) is LayerStatus.PASSED
    report = validate(data, customer_rules=[always_fine, invoices_in_usd])
    custom = [f for f in report.findings if f.rule_id == "CUST-CURRENCY"]
    assert custom and custom[0].layer is Layer.CUSTOMER
    assert _layer(report, Layer.CUSTOMER) is LayerStatus.FAILED
    assert not report.valid


def test_stylesheets_are_compiled_once(corpus: Path) -> None:
    data = (corpus / VALID_FR).read_bytes()
    validate(data)
    before = sch.compiled_count()
    for _ in range(3):
        validate(data)
    assert sch.compiled_count() == before


def test_validate_many_with_two_workers_matches_one_process(corpus: Path) -> None:
    paths = [corpus / p for p in (VALID_FR, BRFR_FAILS, GERMAN_INVALID, UBL_CN_INVALID)]
    in_process = validate_many(paths, workers=1)
    pooled = validate_many(paths, workers=2)
    assert [r.rule_ids(Severity.FATAL) for r in pooled] == [r.rule_ids(Severity.FATAL) for r in in_process]
    assert [r.valid for r in pooled] == [True, False, False, False]


def test_rulesets_dir_from_the_environment(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ENCAISSE_RULESETS_DIR names a folder of compiled XSLT; its rule sets are named and versioned."""
    unregister_ruleset("cen-1.3.16")
    monkeypatch.setenv("ENCAISSE_RULESETS_DIR", str(corpus / "schematron"))
    monkeypatch.setattr(rulesets, "_env_loaded", [])
    get_settings.cache_clear()
    try:
        cen = get_ruleset("cen-1.3.16")
        assert cen.version == "CEN EN 16931 validation artefacts 1.3.16"
        assert cen.stylesheet(Syntax.CII, Profile.BASIC).name == "EN16931-CII-validation.xslt"
        assert cen.stylesheet(Syntax.UBL, None).name == "EN16931-UBL-validation.xslt"
        report = validate((corpus / GERMAN_INVALID).read_bytes(), ruleset="cen-1.3.16")
        assert report.ruleset == "cen-1.3.16"
    finally:
        get_settings.cache_clear()
