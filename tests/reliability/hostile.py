"""Builders of hostile and broken inputs, and a seeded generator of them.

Everything here is generated (never copied from the corpus): small valid CII
and UBL invoices, Factur-X PDFs built with pikepdf, hand-written PDFs for the
structures pikepdf refuses to write (loops, bombs), and seeded mutations.
"""

from __future__ import annotations

import io
import random
import re
import struct
import zlib
from collections.abc import Iterator

import pikepdf

CII_NS = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
PROFILE_IDS = {
    "MINIMUM": "urn:factur-x.eu:1p0:minimum",
    "BASIC WL": "urn:factur-x.eu:1p0:basicwl",
    "BASIC": "urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic",
    "EN 16931": "urn:cen.eu:en16931:2017",
    "EXTENDED": "urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended",
}


def cii_xml(*, spec: str = "urn:cen.eu:en16931:2017", number: str = "INV-1", amount: str = "100.00") -> bytes:
    """A small, well-formed EN 16931 CII invoice."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<rsm:CrossIndustryInvoice xmlns:rsm="{CII_NS}"
 xmlns:ram="urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
 xmlns:udt="urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100">
 <rsm:ExchangedDocumentContext><ram:GuidelineSpecifiedDocumentContextParameter><ram:ID>{spec}</ram:ID>
 </ram:GuidelineSpecifiedDocumentContextParameter></rsm:ExchangedDocumentContext>
 <rsm:ExchangedDocument><ram:ID>{number}</ram:ID><ram:TypeCode>380</ram:TypeCode>
  <ram:IssueDateTime><udt:DateTimeString format="102">20240115</udt:DateTimeString></ram:IssueDateTime>
 </rsm:ExchangedDocument>
 <rsm:SupplyChainTradeTransaction>
  <ram:ApplicableHeaderTradeAgreement>
   <ram:SellerTradeParty><ram:Name>Vendeur SARL</ram:Name>
    <ram:PostalTradeAddress><ram:CountryID>FR</ram:CountryID></ram:PostalTradeAddress>
    <ram:SpecifiedTaxRegistration><ram:ID schemeID="VA">FR32123456789</ram:ID></ram:SpecifiedTaxRegistration>
   </ram:SellerTradeParty>
   <ram:BuyerTradeParty><ram:Name>Acheteur SA</ram:Name>
    <ram:PostalTradeAddress><ram:CountryID>FR</ram:CountryID></ram:PostalTradeAddress></ram:BuyerTradeParty>
  </ram:ApplicableHeaderTradeAgreement>
  <ram:ApplicableHeaderTradeDelivery/>
  <ram:ApplicableHeaderTradeSettlement><ram:InvoiceCurrencyCode>EUR</ram:InvoiceCurrencyCode>
   <ram:SpecifiedTradeSettlementHeaderMonetarySummation>
    <ram:TaxBasisTotalAmount>{amount}</ram:TaxBasisTotalAmount>
    <ram:TaxTotalAmount currencyID="EUR">20.00</ram:TaxTotalAmount>
    <ram:GrandTotalAmount>120.00</ram:GrandTotalAmount>
    <ram:DuePayableAmount>120.00</ram:DuePayableAmount>
   </ram:SpecifiedTradeSettlementHeaderMonetarySummation>
  </ram:ApplicableHeaderTradeSettlement>
 </rsm:SupplyChainTradeTransaction>
</rsm:CrossIndustryInvoice>
""".encode()


def ubl_xml(*, root: str = "Invoice", number: str = "UBL-1") -> bytes:
    """A small, well-formed UBL Invoice (or CreditNote)."""
    ns = f"urn:oasis:names:specification:ubl:schema:xsd:{root}-2"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<{root} xmlns="{ns}" xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
 xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2">
 <cbc:CustomizationID>urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0</cbc:CustomizationID>
 <cbc:ID>{number}</cbc:ID><cbc:IssueDate>2024-01-15</cbc:IssueDate>
 <cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>
 <cac:LegalMonetaryTotal>
  <cbc:PayableAmount currencyID="EUR">120.00</cbc:PayableAmount>
 </cac:LegalMonetaryTotal>
</{root}>
""".encode()


def xmp_packet(level: str | None = "EN 16931", file_name: str | None = "factur-x.xml") -> bytes:
    """An XMP packet with a Factur-X declaration."""
    props = ""
    if level is not None:
        props += f"<fx:ConformanceLevel>{level}</fx:ConformanceLevel>"
    if file_name is not None:
        props += f"<fx:DocumentFileName>{file_name}</fx:DocumentFileName>"
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:fx="urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#">'
        f"{props}<fx:DocumentType>INVOICE</fx:DocumentType><fx:Version>1.0</fx:Version></rdf:Description>"
        '</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


def facturx_pdf(
    attachments: list[tuple[str, bytes, str | None]] | None = None,
    *,
    xmp: bytes | None = None,
    encrypt: bool = False,
    af: bool = True,
    name_tree: bool = True,
) -> bytes:
    """A one-page PDF with the given (name, bytes, AFRelationship) attachments, built with pikepdf."""
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    specs = []
    for name, data, rel in attachments if attachments is not None else [("factur-x.xml", cii_xml(), "Data")]:
        mime = "text/xml" if name.lower().endswith(".xml") else "application/octet-stream"
        spec = pikepdf.AttachedFileSpec(  # type: ignore[call-arg]
            pdf, data, filename=name, mime_type=mime, relationship=pikepdf.Name("/" + rel) if rel else None
        )
        if rel is None and "/AFRelationship" in spec.obj:
            del spec.obj["/AFRelationship"]
        if name_tree:
            pdf.attachments[name] = spec
        specs.append(spec.obj)
    if af and specs:
        pdf.Root.AF = pikepdf.Array([pdf.make_indirect(s) if not s.is_indirect else s for s in specs])
    if xmp is not None:
        pdf.Root.Metadata = pdf.make_stream(xmp, Type=pikepdf.Name.Metadata, Subtype=pikepdf.Name.XML)
    out = io.BytesIO()
    if encrypt:
        pdf.save(out, encryption=pikepdf.Encryption(user="secret", owner="owner"), fix_metadata_version=False)
    else:
        # fix_metadata_version=False: pikepdf would otherwise rewrite (and repair) the XMP
        pdf.save(out, fix_metadata_version=False, deterministic_id=True)
    return out.getvalue()


def raw_pdf(objects: dict[int, bytes], *, root: int = 1) -> bytes:
    """A hand-written PDF (objects numbered by the caller) with a correct xref table.

    Used for structures pikepdf would repair or refuse to save: loops, deep
    nests, bombs.
    """
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    size = max(objects) + 1
    offsets = [0] * size
    for num in sorted(objects):
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + objects[num] + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for num in range(1, size):
        out += b"%010d 00000 n \n" % offsets[num] if num in objects else b"0000000000 65535 f \n"
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, root, xref)
    return bytes(out)


def stream_obj(dictionary: bytes, data: bytes) -> bytes:
    """A stream object body."""
    return b"<< " + dictionary + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def zeros_deflated(total: int) -> bytes:
    """zlib data inflating to ``total`` zero bytes (a multiple of 1 MiB), built in well under a second.

    One MiB of zeros is compressed once and flushed with Z_FULL_FLUSH, so its
    deflate blocks stand alone and can be repeated; the Adler-32 of n zero bytes
    is computed directly ((n mod 65521) << 16 | 1).
    """
    mib = 1 << 20
    assert total % mib == 0
    c = zlib.compressobj(9)
    head = c.compress(bytes(mib)) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(bytes(mib)) + c.flush(zlib.Z_FULL_FLUSH)
    adler = ((total % 65521) << 16) | 1
    return head + block * (total // mib - 1) + b"\x03\x00" + struct.pack(">I", adler)


def _catalog(extra: bytes = b"") -> bytes:
    return b"<< /Type /Catalog /Pages 2 0 R " + extra + b" >>"


def circular_pages_pdf() -> bytes:
    """/Pages whose /Kids contain the /Pages node itself."""
    return raw_pdf(
        {
            1: _catalog(),
            2: b"<< /Type /Pages /Kids [3 0 R 2 0 R] /Count 2 >>",
            3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
        }
    )


def circular_kids_pdf() -> bytes:
    """Two intermediate /Pages nodes that are each other's kid."""
    return raw_pdf(
        {
            1: _catalog(),
            2: b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",
            4: b"<< /Type /Pages /Kids [5 0 R] /Parent 2 0 R /Count 1 >>",
            5: b"<< /Type /Pages /Kids [4 0 R] /Parent 4 0 R /Count 1 >>",
        }
    )


def deep_pages_pdf(depth: int = 5000) -> bytes:
    """A page tree nested ``depth`` levels deep."""
    objs: dict[int, bytes] = {1: _catalog()}
    for i in range(depth):
        objs[2 + i] = b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % (3 + i)
    objs[2 + depth] = b"<< /Type /Page /MediaBox [0 0 595 842] >>"
    return raw_pdf(objs)


def circular_xobject_pdf(*, self_loop: bool = False) -> bytes:
    """Form XObjects drawing each other (X1 → X2 → X1), or X1 drawing itself."""
    content = b"/X1 Do"
    objs = {
        1: _catalog(),
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /XObject << /X1 5 0 R >> >> >>",
        4: stream_obj(b"", content),
    }
    target = 5 if self_loop else 6
    objs[5] = stream_obj(
        b"/Type /XObject /Subtype /Form /BBox [0 0 10 10] /Resources << /XObject << /X1 %d 0 R >> >>"
        % target,
        content,
    )
    if not self_loop:
        objs[6] = stream_obj(
            b"/Type /XObject /Subtype /Form /BBox [0 0 10 10] /Resources << /XObject << /X1 5 0 R >> >>",
            content,
        )
    return raw_pdf(objs)


def deep_xobject_pdf(depth: int = 2000) -> bytes:
    """Form XObjects nested ``depth`` levels deep (each draws the next)."""
    objs = {
        1: _catalog(),
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /XObject << /X 4 0 R >> >> >>",
    }
    for i in range(depth):
        nxt = b"/Resources << /XObject << /X %d 0 R >> >>" % (5 + i) if i < depth - 1 else b""
        objs[4 + i] = stream_obj(b"/Type /XObject /Subtype /Form /BBox [0 0 1 1] " + nxt, b"/X Do")
    return raw_pdf(objs)


def deep_array_pdf(depth: int = 100_000) -> bytes:
    """A page whose /Resources value is an array nested ``depth`` levels deep."""
    nested = b"[" * depth + b"]" * depth
    return raw_pdf(
        {
            1: _catalog(),
            2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /X " + nested + b" >> >>",
        }
    )


def bomb_attachment_pdf(inflated: int = 1 << 30, name: str = "factur-x.xml") -> bytes:
    """A Factur-X-looking PDF whose attachment inflates to ``inflated`` bytes (1 GiB by default)."""
    bomb = zeros_deflated(inflated)
    return raw_pdf(
        {
            1: _catalog(b"/Names << /EmbeddedFiles << /Names [(%s) 4 0 R] >> >> /AF [4 0 R]" % name.encode()),
            2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
            4: b"<< /Type /Filespec /F (%s) /UF (%s) /AFRelationship /Data /EF << /F 5 0 R >> >>"
            % (name.encode(), name.encode()),
            5: stream_obj(b"/Type /EmbeddedFile /Subtype /text#2Fxml /Filter /FlateDecode", bomb),
        }
    )


def bomb_content_pdf(inflated: int = 1 << 30) -> bytes:
    """A page whose content stream inflates to ``inflated`` bytes."""
    return raw_pdf(
        {
            1: _catalog(),
            2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
            4: stream_obj(b"/Filter /FlateDecode", zeros_deflated(inflated)),
        }
    )


def huge_image_pdf(side: int = 30_000) -> bytes:
    """A page drawing a ``side``×``side`` grey image (its data is a tiny deflated stream)."""
    return raw_pdf(
        {
            1: _catalog(),
            2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
            b"/Resources << /XObject << /Im 5 0 R >> >> >>",
            4: stream_obj(b"", b"q 595 0 0 842 0 0 cm /Im Do Q"),
            5: stream_obj(
                b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
                b"/BitsPerComponent 8 /Filter /FlateDecode" % (side, side),
                zlib.compress(bytes(1 << 16)),
            ),
        }
    )


# --------------------------------------------------------------------------------------------
# XML payloads
# --------------------------------------------------------------------------------------------


def unsafe_xml_payloads(canary_path: str) -> list[tuple[str, bytes]]:
    """Twenty XXE / external DTD / XInclude / outward schemaLocation payloads (name, bytes)."""
    uri = "file://" + canary_path
    body = f"<rsm:CrossIndustryInvoice xmlns:rsm='{CII_NS}'>"
    end = "</rsm:CrossIndustryInvoice>"
    p: list[tuple[str, str]] = [
        ("xxe-file", f'<!DOCTYPE r [<!ENTITY x SYSTEM "{uri}">]>{body}&x;{end}'),
        ("xxe-file-plain-path", f'<!DOCTYPE r [<!ENTITY x SYSTEM "{canary_path}">]>{body}&x;{end}'),
        ("xxe-http", f'<!DOCTYPE r [<!ENTITY x SYSTEM "http://127.0.0.1:9/x">]>{body}&x;{end}'),
        ("xxe-parameter", f'<!DOCTYPE r [<!ENTITY % p SYSTEM "{uri}"> %p;]>{body}{end}'),
        ("xxe-public", f'<!DOCTYPE r [<!ENTITY x PUBLIC "-//X//EN" "{uri}">]>{body}&x;{end}'),
        ("external-dtd", f'<!DOCTYPE r SYSTEM "{uri}">{body}{end}'),
        ("external-dtd-http", f'<!DOCTYPE r SYSTEM "http://127.0.0.1:9/e.dtd">{body}{end}'),
        (
            "external-dtd-public",
            f'<!DOCTYPE r PUBLIC "-//X//DTD X//EN" "http://127.0.0.1:9/e.dtd">{body}{end}',
        ),
        ("doctype-lowercase", f'<!doctype r SYSTEM "{uri}">{body}{end}'),
        ("doctype-spaces", f'<! DOCTYPE r SYSTEM "{uri}">{body}{end}'),
        (
            "xinclude",
            f'{body}<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="{uri}" parse="text"/>{end}',
        ),
        (
            "xinclude-http",
            f'{body}<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="http://127.0.0.1:9/"/>{end}',
        ),
        (
            "xinclude-2003",
            f'{body}<xi:include xmlns:xi="http://www.w3.org/2003/XInclude" href="{uri}" parse="text"/>{end}',
        ),
        (
            "schema-location-inner",
            f"{body}<x xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance' "
            f"xsi:schemaLocation='urn:x http://127.0.0.1:9/x.xsd'/>{end}",
        ),
        (
            "no-namespace-schema-location",
            f"<rsm:CrossIndustryInvoice xmlns:rsm='{CII_NS}' "
            "xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance' "
            f"xsi:noNamespaceSchemaLocation='{uri}'>{end}",
        ),
        (
            "xsd-import",
            f"{body}<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'>"
            f"<xs:import namespace='urn:x' schemaLocation='{uri}'/></xs:schema>{end}",
        ),
        ("stylesheet-pi", f'<?xml-stylesheet type="text/xsl" href="{uri}"?>{body}{end}'),
        ("utf16-xxe", ""),  # filled below in UTF-16
        ("entity-internal", f'<!DOCTYPE r [<!ENTITY x "{canary_path}">]>{body}&x;{end}'),
        ("xxe-in-attachment-name", f'<!DOCTYPE r [<!ENTITY x SYSTEM "{uri}">]><r a="&x;"/>'),
    ]
    out: list[tuple[str, bytes]] = []
    for name, text in p:
        if name == "utf16-xxe":
            out.append(
                (
                    name,
                    f'<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE r [<!ENTITY x SYSTEM "{uri}">]>'
                    f"{body}&x;{end}".encode("utf-16"),
                )
            )
        else:
            out.append((name, text.encode()))
    return out


def billion_laughs(levels: int = 10, fanout: int = 10) -> bytes:
    """The classic entity-expansion bomb (10 levels × 10 by default)."""
    ents = ['<!ENTITY lol0 "lol">']
    ents += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * fanout}">' for i in range(1, levels)]
    return f'<?xml version="1.0"?><!DOCTYPE lolz [{"".join(ents)}]><lolz>&lol{levels - 1};</lolz>'.encode()


def quadratic_blowup(size: int = 200_000, refs: int = 20_000) -> bytes:
    """One large entity referenced many times (quadratic blow-up)."""
    return (
        f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "{"A" * size}">]><r>' + "&a;" * refs + "</r>"
    ).encode()


def deep_xml(depth: int) -> bytes:
    """Elements nested ``depth`` levels deep under a CII root."""
    return (
        f"<rsm:CrossIndustryInvoice xmlns:rsm='{CII_NS}'>"
        + "<a>" * depth
        + "</a>" * depth
        + "</rsm:CrossIndustryInvoice>"
    ).encode()


# --------------------------------------------------------------------------------------------
# Mutations and the seeded generator
# --------------------------------------------------------------------------------------------


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One random truncation, bit flip, byte run overwrite, deletion or duplication."""
    if not data:
        return data
    op = rng.randrange(6)
    i = rng.randrange(len(data))
    if op == 0:
        return data[:i]
    if op == 1:
        b = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            j = rng.randrange(len(b))
            b[j] ^= 1 << rng.randrange(8)
        return bytes(b)
    if op == 2:
        n = rng.randint(1, 16)
        return data[:i] + bytes(rng.randrange(256) for _ in range(n)) + data[i + n :]
    if op == 3:
        return data[:i] + data[i + rng.randint(1, 64) :]
    if op == 4:
        j = rng.randrange(len(data))
        lo, hi = min(i, j), max(i, j)
        return data[:hi] + data[lo:hi] + data[hi:]
    return (
        data[:i]
        + rng.choice([b"<", b">", b"&", b"\x00", b"]]>", b"<!--", b"\xff\xfe", b"endobj", b"R"])
        + data[i:]
    )


_TEXT = re.compile(rb">([^<>]{1,80})<")
_JUNK = [
    b"",
    b"-1",
    b"1e999",
    b"99999999999999999999.999",
    b"2024-13-45",
    b"NaN",
    b"\xf0\x9f\x98\x80",
    b"&amp;",
    b"0",
    b" ",
    b"ABC",
    b"20241301",
    b"1,5",
    b"\xc3",
    b"\t\n",
    b"-0.00",
    b"FR",
    b"ZZZ",
]


def mutate_text(data: bytes, rng: random.Random) -> bytes:
    """Replace the text of one element by a hostile value (keeps the XML well-formed most of the time)."""
    spans = [m.span(1) for m in _TEXT.finditer(data)]
    if not spans:
        return mutate(data, rng)
    lo, hi = rng.choice(spans)
    return data[:lo] + rng.choice(_JUNK) + data[hi:]


def hostile_inputs(seed: int = 20240115, count: int = 1000) -> Iterator[tuple[str, bytes]]:
    """``count`` named hostile or broken inputs, the same for the same seed."""
    rng = random.Random(seed)
    cii, ubl, cn = cii_xml(), ubl_xml(), ubl_xml(root="CreditNote")
    base_pdf = facturx_pdf(xmp=xmp_packet())
    fixed: list[tuple[str, bytes]] = [
        ("empty", b""),
        ("whitespace", b" \n\t "),
        ("nul-bytes", b"\x00" * 64),
        ("pdf-magic-only", b"%PDF-1.7\n"),
        ("pdf-header-garbage", b"%PDF-1.4\n" + bytes(range(256)) * 4),
        ("zip", b"PK\x03\x04" + bytes(60)),
        ("png", b"\x89PNG\r\n\x1a\n" + bytes(40)),
        ("text", b"Facture 2024-001 total 120,00 EUR"),
        ("html", b"<html><body>invoice</body></html>"),
        ("wrong-root", b"<Order xmlns='urn:oasis:names:specification:ubl:schema:xsd:Order-2'/>"),
        ("no-namespace-root", b"<CrossIndustryInvoice/>"),
        ("cii-wrong-ns", b"<rsm:CrossIndustryInvoice xmlns:rsm='urn:example:not-cii'/>"),
        ("billion-laughs", billion_laughs()),
        ("quadratic", quadratic_blowup(20_000, 2_000)),
        ("deep-xml-100", deep_xml(100)),
        ("deep-xml-100000", deep_xml(100_000)),
        (
            "xml-50MB",
            cii.replace(
                b"</rsm:CrossIndustryInvoice>",
                b"<!--" + b"x" * (50 << 20) + b"--></rsm:CrossIndustryInvoice>",
            ),
        ),
        ("undefined-entity", cii.replace(b"Vendeur", b"&vendeur;")),
        (
            "pdf-several-attachments-one-xml",
            facturx_pdf(
                [
                    ("factur-x.xml", cii, "Alternative"),
                    ("annex.pdf", b"%PDF-1.4 annex", "Data"),
                    ("photo.png", b"\x89PNG", "Data"),
                ],
                xmp=xmp_packet(),
            ),
        ),
        ("pdf-only-af", facturx_pdf([("factur-x.xml", cii, "Data")], name_tree=False)),
        ("pdf-xmp-mismatch", facturx_pdf(xmp=xmp_packet("MINIMUM"))),
        ("pdf-xmp-unknown-level", facturx_pdf(xmp=xmp_packet("no thing"))),
        ("pdf-no-afrelationship", facturx_pdf([("factur-x.xml", cii, None)])),
        ("pdf-empty-attachment", facturx_pdf([("factur-x.xml", b"", "Data")])),
        ("pdf-xrechnung-ubl", facturx_pdf([("xrechnung.xml", ubl, "Alternative")])),
        ("pdf-bomb-content-128m", bomb_content_pdf(128 << 20)),
        ("pdf-circular-xobject-self", circular_xobject_pdf(self_loop=True)),
        ("pdf-deep-xobject", deep_xobject_pdf(300)),
        ("xml-in-pdf-clothing", b"%PDF-1.7\n" + cii),
        ("pdf-after-junk", b"junk" * 10 + base_pdf),
        ("latin1-declared-utf8", cii.replace(b"Vendeur", "Vendéur".encode("latin-1"))),
        ("utf16-no-bom-declared-utf8", cii.decode().encode("utf-16-le")),
        ("utf16-bom", cii.decode().replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16")),
        ("encoding-unknown", cii.replace(b'encoding="UTF-8"', b'encoding="X-NOPE-42"')),
        ("encoding-ebcdic", cii.replace(b'encoding="UTF-8"', b'encoding="cp500"')),
        ("pdf-no-attachment", facturx_pdf([], xmp=xmp_packet())),
        ("pdf-two-xml", facturx_pdf([("factur-x.xml", cii, "Data"), ("xrechnung.xml", ubl, "Source")])),
        ("pdf-unexpected-name", facturx_pdf([("invoice.xml", cii, "Data")])),
        ("pdf-ubl-as-facturx", facturx_pdf([("factur-x.xml", ubl, "Data")])),
        ("pdf-encrypted", facturx_pdf(encrypt=True)),
        ("pdf-unsafe-attachment", facturx_pdf([("factur-x.xml", billion_laughs(), "Data")])),
        ("pdf-circular-pages", circular_pages_pdf()),
        ("pdf-circular-kids", circular_kids_pdf()),
        ("pdf-deep-pages", deep_pages_pdf(500)),
        ("pdf-circular-xobject", circular_xobject_pdf()),
        ("pdf-deep-array", deep_array_pdf(20_000)),
        ("pdf-image-bomb", huge_image_pdf()),
        ("pdf-attachment-bomb-128m", bomb_attachment_pdf(128 << 20)),
    ]
    for i, (name, data) in enumerate(fixed[:count]):
        yield f"{i:04d}-{name}", data
    bases = [("cii", cii), ("ubl", ubl), ("creditnote", cn), ("pdf", base_pdf)]
    for i in range(len(fixed), count):
        kind, data = bases[i % len(bases)]
        for _ in range(rng.randint(1, 3)):
            data = mutate_text(data, rng) if i % 3 == 0 and kind != "pdf" else mutate(data, rng)
        yield f"{i:04d}-{kind}-mutant", data


# --------------------------------------------------------------------------------------------
# Named crasher fixtures (tests/reliability/fixtures/, replayed by test_hostile_inputs.py)
# --------------------------------------------------------------------------------------------


def _one_page(extra_catalog: bytes, objects: dict[int, bytes]) -> bytes:
    return raw_pdf(
        {
            1: b"<< /Type /Catalog /Pages 2 0 R " + extra_catalog + b" >>",
            2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 9 9] >>",
            **objects,
        }
    )


def crasher_fixtures() -> dict[str, tuple[bytes, str]]:
    """Inputs that once broke (or nearly broke) a contract: file name → (bytes, why it is kept)."""
    cii = cii_xml()
    bad_xmp = xmp_packet().replace(b"INVOICE", b"INVOICE & more")
    attached = b"/Names << /EmbeddedFiles << /Names [(factur-x.xml) 4 0 R] >> >>"
    spec = b"<< /Type /Filespec /F (factur-x.xml) /AFRelationship /Data /EF << /F 5 0 R >> >>"
    return {
        "deep-array-nulls-the-page.pdf": (
            deep_array_pdf(2000),
            "qpdf turns the too-deep page into null; the walker met a None kid (AttributeError); "
            "now 'no readable page'",
        ),
        "xinclude-2003-namespace.xml": (
            f"<rsm:CrossIndustryInvoice xmlns:rsm='{CII_NS}'><xi:include xmlns:xi='http://www.w3.org/2003/XInclude'"
            " href='file:///etc/passwd' parse='text'/></rsm:CrossIndustryInvoice>".encode(),
            "the 2003 XInclude namespace (libxml2 honours it too) passed the safety check",
        ),
        "xmp-not-well-formed.pdf": (
            facturx_pdf([("factur-x.xml", cii, "Data")], xmp=bad_xmp),
            "an unreadable XMP packet gives a warning, not an error",
        ),
        "two-xml-unreadable-xmp.pdf": (
            facturx_pdf(
                [("factur-x.xml", cii, "Data"), ("ZUGFeRD-invoice.xml", cii_xml(number="Z"), "Alternative")],
                xmp=bad_xmp,
            ),
            "several XML and no readable XMP to name one: rejected, never first match",
        ),
        "attachment-unknown-filter.pdf": (
            _one_page(attached, {4: spec, 5: stream_obj(b"/Filter /JBIG2Decode", b"xx")}),
            "an invoice attachment behind an image codec filter",
        ),
        "kids-not-an-array.pdf": (
            raw_pdf({1: b"<< /Type /Catalog /Pages 2 0 R >>", 2: b"<< /Type /Pages /Kids 7 /Count 1 >>"}),
            "a /Kids that is a number was taken for a page",
        ),
        "pages-missing.pdf": (raw_pdf({1: b"<< /Type /Catalog >>"}), "no page tree at all"),
        "name-tree-loop.pdf": (
            _one_page(
                b"/Names << /EmbeddedFiles 4 0 R >>", {4: b"<< /Kids [5 0 R] >>", 5: b"<< /Kids [4 0 R] >>"}
            ),
            "an EmbeddedFiles name tree whose kids loop",
        ),
        "utf16-xml-without-bom.xml": (cii.decode().encode("utf-16-le"), "UTF-16 without BOM, declared UTF-8"),
        "bare-ampersand.xml": (
            cii.replace(b"Vendeur SARL", b"Vendeur & Fils"),
            "a bare & was reported as an unsafe entity; it is a well-formedness error",
        ),
    }


if __name__ == "__main__":  # regenerate the fixtures: python -m tests.reliability.hostile
    import json
    from pathlib import Path

    from ingest import detect

    folder = Path(__file__).with_name("fixtures")
    manifest = {}
    for file_name, (data, why) in crasher_fixtures().items():
        (folder / file_name).write_bytes(data)
        det = detect(data)
        manifest[file_name] = {
            "kind": det.kind.value,
            "code": det.code.value if det.code else None,
            "findings": sorted(f.rule_id for f in det.findings),
            "why": why,
        }
    (folder / "manifest.json").write_text(
        json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
