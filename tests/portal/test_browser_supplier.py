"""A supplier in a real browser (Debian's Chromium, Playwright, no JavaScript): upload, rejection, the reason.

The supplier signs in, lands on the list of what it sent, uploads an invoice
whose total is wrong, and reads on the document's page that it was rejected
(213), why (the reason code's label) and what to correct (BR-CO-15); the list
then shows it. Screenshots go beside the customer's, under
``$ENCAISSE_ARTEFACTS/portal/<backend>/supplier-*.png``.
"""

from __future__ import annotations

import random

import pytest

from ingest.generate_cii import to_cii
from ingest.sample import _wrong_total
from ingest.sample_data import make_invoice
from tests.portal.test_browser import ARTEFACTS, browser, local_portal  # noqa: F401  (fixtures)
from tests.portal.world import PASSWORD

pytestmark = pytest.mark.browser


def test_a_supplier_uploads_an_invoice_that_is_rejected_and_reads_why(local_portal, browser, tmp_path):  # noqa: F811
    world = local_portal.world
    shots = ARTEFACTS / local_portal.backend
    shots.mkdir(parents=True, exist_ok=True)
    invoice = make_invoice(random.Random(77), 77)
    _wrong_total(invoice)
    upload = tmp_path / "facture-total-faux.xml"
    upload.write_bytes(to_cii(invoice))
    context = browser.new_context(
        java_script_enabled=False, locale="fr-FR", viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    try:
        page.goto(f"{local_portal.url}/login")
        page.get_by_label("Adresse e-mail").first.fill(world.email("supplier_s"))
        page.get_by_label("Mot de passe", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Se connecter").first.click()
        page.wait_for_url(f"{local_portal.url}/supplier/documents")
        assert page.get_by_role("heading", name="Vos factures envoyées").is_visible()
        assert page.get_by_role("cell", name=world.numbers["S1"], exact=True).is_visible()  # sent before
        page.screenshot(path=str(shots / "supplier-01-documents.png"), full_page=True)

        page.get_by_label("Fichier de facture").set_input_files(str(upload))
        page.get_by_role("button", name="Envoyer").click()
        page.wait_for_url(f"{local_portal.url}/supplier/documents/*")
        assert page.get_by_role("heading", name="Document facture-total-faux.xml").is_visible()
        assert page.get_by_text("213 Rejetée").first.is_visible()
        why = page.locator("section.alert")
        assert "MONTANTTOTAL_ERR" in why.inner_text() and "Montant total erroné" in why.inner_text()
        findings = page.locator("ul.findings").inner_text()
        assert "BR-CO-15" in findings
        page.screenshot(path=str(shots / "supplier-02-rejected.png"), full_page=True)

        page.get_by_role("link", name="Retour à vos factures envoyées").click()
        row = page.locator("table.list tr", has_text="facture-total-faux.xml")
        assert "Rejetée" in row.inner_text() and "Montant total erroné" in row.inner_text()
        page.screenshot(path=str(shots / "supplier-03-list.png"), full_page=True)
    finally:
        context.close()
    for name in ("supplier-01-documents.png", "supplier-02-rejected.png", "supplier-03-list.png"):
        assert (shots / name).stat().st_size > 5_000, name
