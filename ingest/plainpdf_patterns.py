"""Words and patterns invoices use, in French, English, German and Dutch, for :mod:`ingest.plainpdf`.

Labels are regular expressions, most specific first: the first label that
matches wins.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Final

NUMBER_LABELS: Final = (
    r"N°\s*de\s*facture",
    r"Num[ée]ro\s*de\s*facture",
    r"Facture\s*(?:n°|no\.?|num[ée]ro|#)",
    r"Invoice\s*(?:Number|No\.?|#|Nr\.?)",
    r"Bill\s*(?:Number|No\.?)",
    r"Rechnungs?-?\s*(?:nummer|nr\.?|no\.?)",
    r"Rechnung\s*(?:Nr\.?|Nummer)",
    r"Factuur\s*-?\s*(?:nummer|nr\.?)",
    r"\bFactuur\b(?!\s*(?:datum|totaal|adres))",
)

ISSUE_DATE_LABELS: Final = (
    r"Date\s*d['’]\s*[ée]mission",
    r"Date\s*de\s*(?:la\s*)?facture",
    r"Date\s*de\s*facturation",
    r"Invoice\s*Date",
    r"Date\s*of\s*issue",
    r"Issue\s*date",
    r"Rechnungsdatum",
    r"Datum\s*der\s*Rechnung",
    r"Factuur\s*datum",
    r"Factuurdatum",
    r"(?<![A-Za-z ])Date\b",
    r"\bDatum\b",
)

DUE_DATE_LABELS: Final = (
    r"Date\s*d['’]\s*[ée]ch[ée]ance",
    r"[ÉE]ch[ée]ance",
    r"[àa]\s*r[ée]gler\s*avant\s*le",
    r"Due\s*Date",
    r"Payment\s*due(?:\s*date)?",
    r"Pay\s*by",
    r"F[äa]llig(?:keitsdatum|\s*am)?",
    r"Zahlungsziel",
    r"Zahlbar\s*bis",
    r"Vervaldatum",
    r"Uiterste\s*betaaldatum",
    r"remit\s*until",
)

AMOUNT_DUE_LABELS: Final = (
    r"Net\s*[àa]\s*payer",
    r"Total\s*TTC",
    r"Montant\s*TTC",
    r"Total\s*[àa]\s*payer",
    r"Montant\s*d[ûu]",
    r"Grand\s*Total",
    r"Due\s*payable",
    r"Total\s*amount\s*due",
    r"Amount\s*due",
    r"Balance\s*due",
    r"Total\s*for\s*this\s*invoice",
    r"Invoice\s*total",
    r"Total\s*(?:incl\.?|including)\s*(?:VAT|tax)",
    r"Gesamtbetrag",
    r"Rechnungsbetrag",
    r"Endbetrag",
    r"Bruttobetrag",
    r"Zahlbetrag",
    r"\bBrutto\b",
    r"Factuur\s*totaal",
    r"Te\s*betalen",
    r"Totaal\s*(?:incl\.?)?",
)

TOTAL_LABELS: Final = (r"\bTotal\b(?!\s*(?:HT|TVA|VAT|excl|hors|net))", r"\bSumme\b", r"\bGesamt\b")

UNTAXED_LABELS: Final = (
    r"Total\s*HT",
    r"Montant\s*HT",
    r"Total\s*hors\s*taxes?",
    r"Exclusief\s*BTW",
    r"Totaal\s*excl\.?\s*BTW",
    r"Total\s*(?:excl\.?|excluding|without)\s*(?:VAT|tax)",
    r"Net\s*amount",
    r"Net\s*total",
    r"Subtotal",
    r"Nettobetrag",
    r"Summe\s*netto",
    r"Zwischensumme",
    r"\bNetto\b",
)

VAT_LABELS: Final = (
    r"Total\s*TVA",
    r"Montant\s*TVA",
    r"\bTVA\b(?:\s*\d+(?:[.,]\d+)?\s*%)?",
    r"Total\s*VAT",
    r"VAT\s*total",
    r"\bVAT\b(?:\s*\d+(?:[.,]\d+)?\s*%)?",
    r"\bTax\b(?:\s*\(?\d+(?:[.,]\d+)?\s*%\)?)?",
    r"\bMwSt\.?(?:\s*\d+(?:[.,]\d+)?\s*%)?",
    r"\bUSt\.?(?:\s*\d+(?:[.,]\d+)?\s*%)?",
    r"\bBTW\b(?:\s*\d+(?:[.,]\d+)?\s*%)",
)

#: (ISO 4217 code, pattern) in order of precedence.
CURRENCY_MARKERS: Final = (
    ("EUR", r"€|\bEUR\b|\bEuros?\b"),
    ("USD", r"US\$|\$|\bUSD\b|US Dollars"),
    ("GBP", r"£|\bGBP\b"),
    ("INR", r"₹|\bINR\b|\bRs\.?(?=\s?-?\d)"),
    ("CHF", r"\bCHF\b"),
    ("PLN", r"\bPLN\b|\bzł\b"),
)

#: Words that follow or precede a company name in the title line.
TITLE_WORDS: Final = (r"Invoice", r"Facture", r"Rechnung", r"Factuur", r"Receipt", r"Tax\s*Invoice")

#: Labels followed by the issuer's name.
ISSUER_AFTER_LABELS: Final = (
    r"Titulaire\s*du\s*compte",
    r"Kontoinhaber",
    r"Account\s*(?:holder|name)",
    r"Ten\s*name\s*van",
    r"Payment\s*received\s*by",
    r"Sold\s*By",
    r"Verkäufer",
    r"Vendeur",
)

#: Lines that follow the issuer's name in a letterhead or footer.
ISSUER_BEFORE_LABELS: Final = (r"^Si[èe]ge\s*social", r"^Registered\s*office", r"^Sitz\s*der\s*Gesellschaft")

LEGAL_FORMS: Final = (
    r"(?:\bS\.?A\.?S\.?U?\b|\bSARL\b|\bEURL\b|\bS\.A\.|\bSA\b|\bSNC\b|\bSCI\b|\bGmbH\b|\bAG\b|\bKG\b|\bUG\b"
    r"|\bB\.V\.|\bBV\b|\bN\.V\.|\bLtd\.?|\bLimited\b|\bInc\.?|\bLLC\b|\bPLC\b|\bS\.r\.l\.|\bSRL\b|\bS\.L\.|\bGmbH)"
)

LANGUAGE_WORDS: Final = {
    "fr": ("facture", "total ttc", "tva", "date d", "échéance", "montant"),
    "en": ("invoice", "total", "amount", "date", "due", "tax"),
    "de": ("rechnung", "mwst", "betrag", "datum", "steuer", "zahlung"),
    "nl": ("factuur", "btw", "totaal", "bedrag", "datum"),
}

_MONTHS: Final = {
    # French
    "janvier": 1,
    "janv": 1,
    "février": 2,
    "fevrier": 2,
    "févr": 2,
    "fevr": 2,
    "mars": 3,
    "avril": 4,
    "avr": 4,
    "mai": 5,
    "juin": 6,
    "juillet": 7,
    "juil": 7,
    "août": 8,
    "aout": 8,
    "septembre": 9,
    "octobre": 10,
    "novembre": 11,
    "décembre": 12,
    "decembre": 12,
    "déc": 12,
    # English
    "january": 1,
    "jan": 1,
    "february": 2,
    "feb": 2,
    "march": 3,
    "mar": 3,
    "april": 4,
    "apr": 4,
    "may": 5,
    "june": 6,
    "jun": 6,
    "july": 7,
    "jul": 7,
    "august": 8,
    "aug": 8,
    "september": 9,
    "sep": 9,
    "sept": 9,
    "october": 10,
    "oct": 10,
    "november": 11,
    "nov": 11,
    "december": 12,
    "dec": 12,
    # German
    "januar": 1,
    "jänner": 1,
    "februar": 2,
    "märz": 3,
    "maerz": 3,
    "juni": 6,
    "juli": 7,
    "oktober": 10,
    "okt": 10,
    "dezember": 12,
    "dez": 12,
    # Dutch
    "januari": 1,
    "februari": 2,
    "maart": 3,
    "mei": 5,
    "augustus": 8,
    "oktober_nl": 10,
}


def _year(text: str) -> int:
    year = int(text)
    return year + 2000 if year < 100 else year


def parse_date(text: str) -> date | None:
    """A date written the European or English way, or None.

    >>> parse_date("7. Mai 2014"), parse_date("August 3 , 2014"), parse_date("21.05.14")
    (datetime.date(2014, 5, 7), datetime.date(2014, 8, 3), datetime.date(2014, 5, 21))
    """
    text = text.strip()
    try:
        m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", text)
        if m:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        m = re.fullmatch(r"(\d{1,2})[./-](\d{1,2})[./-](\d{2,4})", text)
        if m:
            day, month = int(m.group(1)), int(m.group(2))
            if month > 12 >= day:
                day, month = month, day
            return date(_year(m.group(3)), month, day)
        m = re.fullmatch(r"(\d{1,2})\.?\s+([^\W\d_]{3,10})\.?\s+(\d{4})", text)
        if m and m.group(2).lower() in _MONTHS:
            return date(int(m.group(3)), _MONTHS[m.group(2).lower()], int(m.group(1)))
        m = re.fullmatch(r"([^\W\d_]{3,10})\.?\s+(\d{1,2})\s?,?\s+(\d{4})", text)
        if m and m.group(1).lower() in _MONTHS:
            return date(int(m.group(3)), _MONTHS[m.group(1).lower()], int(m.group(2)))
    except ValueError:
        return None
    return None


def parse_amount(text: str) -> Decimal | None:
    """An amount with either decimal convention, or None.

    >>> parse_amount("2.321,00"), parse_amount("4,904.94"), parse_amount("1 939"), parse_amount("56,02")
    (Decimal('2321.00'), Decimal('4904.94'), Decimal('1939'), Decimal('56.02'))
    """
    raw = re.sub(r"[\s\u202f\u00a0']", "", text.replace("−", "-"))
    if not re.search(r"\d", raw):
        return None
    if "," in raw and "." in raw:
        decimal_sep = "," if raw.rfind(",") > raw.rfind(".") else "."
        thousands = "." if decimal_sep == "," else ","
        raw = raw.replace(thousands, "").replace(decimal_sep, ".")
    elif "," in raw:
        head, _, tail = raw.rpartition(",")
        raw = f"{head.replace(',', '')}.{tail}" if len(tail) in (1, 2) else raw.replace(",", "")
    elif "." in raw:
        head, _, tail = raw.rpartition(".")
        raw = f"{head.replace('.', '')}.{tail}" if len(tail) in (1, 2) else raw.replace(".", "")
    try:
        return Decimal(raw)
    except InvalidOperation:
        return None
