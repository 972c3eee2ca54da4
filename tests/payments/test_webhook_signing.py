"""Webhook signatures (HMAC-SHA256 over "timestamp.body"): the pure checks behind RELIABILITY 16."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from decimal import Decimal

import pytest

from payments.allocate import Due, oldest_first
from payments.providers.sandbox import SandboxProvider
from payments.providers.signing import SIGNATURE_HEADER, WebhookRejected, signature_header, verify

NOW = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
SECRET = b"whsec_0123456789abcdef"
BODY = b'{"id":"evt_1","type":"checkout.succeeded"}'


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    header = signature_header(SECRET, BODY, at=NOW)
    ts = int(NOW.timestamp())
    expected = hmac.new(SECRET, f"{ts}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={ts},v1={expected}"
    assert verify(SECRET, BODY, header, now=NOW) == ts


@pytest.mark.parametrize("age, accepted", [(0, True), (300, True), (-300, True), (301, False), (-301, False)])
def test_five_minutes_of_tolerance(age, accepted):
    header = signature_header(SECRET, BODY, at=NOW - dt.timedelta(seconds=age))
    if accepted:
        verify(SECRET, BODY, header, now=NOW)
    else:
        with pytest.raises(WebhookRejected, match="300 seconds"):
            verify(SECRET, BODY, header, now=NOW)


@pytest.mark.parametrize(
    "header",
    [None, "", "v1=abc", "t=1", "t=x,v1=ab", "t=1,v1=" + "a" * 2000, f"t={int(NOW.timestamp())},v1=zz"],
)
def test_malformed_or_wrong_headers_are_refused(header):
    with pytest.raises(WebhookRejected):
        verify(SECRET, BODY, header, now=NOW)


def test_a_rotated_secret_passes_when_one_signature_matches():
    ours = signature_header(SECRET, BODY, at=NOW)
    old = signature_header(b"whsec_previous_secret__", BODY, at=NOW).split(",")[1]
    verify(SECRET, BODY, f"{ours.split(',')[0]},{old},{ours.split(',')[1]}", now=NOW)
    with pytest.raises(WebhookRejected):
        verify(SECRET, BODY, f"{ours.split(',')[0]},{old}", now=NOW)


def test_the_sandbox_parses_only_its_own_signed_events():
    provider = SandboxProvider(SECRET)
    body = provider.event_body(
        provider_ref="sbx_1", amount=Decimal("12.30"), currency="EUR", succeeded=True, at=NOW
    )
    event = provider.parse_webhook(body=body, headers=provider.sign(body, at=NOW), now=NOW)
    assert (event.provider_ref, event.amount, event.event_type) == (
        "sbx_1",
        Decimal("12.30"),
        "checkout.succeeded",
    )
    other = SandboxProvider(b"another_secret_of_16+")
    with pytest.raises(WebhookRejected):
        other.parse_webhook(body=body, headers=provider.sign(body, at=NOW), now=NOW)
    odd = json.dumps({"id": "e", "type": "charge.refunded", "created": 1, "data": {}}).encode()
    with pytest.raises(WebhookRejected):
        provider.parse_webhook(body=odd, headers=provider.sign(odd, at=NOW), now=NOW)
    with pytest.raises(WebhookRejected):
        provider.parse_webhook(body=b"[]", headers=provider.sign(b"[]", at=NOW), now=NOW)
    assert SIGNATURE_HEADER in provider.sign(body, at=NOW)


def test_oldest_first_never_allocates_more_than_due_or_paid():
    d = dt.date
    dues = [
        Due(3, Decimal("10.00"), None, d(2026, 1, 1)),
        Due(1, Decimal("30.00"), d(2026, 5, 1), None),
        Due(2, Decimal("20.00"), d(2026, 4, 1), None),
    ]
    for paid in ("0.01", "19.99", "20.00", "50.00", "59.99", "60.00", "75.00"):
        split, rest = oldest_first(Decimal(paid), dues)
        assert sum((a for _, a in split), Decimal(0)) + rest == Decimal(paid)
        assert [i for i, _ in split] == [2, 1, 3][: len(split)]
        assert all(a <= next(x.amount_still_due for x in dues if x.invoice_id == i) for i, a in split)
