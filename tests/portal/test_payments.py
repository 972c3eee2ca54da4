"""Paying online and by transfer, disputes and promises, on SQLite and PostgreSQL (RELIABILITY 16).

The portal is served for real (uvicorn over TLS); the webhook tests post signed
deliveries to ``/webhooks/sandbox`` as a provider would, with the secret the
portal is configured with (and, to be refused, others).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from archive.journal_sql import SqlJournal
from ledger.bank import Payment, PaymentAllocation
from ledger.collections import Dispute, PaymentPromise
from ledger.models import Document, Invoice, LifecycleEvent, Party
from ledger.online import DisputeAttachment, OnlineCheckout, WebhookEvent
from payments.providers.sandbox import SandboxProvider
from payments.providers.signing import SIGNATURE_HEADER
from payments.transfer import invoice_rf
from tests.portal.conftest import Portal, csrf_of, serve
from tests.portal.world import MADE_AVAILABLE, TODAY, add_invoice

SECRET = "whsec_test_0123456789abcdef0123456789"
IBAN = "FR7630006000011234567890189"
BIC = "AGRIFRPP"
DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def portal(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    portal_cert: tuple[Path, Path],
    facturx_pdf: bytes,
) -> Iterator[Portal]:
    """The portal with our account and a known webhook secret."""
    folder = tmp_path_factory.mktemp(f"payments-{request.param}")
    extra = {
        "company_iban": IBAN,
        "company_bic": BIC,
        "company_name": "Encaisse Démo SAS",
        "payment_webhook_secret": SECRET,
    }
    yield from serve(request, request.param, folder, tls=portal_cert, facturx=facturx_pdf, extra=extra)


_counter = iter(range(1, 10_000))


def new_invoice(portal: Portal, party: str, total: str, due_in_days: int, *, still: str | None = None) -> int:
    """A fresh invoice of customer ``party`` made available (203), so tests do not share state."""
    with portal.sessions() as session:
        owner = session.get(Party, portal.world.parties[party])
        inv = add_invoice(
            session,
            portal.store,
            number=f"PAY-{party}-{next(_counter):04d}-{portal.backend[:2]}",
            party=owner,
            issue=TODAY - 40 * DAY,
            due=TODAY + due_in_days * DAY,
            total=Decimal(total),
            still_due=Decimal(still or total),
            chain=MADE_AVAILABLE,
        )
        session.commit()
        return inv.id


def invoice_state(portal: Portal, invoice_id: int) -> tuple[Decimal, str]:
    with portal.sessions() as session:
        inv = session.get(Invoice, invoice_id)
        doc = session.get(Document, inv.document_id)
        return inv.amount_still_due, doc.status_code


def counts(portal: Portal) -> tuple[int, int, int]:
    with portal.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(Payment)),
            session.scalar(select(func.count()).select_from(PaymentAllocation)),
            session.scalar(select(func.count()).select_from(WebhookEvent)),
        )


def start_payment(client: httpx.Client, invoice_id: int, amount: str | None = None) -> str:
    """Pay from the invoice page; the checkout's token (from the provider's address)."""
    page = client.get(f"/invoices/{invoice_id}")
    assert page.status_code == 200
    data = {"csrf_token": csrf_of(page.text)}
    if amount is not None:
        data["amount"] = amount
    response = client.post(f"/invoices/{invoice_id}/pay", data=data)
    assert response.status_code == 303, response.text[:300]
    found = re.fullmatch(r"/pay/sandbox/([\w-]+)", response.headers["location"])
    assert found, response.headers["location"]
    return found.group(1)


def checkout_of(portal: Portal, token: str) -> OnlineCheckout:
    with portal.sessions() as session:
        checkout: OnlineCheckout = session.scalars(
            select(OnlineCheckout).where(OnlineCheckout.token == token)
        ).one()
        return checkout


def delivery(
    checkout: OnlineCheckout,
    *,
    secret: str = SECRET,
    succeeded: bool = True,
    at: dt.datetime | None = None,
    event_id: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    provider = SandboxProvider(secret.encode())
    at = at or dt.datetime.now(dt.UTC)
    body = provider.event_body(
        provider_ref=checkout.provider_ref,
        amount=checkout.amount,
        currency=checkout.currency,
        succeeded=succeeded,
        at=at,
        event_id=event_id,
    )
    return body, provider.sign(body, at=at)


def post_webhook(portal: Portal, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return portal.client().post("/webhooks/sandbox", content=body, headers=headers)


# ----------------------------------------------------------------------------- paying through the sandbox


def pay_in_sandbox(client: httpx.Client, token: str, outcome: str = "pay") -> httpx.Response:
    page = client.get(f"/pay/sandbox/{token}")
    assert page.status_code == 200
    response = client.post(
        f"/pay/sandbox/{token}", data={"csrf_token": csrf_of(page.text), "outcome": outcome}
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/pay/return/{token}"
    return client.get(response.headers["location"])


def test_a_partial_payment_lowers_the_amount_due_and_the_rest_sets_212(portal):
    client = portal.signed_in("customer_b")
    invoice_id = new_invoice(portal, "B", "999.99", -5)
    result = pay_in_sandbox(client, start_payment(client, invoice_id, "400,50"))
    assert "Paiement reçu" in result.text or "Payment received" in result.text
    assert invoice_state(portal, invoice_id) == (Decimal("599.49"), "203")  # a partial payment sets no status
    pay_in_sandbox(client, start_payment(client, invoice_id))  # the rest
    assert invoice_state(portal, invoice_id) == (Decimal("0.00"), "212")
    with portal.sessions() as session:
        inv = session.get(Invoice, invoice_id)
        cashed = session.scalars(
            select(LifecycleEvent).where(
                LifecycleEvent.document_id == inv.document_id, LifecycleEvent.status_code == "212"
            )
        ).one()
        assert cashed.amount == Decimal("999.99")
        allocations = session.scalars(
            select(PaymentAllocation).where(PaymentAllocation.invoice_id == invoice_id)
        ).all()
        assert sorted(a.amount for a in allocations) == [Decimal("400.50"), Decimal("599.49")]
        assert all(a.payment.source == "online" for a in allocations)
    page = client.get(f"/invoices/{invoice_id}").text
    assert "Encaissée" in page or "Payment received" in page
    assert f'action="/invoices/{invoice_id}/pay"' not in page  # nothing left to pay
    with portal.sessions() as session:
        digest = session.get(Document, session.get(Invoice, invoice_id).document_id).digest
    received = [
        e for e in SqlJournal(portal.sessions.kw["bind"]).about([digest]) if e.kind == "payment_received"
    ]
    assert len(received) == 2 and received[-1].data["applied"][0]["status"]["to"] == "212"
    staff = portal.signed_in("collector_b").get(f"/staff/invoices/{invoice_id}").text
    assert staff.count("sandbox:sbx_") == 2  # the two online payments, with the provider's ids


def test_several_invoices_are_paid_oldest_due_first(portal):
    client = portal.signed_in("customer_b")
    late = new_invoice(portal, "B", "100.00", -20)
    later = new_invoice(portal, "B", "200.00", -10)
    future = new_invoice(portal, "B", "300.00", 15)
    statement = client.get("/statement")
    fields = {"csrf_token": csrf_of(statement.text), "amount": "250.00"}
    fields.update({f"invoice_{i}": "on" for i in (future, late, later)})
    response = client.post("/pay", data=fields)
    assert response.status_code == 303
    pay_in_sandbox(client, response.headers["location"].rsplit("/", 1)[1])
    assert invoice_state(portal, late) == (Decimal("0.00"), "212")
    assert invoice_state(portal, later) == (Decimal("50.00"), "203")
    assert invoice_state(portal, future) == (Decimal("300.00"), "203")


def test_what_cannot_be_paid_is_refused_clearly(portal):
    client = portal.signed_in("customer_b")
    invoice_id = new_invoice(portal, "B", "50.00", 10)
    page = client.get(f"/invoices/{invoice_id}")
    token = csrf_of(page.text)
    with portal.sessions() as session:
        checkouts_before = session.scalar(select(func.count()).select_from(OnlineCheckout))
    for amount in ("50.01", "0", "-3", "abc", "1.234"):
        response = client.post(f"/invoices/{invoice_id}/pay", data={"csrf_token": token, "amount": amount})
        assert response.status_code == 400, (amount, response.status_code)
        assert "Traceback" not in response.text
    foreign = portal.world.invoices["A1"]
    response = client.post(f"/invoices/{foreign}/pay", data={"csrf_token": token})
    assert response.status_code == 404
    response = client.post("/pay", data={"csrf_token": token, f"invoice_{foreign}": "on"})
    assert response.status_code == 404
    response = client.post(f"/invoices/{invoice_id}/pay", data={"amount": "10"})  # no CSRF token
    assert response.status_code == 403
    with portal.sessions() as session:
        assert session.scalar(select(func.count()).select_from(OnlineCheckout)) == checkouts_before


def test_212_comes_from_the_signed_webhook_never_from_the_browser(portal):
    client = portal.signed_in("customer_b")
    invoice_id = new_invoice(portal, "B", "75.00", 3)
    token = start_payment(client, invoice_id)
    back = client.get(f"/pay/return/{token}")  # the success address, typed by hand
    assert back.status_code == 200 and ("attente" in back.text or "waiting" in back.text)
    assert invoice_state(portal, invoice_id) == (Decimal("75.00"), "203")
    body, headers = delivery(checkout_of(portal, token))
    response = post_webhook(portal, body, headers)
    assert response.status_code == 200 and response.json()["outcome"] == "paid"
    assert invoice_state(portal, invoice_id) == (Decimal("0.00"), "212")


def test_declined_card_changes_nothing_and_can_be_retried(portal):
    client = portal.signed_in("customer_b")
    invoice_id = new_invoice(portal, "B", "20.00", 3)
    token = start_payment(client, invoice_id)
    result = pay_in_sandbox(client, token, "fail")
    assert "échoué" in result.text or "failed" in result.text
    assert invoice_state(portal, invoice_id) == (Decimal("20.00"), "203")
    assert checkout_of(portal, token).state == "failed"
    pay_in_sandbox(client, token, "pay")
    assert invoice_state(portal, invoice_id) == (Decimal("0.00"), "212")


# ----------------------------------------------------------------------------- RELIABILITY 16


def test_webhooks_refuse_what_is_not_signed_by_the_provider(portal):
    client = portal.signed_in("customer_b")
    invoice_id = new_invoice(portal, "B", "120.00", 3)
    checkout = checkout_of(portal, start_payment(client, invoice_id))
    before = counts(portal)
    body, headers = delivery(checkout)
    now = dt.datetime.now(dt.UTC)
    tampered = body.replace(b'"amount":"120.00"', b'"amount":"1.00"')
    assert tampered != body
    stale_body, stale_headers = delivery(checkout, at=now - dt.timedelta(seconds=301))
    future_body, future_headers = delivery(checkout, at=now + dt.timedelta(seconds=400))
    wrong_body, wrong_headers = delivery(checkout, secret="whsec_someone_else_0123456789abcdef")
    cases = {
        "missing header": (body, {"content-type": "application/json"}),
        "tampered body": (tampered, headers),
        "wrong secret": (wrong_body, wrong_headers),
        "stale timestamp": (stale_body, stale_headers),
        "timestamp ahead": (future_body, future_headers),
        "garbled header": (body, {SIGNATURE_HEADER: "t=abc,v1="}),
        "signature of another body": (body + b" ", headers),
    }
    for what, (sent_body, sent_headers) in cases.items():
        response = post_webhook(portal, sent_body, sent_headers)
        assert response.status_code == 400, what
        assert response.headers["content-type"].startswith("application/problem+json"), what
        assert counts(portal) == before, f"{what} changed the ledger"
        assert invoice_state(portal, invoice_id) == (Decimal("120.00"), "203"), what
    assert checkout_of(portal, checkout.token).state == "open"
    ok = post_webhook(portal, body, headers)  # the genuine one passes
    assert ok.status_code == 200 and ok.json()["outcome"] == "paid"
    replay = post_webhook(portal, body, headers)  # the same event again, inside the window
    assert replay.status_code == 200 and replay.json()["outcome"] == "duplicate"
    payments, _, events = counts(portal)
    assert payments == before[0] + 1 and events == before[2] + 1
    assert invoice_state(portal, invoice_id) == (Decimal("0.00"), "212")


@pytest.mark.parametrize("events", ["the same event", "five events"])
def test_five_deliveries_at_once_give_one_payment(portal, events):
    client = portal.signed_in("customer_b")
    invoice_id = new_invoice(portal, "B", "330.00", 3)
    checkout = checkout_of(portal, start_payment(client, invoice_id, "100.00"))
    same = events == "the same event"
    sent = [delivery(checkout)] * 5 if same else [delivery(checkout) for _ in range(5)]
    before = counts(portal)
    clients = [portal.client() for _ in range(5)]
    barrier = threading.Barrier(5)
    answers: list[httpx.Response] = []

    def send(c: httpx.Client, body: bytes, headers: dict[str, str]) -> None:
        barrier.wait()
        answers.append(c.post("/webhooks/sandbox", content=body, headers=headers))

    threads = [threading.Thread(target=send, args=(c, *d)) for c, d in zip(clients, sent, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(a.status_code for a in answers) == [200] * 5
    others = "duplicate" if same else "ignored: already paid"
    assert sorted(a.json()["outcome"] for a in answers) == sorted([others] * 4 + ["paid"])
    payments, allocations, recorded = counts(portal)
    assert (payments, allocations, recorded) == (before[0] + 1, before[1] + 1, before[2] + (1 if same else 5))
    assert invoice_state(portal, invoice_id) == (Decimal("230.00"), "203")


@pytest.mark.parametrize("order", ["failed-then-succeeded", "succeeded-then-failed"])
def test_events_out_of_order_converge(portal, order):
    client = portal.signed_in("customer_b")
    invoice_id = new_invoice(portal, "B", "64.00", 3)
    checkout = checkout_of(portal, start_payment(client, invoice_id))
    failed = delivery(checkout, succeeded=False)
    succeeded = delivery(checkout)
    sequence = [failed, succeeded] if order.startswith("failed") else [succeeded, failed]
    before = counts(portal)
    for body, headers in sequence:
        assert post_webhook(portal, body, headers).status_code == 200
    assert checkout_of(portal, checkout.token).state == "paid"
    assert invoice_state(portal, invoice_id) == (Decimal("0.00"), "212")
    assert counts(portal)[0] == before[0] + 1


def test_a_second_success_event_for_a_paid_checkout_pays_nothing(portal):
    client = portal.signed_in("customer_b")
    invoice_id = new_invoice(portal, "B", "80.00", 3)
    checkout = checkout_of(portal, start_payment(client, invoice_id, "30.00"))
    for _ in range(2):  # two distinct event ids about the same checkout
        assert post_webhook(portal, *delivery(checkout)).status_code == 200
    assert invoice_state(portal, invoice_id) == (Decimal("50.00"), "203")


def test_an_event_with_another_amount_is_not_a_payment(portal):
    client = portal.signed_in("customer_b")
    invoice_id = new_invoice(portal, "B", "90.00", 3)
    checkout = checkout_of(portal, start_payment(client, invoice_id))
    provider = SandboxProvider(SECRET.encode())
    at = dt.datetime.now(dt.UTC)
    body = provider.event_body(
        provider_ref=checkout.provider_ref, amount=Decimal("1.00"), currency="EUR", succeeded=True, at=at
    )
    response = post_webhook(portal, body, provider.sign(body, at=at))
    assert response.status_code == 200 and response.json()["outcome"].startswith("ignored")
    assert invoice_state(portal, invoice_id) == (Decimal("90.00"), "203")


# ----------------------------------------------------------------------------- transfer, dispute, promise


def test_the_invoice_page_shows_how_to_pay_by_transfer(portal):
    client = portal.signed_in("customer_b")
    invoice_id = new_invoice(portal, "B", "42.10", 3)
    page = client.get(f"/invoices/{invoice_id}").text
    with portal.sessions() as session:
        inv = session.get(Invoice, invoice_id)
        reference = invoice_rf(number=inv.number, payment_reference=inv.payment_reference, invoice_id=inv.id)
    assert "FR76 3000 6000 0112 3456 7890 189" in page and BIC in page
    assert re.sub(r"\s", "", page).count(reference) >= 1
    svg = re.search(r"<svg[^>]*class=\"epc-qr\".*?</svg>", page, re.S)
    assert svg and "<path" in svg.group(0)
    assert "style=" not in svg.group(0)  # nothing the CSP (style-src 'self') would block


def test_a_dispute_sets_207_with_its_reason_and_staff_see_it(portal):
    client = portal.signed_in("customer_b")
    invoice_id = new_invoice(portal, "B", "500.00", 3)
    page = client.get(f"/invoices/{invoice_id}")
    token = csrf_of(page.text)
    assert 'value="PU_ERR"' in page.text and 'value="REJ_SEMAN"' not in page.text  # the 207 list only
    refused = client.post(
        f"/invoices/{invoice_id}/dispute", data={"csrf_token": token, "reason_code": "REJ_SEMAN"}
    )
    assert refused.status_code == 400
    wrong_type = client.post(
        f"/invoices/{invoice_id}/dispute",
        data={"csrf_token": token, "reason_code": "PU_ERR"},
        files={"attachment": ("proof.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")},
    )
    assert wrong_type.status_code == 415
    too_big = client.post(
        f"/invoices/{invoice_id}/dispute",
        data={"csrf_token": token, "reason_code": "PU_ERR"},
        files={"attachment": ("big.pdf", b"%PDF-1.7\n" + b"0" * (5 * 1024 * 1024), "application/pdf")},
    )
    assert too_big.status_code == 413
    no_csrf = client.post(
        f"/invoices/{invoice_id}/dispute",
        data={"reason_code": "PU_ERR"},
        files={"attachment": ("p.pdf", b"%PDF-1.7 x", "application/pdf")},
    )
    assert no_csrf.status_code == 403
    assert invoice_state(portal, invoice_id)[1] == "203"
    pdf = b"%PDF-1.7\n% the order form\n"
    sent = client.post(
        f"/invoices/{invoice_id}/dispute",
        data={"csrf_token": token, "reason_code": "PU_ERR", "comment": "Prix unitaire de 10 € convenu"},
        files={"attachment": ("bon de commande.pdf", pdf, "application/pdf")},
    )
    assert sent.status_code == 303
    assert invoice_state(portal, invoice_id)[1] == "207"
    with portal.sessions() as session:
        dispute = session.scalars(select(Dispute).where(Dispute.invoice_id == invoice_id)).one()
        assert (dispute.reason_code, dispute.state) == ("PU_ERR", "open")
        attachment = session.scalars(
            select(DisputeAttachment).where(DisputeAttachment.dispute_id == dispute.id)
        ).one()
        assert portal.store.get(attachment.digest) == pdf
        inv = session.get(Invoice, invoice_id)
        event = session.scalars(
            select(LifecycleEvent)
            .where(LifecycleEvent.document_id == inv.document_id)
            .order_by(LifecycleEvent.id.desc())
        ).first()
        assert (event.status_code, event.reason_codes) == ("207", ["PU_ERR"])
        digest = inv.document.digest
    again = client.post(f"/invoices/{invoice_id}/dispute", data={"csrf_token": token, "reason_code": "AUTRE"})
    assert again.status_code == 400  # one open dispute at a time
    staff = portal.signed_in("manager").get(f"/staff/invoices/{invoice_id}").text
    assert "207" in staff and "Prix unitaire de 10 € convenu" in staff
    assert "bon de commande.pdf" in staff and attachment.digest in staff and "PU_ERR" in staff
    journal = SqlJournal(portal.sessions.kw["bind"]).about([digest])
    opened = [e for e in journal if e.kind == "status_changed" and e.data.get("status") == "207"]
    assert len(opened) == 1 and opened[0].data["objects"] == [attachment.digest]


def test_a_promise_to_pay_is_recorded(portal):
    client = portal.signed_in("customer_b")
    invoice_id = new_invoice(portal, "B", "800.00", -3)
    token = csrf_of(client.get(f"/invoices/{invoice_id}").text)
    day = (TODAY + 10 * DAY).isoformat()
    for bad in (
        {"date": "next week", "amount": "100"},
        {"date": (TODAY - DAY).isoformat(), "amount": "100"},
        {"date": day, "amount": "800.01"},
        {"date": day, "amount": ""},
    ):
        response = client.post(f"/invoices/{invoice_id}/promise", data={"csrf_token": token, **bad})
        assert response.status_code == 400, bad
    response = client.post(
        f"/invoices/{invoice_id}/promise", data={"csrf_token": token, "date": day, "amount": "300,00"}
    )
    assert response.status_code == 303
    with portal.sessions() as session:
        promise = session.scalars(select(PaymentPromise).where(PaymentPromise.invoice_id == invoice_id)).one()
        assert (promise.promised_on.isoformat(), promise.amount, promise.amount_due_then) == (
            day,
            Decimal("300.00"),
            Decimal("800.00"),
        )
        assert promise.made_by == portal.world.email("customer_b")
    assert "€300.00" in client.get(f"/invoices/{invoice_id}").text  # B reads English


def test_checkouts_are_only_their_customers(portal):
    owner = portal.signed_in("customer_b")
    token = start_payment(owner, new_invoice(portal, "B", "15.00", 3))
    other = portal.signed_in("customer_a")
    for path in (f"/pay/sandbox/{token}", f"/pay/return/{token}"):
        assert owner.get(path).status_code == 200
        assert other.get(path).status_code == 404
        assert other.get(path).content == other.get(path.replace(token, "x" * len(token))).content
    page = other.get("/invoices")
    refused = other.post(f"/pay/sandbox/{token}", data={"csrf_token": csrf_of(page.text), "outcome": "pay"})
    assert refused.status_code == 404
    assert checkout_of(portal, token).state == "open"
    assert json.dumps(counts(portal))  # the ledger is readable after all this


def test_a_dispute_without_a_file_and_a_cross_site_one(portal):
    client = portal.signed_in("customer_b")
    invoice_id = new_invoice(portal, "B", "61.00", 3)
    token = csrf_of(client.get(f"/invoices/{invoice_id}").text)
    cross = client.post(
        f"/invoices/{invoice_id}/dispute",
        data={"csrf_token": token, "reason_code": "AUTRE"},
        files={"attachment": ("p.pdf", b"%PDF-1.7 x", "application/pdf")},
        headers={"origin": "https://evil.example"},
    )
    assert cross.status_code == 403 and invoice_state(portal, invoice_id)[1] == "203"
    plain = client.post(
        f"/invoices/{invoice_id}/dispute", data={"csrf_token": token, "reason_code": "AUTRE", "comment": ""}
    )
    assert plain.status_code == 303 and invoice_state(portal, invoice_id)[1] == "207"


def test_an_oversized_webhook_is_refused(portal):
    before = counts(portal)
    response = post_webhook(portal, b"{" + b" " * 20_000 + b"}", {SIGNATURE_HEADER: "t=1,v1=00"})
    assert response.status_code == 413
    assert counts(portal) == before
