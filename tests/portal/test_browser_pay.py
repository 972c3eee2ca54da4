"""The payment journey in a real browser (Debian's Chromium driven by Playwright, no JavaScript).

A customer opens an overdue invoice, pays it through the sandbox's hosted
checkout, and comes back to a page that says the provider confirmed it; the
invoice ends in 212 Encaissée, set by the signed webhook (a recorded
``WebhookEvent``), not by the browser's return. Screenshots go to
``$ENCAISSE_ARTEFACTS/portal/<backend>/pay-*.png``.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import select

from ledger.models import Document, Invoice, LifecycleEvent
from ledger.online import OnlineCheckout, WebhookEvent
from tests.portal.conftest import Portal, serve
from tests.portal.test_browser import ARTEFACTS, browser  # noqa: F401  (fixture)
from tests.portal.world import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def local_portal(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, facturx_pdf: bytes
) -> Iterator[Portal]:
    """The portal over plain HTTP on localhost, with our account set for transfers."""
    folder = tmp_path_factory.mktemp(f"browser-pay-{request.param}")
    extra = {"company_iban": "FR7630006000011234567890189", "company_bic": "AGRIFRPP"}
    for served in serve(request, request.param, folder, tls=None, facturx=facturx_pdf, extra=extra):
        served.url = served.url.replace("127.0.0.1", "localhost")
        yield served


def test_a_customer_pays_an_invoice_and_it_ends_in_212(local_portal, browser):  # noqa: F811
    world = local_portal.world
    shots = ARTEFACTS / local_portal.backend
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(
        java_script_enabled=False, locale="en-GB", viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    invoice_id = world.invoices["B1"]
    try:
        page.goto(f"{local_portal.url}/login")
        page.get_by_label("E-mail address").first.fill(world.email("customer_b"))
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").first.click()
        page.wait_for_url(f"{local_portal.url}/invoices")

        page.goto(f"{local_portal.url}/invoices/{invoice_id}")
        assert page.get_by_role("heading", name="Pay this invoice").is_visible()
        assert page.get_by_label("Amount to pay").input_value() == "999.99"
        assert page.locator("figure.epc svg").is_visible()  # the EPC QR code, inline
        assert page.get_by_text("FR76 3000 6000 0112 3456 7890 189").is_visible()
        page.screenshot(path=str(shots / "pay-01-invoice.png"), full_page=True)
        page.get_by_role("button", name="Pay online").click()

        page.wait_for_url(f"{local_portal.url}/pay/sandbox/*")
        assert page.get_by_role("heading", name="Sandbox checkout").is_visible()
        assert "999.99" in page.locator(".checkout-amount").inner_text()
        page.screenshot(path=str(shots / "pay-02-checkout.png"), full_page=True)
        page.get_by_role("button", name="Pay", exact=True).click()

        page.wait_for_url(f"{local_portal.url}/pay/return/*")
        assert page.get_by_role("heading", name="Payment received").is_visible()
        page.screenshot(path=str(shots / "pay-03-confirmed.png"), full_page=True)

        page.goto(f"{local_portal.url}/invoices/{invoice_id}")
        assert page.locator(".status-line").get_by_text("Payment received").is_visible()
        assert page.get_by_role("button", name="Pay online").count() == 0
        page.screenshot(path=str(shots / "pay-04-paid.png"), full_page=True)
    finally:
        context.close()
    with local_portal.sessions() as session:
        inv = session.get(Invoice, invoice_id)
        doc = session.get(Document, inv.document_id)
        assert (inv.amount_still_due, doc.status_code) == (Decimal("0.00"), "212")
        cashed = session.scalars(
            select(LifecycleEvent).where(
                LifecycleEvent.document_id == doc.id, LifecycleEvent.status_code == "212"
            )
        ).one()
        assert cashed.amount == Decimal("999.99")
        checkout = session.scalars(
            select(OnlineCheckout).where(
                OnlineCheckout.invoice_ids.is_not(None), OnlineCheckout.state == "paid"
            )
        ).one()
        event = session.scalars(select(WebhookEvent).where(WebhookEvent.checkout_id == checkout.id)).one()
        assert event.outcome == "paid" and event.event_type == "checkout.succeeded"
    for name in ("pay-01-invoice.png", "pay-02-checkout.png", "pay-03-confirmed.png", "pay-04-paid.png"):
        assert (shots / name).stat().st_size > 5_000, name
