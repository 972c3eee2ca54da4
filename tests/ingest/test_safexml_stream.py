"""ingest.safexml.iter_elements: the streaming reader keeps parse_xml's hardening, in flat memory."""

from __future__ import annotations

import io

import pytest

from ingest.safexml import iter_elements
from schemas.errors import ErrorCode, InputRejected, TooLarge, UnsafeXml, XmlNotWellFormed


def _stream(data: bytes, names: tuple[str, ...] = ("a",), **kw: int) -> list[str | None]:
    return [el.text for el in iter_elements(io.BytesIO(data), names, **kw)]


def test_yields_named_elements_in_any_namespace_with_the_parent_header_still_readable() -> None:
    data = b'<r xmlns="urn:x"><h>head</h><a>1</a><b/><a>2</a></r>'
    seen = []
    for el in iter_elements(io.BytesIO(data), ("a",)):
        parent = el.getparent()
        assert parent is not None
        seen.append((el.text, parent[0].text))
    assert seen == [("1", "head"), ("2", "head")]
    assert _stream(b"<r><a>x</a></r>") == ["x"]


@pytest.mark.parametrize(
    ("data", "error", "code"),
    [
        (b'<!DOCTYPE r [<!ENTITY e "boom">]><r><a>&e;</a></r>', UnsafeXml, ErrorCode.XML_UNSAFE_ENTITY),
        (b'<!DOCTYPE r SYSTEM "http://example.com/x.dtd"><r/>', UnsafeXml, ErrorCode.XML_UNSAFE_DTD),
        (
            b'<r xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include href="/etc/passwd"/></r>',
            UnsafeXml,
            None,
        ),
        (b'<?xml-stylesheet href="http://e/x.xsl"?><r/>', UnsafeXml, None),
        (
            b'<r><a xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="u http://e/x"/></r>',
            UnsafeXml,
            ErrorCode.XML_UNSAFE_SCHEMA_LOCATION,
        ),
        (
            b'<r><xs:import xmlns:xs="http://www.w3.org/2001/XMLSchema" schemaLocation="x"/></r>',
            UnsafeXml,
            None,
        ),
        (b"<r><a>1</a>", XmlNotWellFormed, ErrorCode.XML_NOT_WELL_FORMED),
        (b"", XmlNotWellFormed, ErrorCode.EMPTY_FILE),
        (b"<r>" + b"<a>" * 300 + b"</a>" * 300 + b"</r>", XmlNotWellFormed, ErrorCode.XML_TOO_DEEP),
        (b"\xff\xfe<\x00r\x00/\x00>\x00", XmlNotWellFormed, ErrorCode.XML_BAD_ENCODING),
    ],
)
def test_refusals(data: bytes, error: type[InputRejected], code: ErrorCode | None) -> None:
    with pytest.raises(error) as info:
        _stream(data)
    if code is not None:
        assert info.value.code is code


def test_a_declaration_cut_between_two_chunks_is_still_seen() -> None:
    from ingest import safexml

    pad = b"<!--" + b" " * (safexml._CHUNK - 6) + b"-->"  # the ENTITY keyword straddles the chunk border
    data = pad + b'<!DOCTYPE r [<!ENTITY e "x">]><r><a>&e;</a></r>'
    with pytest.raises(UnsafeXml):
        _stream(data)


def test_root_schema_location_is_allowed_and_size_is_bounded() -> None:
    xsi = b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    root = b"<r " + xsi + b' xsi:schemaLocation="urn:x r.xsd"><a>1</a></r>'
    assert _stream(root) == ["1"]
    with pytest.raises(TooLarge):
        _stream(b"<r>" + b"<a>1</a>" * 1000 + b"</r>", max_bytes=1000)


def test_elements_are_dropped_once_read() -> None:
    """What keeps memory flat: the tree holds the header and what the parser read ahead, never the past."""
    data = b"<r><h/>" + (b"<a>" + b"x" * 1000 + b"</a>") * 2000 + b"</r>"
    sizes = []
    for el in iter_elements(io.BytesIO(data), ("a",)):
        parent = el.getparent()
        assert parent is not None
        sizes.append(len(parent))
    assert len(sizes) == 2000
    assert max(sizes) <= 100  # ~2 MB read, at most a read-ahead chunk (32 KB: ~33 elements) held
