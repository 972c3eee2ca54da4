"""Webhook signatures as the big providers make them: HMAC-SHA256 over ``"<timestamp>.<raw body>"``.

The header reads ``t=<unix seconds>,v1=<hex digest>`` (several ``v1`` while a
secret is being rotated). A delivery is accepted when one ``v1`` matches, compared
in constant time, and its timestamp is within :data:`TOLERANCE_SECONDS` of now,
so a captured request cannot be replayed later; a replay inside the window is
stopped by the event id, recorded once (``ledger.online.WebhookEvent``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from schemas.errors import ErrorCode, InputRejected

SIGNATURE_HEADER = "encaisse-signature"
TOLERANCE_SECONDS = 300
_MAX_HEADER = 1024


class WebhookRejected(InputRejected):
    """A webhook delivery that is not provably from the provider (signature, timestamp, body)."""

    code = ErrorCode.WEBHOOK_REJECTED


def signature(secret: bytes, body: bytes, timestamp: int) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``.

    >>> signature(b"k", b"{}", 1700000000)[:16]
    'c6ef4734033cee23'
    """
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: bytes, body: bytes, *, at: dt.datetime) -> str:
    """The header value a provider sends with ``body`` at ``at``.

    >>> signature_header(b"k", b"{}", at=dt.datetime(2023, 11, 14, 22, 13, 20, tzinfo=dt.UTC))[:20]
    't=1700000000,v1=c6ef'
    """
    ts = int(at.timestamp())
    return f"t={ts},v1={signature(secret, body, ts)}"


def parse_header(value: str) -> tuple[int, list[str]]:
    """The timestamp and the ``v1`` signatures of a header; :class:`WebhookRejected` when unreadable.

    >>> parse_header("t=12,v1=ab,v0=zz,v1=cd")
    (12, ['ab', 'cd'])
    """
    if not value or len(value) > _MAX_HEADER:
        raise WebhookRejected("missing or oversized signature header", where=SIGNATURE_HEADER)
    timestamp: int | None = None
    signatures: list[str] = []
    for part in value.split(","):
        key, _, item = part.strip().partition("=")
        if key == "t" and item.isdigit() and len(item) <= 12:
            timestamp = int(item)
        elif key == "v1" and item:
            signatures.append(item.lower())
    if timestamp is None or not signatures:
        raise WebhookRejected("the signature header needs t= and v1=", where=SIGNATURE_HEADER)
    return timestamp, signatures


def verify(
    secret: bytes,
    body: bytes,
    header: str | None,
    *,
    now: dt.datetime,
    tolerance: int = TOLERANCE_SECONDS,
) -> int:
    """Check a delivery; its timestamp when genuine, else :class:`WebhookRejected` saying why.

    >>> at = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.UTC)
    >>> header = signature_header(b"s3cret", b'{"id": "evt_1"}', at=at)
    >>> verify(b"s3cret", b'{"id": "evt_1"}', header, now=at) == int(at.timestamp())
    True
    >>> try:
    ...     verify(b"s3cret", b'{"id": "evt_2"}', header, now=at)
    ... except WebhookRejected as exc:
    ...     print(exc.code, exc.message)
    WEBHOOK_REJECTED no signature matches the body
    """
    timestamp, signatures = parse_header(header or "")
    if abs(int(now.timestamp()) - timestamp) > tolerance:
        raise WebhookRejected(
            f"the signature's timestamp is more than {tolerance} seconds away from now", where="t"
        )
    expected = signature(secret, body, timestamp).encode()
    matched = False
    for candidate in signatures:  # every candidate compared, whatever the first result
        matched |= hmac.compare_digest(expected, candidate.encode("ascii", "replace"))
    if not matched:
        raise WebhookRejected("no signature matches the body", where="v1")
    return timestamp
