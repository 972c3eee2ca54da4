"""The customer's and the staff's pages: what they show, filters, sort, files, statement, language."""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
import jinja2.ext
from markupsafe import escape

from ingest.detect import detect
from portal.errors import MESSAGES
from portal.i18n import gettext, translations
from tests.portal.conftest import csrf_of


def _numbers_in_order(html: str, numbers: list[str]) -> list[str]:
    found = sorted((html.index(n), n) for n in numbers if n in html)
    return [n for _, n in found]


def test_the_invoice_list_shows_every_column(portal):
    world = portal.world
    client = portal.signed_in("customer_a")
    page = client.get("/invoices").text
    for heading in (
        "Numéro",
        "Date d'émission",
        "Échéance",
        "Montant",
        "Reste dû",
        "Jours de retard",
        "Statut",
    ):
        assert f">{escape(heading)}</th>" in page
    row = page[page.index(world.numbers["A1"]) :].split("</tr>")[0]
    assert "1\u202f200,00\xa0€" in row  # amount, still due
    assert ">30<" in row  # days late
    assert "Mise à disposition" in row
    disputed = page[page.index(world.numbers["A2"]) :].split("</tr>")[0]
    assert "En litige" in disputed and "Erreur de calcul" in disputed  # the status's label and its reason


def test_filters_and_sort(portal):
    world = portal.world
    client = portal.signed_in("customer_a")
    mine = [world.numbers[k] for k in ("A1", "A2", "A3", "A4")]
    overdue = client.get("/invoices?overdue=true").text
    assert _numbers_in_order(overdue, mine) == [world.numbers["A1"]]
    disputed = client.get("/invoices?status=207").text
    assert _numbers_in_order(disputed, mine) == [world.numbers["A2"]]
    by_due = client.get("/invoices?sort=due_date").text
    assert _numbers_in_order(by_due, mine) == [world.numbers[k] for k in ("A3", "A1", "A2", "A4")]
    by_amount = client.get("/invoices?sort=-amount_still_due").text
    assert _numbers_in_order(by_amount, mine) == [world.numbers[k] for k in ("A1", "A2", "A4", "A3")]
    assert client.get("/invoices?status=&overdue=false&sort=number").status_code == 200
    assert client.get("/invoices?sort=password").status_code == 400


def test_downloads_come_from_the_archive(portal, facturx_pdf):
    world = portal.world
    client = portal.signed_in("customer_a")
    pdf = client.get(f"/invoices/{world.invoices['A1']}/download/pdf")
    assert pdf.status_code == 200 and pdf.content == facturx_pdf
    assert pdf.headers["content-type"] == "application/pdf"
    assert f'filename="{world.numbers["A1"]}.pdf"' in pdf.headers["content-disposition"]
    xml = client.get(f"/invoices/{world.invoices['A1']}/download/xml")
    assert xml.status_code == 200 and xml.content == detect(facturx_pdf).xml
    plain = client.get(f"/invoices/{world.invoices['A2']}/download/xml")
    assert plain.status_code == 200 and plain.content.startswith(
        b"<Invoice><ID>" + world.numbers["A2"].encode()
    )
    assert client.get(f"/invoices/{world.invoices['A2']}/download/pdf").status_code == 404
    assert client.get(f"/invoices/{world.invoices['A2']}/download/exe").status_code == 400


def test_the_statement_of_account(portal):
    client = portal.signed_in("customer_a")
    page = client.get("/statement").text
    totals = page[page.index("<caption>Totaux</caption>") :].split("</table>")[0]
    cells = re.findall(r'<td class="num">([^<]+)</td>', totals)
    as_plain = [c.replace("\u202f", " ").replace("\xa0", " ") for c in cells]
    # open: A1 1200 + A2 600 (A3 is paid, AH not made available); overdue: A1; credits: A4 120
    assert as_plain == ["1 800,00 €", "1 200,00 €", "120,00 €", "1 680,00 €"]


def test_language_switch_is_kept(portal):
    client = portal.signed_in("customer_b")  # party B writes in English
    assert "<h1>Your invoices</h1>" in client.get("/invoices").text
    token = csrf_of(client.get("/invoices").text)
    switched = client.post("/language", data={"lang": "fr", "next": "/statement", "csrf_token": token})
    assert switched.status_code == 303 and switched.headers["location"] == "/statement"
    assert "<h1>Relevé de compte</h1>" in client.get("/statement").text
    again = portal.signed_in("customer_b")  # kept on the user for the next session
    assert "<h1>Vos factures</h1>" in again.get("/invoices").text
    bad = client.post("/language", data={"lang": "xx", "next": "https://evil.example/", "csrf_token": token})
    assert bad.status_code == 303 and bad.headers["location"] == "/"


def test_staff_back_office(portal):
    world = portal.world
    admin = portal.signed_in("manager")
    listing = admin.get("/staff/invoices").text
    for key in world.invoices:
        assert world.numbers[key] in listing
    only_a = admin.get(f"/staff/invoices?customer={world.parties['A']}").text
    assert world.numbers["A1"] in only_a and world.numbers["B1"] not in only_a
    history = admin.get(f"/staff/invoices/{world.invoices['A3']}").text
    assert "202 Reçue" in history and "203 Mise à disposition" in history and "212 Encaissée" in history
    customers = admin.get("/staff/customers").text
    assert "Alpha Industrie" in customers and "Bêta Services" in customers and "Sigma" not in customers
    collector = portal.signed_in("collector_b")
    assert "Alpha Industrie" not in collector.get("/staff/customers").text
    assert world.numbers["A1"] not in collector.get("/staff/invoices").text


def test_every_text_has_a_french_translation():
    environment = jinja2.Environment()
    missing = []
    templates = Path(__file__).resolve().parents[2] / "portal" / "templates"
    texts = set()
    for path in templates.rglob("*.html"):
        for _, _, message in jinja2.ext.extract_from_ast(environment.parse(path.read_text()), ("_",)):
            if isinstance(message, str):
                texts.add(message)
    for path in (templates.parent).rglob("*.py"):
        texts.update(re.findall(r'_\("([^"]+)"\)', path.read_text()))
    for title, explanation in MESSAGES.values():
        texts.update((title, explanation))
    assert len(texts) > 80
    catalogue = translations("fr")
    for text in sorted(texts):
        if text not in getattr(catalogue, "_catalog", {}):  # some words are the same in French
            missing.append(text)
    assert not missing, f"no French for: {missing}"
    assert gettext("en", "Invoices") == "Invoices"
