"""French and English: the message catalogue, the language of a request, dates and amounts.

Texts are written in English in the templates and code (``_("Invoices")``);
the French catalogue is ``locales/fr/LC_MESSAGES/messages.po``, read at start
with Babel (no compile step: the ``.po`` file is the catalogue). Dates and
amounts are formatted by Babel with the locale's conventions.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import cache
from gettext import NullTranslations
from pathlib import Path
from typing import Final

from babel.dates import format_date as babel_date
from babel.dates import format_datetime as babel_datetime
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from babel.support import Translations

LANGUAGES: Final = ("fr", "en")
DEFAULT_LANGUAGE: Final = "fr"
LOCALES: Final = Path(__file__).resolve().parent / "locales"
_LOCALE_OF: Final = {"fr": "fr_FR", "en": "en_GB"}


@cache
def translations(lang: str) -> NullTranslations:
    """The gettext translations of ``lang`` (English is the source language: no catalogue)."""
    if lang == "en":
        return NullTranslations()
    path = LOCALES / lang / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=lang)
    out = Translations()
    for message in catalog:
        if message.id and message.string and not message.fuzzy:
            key = message.id if isinstance(message.id, str) else message.id[0]
            value = message.string if isinstance(message.string, str) else message.string[0]
            out._catalog[key] = value
    return out


def gettext(lang: str, text: str) -> str:
    """``text`` in ``lang`` (``text`` itself when the catalogue lacks it).

    >>> gettext("fr", "Invoices"), gettext("en", "Invoices")
    ('Factures', 'Invoices')
    """
    return translations(lang).gettext(text)


def pick_language(*candidates: str | None, accept_language: str | None = None) -> str:
    """The first supported language among ``candidates``, then from ``Accept-Language``, else French.

    >>> pick_language(None, "en"), pick_language(None, accept_language="de, en-GB;q=0.8")
    ('en', 'en')
    >>> pick_language("xx", accept_language="")
    'fr'
    """
    for candidate in candidates:
        if candidate and candidate[:2].lower() in LANGUAGES:
            return candidate[:2].lower()
    if accept_language:
        weighted = []
        for index, part in enumerate(accept_language.split(",")[:20]):
            tag, _, params = part.strip().partition(";")
            quality = 1.0
            if params.strip().startswith("q="):
                try:
                    quality = float(params.strip()[2:])
                except ValueError:
                    quality = 0.0
            weighted.append((-quality, index, tag.strip()[:2].lower()))
        for _, _, tag in sorted(weighted):
            if tag in LANGUAGES:
                return tag
    return DEFAULT_LANGUAGE


def format_amount(value: Decimal | None, lang: str, currency: str | None = "EUR") -> str:
    r"""An amount in the language's way (non-breaking spaces in French).

    >>> format_amount(Decimal("1234.5"), "en")
    '€1,234.50'
    >>> format_amount(Decimal("1234.5"), "fr").replace("\u202f", " ").replace("\xa0", " ")
    '1 234,50 €'
    """
    if value is None:
        return ""
    locale = _LOCALE_OF.get(lang, "fr_FR")
    if currency:
        return str(format_currency(value, currency, locale=locale))
    return str(format_decimal(value, format="#,##0.00", locale=locale))


def format_day(value: dt.date | None, lang: str) -> str:
    """A date, medium length (``12 mars 2026``, ``12 Mar 2026``).

    >>> format_day(dt.date(2026, 3, 12), "en")
    '12 Mar 2026'
    """
    if value is None:
        return ""
    return str(babel_date(value, format="medium", locale=_LOCALE_OF.get(lang, "fr_FR")))


def format_instant(value: dt.datetime | None, lang: str) -> str:
    """An instant in UTC, date and time."""
    if value is None:
        return ""
    return (
        str(babel_datetime(value, format="medium", tzinfo=dt.UTC, locale=_LOCALE_OF.get(lang, "fr_FR")))
        + " UTC"
    )
