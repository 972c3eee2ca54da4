"""Schematron in-process with Saxon-HE (saxonche): compile once, run many times.

Each compiled stylesheet is kept for the life of the process, keyed by its
path. Stylesheets are compiled from their file, so a relative ``document()``
call (the Factur-X profile stylesheets read ``FACTUR-X_<P>_codedb.xml``)
resolves to the file next to the stylesheet, never to a network address.
The SVRL output is read with :mod:`ingest.safexml` and turned into
:class:`~schemas.findings.Finding` objects.

Saxon objects are not thread-safe: one lock serialises compilation and
transformation inside a process; parallelism comes from worker processes
(see :func:`validation.engine.validate_many`).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from lxml import etree

from ingest.safexml import parse_xml
from schemas.errors import RuleEngineError
from schemas.findings import Finding, Layer, Severity

SVRL_NS = "http://purl.oclc.org/dsdl/svrl"
#: Our id for the Factur-X ``successful-report`` elements that carry no id
#: ("... marked as not used in the given context"); references call it ``(no id)``.
NOT_USED_ID = "FX-NOT-USED"
#: The id the official references give those reports.
REFERENCE_NO_ID = "(no id)"
#: Rule id of the finding recorded when a stylesheet stops on a document.
RUNTIME_ERROR_ID = "RULE_ENGINE_FAILED"

_SVRL_MAX_BYTES = 512 * 1024 * 1024
_TERM = re.compile(r"\b(B[TG]-\d+)\b")
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
# /*:Name[namespace-uri()='ns'][1]  ->  /*[local-name()='Name'][namespace-uri()='ns'][1]
_STAR_NAME = re.compile(r"\*:([A-Za-z_][\w.\-]*)")
_LOCAL_DOCUMENT = re.compile(r"document\('([A-Za-z0-9_.\-]+\.xml)'\)")
# a self-closing <svrl:fired-rule .../> whose attribute values may hold ">" (XPath)
_FIRED_RULE = re.compile(r"""<svrl:fired-rule(?:\s+[\w:.\-]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*/>""")
_STYLESHEET_OPEN = re.compile(r"<xsl:(?:stylesheet|transform)\b[^>]*>")
_SEVERITIES = {"fatal": Severity.FATAL, "error": Severity.FATAL, "warning": Severity.WARNING}


@dataclass
class _Engine:
    processor: Any
    version: str
    api_error: type[Exception]


_lock = threading.RLock()
_engine: _Engine | None = None
_compiled: dict[Path, Any] = {}


def _get_engine() -> _Engine:
    global _engine
    if _engine is not None:
        return _engine
    try:
        import saxonche
    except ImportError as exc:
        raise RuleEngineError(
            "Saxon (the saxonche package) cannot be imported; schematron validation cannot run"
        ) from exc
    try:
        processor = saxonche.PySaxonProcessor(license=False)
        try:
            pkg = metadata.version("saxonche")
        except metadata.PackageNotFoundError:  # pragma: no cover - saxonche imported above
            pkg = "?"
        version = f"{processor.version} (saxonche {pkg})"
    except Exception as exc:
        raise RuleEngineError(f"Saxon cannot start: {exc}") from exc
    _engine = _Engine(processor=processor, version=version, api_error=saxonche.PySaxonApiError)
    return _engine


def saxon_version() -> str:
    """The Saxon edition and saxonche version in use (starts Saxon if needed)."""
    with _lock:
        return _get_engine().version


def _prepare(path: Path, engine: _Engine) -> tuple[str, dict[str, Any]]:
    """The stylesheet text as compiled, and the global parameters it needs.

    Two changes to the official text, neither touching a rule:

    - each ``document('<file next to it>.xml')`` becomes a global parameter.
      The Factur-X profile stylesheets read their code list database that way
      in every rule, which Saxon would parse again for each document; the file
      next to the stylesheet is parsed once here, so the lookup stays local;
    - ``svrl:fired-rule`` elements are not written: they record which rule
      contexts matched, carry no finding, and were three quarters of the SVRL
      the engine had to build and read back.
    """
    text = path.read_text(encoding="utf-8")
    text = _FIRED_RULE.sub("", text)
    params: dict[str, Any] = {}
    declarations = []
    for i, name in enumerate(dict.fromkeys(_LOCAL_DOCUMENT.findall(text))):
        target = path.parent / name
        if not target.is_file():
            raise RuleEngineError(
                f"the stylesheet {path.name} reads {name}, which is missing next to it", where=str(target)
            )
        param = f"encaisse-local-document-{i}"
        try:
            params[param] = engine.processor.parse_xml(xml_file_name=str(target))
        except engine.api_error as exc:
            raise RuleEngineError(f"Saxon cannot read {target}: {exc}", where=str(target)) from exc
        text = text.replace(f"document('{name}')", f"${param}")
        declarations.append(f'<xsl:param name="{param}" required="yes"/>')
    if declarations:
        text, n = _STYLESHEET_OPEN.subn(lambda m: m.group(0) + "".join(declarations), text, count=1)
        if n != 1:
            raise RuleEngineError(f"{path.name} does not look like an XSLT stylesheet", where=str(path))
    return text, params


def compile_stylesheet(path: Path) -> Any:
    """The compiled stylesheet for a file, compiled on first use and kept for the process."""
    with _lock:
        exe = _compiled.get(path)
        if exe is not None:
            return exe
        given, path = path, path.resolve()
        exe = _compiled.get(path)
        if exe is not None:
            _compiled[given] = exe
            return exe
        if not path.is_file():
            raise RuleEngineError(f"the stylesheet {path} is missing", where=str(path))
        engine = _get_engine()
        text, params = _prepare(path, engine)
        try:
            # A fresh XSLT processor per stylesheet (reusing one made later compiles fail), whose
            # base directory is the stylesheet's: any other relative reference resolves next to it.
            compiler = engine.processor.new_xslt30_processor()
            compiler.set_cwd(str(path.parent))
            exe = compiler.compile_stylesheet(stylesheet_text=text, encoding="UTF-8")
        except Exception as exc:
            raise RuleEngineError(f"Saxon cannot compile {path.name}: {exc}", where=str(path)) from exc
        if exe is None:
            raise RuleEngineError(f"Saxon returned nothing compiling {path.name}", where=str(path))
        for name, node in params.items():
            exe.set_parameter(name, node)
        _compiled[path] = _compiled[given] = exe
        return exe


def compiled_count() -> int:
    """How many stylesheets this process has compiled (tests check it stays flat)."""
    with _lock:
        return len({id(exe) for exe in _compiled.values()})


class DocumentRuleError(Exception):
    """The stylesheet stopped with a dynamic error caused by this document's content."""


def xml_text(data: bytes, encoding: str | None) -> str:
    """The document as text for Saxon (which reads a string, not bytes).

    ``encoding`` is what the XML parser found (declaration, BOM or default).
    """
    try:
        text = data.decode(encoding or "utf-8")
    except (LookupError, UnicodeDecodeError):
        text = data.decode("utf-8", "replace")
    return text.lstrip("\ufeff")


def run_svrl(path: Path, text: str) -> bytes:
    """Transform one document (as text) with a stylesheet; return the SVRL as UTF-8 bytes.

    Raises :class:`RuleEngineError` when Saxon itself fails and
    :class:`DocumentRuleError` when the stylesheet stops on this document.
    """
    exe = compile_stylesheet(path)
    with _lock:
        engine = _get_engine()
        try:
            node = engine.processor.parse_xml(xml_text=text, encoding="UTF-8")
        except engine.api_error as exc:
            raise DocumentRuleError(f"Saxon cannot read the document: {str(exc).strip()}") from exc
        try:
            out = exe.transform_to_string(xdm_node=node)
        except engine.api_error as exc:  # a dynamic error raised by the rules on this document
            raise DocumentRuleError(str(exc).strip()) from exc
        except Exception as exc:
            raise RuleEngineError(f"Saxon failed running {path.name}: {exc}", where=str(path)) from exc
    if out is None:
        raise RuleEngineError(f"Saxon produced no output running {path.name}", where=str(path))
    return _XML_DECL.sub("", str(out), count=1).encode("utf-8")


def _lxml_path(location: str) -> str:
    return _STAR_NAME.sub(r"*[local-name()='\1']", location)


def _resolve(source: etree._Element | None, location: str | None) -> tuple[int | None, str | None]:
    """Line and leaf value of the node an SVRL location points at, when cheap to find."""
    if source is None or not location or not location.startswith("/"):
        return None, None
    try:
        found = source.getroottree().xpath(_lxml_path(location))
    except (etree.XPathError, ValueError):
        return None, None
    if not isinstance(found, list) or not found:
        return None, None
    node = found[0]
    if isinstance(node, etree._Element):
        value = None
        if len(node) == 0 and node.text is not None and node.text.strip():
            value = node.text.strip()[:500]
        line = node.sourceline
        return (line if isinstance(line, int) else None), value
    if isinstance(node, str):  # an attribute (lxml "smart string")
        parent = getattr(node, "getparent", lambda: None)()
        parent_line = parent.sourceline if isinstance(parent, etree._Element) else None
        return (parent_line if isinstance(parent_line, int) else None), str(node)[:500]
    return None, None


def terms_in(message: str) -> tuple[str, ...]:
    """The BT/BG ids a rule message names, in order of first mention.

    >>> terms_in("[BR-01]-An Invoice shall have a Specification identifier (BT-24).")
    ('BT-24',)
    """
    return tuple(dict.fromkeys(_TERM.findall(message)))


def findings_from_svrl(svrl: bytes, layer: Layer, source: etree._Element | None = None) -> list[Finding]:
    """Findings from SVRL: failed asserts and successful reports.

    Severity comes from ``@flag``; an assert or report without a flag counts as
    fatal (as the official references count them). A report without an id gets
    :data:`NOT_USED_ID`.
    """
    root = parse_xml(svrl, max_bytes=_SVRL_MAX_BYTES)
    out: list[Finding] = []
    for el in root.iter(f"{{{SVRL_NS}}}failed-assert", f"{{{SVRL_NS}}}successful-report"):
        rule_id = el.get("id") or (NOT_USED_ID if el.tag.endswith("successful-report") else "(no id)")
        flag = (el.get("flag") or "fatal").strip().lower()
        severity = _SEVERITIES.get(flag, Severity.INFORMATION)
        text_el = el.find(f"{{{SVRL_NS}}}text")
        message = " ".join("".join(str(t) for t in text_el.itertext()).split()) if text_el is not None else ""
        location = el.get("location")
        line, value = _resolve(source, location)
        out.append(
            Finding(
                rule_id=rule_id,
                severity=severity,
                layer=layer,
                message=message or f"rule {rule_id} failed",
                location=location,
                line=line,
                terms=terms_in(message),
                value=value,
            )
        )
    return out


def reference_id(rule_id: str) -> str:
    """Our rule id as the official reference results write it."""
    return REFERENCE_NO_ID if rule_id == NOT_USED_ID else rule_id
