"""What the portal needs from an online payment provider, whichever it is.

A provider starts a checkout (where to send the customer's browser) and turns a
webhook delivery into a :class:`ProviderEvent` once it has proved the delivery
genuine. Only a verified event confirms a payment: the browser coming back from
the checkout proves nothing (anyone can type the return address).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

#: Event types the ledger acts on: a checkout paid, or a checkout that failed.
EVENT_SUCCEEDED = "checkout.succeeded"
EVENT_FAILED = "checkout.failed"
EVENT_TYPES = frozenset({EVENT_SUCCEEDED, EVENT_FAILED})


@dataclass(frozen=True, slots=True)
class StartedCheckout:
    """A checkout opened at the provider: its id there, and where the customer pays."""

    provider_ref: str
    redirect_url: str


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """A verified provider event about one checkout."""

    event_id: str
    event_type: str
    provider_ref: str
    amount: Decimal
    currency: str
    created: dt.datetime
    failure: str | None = None


class PaymentProvider(Protocol):
    """An online payment provider (the built-in sandbox, or a live adapter)."""

    name: str

    def start_checkout(
        self, *, token: str, amount: Decimal, currency: str, description: str
    ) -> StartedCheckout:
        """Open a checkout for ``amount``; ``token`` is our checkout's public id."""
        ...

    def parse_webhook(self, *, body: bytes, headers: Mapping[str, str], now: dt.datetime) -> ProviderEvent:
        """The event of a delivery, after checking its signature; raise ``WebhookRejected`` otherwise."""
        ...
