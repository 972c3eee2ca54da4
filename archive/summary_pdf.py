"""The evidence bundle's readable summary, written straight as PDF (no layout engine).

A summary is headings, short paragraphs and aligned columns: PDF's standard
fonts (Helvetica for text, Courier for the columns) and a page break when
a page is full are enough, and writing it takes milliseconds, where an HTML
layout engine costs a second to start. Text is Windows-1252 (the standard
fonts' encoding); a character outside it is shown as ``?``.
"""

from __future__ import annotations

import textwrap
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

PAGE_WIDTH, PAGE_HEIGHT, MARGIN = 595, 842, 48  # A4 in points
FONTS = {"F1": "Helvetica", "F2": "Helvetica-Bold", "F3": "Courier", "F4": "Courier-Bold"}
COLUMN_CHARS = 100  # Courier 8 pt is 4.8 pt a character: 100 fit in the text width


def _text(value: str) -> bytes:
    """A PDF literal string in WinAnsiEncoding."""
    raw = value.encode("cp1252", errors="replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


@dataclass
class SummaryWriter:
    """Lines laid out top to bottom, page after page."""

    title: str
    pages: list[list[bytes]] = field(default_factory=list)
    y: float = 0.0

    def __post_init__(self) -> None:
        self._new_page()

    def _new_page(self) -> None:
        self.pages.append([])
        self.y = PAGE_HEIGHT - MARGIN
        if len(self.pages) > 1:
            self._line(f"{self.title} (continued)", "F1", 8, gap=14)

    def _line(self, text: str, font: str, size: float, *, gap: float) -> None:
        if self.y - gap < MARGIN:
            self._new_page()
        self.y -= gap
        self.pages[-1].append(
            b"BT /%s %g Tf %d %.1f Td %s Tj ET" % (font.encode(), size, MARGIN, self.y, _text(text))
        )

    def heading(self, text: str, size: float = 12) -> None:
        """A bold heading, kept with at least three lines after it."""
        if self.y - 4 * size - 40 < MARGIN:
            self._new_page()
        self._line(text, "F2", size, gap=size + 10)

    def paragraph(self, text: str, width: int = 105) -> None:
        """Wrapped text in Helvetica 9 pt."""
        for line in textwrap.wrap(text, width) or [""]:
            self._line(line, "F1", 9, gap=12)

    def columns(self, header: Sequence[str], rows: Iterable[Sequence[str]], widths: Sequence[int]) -> None:
        """Aligned columns in Courier 8 pt; the last column takes what is left and wraps."""

        def fmt(cells: Sequence[str]) -> list[str]:
            fixed = "".join(str(c)[: w - 1].ljust(w) for c, w in zip(cells[:-1], widths, strict=False))
            rest = COLUMN_CHARS - len(fixed)
            tail = textwrap.wrap(str(cells[-1]), max(rest, 10)) or [""]
            return [fixed + tail[0]] + [" " * len(fixed) + t for t in tail[1:]]

        self._line(fmt(header)[0], "F4", 8, gap=11)
        empty = True
        for row in rows:
            empty = False
            for line in fmt(row):
                self._line(line, "F3", 8, gap=10)
        if empty:
            self._line("(none)", "F1", 8, gap=10)

    def pdf(self) -> bytes:
        """The document's bytes (deterministic: no creation date)."""
        objects: list[bytes] = []  # object n is objects[n - 1]
        font_ids = {}
        for name, base in FONTS.items():
            objects.append(
                b"<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding /WinAnsiEncoding >>" % base.encode()
            )
            font_ids[name] = len(objects)
        fonts = b" ".join(b"/%s %d 0 R" % (n.encode(), i) for n, i in font_ids.items())
        pages_id = len(objects) + 1
        objects.append(b"")  # the page tree, filled in below
        kids = []
        for number, lines in enumerate(self.pages, start=1):
            footer = b"BT /F1 7 Tf %d 28 Td %s Tj ET" % (MARGIN, _text(f"page {number} of {len(self.pages)}"))
            stream = zlib.compress(b"\n".join([*lines, footer]))
            objects.append(
                b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(stream), stream)
            )
            objects.append(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %d %d] /Resources << /Font << %s >> >> "
                b"/Contents %d 0 R >>" % (pages_id, PAGE_WIDTH, PAGE_HEIGHT, fonts, len(objects))
            )
            kids.append(len(objects))
        objects[pages_id - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
            b" ".join(b"%d 0 R" % k for k in kids),
            len(kids),
        )
        objects.append(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
        objects.append(b"<< /Title %s /Producer (Encaisse) >>" % _text(self.title))
        out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for n, body in enumerate(objects, start=1):
            offsets.append(len(out))
            out += b"%d 0 obj\n%s\nendobj\n" % (n, body)
        xref = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
        out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
        out += b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
            len(objects) + 1,
            len(objects) - 1,
            len(objects),
            xref,
        )
        return bytes(out)
