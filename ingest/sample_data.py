"""Synthetic but realistic invoices: parties with valid identifiers, items, correct sums.

Used by :mod:`ingest.sample` (``encaisse sample``). Every identifier passes the
check of python-stdnum or schwifty; every amount is computed with
``ROUND_HALF_UP`` to two places, the way EN 16931 rounds.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from schwifty import IBAN
from stdnum import luhn
from stdnum.de import vat as de_vat
from stdnum.es import nif as es_nif
from stdnum.fr import siren as fr_siren
from stdnum.fr import siret as fr_siret
from stdnum.it import iva as it_iva
from stdnum.nl import btw as nl_btw

from schemas.invoice import (
    Address,
    AllowanceCharge,
    Contact,
    CreditTransfer,
    Identifier,
    Invoice,
    Item,
    Line,
    Note,
    Party,
    PaymentInstructions,
    PrecedingInvoice,
    Totals,
    VatBreakdown,
)

CENT = Decimal("0.01")


def money(value: Decimal) -> Decimal:
    """Round an amount to the cent, half up, as EN 16931 does.

    >>> money(Decimal("2.345"))
    Decimal('2.35')
    """
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Company:
    """A company of the built-in lists: name, street, postcode, city, country."""

    name: str
    street: str
    postcode: str
    city: str
    country: str


SELLERS: tuple[Company, ...] = (
    Company("Atelier Dumas SARL", "12 rue des Tanneurs", "69002", "Lyon", "FR"),
    Company("Boulangerie Industrielle du Val SAS", "4 avenue de la Gare", "37000", "Tours", "FR"),
    Company("Conseil & Stratégie Lefèvre", "88 boulevard Haussmann", "75008", "Paris", "FR"),
    Company("Imprimerie Morel et Fils", "3 impasse Gutenberg", "33000", "Bordeaux", "FR"),
    Company("Logistique Rhône-Alpes SA", "210 route de Vienne", "38200", "Vienne", "FR"),
    Company("Menuiserie Girard", "7 chemin des Saules", "44000", "Nantes", "FR"),
    Company("Nettoyage Pro Méditerranée SAS", "15 quai du Port", "13002", "Marseille", "FR"),
    Company("Informatique Bernard & Associés", "41 rue Nationale", "59800", "Lille", "FR"),
    Company("Maschinenbau Köhler GmbH", "Industriestraße 14", "70565", "Stuttgart", "DE"),
    Company("Brasserie Van Damme BV", "Kerkstraat 22", "9000", "Gent", "BE"),
    Company("Tessitura Rinaldi S.r.l.", "Via Roma 105", "20121", "Milano", "IT"),
    Company("De Vries Installatietechniek B.V.", "Keizersgracht 310", "1016 EZ", "Amsterdam", "NL"),
    Company("Suministros Ortega S.L.", "Calle Mayor 18", "28013", "Madrid", "ES"),
)

BUYERS: tuple[Company, ...] = (
    Company("Hôtel du Lac SARL", "2 promenade du Lac", "74000", "Annecy", "FR"),
    Company("Clinique Saint-Jean", "19 rue Pasteur", "31000", "Toulouse", "FR"),
    Company("Mairie de Villeneuve", "Place de la République", "47300", "Villeneuve-sur-Lot", "FR"),
    Company("Garage Fontaine SAS", "5 rue de l'Industrie", "67000", "Strasbourg", "FR"),
    Company("Librairie des Quais", "27 quai Voltaire", "75007", "Paris", "FR"),
    Company("Cave Coopérative de Cairanne", "Route de Carpentras", "84290", "Cairanne", "FR"),
    Company("Transports Leroy SA", "Zone Artisanale Nord", "35000", "Rennes", "FR"),
    Company("Pharmacie Centrale de Nice", "10 avenue Jean Médecin", "06000", "Nice", "FR"),
)

#: (name, unit code, unit price range in cents, VAT rate)
ITEMS: tuple[tuple[str, str, tuple[int, int], Decimal], ...] = (
    ("Heure de conseil", "HUR", (8000, 15000), Decimal("20")),
    ("Journée de formation", "DAY", (60000, 120000), Decimal("20")),
    ("Ramette papier A4 80 g", "C62", (450, 690), Decimal("20")),
    ("Cartouche d'encre noire", "C62", (2500, 4900), Decimal("20")),
    ("Maintenance mensuelle serveur", "MON", (15000, 45000), Decimal("20")),
    ("Transport palette", "C62", (8500, 14000), Decimal("20")),
    ("Pain de campagne 1 kg", "KGM", (380, 520), Decimal("5.5")),
    ("Viennoiseries assorties", "C62", (95, 160), Decimal("5.5")),
    ("Livre technique", "C62", (1900, 5900), Decimal("5.5")),
    ("Travaux de rénovation (logement)", "HUR", (4500, 6500), Decimal("10")),
    ("Nettoyage des locaux", "HUR", (2800, 3900), Decimal("20")),
    ("Licence logicielle annuelle", "C62", (39000, 129000), Decimal("20")),
)

FIRST_NAMES = ("Camille", "Julien", "Sophie", "Thomas", "Claire", "Nicolas", "Léa", "Martin")
LAST_NAMES = ("Martin", "Bernard", "Dubois", "Robert", "Richard", "Petit", "Durand", "Moreau")


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def make_siren(rng: random.Random) -> str:
    """A random SIREN with a valid Luhn check digit."""
    body = rng.choice("123456789") + _digits(rng, 7)
    siren = body + luhn.calc_check_digit(body)
    return str(fr_siren.validate(siren))


def make_siret(rng: random.Random, siren: str) -> str:
    """A SIRET of that SIREN (establishment 0001x) with a valid Luhn check digit."""
    body = siren + "0001"
    for digit in "0123456789":
        if fr_siret.is_valid(body + digit):
            return body + digit
    raise AssertionError("no SIRET check digit")  # pragma: no cover - Luhn always has one


def _with_check_digit(prefix: str, body: str, suffix: str, is_valid: Callable[[str], bool]) -> str:
    for digit in "0123456789":
        candidate = f"{prefix}{body}{digit}{suffix}"
        if is_valid(candidate):
            return candidate
    return ""


def make_vat(rng: random.Random, country: str, siren: str | None = None) -> str:
    """A VAT number that passes python-stdnum's check for the country."""
    for _ in range(50):
        if country == "FR" and siren:
            return "FR" + str(fr_siren.to_tva(siren))
        if country == "DE":
            vat = _with_check_digit("DE", rng.choice("123456789") + _digits(rng, 7), "", de_vat.is_valid)
        elif country == "BE":
            base = "0" + rng.choice("23456789") + _digits(rng, 6)
            vat = f"BE{base}{97 - int(base) % 97:02d}"
        elif country == "IT":
            body = _digits(rng, 7) + "001"
            vat = "IT" + body + luhn.calc_check_digit(body)
            vat = vat if it_iva.is_valid(vat[2:]) else ""
        elif country == "NL":
            vat = _with_check_digit("NL", rng.choice("123456789") + _digits(rng, 7), "B01", nl_btw.is_valid)
        elif country == "ES":
            vat = _with_check_digit("ESB", _digits(rng, 7), "", lambda v: bool(es_nif.is_valid(v[2:])))
        else:
            vat = ""
        if vat:
            return vat
    raise ValueError(f"cannot make a VAT number for {country}")


_BANKS: dict[str, tuple[str, str]] = {
    "FR": ("30004", "BNPAFRPP"),
    "DE": ("37040044", "COBADEFFXXX"),
    "BE": ("539", "GKCCBEBB"),
    "IT": ("X0306909606", "BCITITMM"),
    "NL": ("INGB", "INGBNL2A"),
    "ES": ("2100", "CAIXESBBXXX"),
}


def make_iban(rng: random.Random, country: str) -> tuple[str, str]:
    """A schwifty-valid IBAN for the country and the BIC of its bank."""
    bank, bic = _BANKS.get(country, _BANKS["FR"])
    country = country if country in _BANKS else "FR"
    for _ in range(50):
        if country == "FR":
            iban = IBAN.generate(
                "FR", bank_code=bank, branch_code="00" + _digits(rng, 3), account_code=_digits(rng, 11)
            )
        elif country == "ES":
            iban = IBAN.generate("ES", bank_code=bank, branch_code="0418", account_code=_digits(rng, 10))
        elif country == "BE":
            iban = IBAN.generate("BE", bank_code=bank, account_code=_digits(rng, 7))
        elif country == "IT":
            iban = IBAN.generate(
                "IT", bank_code=bank[1:6], branch_code=bank[6:], account_code=_digits(rng, 12)
            )
        else:
            iban = IBAN.generate(country, bank_code=bank, account_code=_digits(rng, 10))
        try:
            IBAN(str(iban))
        except ValueError:
            continue
        return str(iban), bic
    raise ValueError(f"cannot make an IBAN for {country}")


def creditor_reference(number: str) -> str:
    """An ISO 11649 RF creditor reference for an invoice number.

    >>> creditor_reference("F2024-0001")
    'RF13F20240001'
    """
    body = "".join(ch for ch in number.upper() if ch.isalnum())
    numeric = "".join(str(int(ch, 36)) for ch in body + "RF00")
    check = 98 - int(numeric) % 97
    return f"RF{check:02d}{body}"


def _party(rng: random.Random, company: Company, *, with_contact: bool) -> Party:
    siren = make_siren(rng) if company.country == "FR" else None
    vat = make_vat(rng, company.country, siren)
    address = Address(
        line1=company.street, city=company.city, postcode=company.postcode, country_code=company.country
    )
    contact = None
    if with_contact:
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        domain = "".join(ch for ch in company.name.lower().split()[0] if ch.isalpha()) or "example"
        contact = Contact(
            name=f"{first} {last}",
            phone="+33 1 " + " ".join(_digits(rng, 2) for _ in range(4)),
            email=f"{first.lower()}.{last.lower()}@{domain}.example",
        )
    identifiers: list[Identifier] = []
    legal = None
    electronic = None
    if siren:
        siret = make_siret(rng, siren)
        identifiers = [Identifier(value=siret, scheme="0009")]
        legal = Identifier(value=siren, scheme="0002")
        electronic = Identifier(value=siren, scheme="0225")
    else:
        legal = Identifier(value=vat[2:], scheme=None)
        electronic = Identifier(value=vat, scheme="9957" if company.country == "FR" else "EM")
        if electronic.scheme == "EM":
            electronic = Identifier(value=f"invoices@{vat.lower()}.example", scheme="EM")
    return Party(
        name=company.name,
        identifiers=identifiers,
        legal_registration=legal,
        vat_id=vat,
        electronic_address=electronic,
        address=address,
        contact=contact,
    )


def make_invoice(rng: random.Random, index: int, *, credit_note: bool = False) -> Invoice:
    """One realistic invoice (or credit note), with correct lines, VAT breakdown and totals."""
    seller_co = rng.choice(SELLERS)
    buyer_co = rng.choice(BUYERS)
    seller = _party(rng, seller_co, with_contact=True)
    buyer = _party(rng, buyer_co, with_contact=rng.random() < 0.5)
    issue = date(2025, 1, 2) + timedelta(days=rng.randrange(0, 360))
    term_days = rng.choice((30, 45, 60))
    number = f"{'AV' if credit_note else 'F'}{issue.year}-{index + 1:05d}"

    lines: list[Line] = []
    for n in range(rng.randint(1, 6)):
        name, unit, (low, high), rate = rng.choice(ITEMS)
        price = Decimal(rng.randint(low, high)) / 100
        qty = (
            Decimal(rng.choice((1, 1, 2, 3, 5, 10, 12, 25))) if unit != "KGM" else Decimal(rng.randint(5, 80))
        )
        lines.append(
            Line(
                line_id=str(n + 1),
                quantity=qty,
                unit_code=unit,
                net_price=price,
                net_amount=money(qty * price),
                vat_category="S",
                vat_rate=rate,
                item=Item(name=name, sellers_id=f"REF-{rng.randint(100, 999)}"),
            )
        )
    rates = sorted({ln.vat_rate for ln in lines if ln.vat_rate is not None})
    allowances: list[AllowanceCharge] = []
    if rng.random() < 0.3:  # a commercial discount on the goods at the highest rate
        rate = rates[-1]
        base = sum((ln.net_amount or Decimal(0) for ln in lines if ln.vat_rate == rate), Decimal(0))
        allowances.append(
            AllowanceCharge(
                amount=money(base * Decimal("0.05")),
                base_amount=base,
                percentage=Decimal("5"),
                vat_category="S",
                vat_rate=rate,
                reason="Remise commerciale",
                reason_code="95",
            )
        )
    breakdown: list[VatBreakdown] = []
    for rate in rates:
        base = sum((ln.net_amount or Decimal(0) for ln in lines if ln.vat_rate == rate), Decimal(0))
        base -= sum((ac.amount for ac in allowances if ac.vat_rate == rate), Decimal(0))
        breakdown.append(
            VatBreakdown(taxable_amount=base, tax_amount=money(base * rate / 100), category="S", rate=rate)
        )
    line_total = sum((ln.net_amount or Decimal(0) for ln in lines), Decimal(0))
    allowance_total = sum((ac.amount for ac in allowances), Decimal(0)) if allowances else None
    total_without_vat = line_total - (allowance_total or Decimal(0))
    total_vat = sum((vb.tax_amount or Decimal(0) for vb in breakdown), Decimal(0))
    total = total_without_vat + total_vat
    iban, bic = make_iban(rng, seller_co.country)
    notes = [Note(text=f"{seller_co.name} — capital social 10 000 EUR", subject_code="REG")]
    if seller_co.country == "FR":
        notes.append(
            Note(
                text="En cas de retard de paiement, pénalités au taux directeur de la BCE "
                "majoré de 10 points.",
                subject_code="PMD",
            )
        )
        notes.append(
            Note(text="Indemnité forfaitaire pour frais de recouvrement : 40 EUR.", subject_code="PMT")
        )
        notes.append(Note(text="Pas d'escompte pour paiement anticipé.", subject_code="AAB"))
    return Invoice(
        number=number,
        issue_date=issue,
        type_code="381" if credit_note else "380",
        currency="EUR",
        due_date=issue + timedelta(days=term_days),
        buyer_reference=f"SERV-{rng.randint(10, 99)}" if rng.random() < 0.5 else None,
        purchase_order_reference=f"PO-{rng.randint(10000, 99999)}" if rng.random() < 0.6 else None,
        payment_terms=f"Paiement à {term_days} jours par virement",
        notes=notes,
        business_process=("S1" if any(ln.unit_code in {"HUR", "DAY", "MON"} for ln in lines) else "B1")
        if seller_co.country == "FR"
        else None,
        preceding_invoices=[
            PrecedingInvoice(number=f"F{issue.year}-{index:05d}", issue_date=issue - timedelta(days=30))
        ]
        if credit_note
        else [],
        seller=seller,
        buyer=buyer,
        payment=PaymentInstructions(
            means_code="58",
            remittance_information=creditor_reference(number),
            credit_transfers=[CreditTransfer(account_id=iban, account_name=seller_co.name, bic=bic)],
        ),
        allowances_charges=allowances,
        totals=Totals(
            line_total=line_total,
            allowance_total=allowance_total,
            total_without_vat=total_without_vat,
            total_vat=total_vat,
            total_with_vat=total,
            amount_due=total,
        ),
        vat_breakdown=breakdown,
        lines=lines,
    )
