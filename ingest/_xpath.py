"""Small, forgiving readers shared by the CII, ZUGFeRD 1.0 and UBL parsers.

Parsing runs for every invoice and must never crash on XML that is
well-formed but schema-invalid: every reader here returns ``None`` for what is
missing or unreadable, and leaves the reporting to the XSD and schematron
layers. XPath expressions are compiled once per syntax and reused.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

from lxml import etree

from schemas.invoice import Identifier

_DATE_102 = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_DATE_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:$|[T ]|Z|[+-]\d{2}:?\d{2}$)")


class XPaths:
    """A cache of compiled XPath expressions for one syntax.

    ``subst`` names placeholders written ``{NAME}`` in the expressions, so the
    same code reads syntaxes that differ only by container names (CII D16B and
    ZUGFeRD 1.0). Each expression is compiled on first use and kept.
    """

    def __init__(self, namespaces: dict[str, str], subst: dict[str, str] | None = None) -> None:
        self.namespaces = namespaces
        self.subst = subst or {}
        self._cache: dict[str, etree.XPath] = {}

    def compiled(self, expr: str) -> etree.XPath:
        """The compiled form of ``expr`` (placeholders replaced)."""
        found = self._cache.get(expr)
        if found is None:
            text = expr.format(**self.subst) if "{" in expr else expr
            found = etree.XPath(text, namespaces=self.namespaces, smart_strings=False)
            self._cache[expr] = found
        return found

    def nodes(self, el: etree._Element | None, expr: str) -> list[etree._Element]:
        """Elements selected by ``expr`` from ``el`` (empty when ``el`` is None)."""
        if el is None:
            return []
        result = self.compiled(expr)(el)
        if isinstance(result, list):
            return [r for r in result if isinstance(r, etree._Element)]
        return []

    def first(self, el: etree._Element | None, expr: str) -> etree._Element | None:
        """The first element selected by ``expr``, or None."""
        found = self.nodes(el, expr)
        return found[0] if found else None

    def text(self, el: etree._Element | None, expr: str) -> str | None:
        """Stripped text of the first element selected, None when absent or blank."""
        return text_of(self.first(el, expr))

    def texts(self, el: etree._Element | None, expr: str) -> list[str]:
        """Stripped, non-blank texts of every element selected."""
        out = []
        for node in self.nodes(el, expr):
            value = text_of(node)
            if value is not None:
                out.append(value)
        return out

    def decimal(self, el: etree._Element | None, expr: str) -> Decimal | None:
        """The first selected element's text as a finite Decimal, or None."""
        return to_decimal(self.text(el, expr))


def text_of(el: etree._Element | None) -> str | None:
    """An element's own text, stripped; None when absent or blank.

    >>> text_of(None) is None
    True
    """
    if el is None:
        return None
    value = el.text
    if len(el):  # comments or processing instructions inside a value: keep the text around them
        value = "".join([value or "", *(c.tail or "" for c in el if not isinstance(c.tag, str))])
    if value is None:
        return None
    value = value.strip()
    return value or None


def attr(el: etree._Element | None, name: str) -> str | None:
    """A stripped attribute value, None when absent or blank."""
    if el is None:
        return None
    value = el.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def to_decimal(text: str | None) -> Decimal | None:
    """A finite Decimal from text, or None when the text is not a number.

    >>> to_decimal(" 12.50 ")
    Decimal('12.50')
    >>> to_decimal("12,50") is None
    True
    """
    if text is None:
        return None
    value = text.strip()
    if not value or len(value) > 64:
        return None
    try:
        number = Decimal(value)
    except (InvalidOperation, ValueError):
        return None
    if not number.is_finite() or abs(number.adjusted()) > 30:
        return None
    return number


def _make_date(year: str, month: str, day: str) -> date | None:
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


def iso_date(text: str | None) -> date | None:
    """A date from ``YYYY-MM-DD`` (time and zone ignored), or None.

    >>> iso_date("2024-02-29")
    datetime.date(2024, 2, 29)
    >>> iso_date("2023-02-29") is None
    True
    """
    if text is None:
        return None
    match = _DATE_ISO.match(text.strip())
    return _make_date(*match.groups()) if match else None


def cii_date(el: etree._Element | None) -> date | None:
    """A date from a CII ``DateTimeString`` element (format 102, YYYYMMDD).

    Other formats (610 month, 616 week) and bad values give None. An element
    holding an ISO date as text (ZUGFeRD 1.0 referenced documents) is read too.
    """
    text = text_of(el)
    if text is None or el is None:
        return None
    fmt = attr(el, "format")
    if fmt not in (None, "102"):
        return None
    match = _DATE_102.match(text)
    if match:
        return _make_date(*match.groups())
    return iso_date(text) if fmt is None else None


def base64_size(text: str | None) -> int | None:
    """The decoded length of base64 text, computed without decoding it.

    >>> base64_size("aGVsbG8=")
    5
    """
    if text is None:
        return None
    significant = len(text) - sum(text.count(c) for c in " \t\r\n=")
    if significant == 0:
        return 0
    stripped = text.rstrip()
    padding = len(stripped) - len(stripped.rstrip("="))
    if padding:
        return max(0, (significant + padding) * 3 // 4 - padding)
    return significant * 3 // 4


def squash(values: list[str], sep: str = "\n") -> str | None:
    """Join non-blank texts, None when there are none."""
    kept = [v for v in values if v]
    return sep.join(kept) if kept else None


def identifier(
    x: XPaths, el: etree._Element | None, expr: str, scheme_attr: str = "schemeID"
) -> Identifier | None:
    """The first identifier at ``expr`` with its scheme attribute, or None."""
    node = x.first(el, expr)
    value = text_of(node)
    if value is None:
        return None
    return Identifier(value=value, scheme=attr(node, scheme_attr))


def identifiers(
    x: XPaths, el: etree._Element | None, expr: str, scheme_attr: str = "schemeID"
) -> list[Identifier]:
    """Every non-empty identifier at ``expr``, each with its scheme attribute."""
    out = []
    for node in x.nodes(el, expr):
        value = text_of(node)
        if value is not None:
            out.append(Identifier(value=value, scheme=attr(node, scheme_attr)))
    return out
