"""Paying online, and the customer's dispute and promise forms.

* ``POST /invoices/{id}/pay`` (one invoice, all or part of what is due) and
  ``POST /pay`` (several, chosen on the statement): a checkout with the provider,
  then the browser goes to the provider's page.
* ``/pay/sandbox/{token}``: the sandbox provider's hosted checkout, served here;
  paying (or failing) there makes the sandbox deliver its signed webhook.
* ``POST /webhooks/sandbox``: the provider's deliveries; the only thing that
  confirms a payment. ``/pay/return/{token}`` (where the browser comes back) only
  shows what the webhook did.
* ``POST /invoices/{id}/dispute`` (reason of the 207 list, comment, optional file)
  and ``POST /invoices/{id}/promise`` (date, amount).

Every id is looked up through :mod:`ledger.scoping`, a checkout by its token among
the viewer's own customers: what is not theirs is a 404.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import JSONResponse, RedirectResponse, Response

from archive.journal import EntryKind
from archive.service import journal_event
from ledger import scoping
from ledger.customer_actions import CustomerActionRejected, open_dispute, promise_to_pay
from ledger.models import utcnow
from ledger.online import OnlineCheckout
from payments.online import WebhookResult, find_checkout, parse_amount, receive_webhook, start_checkout
from payments.providers.sandbox import MAX_EVENT_BYTES, SandboxProvider
from payments.providers.signing import WebhookRejected
from portal.deps import Customer, Db, Form, SignedIn, optional_user, portal_state, read_form
from portal.errors import CsrfRejected, HttpError
from portal.pages import render
from portal.security import CSRF_FIELD, same_origin, tokens_match
from schemas.errors import ErrorCode
from schemas.lifecycle import Actor, ActorKind

router = APIRouter(include_in_schema=False)

MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
#: What a dispute may join: magic bytes → (media type, extension).
ATTACHMENT_KINDS = {
    b"%PDF-": ("application/pdf", "pdf"),
    b"\x89PNG\r\n\x1a\n": ("image/png", "png"),
    b"\xff\xd8\xff": ("image/jpeg", "jpg"),
}


def sandbox(request: Request) -> SandboxProvider:
    """The application's sandbox provider (one per application, its secret from the settings)."""
    state = portal_state(request)
    provider = state.extra.get("sandbox_provider")
    if provider is None:
        configured = state.settings.payment_webhook_secret
        secret = configured.get_secret_value().encode() if configured else secrets.token_bytes(32)
        provider = state.extra["sandbox_provider"] = SandboxProvider(secret)
    assert isinstance(provider, SandboxProvider)
    return provider


def deliver(
    request: Request, provider: SandboxProvider, body: bytes, headers: dict[str, str], now: dt.datetime
) -> WebhookResult:
    """Act on one webhook delivery in its own transaction, journaling the payment with it."""
    with portal_state(request).sessions() as session:
        result = receive_webhook(session, provider=provider, body=body, headers=headers, now=now)
        for item in result.journal:
            journal_event(
                session,
                kind=item.kind,
                subject=item.subject,
                actor=f"provider:{provider.name}",
                data=item.data,
                related=list(item.related),
            )
        session.commit()
        return result


def _checkout_of(db: Db, auth: SignedIn, token: str) -> OnlineCheckout:
    found = find_checkout(db, token=token, party_ids=auth.viewer.customer_party_ids)
    if found is None:
        raise scoping.NotFound("no such payment", where="token")
    return found


@router.post("/invoices/{invoice_id}/pay")
def pay_invoice(request: Request, db: Db, auth: Customer, form: Form, invoice_id: int) -> Response:
    """Pay one invoice online: all that is due, or the amount typed."""
    found = scoping.get_invoice(db, viewer=auth.viewer, invoice_id=invoice_id)
    amount = parse_amount(form.get("amount"))
    _, started = start_checkout(
        db, provider=sandbox(request), invoices=[found], amount=amount, user_id=auth.user.id
    )
    db.commit()
    return RedirectResponse(started.redirect_url, status_code=303)


@router.post("/pay")
def pay_several(request: Request, db: Db, auth: Customer, form: Form) -> Response:
    """Pay several invoices at once (``invoice_<id>`` fields), all or part, oldest due first."""
    ids = sorted({int(k[8:]) for k in form if k.startswith("invoice_") and k[8:].isdigit() and len(k) < 20})
    found = [scoping.get_invoice(db, viewer=auth.viewer, invoice_id=i) for i in ids]
    amount = parse_amount(form.get("amount"))
    _, started = start_checkout(
        db, provider=sandbox(request), invoices=found, amount=amount, user_id=auth.user.id
    )
    db.commit()
    return RedirectResponse(started.redirect_url, status_code=303)


@router.get("/pay/sandbox/{token}")
def sandbox_checkout(request: Request, db: Db, auth: Customer, token: str) -> Response:
    """The sandbox's hosted checkout page (stands for a card provider's page)."""
    checkout = _checkout_of(db, auth, token)
    return render(request, "customer/sandbox_checkout.html", {"checkout": checkout})


@router.post("/pay/sandbox/{token}")
def sandbox_submit(request: Request, db: Db, auth: Customer, form: Form, token: str) -> Response:
    """The customer paid (or the card was declined): the sandbox delivers its signed webhook."""
    checkout = _checkout_of(db, auth, token)
    succeeded = form.get("outcome") == "pay"
    if checkout.state == "open" or (succeeded and checkout.state == "failed"):
        provider = sandbox(request)
        now = utcnow()
        body = provider.event_body(
            provider_ref=checkout.provider_ref,
            amount=checkout.amount,
            currency=checkout.currency,
            succeeded=succeeded,
            at=now,
        )
        # the delivery takes the webhook's own path: signature checked, event id recorded once
        deliver(request, provider, body, provider.sign(body, at=now), now)
    return RedirectResponse(f"/pay/return/{token}", status_code=303)


@router.get("/pay/return/{token}")
def checkout_return(request: Request, db: Db, auth: Customer, token: str) -> Response:
    """Where the browser comes back: what the provider's webhook did (the visit itself changes nothing)."""
    checkout = _checkout_of(db, auth, token)
    return render(request, "customer/payment_result.html", {"checkout": checkout})


@router.post("/webhooks/sandbox")
async def sandbox_webhook(request: Request) -> Response:
    """The sandbox provider's deliveries: 200 when verified (new or already seen), 400 otherwise."""
    body = await request.body()
    if len(body) > MAX_EVENT_BYTES:
        raise HttpError(413, "the event is too large", code=ErrorCode.WEBHOOK_REJECTED)
    provider = sandbox(request)
    headers = {k.lower(): v for k, v in request.headers.items()}

    try:
        result = await run_in_threadpool(deliver, request, provider, body, headers, utcnow())
    except WebhookRejected as exc:
        return JSONResponse(
            {
                "type": "about:blank",
                "title": "Webhook refused",
                "status": 400,
                "detail": exc.message,
                "code": str(exc.code),
            },
            status_code=400,
            media_type="application/problem+json",
        )
    return JSONResponse({"received": True, "outcome": result.outcome})


# ----------------------------------------------------------------------------- dispute and promise


async def dispute_form(
    request: Request, auth: Annotated[SignedIn | None, Depends(optional_user)]
) -> tuple[dict[str, str], tuple[bytes, str] | None]:
    """The dispute form's fields and its optional file (multipart, bounded), CSRF checked."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "multipart/form-data":
        return await read_form(request), None
    settings = portal_state(request).settings
    if not same_origin(request, settings.public_url):
        raise CsrfRejected("cross-site form")
    # a body python-multipart cannot read, or too many parts, is a 400 raised by Starlette itself
    form = await request.form(max_files=1, max_fields=20, max_part_size=settings.max_form_field_bytes)
    try:
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        expected = auth.web_session.csrf_token if auth is not None else None
        if not tokens_match(expected, fields.get(CSRF_FIELD)):
            raise CsrfRejected("missing or wrong CSRF token")
        upload = form.get("attachment")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return fields, None
        data = await upload.read(MAX_ATTACHMENT_BYTES + 1)
        if not data:
            return fields, None
        if len(data) > MAX_ATTACHMENT_BYTES:
            raise HttpError(413, f"the file is larger than {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB")
        return fields, (data, upload.filename[:200])
    finally:
        await form.close()


DisputeForm = Annotated[tuple[dict[str, str], tuple[bytes, str] | None], Depends(dispute_form)]


@router.post("/invoices/{invoice_id}/dispute")
def dispute(request: Request, db: Db, auth: Customer, sent: DisputeForm, invoice_id: int) -> Response:
    """Dispute an invoice: reason of the 207 list, comment, optional PDF/PNG/JPEG → status 207."""
    fields, upload = sent
    found = scoping.get_invoice(db, viewer=auth.viewer, invoice_id=invoice_id)
    attachment = None
    if upload is not None:
        data, filename = upload
        kind = next((v for magic, v in ATTACHMENT_KINDS.items() if data.startswith(magic)), None)
        if kind is None:
            raise HttpError(415, "join a PDF, PNG or JPEG file", code=ErrorCode.FORM_INVALID)
        digest = portal_state(request).store.put(data)
        attachment = (digest, filename, kind[0], len(data))
    actor = Actor(kind=ActorKind.USER, id=auth.user.email)
    opened = open_dispute(
        db,
        invoice=found,
        reason_code=fields.get("reason_code", ""),
        comment=fields.get("comment", ""),
        actor=actor,
        attachment=attachment,
    )
    journal_event(
        db,
        kind=EntryKind.STATUS_CHANGED.value,
        subject=found.document.digest,
        actor=f"user:{auth.user.id}:{auth.user.email}",
        data={
            "invoice_id": found.id,
            "status": "207",
            "reason_codes": [opened.reason_code],
            "comment": opened.comment or "",
            "dispute_id": opened.id,
        },
        related=[f"invoice:{found.id}", f"dispute:{opened.id}"],
        objects=[attachment[0]] if attachment else None,
    )
    db.commit()
    return RedirectResponse(f"/invoices/{found.id}?done=dispute", status_code=303)


@router.post("/invoices/{invoice_id}/promise")
def promise(request: Request, db: Db, auth: Customer, form: Form, invoice_id: int) -> Response:
    """Promise to pay an amount of the invoice by a date."""
    found = scoping.get_invoice(db, viewer=auth.viewer, invoice_id=invoice_id)
    try:
        day = dt.date.fromisoformat(form.get("date", "").strip())
    except ValueError as exc:
        raise CustomerActionRejected("give the date as YYYY-MM-DD", where="date") from exc
    amount = parse_amount(form.get("amount"))
    if amount is None:
        raise CustomerActionRejected("give the amount you will pay", where="amount")
    promise_to_pay(
        db, invoice=found, promised_on=day, amount=amount, made_by=auth.user.email, today=utcnow().date()
    )
    db.commit()
    return RedirectResponse(f"/invoices/{found.id}?done=promise", status_code=303)
