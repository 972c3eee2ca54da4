"""The one hardened PDF reader: attachments and XMP metadata under limits.

A PDF is opened with pikepdf under a size bound and an object-count bound;
every structure we walk (page tree, name trees, XObjects) is walked with an
explicit stack, a visited set and a depth limit, so a loop or a deep nest is a
``PdfRejected`` with code ``PDF_RECURSIVE``, never a ``RecursionError``;
streams we decode are inflated with a bounded decompressor, so a stream
inflating past the cap is ``PDF_BOMB`` after at most the cap plus one chunk;
images are refused past a pixel count; encrypted PDFs are ``PDF_ENCRYPTED``.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import pikepdf

from ingest.limits import inflate_bounded
from schemas.errors import ErrorCode, InputRejected, PdfRejected
from schemas.settings import get_settings

_FLATE = {"/FlateDecode", "/Fl"}
_OBJSTM = re.compile(rb"/ObjStm")
_N = re.compile(rb"/N\s+(\d{1,9})")
#: Worst-case expansion of each filter; a chain whose worst case fits the cap is decoded by pikepdf.
_EXPANSION = {
    "/ASCIIHexDecode": 1,
    "/AHx": 1,
    "/ASCII85Decode": 1,
    "/A85": 1,
    "/RunLengthDecode": 128,
    "/RL": 128,
    "/LZWDecode": 4096,
    "/LZW": 4096,
    "/FlateDecode": 1032,
    "/Fl": 1032,
}


@dataclass(frozen=True)
class PdfLimits:
    """Bounds applied while reading one PDF."""

    max_bytes: int = 30 * 1024 * 1024
    max_objects: int = 200_000
    max_stream_bytes: int = 64 * 1024 * 1024
    max_depth: int = 64
    max_image_pixels: int = 100_000_000
    max_attachments: int = 100
    max_xmp_bytes: int = 4 * 1024 * 1024

    @classmethod
    def from_settings(cls) -> PdfLimits:
        """The limits set by ENCAISSE_MAX_PDF_BYTES, _PDF_OBJECTS, _STREAM_BYTES and _IMAGE_PIXELS."""
        s = get_settings()
        return cls(
            max_bytes=s.max_pdf_bytes,
            max_objects=s.max_pdf_objects,
            max_stream_bytes=s.max_stream_bytes,
            max_image_pixels=s.max_image_pixels,
        )


@dataclass(frozen=True)
class PdfAttachment:
    """One embedded file, from the EmbeddedFiles name tree or an /AF array."""

    name: str
    relationship: str | None
    mime_type: str | None
    size: int | None
    data: bytes | None = field(repr=False)
    in_embedded_files: bool
    in_af: bool

    @property
    def is_xml(self) -> bool:
        """True when the name or the MIME type says XML, or the bytes start like XML."""
        if self.name.lower().endswith(".xml") or (self.mime_type or "").lower().endswith("xml"):
            return True
        head = (self.data or b"")[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
        return head.startswith(b"<?xml") or head[:2] in (b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True)
class PdfContents:
    """What we read from a PDF: its attachments, its XMP packet and its size in pages and objects."""

    attachments: tuple[PdfAttachment, ...]
    xmp: bytes | None
    page_count: int
    object_count: int


def _wants_xml(name: str, mime: str | None) -> bool:
    return name.lower().endswith(".xml") or (mime or "").lower().endswith("xml")


def _key(obj: pikepdf.Object) -> tuple[int, int] | None:
    if obj.is_indirect:
        objgen = obj.objgen
        return (int(objgen[0]), int(objgen[1]))
    return None


def _recursive(msg: str) -> PdfRejected:
    return PdfRejected(msg, code=ErrorCode.PDF_RECURSIVE)


def _walk(
    start: pikepdf.Object,
    children: Callable[[pikepdf.Object], Iterator[pikepdf.Object]],
    visit: Callable[[pikepdf.Object, int], None],
    *,
    what: str,
    limits: PdfLimits,
) -> None:
    """Depth-first walk with an explicit stack; a node reached again on its own path is a loop."""
    on_path: set[tuple[int, int]] = set()
    done: set[tuple[int, int]] = set()
    stack: list[tuple[pikepdf.Object, int, bool]] = [(start, 0, False)]
    budget = limits.max_objects * 2
    while stack:
        obj, depth, leaving = stack.pop()
        if not isinstance(obj, pikepdf.Object):
            continue  # a null or a number where a dictionary should be: nothing to walk
        key = _key(obj)
        if leaving:
            if key is not None:
                on_path.discard(key)
                done.add(key)
            continue
        if key is not None:
            if key in on_path:
                raise _recursive(
                    f"the {what} loops back on itself (object {key[0]} {key[1]} R is its own descendant)"
                )
            if key in done:
                continue
        if depth > limits.max_depth:
            raise _recursive(f"the {what} is nested deeper than {limits.max_depth} levels")
        budget -= 1
        if budget < 0:
            raise PdfRejected(f"the {what} has too many nodes", code=ErrorCode.PDF_TOO_COMPLEX)
        visit(obj, depth)
        if key is not None:
            on_path.add(key)
            stack.append((obj, depth, True))
        stack.extend((child, depth + 1, False) for child in children(obj))


def _filters(stream: pikepdf.Stream) -> list[str]:
    flt = stream.get("/Filter")
    if flt is None:
        return []
    if isinstance(flt, pikepdf.Array):
        return [str(f) for f in flt]
    return [str(flt)]


def _has_predictor(stream: pikepdf.Stream) -> bool:
    parms = stream.get("/DecodeParms")
    if isinstance(parms, pikepdf.Array):
        parms = parms[0] if len(parms) else None
    if isinstance(parms, pikepdf.Dictionary):
        pred = parms.get("/Predictor")
        return pred is not None and int(pred) > 1
    return False


def decode_stream(
    stream: pikepdf.Stream, max_bytes: int, *, keep: bool = True, what: str = "a stream"
) -> bytes | None:
    """Decode a stream's data without ever producing more than ``max_bytes``.

    FlateDecode is inflated by our bounded decompressor; other chains are decoded
    by pikepdf only when their worst-case expansion fits the cap. With
    ``keep=False`` the stream is only checked and ``None`` returned.
    """
    raw = stream.read_raw_bytes()
    filters = _filters(stream)
    if not filters:
        if len(raw) > max_bytes:
            raise PdfRejected(
                f"{what} holds {len(raw)} bytes, over the limit of {max_bytes}", code=ErrorCode.PDF_BOMB
            )
        return raw if keep else None
    if len(filters) == 1 and filters[0] in _FLATE:
        predictor = _has_predictor(stream)
        try:
            data = inflate_bounded(raw, max_bytes, keep=keep and not predictor, what=what)
        except InputRejected as exc:
            raise PdfRejected(exc.message, code=exc.code) from None
        if not keep:
            return None
        return bytes(stream.read_bytes()) if predictor else data
    worst = len(raw)
    for flt in filters:
        if flt not in _EXPANSION:
            if not keep:
                return None  # image codecs: never decoded by us
            raise PdfRejected(
                f"{what} uses the filter {flt}, which is not accepted here", code=ErrorCode.PDF_TOO_COMPLEX
            )
        worst *= _EXPANSION[flt]
    if worst > max_bytes:
        raise PdfRejected(
            f"{what} uses the filter chain {' '.join(filters)} whose output could exceed {max_bytes} bytes",
            code=ErrorCode.PDF_BOMB,
        )
    return bytes(stream.read_bytes()) if keep else None


def count_objects(data: bytes) -> int:
    """Estimate a PDF's objects from its bytes (``obj``/``endobj`` keywords plus each object stream's ``/N``).

    A cheap bound checked before the PDF is opened, so that a file of a million
    tiny objects is refused without materialising them.

    >>> count_objects(b"1 0 obj null endobj 2 0 obj << /Type /ObjStm /N 7 >> endobj")
    9
    """
    ends = data.count(b"endobj")
    count = max(ends, data.count(b"obj") - ends)  # objects whose endobj is missing still count
    for m in _OBJSTM.finditer(data):
        window = data[max(0, m.start() - 200) : m.end() + 200]
        n = _N.search(window)
        if n:
            count += int(n.group(1))
    return count


def _open(data: bytes, limits: PdfLimits) -> tuple[pikepdf.Pdf, int]:
    if len(data) > limits.max_bytes:
        raise PdfRejected(
            f"the PDF is {len(data)} bytes, over the limit of {limits.max_bytes} bytes",
            code=ErrorCode.TOO_LARGE,
        )
    count = count_objects(data)
    if count > limits.max_objects:
        raise PdfRejected(
            f"the PDF has {count} objects, over the limit of {limits.max_objects}",
            code=ErrorCode.PDF_TOO_COMPLEX,
        )
    try:
        pdf = pikepdf.open(io.BytesIO(data), inherit_page_attributes=False, suppress_warnings=True)
    except pikepdf.PasswordError:
        raise PdfRejected(
            "the PDF is encrypted with a password; send it unencrypted", code=ErrorCode.PDF_ENCRYPTED
        ) from None
    if pdf.is_encrypted:
        pdf.close()
        raise PdfRejected(
            "the PDF is encrypted; PDF/A-3 invoices (Factur-X, ZUGFeRD) must not be encrypted",
            code=ErrorCode.PDF_ENCRYPTED,
        )
    return pdf, count


class _Reader:
    def __init__(self, pdf: pikepdf.Pdf, limits: PdfLimits, keep: Callable[[str, str | None], bool]) -> None:
        self.pdf = pdf
        self.limits = limits
        self.keep = keep
        self.found: dict[object, PdfAttachment] = {}
        self.page_count = 0

    # -- attachments -------------------------------------------------------------------------
    def add_filespec(self, spec: pikepdf.Object, key_name: str | None, *, source: str) -> None:
        if not isinstance(spec, pikepdf.Dictionary):
            return
        ident: object = _key(spec) or id(spec)
        if ident in self.found:
            self.found[ident] = _flag(self.found[ident], source)
            return
        if len(self.found) >= self.limits.max_attachments:
            raise PdfRejected(
                f"the PDF has more than {self.limits.max_attachments} attachments",
                code=ErrorCode.PDF_TOO_COMPLEX,
            )
        name = key_name or ""
        for field_name in ("/UF", "/F"):
            value = spec.get(field_name)
            if isinstance(value, pikepdf.String) and str(value).strip():
                name = str(value)
                break
        rel = spec.get("/AFRelationship")
        relationship = str(rel).lstrip("/") if isinstance(rel, pikepdf.Name) else None
        ef = spec.get("/EF")
        stream = None
        if isinstance(ef, pikepdf.Dictionary):
            for field_name in ("/F", "/UF"):
                candidate = ef.get(field_name)
                if isinstance(candidate, pikepdf.Stream):
                    stream = candidate
                    break
        mime: str | None = None
        data: bytes | None = None
        size: int | None = None
        if stream is not None:
            sub = stream.get("/Subtype")
            mime = str(sub).lstrip("/").replace("#2F", "/") if isinstance(sub, pikepdf.Name) else None
            keep = self.keep(name, mime)
            data = decode_stream(
                stream, self.limits.max_stream_bytes, keep=keep, what=f"the attachment {name or '(unnamed)'}"
            )
            size = len(data) if data is not None else None
        self.found[ident] = PdfAttachment(
            name=name,
            relationship=relationship,
            mime_type=mime,
            size=size,
            data=data,
            in_embedded_files=source == "embedded",
            in_af=source == "af",
        )

    def read_af(self, holder: pikepdf.Object) -> None:
        af = holder.get("/AF")
        if isinstance(af, pikepdf.Array):
            for spec in af:
                self.add_filespec(spec, None, source="af")

    def read_name_tree(self, root: pikepdf.Object) -> None:
        entries: list[tuple[str, pikepdf.Object]] = []

        def kids(node: pikepdf.Object) -> Iterator[pikepdf.Object]:
            if isinstance(node, pikepdf.Dictionary):
                k = node.get("/Kids")
                if isinstance(k, pikepdf.Array):
                    yield from k

        def visit(node: pikepdf.Object, _depth: int) -> None:
            if not isinstance(node, pikepdf.Dictionary):
                return
            names = node.get("/Names")
            if isinstance(names, pikepdf.Array):
                items = list(names)
                for i in range(0, len(items) - 1, 2):
                    key = items[i]
                    entries.append((str(key) if isinstance(key, pikepdf.String) else "", items[i + 1]))

        _walk(root, kids, visit, what="EmbeddedFiles name tree", limits=self.limits)
        for key_name, spec in entries:
            self.add_filespec(spec, key_name, source="embedded")

    # -- pages and XObjects ------------------------------------------------------------------
    def xobjects(self, holder: pikepdf.Object) -> Iterator[pikepdf.Object]:
        if not isinstance(holder, (pikepdf.Dictionary, pikepdf.Stream)):
            return
        res = holder.get("/Resources")
        if not isinstance(res, pikepdf.Dictionary):
            return
        for category in ("/XObject", "/Pattern"):
            sub = res.get(category)
            if isinstance(sub, pikepdf.Dictionary):
                for k in sub.keys():  # noqa: SIM118 - pikepdf dictionaries iterate keys this way
                    yield sub[k]

    def check_xobject(self, obj: pikepdf.Object, _depth: int) -> None:
        if not isinstance(obj, pikepdf.Stream):
            return
        subtype = obj.get("/Subtype")
        if subtype == pikepdf.Name.Image:
            width, height = obj.get("/Width"), obj.get("/Height")
            if not isinstance(width, int) or not isinstance(height, int):
                return
            if width * height > self.limits.max_image_pixels:
                raise PdfRejected(
                    f"an image of {width}×{height} pixels is over the limit of "
                    f"{self.limits.max_image_pixels} pixels",
                    code=ErrorCode.PDF_BOMB,
                )
            return
        decode_stream(obj, self.limits.max_stream_bytes, keep=False, what="a form XObject")

    def read_pages(self, root: pikepdf.Object) -> None:
        pages = root.get("/Pages")
        if not isinstance(pages, pikepdf.Dictionary):
            raise PdfRejected("the PDF has no page tree (/Pages)", code=ErrorCode.PDF_MALFORMED)
        page_nodes: list[pikepdf.Object] = []

        def kids(node: pikepdf.Object) -> Iterator[pikepdf.Object]:
            if isinstance(node, pikepdf.Dictionary):
                k = node.get("/Kids")
                if isinstance(k, pikepdf.Array):
                    yield from k

        def visit(node: pikepdf.Object, _depth: int) -> None:
            if not isinstance(node, pikepdf.Dictionary):
                return
            kids_value = node.get("/Kids")
            if isinstance(kids_value, pikepdf.Array):
                return
            if kids_value is not None or node.get("/Type") == pikepdf.Name.Pages:
                raise PdfRejected(
                    "a /Pages node of the PDF has no valid /Kids array", code=ErrorCode.PDF_MALFORMED
                )
            page_nodes.append(node)
            self.page_count = len(page_nodes)

        _walk(pages, kids, visit, what="page tree (/Pages, /Kids)", limits=self.limits)
        if not page_nodes:
            raise PdfRejected("the PDF has no readable page", code=ErrorCode.PDF_MALFORMED)
        for node in [pages, *page_nodes]:
            if not isinstance(node, pikepdf.Dictionary):
                continue
            self.read_af(node)
            contents = node.get("/Contents")
            streams = list(contents) if isinstance(contents, pikepdf.Array) else [contents]
            for s in streams:
                if isinstance(s, pikepdf.Stream):
                    decode_stream(s, self.limits.max_stream_bytes, keep=False, what="a page content stream")
            _walk(
                node,
                self.xobjects,
                self.check_xobject,
                what="XObject graph (/Resources /XObject)",
                limits=self.limits,
            )

    def attachments(self) -> tuple[PdfAttachment, ...]:
        """One attachment per (name, content): the same file declared in the name tree and /AF is one."""
        merged: dict[tuple[str, object], PdfAttachment] = {}
        for att in self.found.values():
            key = (
                att.name.lower(),
                hashlib.sha256(att.data).hexdigest() if att.data is not None else att.size,
            )
            first = merged.get(key)
            if first is None:
                merged[key] = att
                continue
            if att.in_af:
                first = _flag(first, "af")
            if att.in_embedded_files:
                first = _flag(first, "embedded")
            merged[key] = first
        return tuple(merged.values())


def _flag(att: PdfAttachment, source: str) -> PdfAttachment:
    return replace(att, in_af=True) if source == "af" else replace(att, in_embedded_files=True)


def _read(data: bytes, limits: PdfLimits, keep: Callable[[str, str | None], bool]) -> PdfContents:
    opened, count = _open(data, limits)
    with opened as pdf:
        size = pdf.trailer.get("/Size")
        declared = size if isinstance(size, int) else 0
        if declared > limits.max_objects * 4:
            raise PdfRejected(
                f"the PDF declares {declared} objects, over the limit of {limits.max_objects}",
                code=ErrorCode.PDF_TOO_COMPLEX,
            )
        root = pdf.trailer.get("/Root")
        if not isinstance(root, pikepdf.Dictionary):
            raise PdfRejected("the PDF has no document catalog (/Root)", code=ErrorCode.PDF_MALFORMED)
        reader = _Reader(pdf, limits, keep)
        names = root.get("/Names")
        if isinstance(names, pikepdf.Dictionary):
            tree = names.get("/EmbeddedFiles")
            if isinstance(tree, pikepdf.Dictionary):
                reader.read_name_tree(tree)
        reader.read_af(root)
        reader.read_pages(root)
        xmp: bytes | None = None
        meta = root.get("/Metadata")
        if isinstance(meta, pikepdf.Stream):
            xmp = decode_stream(meta, limits.max_xmp_bytes, what="the XMP metadata")
        return PdfContents(
            attachments=reader.attachments(), xmp=xmp, page_count=reader.page_count, object_count=count
        )


def read_pdf(
    data: bytes,
    *,
    limits: PdfLimits | None = None,
    keep: Callable[[str, str | None], bool] | None = None,
) -> PdfContents:
    """Read a PDF's attachments and XMP packet under limits, or raise ``PdfRejected``.

    ``keep(name, mime_type)`` says which attachments' bytes to return (default:
    XML ones); the others are only checked against the stream cap.
    """
    limits = limits or PdfLimits.from_settings()
    try:
        return _read(data, limits, keep or _wants_xml)
    except PdfRejected:
        raise
    except RecursionError:
        raise _recursive("the PDF nests its objects too deeply to be read") from None
    except pikepdf.PasswordError:
        raise PdfRejected("the PDF is encrypted with a password", code=ErrorCode.PDF_ENCRYPTED) from None
    except (
        pikepdf.PikepdfError,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        OverflowError,
        NotImplementedError,
        RuntimeError,
        OSError,
    ) as exc:
        detail = str(exc).replace("\n", " ")[:300]
        raise PdfRejected(f"the PDF cannot be read: {detail}", code=ErrorCode.PDF_MALFORMED) from None
