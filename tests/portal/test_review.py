"""The review queue in the back office (``/staff/review``), on SQLite and PostgreSQL.

A collector confirms a suggestion and the invoice is cashed (212 with the
amount); rejecting and undoing move the line out of and back into the queue;
collectors see and act on their portfolio's lines only (404 otherwise, the same
answer as for a decision that does not exist); litigation and auditors look
but may not act (403); every action needs the session's CSRF token; each
decision is journaled in the archive.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from archive.journal_sql import SqlJournal
from ledger.bank import MatchDecision
from ledger.bank import StatementLine as LineRow
from ledger.models import Document, Invoice, LifecycleEvent
from tests.portal.conftest import csrf_of
from tests.portal.reviewqueue import queue_line

NONEXISTENT = 987654


@pytest.fixture(scope="module")
def queue(portal):
    """Three lines: one for customer A, one for B, one whose suggestions name both."""
    return {
        "A": queue_line(
            portal,
            ref="NTRY-A1",
            amount="1200.00",
            payer="ALPHA INDUSTRIE SA",
            remittance="REGLEMENT FACT A1",
            suggestions=[
                (
                    [("A1", "1200.00")],
                    0.72,
                    "amount equal to one open invoice of Alpha Industrie; name similar",
                ),
                ([("A2", "600.00")], 0.31, "name similar; partial payment"),
            ],
        ),
        "B": queue_line(
            portal,
            ref="NTRY-B2",
            amount="50.00",
            payer="BETA SERVICES",
            remittance="VIR B2",
            suggestions=[([("B2", "50.00")], 0.65, "amount equal; name similar")],
        ),
        "AB": queue_line(
            portal,
            ref="NTRY-AB",
            amount="600.00",
            payer="UNKNOWN PAYER",
            remittance="PAIEMENT",
            suggestions=[
                ([("A2", "600.00")], 0.40, "amount equal to invoice A2"),
                ([("B1", "600.00")], 0.35, "partial payment of B1"),
            ],
        ),
    }


def _signed_in(portal, user):
    """A client of ``user`` reading the pages in English."""
    client = portal.signed_in(user)
    client.headers["accept-language"] = "en"
    return client


def _page(client):
    response = client.get("/staff/review")
    assert response.status_code == 200, response.text[:300]
    return response.text


def _post(client, path, **data):
    token = csrf_of(client.get("/staff/review").text)
    return client.post(path, data={"csrf_token": token, **data})


def _state(portal, key):
    with portal.sessions() as session:
        inv = session.get(Invoice, portal.world.invoices[key])
        doc = session.get(Document, inv.document_id)
        return inv.amount_still_due, doc.status_code


def _line(portal, decision_id):
    with portal.sessions() as session:
        decision = session.get(MatchDecision, decision_id)
        return session.get(LineRow, decision.statement_line_id).match_state


def _latest(portal, decision_id):
    """The latest decision on the line of ``decision_id``."""
    with portal.sessions() as session:
        line_id = session.get(MatchDecision, decision_id).statement_line_id
        return session.scalars(
            select(MatchDecision)
            .where(MatchDecision.statement_line_id == line_id)
            .order_by(MatchDecision.id.desc())
            .limit(1)
        ).one()


def test_the_queue_is_scoped_like_the_invoices(portal, queue):
    numbers = portal.world.numbers
    mine = _page(_signed_in(portal, "collector_a"))
    assert "NTRY-A1" in mine and numbers["A1"] in mine and "REGLEMENT FACT A1" in mine
    assert "Confirm suggestion 1" in mine and "72 %" in mine
    assert "NTRY-B2" not in mine and numbers["B2"] not in mine
    assert "NTRY-AB" not in mine and numbers["B1"] not in mine  # a suggestion names B's invoice
    theirs = _page(_signed_in(portal, "collector_b"))
    assert "NTRY-B2" in theirs and "NTRY-A1" not in theirs and "NTRY-AB" not in theirs
    assert numbers["A1"] not in theirs
    for user in ("admin", "manager", "auditor", "litigation"):
        page = _page(_signed_in(portal, user))
        assert all(ref in page for ref in ("NTRY-A1", "NTRY-B2", "NTRY-AB")), user
        assert ("Confirm suggestion 1" in page) == (user in ("admin", "manager")), user
    assert _signed_in(portal, "customer_a").get("/staff/review").status_code == 404


def test_acting_outside_the_portfolio_is_a_404_like_a_missing_id(portal, queue):
    client = _signed_in(portal, "collector_a")
    for action in ("confirm", "reject", "undo"):
        missing = _post(client, f"/staff/review/{NONEXISTENT}/{action}")
        assert missing.status_code == 404
        for key in ("B", "AB"):
            refused = _post(client, f"/staff/review/{queue[key]}/{action}")
            assert refused.status_code == 404, (action, key, refused.status_code)
            assert refused.content == missing.content
    assert _state(portal, "B2") == (Decimal("50.00"), "203")
    assert _line(portal, queue["B"]) == _line(portal, queue["AB"]) == "review"


def test_litigation_and_auditors_may_not_act(portal, queue):
    for user in ("litigation", "auditor"):
        client = _signed_in(portal, user)
        for action in ("confirm", "reject"):
            assert _post(client, f"/staff/review/{queue['B']}/{action}").status_code == 403
    customer = _signed_in(portal, "customer_b")
    assert customer.post(f"/staff/review/{queue['B']}/confirm").status_code in (403, 404)
    assert _line(portal, queue["B"]) == "review"


def test_actions_need_the_csrf_token(portal, queue):
    client = _signed_in(portal, "collector_b")
    assert client.post(f"/staff/review/{queue['B']}/confirm", data={"choice": "0"}).status_code == 403
    wrong = client.post(f"/staff/review/{queue['B']}/confirm", data={"choice": "0", "csrf_token": "x" * 32})
    assert wrong.status_code == 403
    assert _line(portal, queue["B"]) == "review" and _state(portal, "B2") == (Decimal("50.00"), "203")


def test_a_bad_choice_is_a_400_and_changes_nothing(portal, queue):
    client = _signed_in(portal, "collector_b")
    for choice in ("7", "-1", "x"):
        assert _post(client, f"/staff/review/{queue['B']}/confirm", choice=choice).status_code == 400
    assert _line(portal, queue["B"]) == "review"


def test_a_collector_confirms_and_the_invoice_is_cashed_then_undoes(portal, queue):
    client = _signed_in(portal, "collector_a")
    response = _post(client, f"/staff/review/{queue['A']}/confirm", choice="0")
    assert response.status_code == 303 and response.headers["location"].startswith("/staff/review?done=")
    assert _state(portal, "A1") == (Decimal("0.00"), "212")
    decision = _latest(portal, queue["A"])
    assert (decision.action, decision.state, decision.mode) == ("confirm", "applied", "manual")
    assert (
        decision.actor_id == f"user:{portal.world.users['collector_a']}:{portal.world.email('collector_a')}"
    )
    with portal.sessions() as session:
        doc_id = session.get(Invoice, portal.world.invoices["A1"]).document_id
        cashed = session.scalars(
            select(LifecycleEvent).where(
                LifecycleEvent.document_id == doc_id, LifecycleEvent.status_code == "212"
            )
        ).one()
        assert cashed.amount == Decimal("1200.00")
        entry = SqlJournal(session.get_bind()).get(decision.journal_seq)
        assert entry.kind == "matched" and entry.fields["actor"] == decision.actor_id
    page = client.get(response.headers["location"]).text
    assert "NTRY-A1" in page and "Decision recorded." in page and "Undo" in page
    assert "Confirm suggestion 1" not in page  # nothing left in this collector's queue
    # undone: amount due back, 212 reverted, the line in the queue again
    assert _post(client, f"/staff/review/{decision.id}/undo", reason="wrong customer").status_code == 303
    due, status = _state(portal, "A1")
    assert due == Decimal("1200.00") and status != "212"
    requeued = _latest(portal, queue["A"])
    assert (requeued.state, _line(portal, queue["A"])) == ("proposed", "review")
    assert "Confirm suggestion 1" in _page(client)
    with portal.sessions() as session:
        undone = session.get(MatchDecision, decision.id)
        assert undone.state == "undone" and undone.undone_by == decision.actor_id
        marker = session.scalars(
            select(MatchDecision).where(MatchDecision.supersedes_id == decision.id)
        ).one()
        assert SqlJournal(session.get_bind()).get(marker.journal_seq).kind == "match_undone"
    # a proposal itself cannot be "undone"
    assert _post(client, f"/staff/review/{requeued.id}/undo").status_code == 400


def test_reject_takes_the_line_out_and_undo_brings_it_back(portal, queue):
    client = _signed_in(portal, "admin")
    assert _post(client, f"/staff/review/{queue['AB']}/reject", reason="interest").status_code == 303
    assert _line(portal, queue["AB"]) == "ignored"
    rejected = _latest(portal, queue["AB"])
    assert (rejected.action, rejected.state) == ("reject", "rejected") and "interest" in rejected.explanation
    assert _state(portal, "A2")[0] == Decimal("600.00") and _state(portal, "B1")[0] == Decimal("999.99")
    # acting twice on the same proposal is refused
    assert _post(client, f"/staff/review/{queue['AB']}/confirm").status_code == 400
    assert _post(client, f"/staff/review/{rejected.id}/undo").status_code == 303
    assert _line(portal, queue["AB"]) == "review"
    assert _latest(portal, queue["AB"]).state == "proposed"
    # undoing twice is refused
    assert _post(client, f"/staff/review/{rejected.id}/undo").status_code == 400
