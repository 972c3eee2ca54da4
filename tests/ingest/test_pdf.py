"""The hardened PDF reader, the bounded helpers and the XMP reader."""

from __future__ import annotations

import io
import zlib

import pikepdf
import pytest

from ingest import detect
from ingest.kinds import Profile
from ingest.limits import inflate_bounded
from ingest.pdf import PdfLimits, count_objects, decode_stream, read_pdf
from ingest.xmp import read_xmp, xmp_level_profile
from schemas.errors import ErrorCode, InputRejected, PdfRejected
from schemas.settings import get_settings
from tests.reliability import hostile as h


def test_attachments_from_the_name_tree_and_af_are_one_attachment_each() -> None:
    data = h.facturx_pdf([("factur-x.xml", h.cii_xml(), "Alternative"), ("annex.pdf", b"%PDF-annex", "Data")])
    contents = read_pdf(data)
    by_name = {a.name: a for a in contents.attachments}
    assert set(by_name) == {"factur-x.xml", "annex.pdf"}
    fx = by_name["factur-x.xml"]
    assert fx.relationship == "Alternative" and fx.mime_type == "text/xml"
    assert fx.data == h.cii_xml() and fx.in_af and fx.in_embedded_files and fx.is_xml
    annex = by_name["annex.pdf"]
    assert annex.data is None and not annex.is_xml  # not kept: only checked against the cap
    assert contents.page_count == 1 and contents.object_count > 3


def test_attachments_only_in_af_or_on_a_page_are_found() -> None:
    only_af = read_pdf(h.facturx_pdf([("factur-x.xml", h.cii_xml(), "Data")], name_tree=False))
    assert [(a.name, a.in_af, a.in_embedded_files) for a in only_af.attachments] == [
        ("factur-x.xml", True, False)
    ]

    pdf = pikepdf.new()
    pdf.add_blank_page()
    spec = pikepdf.AttachedFileSpec(pdf, h.cii_xml(), filename="factur-x.xml", relationship=pikepdf.Name.Data)  # type: ignore[call-arg]
    pdf.pages[0].obj.AF = pikepdf.Array([pdf.make_indirect(spec.obj)])
    out = io.BytesIO()
    pdf.save(out)
    on_page = read_pdf(out.getvalue())
    assert [a.name for a in on_page.attachments] == ["factur-x.xml"]


def test_keep_predicate_chooses_which_bytes_are_returned() -> None:
    data = h.facturx_pdf([("factur-x.xml", h.cii_xml(), "Data"), ("annex.pdf", b"%PDF-annex", "Data")])
    contents = read_pdf(data, keep=lambda name, mime: True)
    assert {a.name: a.data for a in contents.attachments}["annex.pdf"] == b"%PDF-annex"


def test_xmp_packet_is_returned() -> None:
    contents = read_pdf(h.facturx_pdf(xmp=h.xmp_packet("BASIC WL")))
    assert contents.xmp is not None and b"BASIC WL" in contents.xmp


@pytest.mark.parametrize(
    ("limits", "code"),
    [
        (PdfLimits(max_bytes=100), ErrorCode.TOO_LARGE),
        (PdfLimits(max_objects=3), ErrorCode.PDF_TOO_COMPLEX),
        (PdfLimits(max_stream_bytes=1000), ErrorCode.PDF_BOMB),
        (PdfLimits(max_attachments=1), ErrorCode.PDF_TOO_COMPLEX),
    ],
)
def test_limits_are_enforced(limits: PdfLimits, code: ErrorCode) -> None:
    data = h.facturx_pdf([("factur-x.xml", h.cii_xml(), "Data"), ("b.xml", h.cii_xml(), "Data")])
    with pytest.raises(PdfRejected) as info:
        read_pdf(data, limits=limits)
    assert info.value.code is code


def test_many_tiny_objects_are_refused_before_opening() -> None:
    objs = {1: b"<< /Type /Catalog /Pages 2 0 R >>", 2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"}
    objs[3] = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 9 9] >>"
    objs.update({i: b"null" for i in range(4, 5000)})
    data = h.raw_pdf(objs)
    assert count_objects(data) == 4999
    no_endobj = data.replace(b"\nendobj\n", b"\n")
    assert count_objects(no_endobj) == 4999
    for pdf in (data, no_endobj):
        with pytest.raises(PdfRejected) as info:
            read_pdf(pdf, limits=PdfLimits(max_objects=1000))
        assert info.value.code is ErrorCode.PDF_TOO_COMPLEX and "4999 objects" in info.value.message
    assert read_pdf(data, limits=PdfLimits(max_objects=5000)).page_count == 1


def test_limits_follow_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENCAISSE_MAX_STREAM_BYTES", "1234")
    monkeypatch.setenv("ENCAISSE_MAX_PDF_OBJECTS", "99")
    monkeypatch.setenv("ENCAISSE_MAX_IMAGE_PIXELS", "1000")
    get_settings.cache_clear()
    try:
        limits = PdfLimits.from_settings()
        image = detect(h.huge_image_pdf(40))
    finally:
        get_settings.cache_clear()
    assert (limits.max_stream_bytes, limits.max_objects, limits.max_image_pixels) == (1234, 99, 1000)
    assert image.code is ErrorCode.PDF_BOMB  # 40×40 is over a cap of 1,000 pixels


def test_image_pixel_cap() -> None:
    with pytest.raises(PdfRejected) as info:
        read_pdf(h.huge_image_pdf(30_000))
    assert info.value.code is ErrorCode.PDF_BOMB and "30000×30000" in info.value.message
    assert read_pdf(h.huge_image_pdf(1000)).page_count == 1


@pytest.mark.parametrize(
    ("password", "owner"),
    [pytest.param("secret", "owner", id="user-password"), pytest.param("", "owner", id="owner-only")],
)
def test_encrypted_pdfs_are_refused(password: str, owner: str) -> None:
    pdf = pikepdf.open(io.BytesIO(h.facturx_pdf()))
    out = io.BytesIO()
    pdf.save(out, encryption=pikepdf.Encryption(user=password, owner=owner))
    with pytest.raises(PdfRejected) as info:
        read_pdf(out.getvalue())
    assert info.value.code is ErrorCode.PDF_ENCRYPTED


def test_garbage_is_malformed_not_an_exception() -> None:
    for data in (
        b"%PDF-1.7\n",
        b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF",
        b"%PDF-" + bytes(500),
    ):
        with pytest.raises(PdfRejected) as info:
            read_pdf(data)
        assert info.value.code is ErrorCode.PDF_MALFORMED


def test_decode_stream_filter_chains() -> None:
    pdf = pikepdf.new()
    payload = b"<a>" + b"x" * 5000 + b"</a>"
    hexed = zlib.compress(payload).hex().encode() + b">"
    chained = pdf.make_stream(hexed)
    chained.Filter = pikepdf.Array([pikepdf.Name.ASCIIHexDecode, pikepdf.Name.FlateDecode])
    assert decode_stream(chained, 1 << 30) == payload
    with pytest.raises(PdfRejected) as info:
        decode_stream(chained, 10_000)  # worst case (×1032) does not fit
    assert info.value.code is ErrorCode.PDF_BOMB
    flate = pdf.make_stream(zlib.compress(payload))
    flate.Filter = pikepdf.Name.FlateDecode
    assert decode_stream(flate, len(payload)) == payload
    assert decode_stream(flate, len(payload), keep=False) is None
    with pytest.raises(PdfRejected):
        decode_stream(flate, len(payload) - 1)


def test_inflate_bounded() -> None:
    data = zlib.compress(b"a" * 100_000)
    assert inflate_bounded(data, 100_000) == b"a" * 100_000
    with pytest.raises(InputRejected) as info:
        inflate_bounded(data, 99_999)
    assert info.value.code is ErrorCode.PDF_BOMB
    raw = zlib.compressobj(wbits=-15)
    assert inflate_bounded(raw.compress(b"raw deflate") + raw.flush(), 100) == b"raw deflate"
    assert inflate_bounded(data[: len(data) // 2], 100_000).startswith(
        b"aaa"
    )  # truncated: what could be read
    with pytest.raises(InputRejected) as info:
        inflate_bounded(b"\x78\x9c" + b"\xff" * 20, 100)
    assert info.value.code is ErrorCode.PDF_MALFORMED


def test_read_xmp_element_and_attribute_forms() -> None:
    info = read_xmp(h.xmp_packet("EXTENDED", "factur-x.xml"))
    assert (info.conformance_level, info.document_file_name, info.profile) == (
        "EXTENDED",
        "factur-x.xml",
        Profile.EXTENDED,
    )
    zf1 = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description xmlns:zf="urn:ferd:pdfa:CrossIndustryDocument:invoice:1p0#"'
        b' zf:ConformanceLevel="COMFORT"'
        b' zf:DocumentFileName="ZUGFeRD-invoice.xml"/></rdf:RDF></x:xmpmeta>'
    )
    info = read_xmp(zf1)
    assert info.namespace == "urn:ferd:pdfa:CrossIndustryDocument:invoice:1p0#"
    assert (info.conformance_level, info.profile) == ("COMFORT", Profile.EN16931)
    assert read_xmp(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>").namespace is None
    with pytest.raises(InputRejected):
        read_xmp(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>&</x:xmpmeta>")


@pytest.mark.parametrize(
    ("level", "profile"),
    [
        ("MINIMUM", Profile.MINIMUM),
        ("BASIC WL", Profile.BASIC_WL),
        ("BASIC", Profile.BASIC),
        ("EN 16931", Profile.EN16931),
        ("EXTENDED", Profile.EXTENDED),
        ("XRECHNUNG", Profile.EN16931),
        ("COMFORT", Profile.EN16931),
        ("no thing", None),
        (None, None),
    ],
)
def test_xmp_levels(level: str | None, profile: Profile | None) -> None:
    assert xmp_level_profile(level) is profile
