"""RFC 3161 time-stamps over seals, through rfc3161-client.

The time-stamping authority signs the SHA-256 of a seal's canonical body; the
stored value is the whole ``TimeStampResp`` (DER), which ``openssl ts -verify
-in seal.tsr -data seal.json -CAfile tsa-ca.pem`` checks without this software.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import urllib.error
import urllib.request
from typing import Protocol

import rfc3161_client
from cryptography import x509

from schemas.errors import EncaisseError, ErrorCode
from schemas.settings import Settings, get_settings


class TimestampError(EncaisseError):
    """The TSA could not be reached, refused, or its token does not verify."""

    code = ErrorCode.ARCHIVE_TIMESTAMP


class Timestamper(Protocol):
    """Something that returns an RFC 3161 ``TimeStampResp`` (DER) over ``data``'s SHA-256."""

    def stamp(self, data: bytes) -> bytes:
        """Time-stamp ``data``."""
        ...


class HttpTimestamper:
    """A TSA over HTTP (``application/timestamp-query``); asks for a nonce and the TSA certificate."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"HttpTimestamper({self.url!r})"

    def stamp(self, data: bytes) -> bytes:
        """Ask the TSA for a token over SHA-256(``data``); check status, nonce and imprint."""
        request = (
            rfc3161_client.TimestampRequestBuilder()
            .data(data)
            .hash_algorithm(rfc3161_client.HashAlgorithm.SHA256)
            .nonce(nonce=True)
            .cert_request(cert_request=True)
            .build()
        )
        http = urllib.request.Request(
            self.url,
            data=request.as_bytes(),
            headers={"Content-Type": "application/timestamp-query"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(http, timeout=self.timeout) as reply:
                body: bytes = reply.read()
        except (urllib.error.URLError, OSError) as exc:
            raise TimestampError(f"time-stamping authority unreachable: {exc}", where=self.url) from exc
        try:
            response = rfc3161_client.decode_timestamp_response(body)
        except ValueError as exc:
            raise TimestampError(f"the TSA answered something that is not a TimeStampResp: {exc}") from exc
        if response.status not in (
            rfc3161_client.PKIStatus.GRANTED,
            rfc3161_client.PKIStatus.GRANTED_WITH_MODS,
        ):
            raise TimestampError(f"the TSA refused the request (status {response.status})", where=self.url)
        if response.tst_info.nonce != request.nonce:
            raise TimestampError("the TSA's answer carries another request's nonce", where=self.url)
        if response.tst_info.message_imprint.message != hashlib.sha256(data).digest():
            raise TimestampError("the TSA time-stamped another digest", where=self.url)
        return body


def timestamper_from_settings(settings: Settings | None = None) -> HttpTimestamper | None:
    """The configured TSA (``ENCAISSE_TSA_URL``), or None."""
    settings = settings or get_settings()
    return HttpTimestamper(settings.tsa_url, timeout=settings.tsa_timeout) if settings.tsa_url else None


def load_certificates(pem: bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle."""
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise TimestampError(f"not a PEM certificate bundle: {exc}") from exc


def verify_timestamp(response_der: bytes, data: bytes, roots: list[x509.Certificate]) -> dt.datetime:
    """The time the token vouches for ``data``; raises :class:`TimestampError` when it does not.

    Checks the status, that the imprint is SHA-256(``data``), and the CMS signature
    by the TSA certificate (critical ``timeStamping`` usage) chaining to ``roots``.
    """
    if not roots:
        raise TimestampError("no TSA root certificate to verify the time-stamp against")
    try:
        response = rfc3161_client.decode_timestamp_response(response_der)
    except ValueError as exc:
        raise TimestampError(f"not an RFC 3161 TimeStampResp: {exc}") from exc
    builder = rfc3161_client.VerifierBuilder()
    for root in roots:
        builder = builder.add_root_certificate(root)
    try:
        builder.build().verify_message(response, data)
    except rfc3161_client.VerificationError as exc:
        raise TimestampError(f"time-stamp does not verify: {exc}") from exc
    gen_time = response.tst_info.gen_time
    return gen_time if gen_time.tzinfo else gen_time.replace(tzinfo=dt.UTC)
