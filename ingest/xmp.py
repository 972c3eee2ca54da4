"""The Factur-X / ZUGFeRD / XRechnung declaration in a PDF's XMP metadata."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from ingest.kinds import Profile
from ingest.safexml import parse_xml

#: The XMP extension schemas that declare an embedded invoice (Factur-X, ZUGFeRD 2, ZUGFeRD 1).
INVOICE_XMP_NAMESPACES = (
    "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#",
    "urn:zugferd:pdfa:CrossIndustryDocument:invoice:2p0#",
    "urn:ferd:pdfa:CrossIndustryDocument:invoice:1p0#",
)

#: XMP ConformanceLevel values, normalised (upper case, no spaces), to the profile they declare.
_LEVELS: dict[str, Profile] = {
    "MINIMUM": Profile.MINIMUM,
    "BASICWL": Profile.BASIC_WL,
    "BASIC": Profile.BASIC,
    "EN16931": Profile.EN16931,
    "COMFORT": Profile.EN16931,  # ZUGFeRD 1.0 / 2.0 name of the EN 16931 level
    "EXTENDED": Profile.EXTENDED,
    "XRECHNUNG": Profile.EN16931,  # an EN 16931 CIUS
}


@dataclass(frozen=True)
class XmpInvoiceInfo:
    """What the XMP metadata says about the embedded invoice."""

    namespace: str | None = None
    conformance_level: str | None = None
    document_file_name: str | None = None
    document_type: str | None = None
    version: str | None = None

    @property
    def profile(self) -> Profile | None:
        """The profile the conformance level declares, or None when it names none we know."""
        return xmp_level_profile(self.conformance_level)


def xmp_level_profile(level: str | None) -> Profile | None:
    """Map an XMP ``ConformanceLevel`` to a profile.

    >>> xmp_level_profile("BASIC WL")
    <Profile.BASIC_WL: 'basicwl'>
    >>> xmp_level_profile("no thing") is None
    True
    """
    if level is None:
        return None
    return _LEVELS.get("".join(level.split()).upper())


def _value(root: etree._Element, ns: str, name: str) -> str | None:
    for el in root.iter(f"{{{ns}}}{name}"):
        text = (el.text or "").strip()
        if text:
            return text
    for el in root.iter():
        if isinstance(el.tag, str):
            attr = el.get(f"{{{ns}}}{name}")
            if attr is not None and attr.strip():
                return attr.strip()
    return None


def read_xmp(data: bytes) -> XmpInvoiceInfo:
    """Read the invoice declaration from an XMP packet (parsed with :mod:`ingest.safexml`).

    Raises ``InputRejected`` when the packet is not acceptable XML.

    >>> xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    ...        b'<rdf:Description xmlns:fx="urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#"'
    ...        b' fx:ConformanceLevel="EN 16931" fx:DocumentFileName="factur-x.xml"/></rdf:RDF></x:xmpmeta>')
    >>> read_xmp(xmp).document_file_name
    'factur-x.xml'
    """
    root = parse_xml(data)
    for ns in INVOICE_XMP_NAMESPACES:
        level = _value(root, ns, "ConformanceLevel")
        file_name = _value(root, ns, "DocumentFileName")
        if level is None and file_name is None:
            continue
        return XmpInvoiceInfo(
            namespace=ns,
            conformance_level=level,
            document_file_name=file_name,
            document_type=_value(root, ns, "DocumentType"),
            version=_value(root, ns, "Version"),
        )
    return XmpInvoiceInfo()
