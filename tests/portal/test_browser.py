"""A customer in a real browser: headless Chromium (Debian's), driven by Playwright, no JavaScript needed.

The portal is served as ``encaisse serve`` serves it in development: plain HTTP
on localhost (browsers treat localhost as a secure context, so the ``Secure``
``__Host-`` session cookie works there too). The customer signs in, sees the
invoice list, opens an invoice, switches the language, views the statement,
and a phone-sized window shows the list; each page's screenshot is saved under
``$ENCAISSE_ARTEFACTS/portal`` (default: the temporary folder's
``encaisse-artefacts``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.portal.conftest import Portal, serve
from tests.portal.world import PASSWORD
from tests.services import unavailable

CHROMIUM = os.environ.get("ENCAISSE_CHROMIUM", "/usr/bin/chromium")
ARTEFACTS = (
    Path(os.environ.get("ENCAISSE_ARTEFACTS", Path(tempfile.gettempdir()) / "encaisse-artefacts")) / "portal"
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def local_portal(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, facturx_pdf: bytes
) -> Iterator[Portal]:
    """The portal over plain HTTP, reached as http://localhost:PORT."""
    folder = tmp_path_factory.mktemp(f"browser-{request.param}")
    for served in serve(request, request.param, folder, tls=None, facturx=facturx_pdf):
        served.url = served.url.replace("127.0.0.1", "localhost")
        yield served


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).is_file() or shutil.which(CHROMIUM) is None:
        unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def test_a_customer_signs_in_sees_the_invoices_and_opens_one(local_portal, browser):
    world = local_portal.world
    shots = ARTEFACTS / local_portal.backend
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(
        java_script_enabled=False, locale="fr-FR", viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    try:
        page.goto(f"{local_portal.url}/invoices")
        assert page.url.startswith(f"{local_portal.url}/login")  # not signed in: the sign-in page
        page.screenshot(path=str(shots / "01-login.png"), full_page=True)
        page.get_by_label("Adresse e-mail").first.fill(world.email("customer_a"))
        page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").first.click()

        page.wait_for_url(f"{local_portal.url}/invoices")
        assert page.get_by_role("heading", name="Vos factures").is_visible()
        table = page.locator("table.list")
        for key in ("A1", "A2", "A3", "A4"):
            assert table.get_by_text(world.numbers[key]).is_visible()
        assert world.numbers["B1"] not in page.content()
        assert world.numbers["AH"] not in page.content()
        row = table.locator("tr", has_text=world.numbers["A2"])
        assert "En litige" in row.inner_text() and "calcul" in row.inner_text().lower()
        late = table.locator("tr", has_text=world.numbers["A1"])
        assert "30" in late.inner_text()  # days late
        page.screenshot(path=str(shots / "02-invoices.png"), full_page=True)

        page.get_by_label("En retard seulement").check()
        page.get_by_role("button", name="Appliquer").click()
        assert world.numbers["A1"] in page.content() and world.numbers["A2"] not in page.content()

        page.goto(f"{local_portal.url}/invoices")
        page.get_by_role("link", name=world.numbers["A1"]).click()
        page.wait_for_url(f"{local_portal.url}/invoices/{world.invoices['A1']}")
        assert page.get_by_role("heading", name=f"Facture {world.numbers['A1']}").is_visible()
        assert page.get_by_text("Mise à disposition").first.is_visible()
        assert page.get_by_role("link", name="Télécharger le PDF").is_visible()
        with page.expect_download() as download:
            page.get_by_role("link", name="Télécharger le XML").click()
        saved = shots / "A1.xml"
        download.value.save_as(str(saved))
        assert b"CrossIndustryInvoice" in saved.read_bytes()
        page.screenshot(path=str(shots / "03-invoice.png"), full_page=True)

        page.get_by_role("button", name="English").click()
        assert page.get_by_role("heading", name=f"Invoice {world.numbers['A1']}").is_visible()
        page.get_by_role("link", name="Statement of account").click()
        assert page.get_by_role("heading", name="Statement of account").is_visible()
        page.screenshot(path=str(shots / "04-statement.png"), full_page=True)

        phone = browser.new_context(
            java_script_enabled=False,
            viewport={"width": 390, "height": 844},
            storage_state=context.storage_state(),
        )
        small = phone.new_page()
        small.goto(f"{local_portal.url}/invoices")
        assert small.get_by_text(world.numbers["A1"]).is_visible()
        small.screenshot(path=str(shots / "05-invoices-phone.png"), full_page=True)
        phone.close()
    finally:
        context.close()
    for name in (
        "01-login.png",
        "02-invoices.png",
        "03-invoice.png",
        "04-statement.png",
        "05-invoices-phone.png",
    ):
        assert (shots / name).stat().st_size > 5_000, name
