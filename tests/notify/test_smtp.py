"""SmtpTransport against a real SMTP server (aiosmtpd) on a free port of 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SmtpServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from pydantic import SecretStr

from notify.models import NoticeKind
from notify.render import render_notice
from notify.transport import (
    OutboxTransport,
    PermanentSendError,
    SmtpTransport,
    TransientSendError,
    transport_from_settings,
)
from schemas.errors import EncaisseError, ErrorCode
from schemas.settings import Settings
from tests.notify.factories import notice

REPORT = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"  # binary content must survive base64


class Recorder:
    """An aiosmtpd handler that keeps what it accepts, or answers with the replies it is given."""

    def __init__(self, *, rcpt_reply: str | None = None, data_reply: str | None = None) -> None:
        self.rcpt_reply = rcpt_reply
        self.data_reply = data_reply
        self.envelopes: list[Envelope] = []

    async def handle_RCPT(
        self, server: SmtpServer, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SmtpServer, session: Session, envelope: Envelope) -> str:
        if self.data_reply:
            return self.data_reply
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def smtp_server(handler: Recorder, **kwargs: Any) -> Iterator[int]:
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10, **kwargs)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@pytest.fixture
def message() -> EmailMessage:
    return render_notice(notice(NoticeKind.INVALID, "fr", report_pdf=REPORT))


def _check_delivered(handler: Recorder, message: EmailMessage, returned: str) -> None:
    assert returned == message["Message-ID"]
    (envelope,) = handler.envelopes
    assert envelope.mail_from == "factures@acme.example"
    assert envelope.rcpt_tos == ["compta@fournisseur.example"]
    assert isinstance(envelope.content, bytes)
    received = message_from_bytes(envelope.content, policy=policy.default)
    assert isinstance(received, EmailMessage)
    assert received["Message-ID"] == message["Message-ID"]
    assert received["Subject"] == "Votre facture F-2026-0117 : Rejetée (213)"
    text = received.get_body(preferencelist=("plain",))
    page = received.get_body(preferencelist=("html",))
    assert text is not None and page is not None
    assert "BR-CO-10" in text.get_content()  # type: ignore[attr-defined]
    assert "Somme des montants nets des lignes (BT-106)" in page.get_content()  # type: ignore[attr-defined]
    (attachment,) = list(received.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_filename() == "rapport-de-validation-F-2026-0117.pdf"
    assert attachment.get_content() == REPORT


def test_a_notice_arrives_with_both_parts_and_the_attachment_intact(message: EmailMessage) -> None:
    handler = Recorder()
    with smtp_server(handler) as port:
        returned = SmtpTransport(f"smtp://127.0.0.1:{port}", timeout=5).send(message)
    _check_delivered(handler, message, returned)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_login_with_the_url_credentials(message: EmailMessage) -> None:
    seen: list[tuple[bytes, bytes]] = []

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        assert isinstance(data, LoginPassword)
        seen.append((data.login, data.password))
        return AuthResult(success=data.login == b"alice" and data.password == b"s@cr et", handled=False)

    handler = Recorder()
    with smtp_server(
        handler, authenticator=authenticator, auth_required=True, auth_require_tls=False
    ) as port:
        returned = SmtpTransport(f"smtp://alice:s%40cr%20et@127.0.0.1:{port}", timeout=5).send(message)
        _check_delivered(handler, message, returned)
        with pytest.raises(PermanentSendError) as wrong:
            SmtpTransport(f"smtp://alice:nope@127.0.0.1:{port}", timeout=5).send(message)
    assert wrong.value.fields["smtp_code"] == 535
    assert "nope" not in str(wrong.value)  # the password never shows
    assert (b"alice", b"s@cr et") in seen


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (cryptography comes with pdfminer.six)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_file, key_file


def _contexts(certificate: tuple[Path, Path]) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(*certificate)
    client = ssl.create_default_context(cafile=str(certificate[0]))
    return server, client


def test_starttls(message: EmailMessage, certificate: tuple[Path, Path]) -> None:
    server_ctx, client_ctx = _contexts(certificate)
    handler = Recorder()
    with smtp_server(handler, tls_context=server_ctx, require_starttls=True) as port:
        transport = SmtpTransport(f"smtp://127.0.0.1:{port}?starttls=1", timeout=5, ssl_context=client_ctx)
        returned = transport.send(message)
        _check_delivered(handler, message, returned)
        # without STARTTLS the server refuses (530): a configuration problem, not retried
        with pytest.raises(PermanentSendError):
            SmtpTransport(f"smtp://127.0.0.1:{port}", timeout=5).send(message)


def test_implicit_tls_and_an_untrusted_certificate(
    message: EmailMessage, certificate: tuple[Path, Path]
) -> None:
    server_ctx, client_ctx = _contexts(certificate)
    handler = Recorder()
    with smtp_server(handler, ssl_context=server_ctx) as port:
        returned = SmtpTransport(f"smtps://127.0.0.1:{port}", timeout=5, ssl_context=client_ctx).send(message)
        _check_delivered(handler, message, returned)
        with pytest.raises(PermanentSendError, match="not trusted"):
            SmtpTransport(f"smtps://127.0.0.1:{port}", timeout=5).send(message)  # system CAs only


@pytest.mark.parametrize(
    ("handler", "expected", "code"),
    [
        (Recorder(data_reply="451 4.3.0 Try again later"), TransientSendError, 451),
        (Recorder(rcpt_reply="452 4.2.2 Mailbox full"), TransientSendError, None),
        (Recorder(rcpt_reply="450 4.7.1 Greylisted"), TransientSendError, None),
        (Recorder(data_reply="550 5.7.1 Message rejected as spam"), PermanentSendError, 550),
        (Recorder(rcpt_reply="550 5.1.1 No such user"), PermanentSendError, None),
        (Recorder(data_reply="554 5.6.0 Bad content"), PermanentSendError, 554),
    ],
)
def test_smtp_answers_are_told_apart(
    message: EmailMessage, handler: Recorder, expected: type[EncaisseError], code: int | None
) -> None:
    with smtp_server(handler) as port, pytest.raises(expected) as caught:
        SmtpTransport(f"smtp://127.0.0.1:{port}", timeout=5).send(message)
    assert type(caught.value) is expected
    assert caught.value.code == (
        ErrorCode.SMTP_TRANSIENT if expected is TransientSendError else ErrorCode.SMTP_PERMANENT
    )
    if code is not None:
        assert caught.value.fields["smtp_code"] == code
    assert handler.envelopes == []


def test_connection_refused_is_transient(message: EmailMessage) -> None:
    port = free_port()  # nothing listens there any more
    with pytest.raises(TransientSendError, match="could not reach"):
        SmtpTransport(f"smtp://127.0.0.1:{port}", timeout=5).send(message)


@contextmanager
def raw_listener(behaviour: str) -> Iterator[int]:
    """A TCP server that closes every connection at once, or says nothing at all."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.settimeout(5)
    held: list[socket.socket] = []

    def serve() -> None:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        if behaviour == "close":
            conn.close()
        else:
            held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(sock.getsockname()[1])
    finally:
        sock.close()
        thread.join(timeout=5)
        for conn in held:
            conn.close()


@pytest.mark.parametrize("behaviour", ["close", "silent"])
def test_a_server_that_hangs_up_or_never_answers_is_transient(message: EmailMessage, behaviour: str) -> None:
    with raw_listener(behaviour) as port, pytest.raises(TransientSendError):
        SmtpTransport(f"smtp://127.0.0.1:{port}", timeout=0.5).send(message)


@pytest.mark.parametrize(
    "url",
    [
        "http://mail.example.fr",
        "smtp://",
        "smtps://mail.example.fr?starttls=1",
        "smtp://mail.example.fr:99999",
    ],
)
def test_bad_urls_are_permanent_errors(url: str) -> None:
    with pytest.raises(PermanentSendError):
        SmtpTransport(url)


def test_a_message_without_message_id_is_refused() -> None:
    bare = EmailMessage()
    bare["From"] = "a@b.example"
    bare["To"] = "c@d.example"
    bare.set_content("x")
    with pytest.raises(PermanentSendError, match="Message-ID"):
        SmtpTransport("smtp://127.0.0.1:1").send(bare)


def test_transport_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ENCAISSE_SMTP_URL", raising=False)
    outbox = transport_from_settings(Settings(data_dir=tmp_path))
    assert isinstance(outbox, OutboxTransport)
    assert outbox.directory == tmp_path / "outbox"
    smtp = transport_from_settings(
        Settings(data_dir=tmp_path, smtp_url=SecretStr("smtp://u:pw@mail.example.fr:2525"), smtp_timeout=3)
    )
    assert isinstance(smtp, SmtpTransport)
    assert (smtp.host, smtp.port, smtp.username, smtp.timeout) == ("mail.example.fr", 2525, "u", 3)
    assert "pw" not in repr(smtp)
