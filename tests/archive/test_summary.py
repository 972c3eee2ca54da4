"""The evidence summary PDF: readable text (extracted back with pdfplumber), page breaks, fast."""

from __future__ import annotations

import datetime as dt
import io
import time
from decimal import Decimal

import pdfplumber

from archive.bundle import BundleInput, NoticeLine, PaymentLine, StatusLine, render_summary
from archive.canonical import GENESIS, sha256_hex
from archive.journal import EntryKind, Event, make_entry

T0 = dt.datetime(2026, 11, 2, 9, 30, 15, 123456, tzinfo=dt.UTC)


def test_summary_reads_back_and_breaks_pages() -> None:
    original = b"%PDF-1.7 F-2026-001"
    doc = sha256_hex(original)
    entries, prev = [], GENESIS
    for n in range(1, 131):
        kind = EntryKind.PORTAL_VIEWED if n % 2 else EntryKind.STATUS_CHANGED
        entry = make_entry(Event(kind, doc, f"customer:{n}", {}, at=T0), seq=n, prev=prev)
        entries.append(entry)
        prev = entry.hash
    inp = BundleInput(
        document_sha256=doc,
        original=original,
        invoice={"number": "F-2026-001", "seller": "Société Générale d'Électricité (SGE)"},
        statuses=[StatusLine(at=T0, code="205", label="Approuvée", reason=None)],
        notices=[NoticeLine(at=T0, to="compta@client.test", subject="Rejet de la facture")],
        payments=[PaymentLine(at=T0, amount=Decimal("1200.50"), method="SEPA", reference="RF18539007547034")],
    )
    started = time.perf_counter()
    pdf = render_summary(inp, entries, "2026-11-23T00:00:00Z")
    assert time.perf_counter() - started < 0.5
    with pdfplumber.open(io.BytesIO(pdf)) as reader:
        pages = [p.extract_text() for p in reader.pages]
    text = "\n".join(pages)
    assert len(pages) >= 3 and "page 1 of" in pages[0]
    assert "Evidence summary - invoice F-2026-001" in text
    assert "Société Générale d'Électricité (SGE)" in text  # Windows-1252 text, parentheses escaped
    assert "2026-11-02 09:30:15" in text and "Approuvée" in text and "1200.50 EUR" in text
    assert "compta@client.test" in text and "RF18539007547034" in text
    assert "Journal entries (130)" in text and entries[-1].hash[:16] in text
    assert text.count("customer:") >= 130 + 65  # every entry, and the portal views read from them
