"""Build Factur-X PDFs: a rendered PDF/A-3b page with the CII XML embedded.

The page is rendered by :mod:`ingest.render` (WeasyPrint, PDF/A-3b); the XML is
embedded by the ``factur-x`` library, which writes the ``factur-x.xml``
attachment with ``/AFRelationship /Data``, the ``/AF`` array and the XMP
metadata that declares the profile. The library stamps the current time into
the PDF; :func:`to_facturx_pdf` replaces every such stamp with the invoice's
issue date and derives the file identifier from the content, so that one
invoice always gives the same bytes.
"""

from __future__ import annotations

import io
import re
from datetime import date
from typing import Final

import pikepdf
from facturx import generate_from_binary

from ingest.generate_cii import to_cii
from ingest.kinds import Profile
from ingest.render import Lang, render_pdf
from schemas.errors import ErrorCode, PdfRejected
from schemas.invoice import Invoice

_XMP_DATE: Final = re.compile(
    rb"(<(xmp:(?:CreateDate|ModifyDate|MetadataDate))>)[^<]*(</\2>)"
    rb"|((?:xmp:(?:CreateDate|ModifyDate|MetadataDate))=\")[^\"]*(\")"
)


def _pdf_date(when: date) -> str:
    return when.strftime("D:%Y%m%d000000+00'00'")


def _xmp_date(when: date) -> bytes:
    return when.strftime("%Y-%m-%dT00:00:00+00:00").encode("ascii")


def _fix_xmp(xmp: bytes, when: date) -> bytes:
    stamp = _xmp_date(when)

    def repl(match: re.Match[bytes]) -> bytes:
        if match.group(1) is not None:
            return match.group(1) + stamp + match.group(3)
        return match.group(4) + stamp + match.group(5)

    return _XMP_DATE.sub(repl, xmp)


def _align_info(info: pikepdf.Dictionary, xmp: bytes) -> bytes:
    """Make the information dictionary and the XMP packet agree, as PDF/A requires.

    The factur-x library names pypdf as XMP producer while the dictionary names
    the renderer, and writes dictionary keywords it leaves out of the XMP.
    """
    producer = str(info.get("/Producer", ""))
    if producer and b"<pdf:Producer>" in xmp:
        escaped = producer.replace("&", "&amp;").replace("<", "&lt;").encode("utf-8")
        xmp = re.sub(
            rb"<pdf:Producer>[^<]*</pdf:Producer>", b"<pdf:Producer>" + escaped + b"</pdf:Producer>", xmp
        )
    if "/Keywords" in info and b"pdf:Keywords" not in xmp:
        del info["/Keywords"]
    return xmp


def make_reproducible(pdf: bytes, when: date) -> bytes:
    """Replace the generation timestamps of a PDF with ``when`` and fix its /ID from content.

    Touches the document information dictionary, the XMP packet and the
    embedded files' parameters; nothing else changes.
    """
    stamp = _pdf_date(when)
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        info = doc.trailer.get("/Info")
        if not isinstance(info, pikepdf.Dictionary):
            info = pikepdf.Dictionary()
        for key in ("/CreationDate", "/ModDate"):
            if key in info:
                info[key] = pikepdf.String(stamp)
        if "/Metadata" in doc.Root:
            meta = doc.Root.Metadata
            meta.write(_align_info(info, _fix_xmp(meta.read_bytes(), when)))
        for spec in doc.attachments.values():
            for stream in spec.obj.get("/EF", pikepdf.Dictionary()).values():
                params = stream.get("/Params")
                if isinstance(params, pikepdf.Dictionary):
                    for key in ("/CreationDate", "/ModDate"):
                        if key in params:
                            params[key] = pikepdf.String(stamp)
        out = io.BytesIO()
        doc.save(out, deterministic_id=True, object_stream_mode=pikepdf.ObjectStreamMode.preserve)
    return out.getvalue()


def embed_cii(pdf: bytes, xml: bytes, *, profile: Profile, invoice: Invoice, lang: Lang = "fr") -> bytes:
    """Embed CII XML into a PDF/A-3 page as ``factur-x.xml`` and declare the profile in XMP."""
    seller = invoice.seller.name or ""
    title_word = {"fr": "Facture", "en": "Invoice"}[lang]
    metadata = {
        "author": seller,
        "keywords": "Factur-X, " + title_word,
        "title": f"{seller}: {title_word} {invoice.number or ''}".strip(),
        "subject": f"Factur-X {title_word} {invoice.number or ''} "
        f"{invoice.issue_date.isoformat() if invoice.issue_date else ''} {seller}".strip(),
    }
    try:
        data = generate_from_binary(
            pdf,
            xml,
            flavor="factur-x",
            level=profile.value,
            check_xsd=False,
            pdf_metadata=metadata,
            lang={"fr": "fr-FR", "en": "en-GB"}[lang],
        )
    except Exception as exc:  # factur-x raises bare Exception on bad input: refuse, with its message
        raise PdfRejected(
            f"the factur-x library could not embed the XML: {exc}", code=ErrorCode.PDF_MALFORMED
        ) from exc
    if not isinstance(data, bytes):  # pragma: no cover - the library returns bytes
        raise PdfRejected("the factur-x library returned no PDF", code=ErrorCode.PDF_MALFORMED)
    return make_reproducible(data, invoice.issue_date or date(2000, 1, 1))


def to_facturx_pdf(
    invoice: Invoice, *, profile: Profile = Profile.EN16931, lang: Lang = "fr", xml: bytes | None = None
) -> bytes:
    """A Factur-X PDF/A-3b of the invoice for a profile: the rendered page and its CII XML.

    ``xml`` lets a caller embed other CII bytes than :func:`~ingest.generate_cii.to_cii`
    would write (the sample generator uses it for deliberately defective files).
    """
    page = render_pdf(invoice, lang=lang, pdf_variant="pdf/a-3b")
    cii = xml if xml is not None else to_cii(invoice, profile=profile)
    return embed_cii(page, cii, profile=profile, invoice=invoice, lang=lang)
