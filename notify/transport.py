"""Sending notices: over SMTP, or into an outbox directory of ``.eml`` files.

Both transports return the message's Message-ID, which the job layer records
with the event. Failures are told apart so the job layer can decide: a
:class:`TransientSendError` (server unreachable, ``4xx`` answers) is retried with
backoff; a :class:`PermanentSendError` (``5xx`` answers, bad configuration) is not.
"""

from __future__ import annotations

import contextlib
import os
import re
import smtplib
import ssl
import tempfile
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from schemas.errors import EncaisseError, ErrorCode
from schemas.settings import Settings


class SendError(EncaisseError):
    """A notice could not be sent."""

    code = ErrorCode.SMTP_PERMANENT


class TransientSendError(SendError):
    """Sending failed for a reason that may pass (server down, ``4xx``): retry later."""

    code = ErrorCode.SMTP_TRANSIENT


class PermanentSendError(SendError):
    """Sending failed for good (``5xx``, refused address, bad configuration): do not retry."""

    code = ErrorCode.SMTP_PERMANENT


class Transport(Protocol):
    """Something that delivers a message and returns its Message-ID."""

    def send(self, message: EmailMessage) -> str:
        """Deliver ``message``; return its Message-ID. Raises :class:`SendError`."""
        ...


def _message_id(message: EmailMessage) -> str:
    value = message.get("Message-ID")
    if not value or not str(value).strip():
        raise PermanentSendError(
            "the message has no Message-ID: render notices with notify.render.render_notice",
            where="Message-ID",
        )
    return str(value).strip()


# --------------------------------------------------------------------------- SMTP


class SmtpTransport:
    """Send over SMTP: ``smtp://[user:password@]host[:port][?starttls=1]`` or ``smtps://…``.

    ``smtp`` defaults to port 25 (587 with STARTTLS), ``smtps`` (implicit TLS) to 465.
    The user and password are percent-decoded. The password never appears in errors.

    >>> t = SmtpTransport("smtp://alice:s%40cret@mail.example.fr?starttls=1")
    >>> (t.host, t.port, t.username, t.starttls, t.implicit_tls)
    ('mail.example.fr', 587, 'alice', True, False)
    >>> t.safe_url
    'smtp://alice:***@mail.example.fr:587?starttls=1'
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise PermanentSendError(
                f"unsupported SMTP URL scheme {parts.scheme!r}: use smtp:// or smtps://",
                where="ENCAISSE_SMTP_URL",
            )
        if not parts.hostname:
            raise PermanentSendError("the SMTP URL names no host", where="ENCAISSE_SMTP_URL")
        query = parse_qs(parts.query)
        self.implicit_tls = parts.scheme == "smtps"
        self.starttls = query.get("starttls", ["0"])[-1].lower() in ("1", "true", "yes")
        if self.implicit_tls and self.starttls:
            raise PermanentSendError(
                "smtps:// already uses TLS: drop ?starttls=1 or use smtp://", where="ENCAISSE_SMTP_URL"
            )
        self.host = parts.hostname
        try:
            port = parts.port
        except ValueError:
            raise PermanentSendError("the SMTP URL has an invalid port", where="ENCAISSE_SMTP_URL") from None
        self.port = port or (465 if self.implicit_tls else 587 if self.starttls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.local_hostname = local_hostname

    @property
    def safe_url(self) -> str:
        """The URL with the password masked, for logs and errors."""
        scheme = "smtps" if self.implicit_tls else "smtp"
        user = f"{self.username}:***@" if self.username else ""
        query = "?starttls=1" if self.starttls else ""
        return f"{scheme}://{user}{self.host}:{self.port}{query}"

    def __repr__(self) -> str:
        return f"SmtpTransport({self.safe_url!r})"

    def _connect(self) -> smtplib.SMTP:
        context = self.ssl_context or ssl.create_default_context()
        client: smtplib.SMTP
        if self.implicit_tls:
            client = smtplib.SMTP_SSL(
                self.host,
                self.port,
                timeout=self.timeout,
                context=context,
                local_hostname=self.local_hostname,
            )
        else:
            client = smtplib.SMTP(
                self.host, self.port, timeout=self.timeout, local_hostname=self.local_hostname
            )
        try:
            client.ehlo()
            if self.starttls:
                client.starttls(context=context)
                client.ehlo()
            if self.username is not None:
                self._login(client)
        except BaseException:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                client.close()
            raise
        return client

    def _login(self, client: smtplib.SMTP) -> None:
        # One mechanism, PLAIN when offered (over TLS in any sane set-up): smtplib's login()
        # would try each advertised mechanism in turn after a refusal and hide the first answer.
        offered = client.esmtp_features.get("auth", "").upper().split()
        if "PLAIN" in offered:
            client.user, client.password = self.username or "", self._password or ""
            client.auth("PLAIN", client.auth_plain)
        else:
            client.login(self.username or "", self._password or "")

    def send(self, message: EmailMessage) -> str:
        """Deliver ``message`` to its recipients; return its Message-ID."""
        mid = _message_id(message)
        where = f"{self.safe_url} ({mid})"
        try:
            client = self._connect()
            try:
                refused = client.send_message(message)
            finally:
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    client.quit()
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            detail = "; ".join(f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in exc.recipients.items())
            cls = TransientSendError if codes and all(400 <= c < 500 for c in codes) else PermanentSendError
            raise cls(f"the SMTP server refused the recipients: {detail}", where=where) from exc
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, _text(exc.smtp_error), where) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise PermanentSendError(
                f"the SMTP server does not support a feature the URL asks for: {exc}", where=where
            ) from exc
        except ssl.SSLCertVerificationError as exc:
            raise PermanentSendError(
                f"the SMTP server's TLS certificate is not trusted: {exc.verify_message}", where=where
            ) from exc
        except OSError as exc:  # refused, reset, timed out, disconnected, TLS handshake, DNS
            raise TransientSendError(
                f"could not reach the SMTP server: {exc.__class__.__name__}: {exc}", where=where
            ) from exc
        if refused:
            detail = "; ".join(f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in refused.items())
            raise PermanentSendError(
                f"the SMTP server accepted the message but refused some recipients: {detail}", where=where
            )
        return mid


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw


def _by_code(code: int, text: str, where: str) -> SendError:
    message = f"the SMTP server answered {code} {text}"
    if 400 <= code < 500:
        return TransientSendError(message, where=where, smtp_code=code)
    return PermanentSendError(message, where=where, smtp_code=code)


# --------------------------------------------------------------------------- outbox

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+=-]")


def outbox_name(message_id: str) -> str:
    """The file name of a message in the outbox: its Message-ID made safe for a file system.

    >>> outbox_name("<notice-213-ab12@example.fr>")
    'notice-213-ab12@example.fr.eml'
    >>> outbox_name("<../../etc/passwd>")
    '.._.._etc_passwd.eml'
    """
    core = _UNSAFE.sub("_", message_id.strip().strip("<>"))[:200]
    if not core.strip("."):
        raise PermanentSendError(
            f"the Message-ID {message_id!r} gives no usable file name", where="Message-ID"
        )
    return f"{core}.eml"


class OutboxTransport:
    """Write each message as ``<message-id>.eml`` into a directory, once.

    The file appears whole or not at all (temporary file, fsync, then a hard link that
    refuses to replace an existing file). Sending a Message-ID already in the outbox
    writes nothing and returns the id: a retried job cannot produce a second notice.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"OutboxTransport({str(self.directory)!r})"

    def path_for(self, message_id: str) -> Path:
        """Where the message with this Message-ID is (or would be) written."""
        return self.directory / outbox_name(message_id)

    def send(self, message: EmailMessage) -> str:
        """Write ``message`` unless a message with its Message-ID is already there; return the id."""
        mid = _message_id(message)
        target = self.path_for(mid)
        if target.exists():
            return mid
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            data = message.as_bytes(policy=SMTP_POLICY)
            fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".eml", dir=self.directory)
            tmp = Path(tmp_name)
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                try:
                    os.link(tmp, target)  # atomic, and never replaces an existing file
                except FileExistsError:
                    return mid  # written meanwhile by a concurrent sender: same message
                _fsync_dir(self.directory)
            finally:
                tmp.unlink(missing_ok=True)
        except OSError as exc:
            raise TransientSendError(
                f"could not write the message to the outbox: {exc}", where=str(target)
            ) from exc
        return mid


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def transport_from_settings(settings: Settings) -> Transport:
    """SMTP when ``ENCAISSE_SMTP_URL`` is set, else the outbox under ``ENCAISSE_DATA_DIR``."""
    if settings.smtp_url is not None and settings.smtp_url.get_secret_value().strip():
        return SmtpTransport(settings.smtp_url.get_secret_value().strip(), timeout=settings.smtp_timeout)
    return OutboxTransport(settings.data_dir / "outbox")
