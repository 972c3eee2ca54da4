"""Small text helpers shared by the statement parsers."""

from __future__ import annotations

from collections.abc import Iterable


def join_segments(parts: Iterable[str], width: int) -> str:
    """Join remittance segments the way banks cut them.

    A segment that fills its field (``width`` characters: 140 for camt
    ``Ustrd``, 27 for an MT940 ``?2x`` subfield) was cut mid-text, so the next
    one is glued to it; shorter segments are separate pieces, joined by a space.

    >>> join_segments(["Invoice INV-20", "26-7"], 14)
    'Invoice INV-2026-7'
    >>> join_segments(["Invoice 1", "Invoice 2"], 140)
    'Invoice 1 Invoice 2'
    """
    out = ""
    previous_full = False
    for part in parts:
        if not part:
            continue
        if out and not previous_full:
            out += " "
        out += part
        previous_full = len(part) >= width
    return out.strip()
