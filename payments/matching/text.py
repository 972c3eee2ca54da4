"""Normalising invoice numbers and payer names the way payers mangle them.

Invoice numbers are compared by their digits only: ``INV-2026-000123``,
``inv2026000123``, ``INV 2026 000123``, ``2026-000123`` and ``INV2026/000123``
share the digit key ``2026000123``; ``INV-2026-123`` shares the group key
``2026-123`` (leading zeros dropped per group). Typos are handled by looking
up every string one edit away from a digit key (:func:`one_edit_variants`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

_TOKEN = re.compile(r"[0-9A-Za-z]+")
_DIGITS = re.compile(r"[0-9]+")
# digit groups separated by up to three separator characters (space, dash, slash, dot...)
_RUN = re.compile(r"[0-9]+(?:[ \t\r\n\-/.,;:+_]{1,3}[0-9]+)*")
_GROUP_SEP = re.compile(r"[^0-9]+")
_O_AS_ZERO = str.maketrans("Oo", "00")
_O_NEAR_DIGIT = re.compile(r"[Oo][0-9]|[0-9][Oo]")
#: Shortest digit key looked up without any letter next to it (shorter ones are
#: customer numbers, quantities, dates...).
MIN_DIGITS = 5
#: Longer digit groups are account numbers or noise, never part of an invoice number.
MAX_GROUP_DIGITS = 24


def number_keys(number: str) -> tuple[str, str]:
    """The (digit key, group key) of an invoice number.

    >>> number_keys("INV-2026-000123")
    ('2026000123', '2026-123')
    >>> number_keys("F2026/0042")
    ('20260042', '2026-42')
    """
    groups = _DIGITS.findall(number)
    return "".join(groups), "-".join(str(int(g)) for g in groups)


def fix_o_for_zero(text: str) -> str:
    """Read a letter O as a zero inside numbers (``2O26-OO0123`` is ``2026-000123``).

    >>> fix_o_for_zero("Rechnung INV-2O26-OOO123, Kd OTTO")
    'Rechnung INV-2026-000123, Kd OTTO'
    """

    def fix(m: re.Match[str]) -> str:
        token = m.group(0)
        first = next((i for i, ch in enumerate(token) if ch.isdigit()), -1)
        if first < 0:
            return token
        start = first
        while start > 0 and token[start - 1] in "Oo":
            start -= 1
        tail = token[start:]
        if tail.translate(_O_AS_ZERO).isdigit():
            return token[:start] + tail.translate(_O_AS_ZERO)
        return token

    if not _O_NEAR_DIGIT.search(text):
        return text
    return _TOKEN.sub(fix, text)


@dataclass(frozen=True, slots=True)
class NumberMention:
    """Digits in remittance text that may be an invoice number (one window of digit groups)."""

    digits: str
    groups: str
    run: int
    run_text: str
    start: int
    end: int


def number_mentions(text: str, *, max_groups: int = 3) -> Iterator[NumberMention]:
    """Every window of up to ``max_groups`` consecutive digit groups in ``text``.

    Windows let a number split by a space or a line break (``INV-2026-000 123``)
    or printed without its prefix still produce the invoice's digit key.

    >>> [m.digits for m in number_mentions("Rechnung 2026-000 123", max_groups=2)]
    ['2026', '2026000', '000', '000123', '123']
    """
    for n, run in enumerate(_RUN.finditer(fix_o_for_zero(text))):
        raw = run.group(0)
        groups = [g for g in _GROUP_SEP.split(raw) if len(g) <= MAX_GROUP_DIGITS]
        stripped = [str(int(g)) for g in groups]
        for i in range(len(groups)):
            digits, key = "", ""
            for j in range(i, min(len(groups), i + max_groups)):
                digits += groups[j]
                key = f"{key}-{stripped[j]}" if key else stripped[j]
                yield NumberMention(digits, key, n, raw, i, j + 1)


_DIGIT_CHARS = "0123456789"


def one_edit_variants(digits: str) -> Iterator[str]:
    """Strings one typo away: a digit substituted, dropped, inserted, or two swapped.

    >>> variants = set(one_edit_variants("123"))
    >>> {"124", "12", "1234", "213"} <= variants, "123" in variants
    (True, False)
    """
    n = len(digits)
    seen = {digits}
    for i in range(n):
        head, tail = digits[:i], digits[i + 1 :]
        for d in _DIGIT_CHARS:
            if d != digits[i]:
                yield head + d + tail
        drop = head + tail
        if drop not in seen:
            seen.add(drop)
            yield drop
        if i + 1 < n and digits[i] != digits[i + 1]:
            yield head + digits[i + 1] + digits[i] + digits[i + 2 :]
    for i in range(n + 1):
        for d in _DIGIT_CHARS:
            ins = digits[:i] + d + digits[i:]
            if ins not in seen:
                seen.add(ins)
                yield ins


# ----------------------------------------------------------------------------- names

_GERMAN = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "ae", "Ö": "oe", "Ü": "ue", "ß": "ss"})
_NON_ALNUM = re.compile(r"[^0-9a-z]+")
#: Legal forms and joining words that banks drop, abbreviate or translate.
_NOISE_WORDS = frozenset(
    {
        *("gmbh", "co", "kg", "ag", "ek", "ug", "haftungsbeschraenkt", "haftungsbeschrankt", "og"),
        *("sarl", "sas", "sa", "eurl", "bv", "nv", "srl", "vof", "sl", "spa", "rl", "sca", "scs"),
        *("ltd", "limited", "inc", "llc", "plc", "cie"),
        *("und", "and", "et", "en", "y", "e", "u", "the"),
    }
)


def plain_name(name: str) -> str:
    """A name lower-cased, transliterated, with punctuation turned into spaces.

    >>> plain_name("Müller & Weiß GmbH & Co. KG")
    'mueller weiss gmbh co kg'
    """
    lowered = name.translate(_GERMAN).lower()
    ascii_ = unicodedata.normalize("NFKD", lowered).encode("ascii", "ignore").decode("ascii")
    return " ".join(_NON_ALNUM.sub(" ", ascii_.replace(".", "")).split())


def name_key(name: str) -> str:
    """The distinctive words of a company name (legal form and joining words dropped).

    >>> name_key("Müller & Weiß GmbH & Co. KG") == name_key("MUELLER UND WEISS GMBH U CO KG")
    True
    """
    words = [w for w in plain_name(name).split() if w not in _NOISE_WORDS and len(w) > 1]
    return " ".join(words)


def name_similarity(payer: str, customer: str) -> float:
    """How surely the payer name shown by the bank is the customer's name, 0 to 1.

    Equal distinctive words give 1.0; a bank's truncation of the full name 0.95;
    otherwise the share of common words (the payer's last word may be cut).

    >>> name_similarity("MUELLER TECH GMBH", "Müller Tech GmbH")
    1.0
    >>> name_similarity("Baradorsa Consulti", "Baradorsa Consulting SARL")
    0.95
    >>> name_similarity("Koch Print", "Koch Digital AG")
    0.5
    """
    return compare_names(name_key(payer), plain_name(payer), name_key(customer), plain_name(customer))


def compare_names(a: str, pa: str, b: str, pb: str) -> float:
    """:func:`name_similarity` over precomputed :func:`name_key` and :func:`plain_name` forms."""
    if not a or not b:
        return 0.0
    if a == b:
        return 1.0
    if len(pa) >= 10 and pb.startswith(pa):
        return 0.95
    wa, wb = a.split(), b.split()
    common = sum(1 for w in wa if w in wb)
    if wa[-1] not in wb and any(w.startswith(wa[-1]) for w in wb):
        common += 1
    return round(2 * common / (len(wa) + len(wb)), 3)
