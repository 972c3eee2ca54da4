"""The one place where untrusted XML is parsed.

Entity resolution, DTD loading, network access and huge trees are off; any
DOCTYPE, entity declaration or XInclude is refused before libxml2 sees it; size
and depth are bounded. Every other module calls :func:`parse_xml` (a test greps
the code base for stray ``etree.fromstring``/``etree.parse``).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from schemas.errors import ErrorCode, TooLarge, UnsafeXml, XmlNotWellFormed

#: Default bound on the size of one XML document (bytes).
MAX_XML_BYTES = 20 * 1024 * 1024
#: Default bound on element nesting; real invoices stay under 20.
MAX_DEPTH = 64

_XINCLUDE_NS = b"http://www.w3.org/2001/XInclude"
_XINCLUDE_NS_2003 = b"http://www.w3.org/2003/XInclude"  # the other namespace libxml2 honours
_XSD_NS = "http://www.w3.org/2001/XMLSchema"
_XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
_DOCTYPE = re.compile(rb"<!\s*DOCTYPE", re.IGNORECASE)
_ENTITY = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)
_STYLESHEET_PI = re.compile(rb"<\?xml-stylesheet", re.IGNORECASE)
_COMMENT = re.compile(rb"<!--.*?-->", re.DOTALL)
_OUTWARD = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:)?//|^\s*(?:file|https?|ftp|jar|php|data|gopher):", re.I)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=False,
        remove_pis=False,
        collect_ids=False,
        strip_cdata=False,
    )


def _decoded_prefix(data: bytes) -> bytes:
    """The bytes to scan for forbidden declarations, transcoded to ASCII-ish when UTF-16."""
    if (
        data[:2] in (b"\xff\xfe", b"\xfe\xff")
        or (len(data) > 1 and data[1:2] == b"\x00")
        or data[:1] == b"\x00"
    ):
        for enc in ("utf-16", "utf-16-le", "utf-16-be"):
            try:
                return data.decode(enc).encode("utf-8", "replace")
            except UnicodeDecodeError:
                continue
    return data


def check_declarations(data: bytes) -> None:
    """Refuse DOCTYPE, ENTITY and XInclude before any parser sees the bytes."""
    scan = _decoded_prefix(data)
    if _ENTITY.search(scan):
        raise UnsafeXml(
            "the XML declares entities (<!ENTITY>); entity declarations are never processed",
            code=ErrorCode.XML_UNSAFE_ENTITY,
        )
    if _DOCTYPE.search(scan):
        raise UnsafeXml(
            "the XML has a document type declaration (<!DOCTYPE>); DTDs are never loaded",
            code=ErrorCode.XML_UNSAFE_DTD,
        )
    if _XINCLUDE_NS in scan or _XINCLUDE_NS_2003 in scan:
        raise UnsafeXml(
            "the XML uses XInclude; included documents are never fetched",
            code=ErrorCode.XML_UNSAFE_XINCLUDE,
        )
    if _STYLESHEET_PI.search(scan):
        raise UnsafeXml(
            "the XML carries an xml-stylesheet instruction; it is never followed",
            code=ErrorCode.XML_UNSAFE_SCHEMA_LOCATION,
        )


def _check_schema_references(root: etree._Element) -> None:
    """Refuse embedded schema imports and schema locations on inner elements.

    The root element's ``xsi:schemaLocation`` is common in real invoices and is
    harmless here because schemas are never loaded from the document; anything
    else that points to another resource is refused.
    """
    for el in root.iter(f"{{{_XSD_NS}}}import", f"{{{_XSD_NS}}}include", f"{{{_XSD_NS}}}redefine"):
        raise UnsafeXml(
            "the XML embeds an XML Schema import/include; schemas are never loaded from documents",
            code=ErrorCode.XML_UNSAFE_SCHEMA_LOCATION,
            where=f"line {el.sourceline}",
        )
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        for attr in ("schemaLocation", "noNamespaceSchemaLocation"):
            value = el.get(f"{{{_XSI_NS}}}{attr}")
            if value is None:
                continue
            if el is not root or attr == "noNamespaceSchemaLocation":
                parts = value.split()
                if any(_OUTWARD.match(p) for p in parts):
                    raise UnsafeXml(
                        f"xsi:{attr} points outside the document ({value[:80]}); it is never followed",
                        code=ErrorCode.XML_UNSAFE_SCHEMA_LOCATION,
                        where=f"line {el.sourceline}",
                    )


def _depth(root: etree._Element, limit: int) -> None:
    stack: list[tuple[etree._Element, int]] = [(root, 1)]
    while stack:
        el, d = stack.pop()
        if d > limit:
            raise XmlNotWellFormed(
                f"the XML nests elements deeper than {limit} levels",
                code=ErrorCode.XML_TOO_DEEP,
                where=f"line {el.sourceline}",
            )
        stack.extend((child, d + 1) for child in el)


def parse_xml(data: bytes, *, max_bytes: int = MAX_XML_BYTES, max_depth: int = MAX_DEPTH) -> etree._Element:
    """Parse untrusted XML bytes into an element tree, or raise ``InputRejected``.

    >>> parse_xml(b"<a><b>1</b></a>").tag
    'a'
    """
    if len(data) > max_bytes:
        raise TooLarge(
            f"the XML is {len(data)} bytes, over the limit of {max_bytes} bytes",
            code=ErrorCode.XML_TOO_LARGE,
        )
    if not data.strip():
        raise XmlNotWellFormed("the file is empty", code=ErrorCode.EMPTY_FILE)
    check_declarations(data)
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        msg = exc.msg or str(exc)
        lowered = msg.lower()
        code = ErrorCode.XML_NOT_WELL_FORMED
        if (
            "encoding" in lowered
            or "utf-8" in lowered
            or "input is not proper" in lowered
            or "char 0x" in lowered
        ):
            code = ErrorCode.XML_BAD_ENCODING
        elif "depth" in lowered:
            code = ErrorCode.XML_TOO_DEEP
        elif "entityref: no name" in lowered or ("entity" in lowered and "not defined" in lowered):
            # a bare '&' or an undeclared entity: a mistake, not an attack (DTDs are refused above)
            msg += " (write a literal & as &amp;)"
        elif "entity" in lowered:
            code = ErrorCode.XML_UNSAFE_ENTITY
            raise UnsafeXml(f"the XML is not acceptable: {msg}", code=code) from None
        line = getattr(exc, "lineno", None)
        raise XmlNotWellFormed(
            f"the XML is not well-formed: {msg}", code=code, where=f"line {line}" if line else None
        ) from None
    except ValueError as exc:  # lxml raises ValueError for some encoding declarations
        raise XmlNotWellFormed(f"the XML cannot be decoded: {exc}", code=ErrorCode.XML_BAD_ENCODING) from None
    if root is None:
        raise XmlNotWellFormed("the XML has no root element", code=ErrorCode.XML_NOT_WELL_FORMED)
    _depth(root, max_depth)
    _check_schema_references(root)
    return root


#: Default bound on a streamed document (bank statements run to hundreds of MB).
MAX_STREAM_BYTES = 1024 * 1024 * 1024
_CHUNK = 1 << 20


_ROOT_START = re.compile(rb"<(?![?!])[^>]*>")
_XSD_NS_DECL = (b'"http://www.w3.org/2001/XMLSchema"', b"'http://www.w3.org/2001/XMLSchema'")


class _CheckedReader:
    """A file wrapper for :func:`iter_elements`: bounds the size and scans every chunk.

    Each chunk (with the tail of the previous one, so a keyword cut in two is
    still seen) goes through :func:`check_declarations` before libxml2 reads it.
    Schema references are checked here too, on the bytes (a tree walk per
    element would double the time): ``xsi:schemaLocation`` is allowed on the
    root element only, the XML Schema namespace (``xs:import``...) nowhere.
    """

    def __init__(self, raw: BinaryIO, max_bytes: int) -> None:
        self.raw = raw
        self.max_bytes = max_bytes
        self.seen = 0
        self.tail = b""

    def read(self, size: int = -1) -> bytes:
        chunk = self.raw.read(_CHUNK if size is None or size < 0 else min(size, _CHUNK))
        if not chunk:
            if self.seen == 0:
                raise XmlNotWellFormed("the file is empty", code=ErrorCode.EMPTY_FILE)
            return b""
        scan = self.tail + chunk
        if self.seen == 0:
            if not chunk.strip():
                raise XmlNotWellFormed("the file is empty", code=ErrorCode.EMPTY_FILE)
            if _decoded_prefix(chunk[:4]) != chunk[:4]:
                raise XmlNotWellFormed(
                    "the XML is UTF-16: large files are streamed and must be UTF-8",
                    code=ErrorCode.XML_BAD_ENCODING,
                )
            body = _COMMENT.sub(b"", chunk)
            root = _ROOT_START.search(body)
            if root is not None:
                if b"noNamespaceSchemaLocation" in root.group(0):
                    raise UnsafeXml(
                        "xsi:noNamespaceSchemaLocation on the root element; it is never followed",
                        code=ErrorCode.XML_UNSAFE_SCHEMA_LOCATION,
                    )
                scan = body[root.end() :]
        self.seen += len(chunk)
        if self.seen > self.max_bytes:
            raise TooLarge(
                f"the XML is over the limit of {self.max_bytes} bytes", code=ErrorCode.XML_TOO_LARGE
            )
        whole = self.tail + chunk
        if b"<!" in whole or b"<?" in whole or b"XInclude" in whole:  # a cheap filter first
            check_declarations(whole)
        if b"chemaLocation" in scan or any(ns in scan for ns in _XSD_NS_DECL):
            raise UnsafeXml(
                "the XML carries schema references below its root element; they are never followed",
                code=ErrorCode.XML_UNSAFE_SCHEMA_LOCATION,
            )
        self.tail = chunk[-64:]
        return chunk


def iter_elements(
    source: str | Path | BinaryIO,
    local_names: Collection[str],
    *,
    max_bytes: int = MAX_STREAM_BYTES,
) -> Iterator[etree._Element]:
    """Stream untrusted XML: yield each element named in ``local_names`` once it is complete.

    The same hardening as :func:`parse_xml` (no DTD, entities, network or huge
    trees; declarations and schema references refused; size bounded), without
    holding the whole tree: once the caller resumes, the yielded element is
    removed from its parent, so memory stays flat however many there are. The
    element's ancestors and earlier siblings (e.g. a statement's header) stay
    readable through ``getparent()``. Nesting is bounded by libxml2's own limit
    (256 levels with huge trees off) rather than :data:`MAX_DEPTH`: walking each
    element would double the time. Errors are ``InputRejected``, as with
    :func:`parse_xml`.

    >>> import io
    >>> [e.text for e in iter_elements(io.BytesIO(b"<r><a>1</a><b/><a>2</a></r>"), {"a"})]
    ['1', '2']
    """
    raw: BinaryIO = Path(source).open("rb") if isinstance(source, str | Path) else source  # noqa: SIM115
    reader = _CheckedReader(raw, max_bytes)
    events = etree.iterparse(
        reader,
        events=("end",),
        tag=[f"{{*}}{name}" for name in local_names],
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        collect_ids=False,
    )
    try:
        while True:
            try:
                _, el = next(events)
            except StopIteration:
                break
            except etree.XMLSyntaxError as exc:
                line = getattr(exc, "lineno", None)
                msg = exc.msg or str(exc)
                code = ErrorCode.XML_TOO_DEEP if "depth" in msg.lower() else ErrorCode.XML_NOT_WELL_FORMED
                raise XmlNotWellFormed(
                    f"the XML is not well-formed: {msg}", code=code, where=f"line {line}" if line else None
                ) from None
            yield el
            parent = el.getparent()
            el.clear(keep_tail=False)
            if parent is not None:
                parent.remove(el)
    finally:
        if raw is not source:
            raw.close()


def local_name(el: etree._Element) -> str:
    """An element's tag without its namespace."""
    return etree.QName(el).localname


def parse_trusted_file(path: str | Path) -> etree._ElementTree:
    """Parse one of the project's own artefact files (an XSD shipped by a package).

    Only for files we ship or install ourselves, never for documents: the
    parser still refuses network access and entity expansion, and the tree
    keeps the file's location so relative ``xs:import``/``xs:include`` resolve
    to the files next to it.
    """
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    return etree.parse(str(path), parser=parser)
