"""The built-in sandbox provider: a hosted checkout page served by the portal, signed webhooks.

It behaves like a card provider without moving money: the customer's browser is
sent to ``/pay/sandbox/<token>`` (a page of the portal standing for the
provider's), chooses to pay or to fail, and the sandbox then delivers a webhook
signed exactly as a live provider signs one (:mod:`payments.providers.signing`).
The ledger acts on that webhook only, through the same code path as a live
provider's delivery.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from payments.providers.base import EVENT_FAILED, EVENT_SUCCEEDED, EVENT_TYPES, ProviderEvent, StartedCheckout
from payments.providers.signing import SIGNATURE_HEADER, WebhookRejected, signature_header, verify

CHECKOUT_PATH = "/pay/sandbox/"
WEBHOOK_PATH = "/webhooks/sandbox"
MAX_EVENT_BYTES = 16 * 1024


class SandboxProvider:
    """The sandbox: checkouts on the portal's own page, webhooks signed with ``secret``."""

    name = "sandbox"

    def __init__(self, secret: bytes) -> None:
        """A sandbox signing (and checking) with ``secret``."""
        if len(secret) < 16:
            raise ValueError("the webhook secret must have at least 16 bytes")
        self._secret = secret

    def start_checkout(
        self, *, token: str, amount: Decimal, currency: str, description: str
    ) -> StartedCheckout:
        """A sandbox checkout: its id, and the portal's page standing for the provider's."""
        ref = f"sbx_{secrets.token_hex(12)}"
        return StartedCheckout(provider_ref=ref, redirect_url=CHECKOUT_PATH + token)

    def event_body(
        self,
        *,
        provider_ref: str,
        amount: Decimal,
        currency: str,
        succeeded: bool,
        at: dt.datetime,
        event_id: str | None = None,
    ) -> bytes:
        """The JSON body of the event the sandbox sends when the customer paid (or failed)."""
        doc = {
            "id": event_id or f"evt_{secrets.token_hex(12)}",
            "type": EVENT_SUCCEEDED if succeeded else EVENT_FAILED,
            "created": int(at.timestamp()),
            "data": {
                "checkout": provider_ref,
                "amount": str(amount),
                "currency": currency,
                "failure": None if succeeded else "card_declined",
            },
        }
        return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()

    def sign(self, body: bytes, *, at: dt.datetime) -> dict[str, str]:
        """The headers a delivery of ``body`` at ``at`` carries."""
        header = signature_header(self._secret, body, at=at)
        return {SIGNATURE_HEADER: header, "content-type": "application/json"}

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str], now: dt.datetime) -> ProviderEvent:
        """The verified event of a delivery (signature first, then the body's shape)."""
        if len(body) > MAX_EVENT_BYTES:
            raise WebhookRejected("the event is too large")
        verify(self._secret, body, headers.get(SIGNATURE_HEADER), now=now)
        try:
            doc = json.loads(body)
            data = doc["data"]
            event = ProviderEvent(
                event_id=str(doc["id"])[:200],
                event_type=str(doc["type"]),
                provider_ref=str(data["checkout"])[:200],
                amount=Decimal(str(data["amount"])),
                currency=str(data["currency"])[:3],
                created=dt.datetime.fromtimestamp(int(doc["created"]), dt.UTC),
                failure=None if data.get("failure") is None else str(data["failure"])[:200],
            )
        except (ValueError, KeyError, TypeError, InvalidOperation, OverflowError) as exc:
            raise WebhookRejected("the event is not one the sandbox sends") from exc
        if event.event_type not in EVENT_TYPES or not event.amount.is_finite():
            raise WebhookRejected(f"unknown event type {event.event_type!r}")
        return event
