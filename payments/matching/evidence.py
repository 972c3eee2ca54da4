"""What a statement line says about the invoices it may pay.

Gathered once per line and independent of what is still open: the invoices
whose RF reference it carries, the invoices whose number appears in its text
(exactly, or one typo away), and the customers its payer IBAN is known for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from payments.matching.book import Book, compact_ref, normalise_iban
from payments.matching.text import MIN_DIGITS, NumberMention, number_mentions, one_edit_variants
from payments.matching.types import Line
from payments.rf import find_rfs, is_valid_rf


@dataclass(slots=True)
class Run:
    """One group of digits in the text and the invoices it may name."""

    text: str
    exact: list[str] = field(default_factory=list)
    spans: list[tuple[int, int, str]] = field(default_factory=list)  # digit groups an exact hit covers
    mentions: list[NumberMention] = field(default_factory=list)


@dataclass(slots=True)
class Evidence:
    """References and payer facts of one line."""

    rf_ids: list[str] = field(default_factory=list)
    rf_shown: dict[str, str] = field(default_factory=dict)
    foreign_rfs: list[str] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    iban_customers: frozenset[str] = frozenset()

    @property
    def strength(self) -> int:
        """0 with an RF reference of ours, 1 with an exact invoice number, 2 otherwise."""
        if self.rf_ids:
            return 0
        if any(r.exact for r in self.runs):
            return 1
        return 2


def gather(line: Line, book: Book) -> Evidence:
    """The evidence of one line against the book's invoices."""
    ev = Evidence()
    texts: list[str] = []
    rfs: list[str] = []
    for ref in line.structured_refs:
        compact = compact_ref(ref)
        if compact in book.by_rf or (compact[:2] == "RF" and is_valid_rf(compact)):
            rfs.append(compact)
        else:
            texts.append(ref)
    if line.remittance:
        texts.append(line.remittance)
        if "rf" in line.remittance.lower():
            rfs.extend(find_rfs(line.remittance))
    for rf in rfs:
        inv_id = book.by_rf.get(rf)
        if inv_id is None:
            ev.foreign_rfs.append(rf)
        elif inv_id not in ev.rf_ids:
            ev.rf_ids.append(inv_id)
            ev.rf_shown[inv_id] = rf
    seen: set[str] = set()
    for text in texts:
        runs: dict[int, Run] = {}
        for m in number_mentions(text, max_groups=book.max_groups + 1):
            if len(m.digits) < MIN_DIGITS or any(m.digits in rf for rf in rfs):
                continue
            run = runs.setdefault(m.run, Run(m.run_text))
            run.mentions.append(m)
            for inv_id in (*book.by_digits.get(m.digits, ()), *book.by_groups.get(m.groups, ())):
                run.spans.append((m.start, m.end, inv_id))
                if inv_id not in seen:
                    seen.add(inv_id)
                    run.exact.append(inv_id)
        ev.runs.extend(runs.values())
    if line.counterparty_iban:
        ev.iban_customers = frozenset(book.customers_by_iban.get(normalise_iban(line.counterparty_iban), ()))
    return ev


def fuzzy_hits(run: Run, book: Book, trusted: frozenset[str] | set[str]) -> list[list[str]]:
    """Invoices whose number is one typo away from a window of the run, per window.

    Windows covered by the exact hit of a ``trusted`` invoice are not searched.
    """
    lengths = book.digit_lengths
    out: list[list[str]] = []
    for m in run.mentions:
        n = len(m.digits)
        if n < 6 or not ({n - 1, n, n + 1} & lengths):
            continue
        if any(m.start < end and start < m.end for start, end, i in run.spans if i in trusted):
            continue
        hits: list[str] = []
        for variant in one_edit_variants(m.digits):
            for inv_id in book.by_digits.get(variant, ()):
                if inv_id not in hits and inv_id not in run.exact:
                    hits.append(inv_id)
        if hits:
            out.append(hits)
    return out
