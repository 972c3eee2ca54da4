"""The review queue in a real browser (Debian's Chromium driven by Playwright, no JavaScript).

A collector signs in, opens "Payments to review" from the menu, sees the bank
line with its suggestions side by side, confirms the first one with the
keyboard (Tab to the button, Enter), and the invoice ends in 212 Encaissée
with the amount cashed (checked in the database). Screenshots go to
``$ENCAISSE_ARTEFACTS/portal/<backend>/review-*.png``.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import select

from ledger.bank import MatchDecision
from ledger.models import Document, Invoice, LifecycleEvent
from tests.portal.conftest import Portal, serve
from tests.portal.reviewqueue import queue_line
from tests.portal.test_browser import ARTEFACTS, browser  # noqa: F401  (fixture)
from tests.portal.world import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def local_portal(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, facturx_pdf: bytes
) -> Iterator[Portal]:
    """The portal over plain HTTP on localhost."""
    folder = tmp_path_factory.mktemp(f"browser-review-{request.param}")
    for served in serve(request, request.param, folder, tls=None, facturx=facturx_pdf):
        served.url = served.url.replace("127.0.0.1", "localhost")
        yield served


def test_a_collector_confirms_a_suggestion_and_the_invoice_ends_in_212(local_portal, browser):  # noqa: F811
    world = local_portal.world
    decision_id = queue_line(
        local_portal,
        ref="NTRY-BROWSER-A1",
        amount="1200.00",
        payer="ALPHA INDUSTRIE SA",
        remittance="REGLEMENT FACTURE DE MARS",
        suggestions=[
            ([("A1", "1200.00")], 0.72, "amount equal to one open invoice of Alpha Industrie; name similar"),
            ([("A2", "600.00")], 0.31, "name similar; partial payment"),
        ],
    )
    queue_line(  # another portfolio's line: not shown to this collector
        local_portal,
        ref="NTRY-BROWSER-B2",
        amount="50.00",
        payer="BETA SERVICES",
        remittance="VIR",
        suggestions=[([("B2", "50.00")], 0.65, "amount equal")],
    )
    shots = ARTEFACTS / local_portal.backend
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(
        java_script_enabled=False, locale="en-GB", viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    try:
        page.goto(f"{local_portal.url}/login")
        page.get_by_label("E-mail address").first.fill(world.email("collector_a"))
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").first.click()
        page.wait_for_url(f"{local_portal.url}/**")

        page.get_by_role("link", name="Payments to review").click()
        page.wait_for_url(f"{local_portal.url}/staff/review")
        assert page.get_by_role("heading", name="Payments to review").is_visible()
        line = page.get_by_role("region", name="Bank line NTRY-BROWSER-A1")
        assert line.get_by_text("REGLEMENT FACTURE DE MARS").is_visible()
        assert line.get_by_role("link", name=world.numbers["A1"]).is_visible()
        assert line.get_by_role("link", name=world.numbers["A2"]).is_visible()  # side by side
        assert "72 %" in line.inner_text() and "31 %" in line.inner_text()
        assert page.get_by_text("NTRY-BROWSER-B2").count() == 0
        page.screenshot(path=str(shots / "review-01-queue.png"), full_page=True)

        button = line.get_by_role("button", name="Confirm suggestion 1")
        button.focus()
        page.keyboard.press("Enter")
        page.wait_for_url(f"{local_portal.url}/staff/review?done=*")
        assert page.get_by_role("status").get_by_text("Decision recorded.").is_visible()
        assert page.get_by_role("region", name="Bank line NTRY-BROWSER-A1").count() == 0
        recent = page.get_by_role("region", name="Latest decisions")
        assert recent.get_by_text(world.numbers["A1"]).is_visible()
        assert recent.get_by_role("button", name="Undo").is_visible()
        page.screenshot(path=str(shots / "review-02-confirmed.png"), full_page=True)

        page.goto(f"{local_portal.url}/staff/invoices/{world.invoices['A1']}")
        page.screenshot(path=str(shots / "review-03-invoice.png"), full_page=True)
    finally:
        context.close()
    with local_portal.sessions() as session:
        inv = session.get(Invoice, world.invoices["A1"])
        doc = session.get(Document, inv.document_id)
        assert (inv.amount_still_due, doc.status_code) == (Decimal("0.00"), "212")
        cashed = session.scalars(
            select(LifecycleEvent).where(
                LifecycleEvent.document_id == doc.id, LifecycleEvent.status_code == "212"
            )
        ).one()
        assert cashed.amount == Decimal("1200.00")
        decided = session.scalars(
            select(MatchDecision).where(MatchDecision.supersedes_id == decision_id)
        ).one()
        assert (decided.action, decided.state, decided.actor_kind) == ("confirm", "applied", "user")
        assert decided.actor_id.endswith(world.email("collector_a")) and decided.journal_seq is not None
    for name in ("review-01-queue.png", "review-02-confirmed.png", "review-03-invoice.png"):
        assert (shots / name).stat().st_size > 5_000, name
