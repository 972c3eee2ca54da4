"""The portal served for real: uvicorn on a free port in a thread, over TLS, on SQLite and PostgreSQL.

``portal`` (module scope, one per backend) migrates a database, seeds the
world of :mod:`tests.portal.world`, builds the app with ``create_app`` and
serves it with uvicorn on 127.0.0.1 with a self-signed certificate made for
the run (the clients trust exactly that certificate, nothing is switched off).
Mail goes to the session's SMTP server (aiosmtpd).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from archive.store import DirectoryStore
from ledger import db
from portal.app import create_app
from schemas.settings import Settings
from tests.portal.world import PASSWORD, World, build_world
from tests.services import (  # noqa: F401  (fixtures)
    PostgresDatabases,
    free_port,
    pg_databases,
    redis,
    redis_server,
    smtp,
    smtp_server,
    wait_until,
)


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1 (EC P-256, one day)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class ThreadServer:
    """uvicorn serving an app on a free port, in a thread of the test process."""

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.port = port or free_port()
        self.host = host
        self.tls = tls
        kwargs: dict[str, Any] = {}
        if tls:
            kwargs = {"ssl_certfile": str(tls[0]), "ssl_keyfile": str(tls[1])}
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=host,
                port=self.port,
                log_level="warning",
                lifespan="off",
                timeout_graceful_shutdown=3,
                **kwargs,
            )
        )
        self.thread = threading.Thread(target=self.server.run, name=f"uvicorn-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    def start(self) -> ThreadServer:
        self.thread.start()
        wait_until(lambda: self.server.started, timeout=20, what=f"uvicorn on port {self.port}")
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@dataclass
class Portal:
    """A served portal and what is in it."""

    backend: str
    url: str
    app: Any
    world: World
    settings: Settings
    cert: Path
    sessions: Any
    store: DirectoryStore
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, **kwargs: Any) -> httpx.Client:
        """An HTTP client trusting the portal's certificate (and only it); closed at teardown."""
        context = ssl.create_default_context(cafile=str(self.cert))
        client = httpx.Client(base_url=self.url, verify=context, timeout=30, **kwargs)
        self.clients.append(client)
        return client

    def close_clients(self) -> None:
        for client in self.clients:
            client.close()
        self.clients.clear()

    def signed_in(self, user: str) -> httpx.Client:
        """A client signed in as the world's ``user``."""
        client = self.client()
        login(client, self.world.email(user), PASSWORD)
        return client


CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF_INPUT.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def login(client: httpx.Client, email: str, password: str, *, expect: int = 303) -> httpx.Response:
    page = client.get("/login")
    assert page.status_code == 200, page.text
    response = client.post(
        "/login", data={"email": email, "password": password, "csrf_token": csrf_of(page.text), "next": "/"}
    )
    assert response.status_code == expect, (response.status_code, response.text[:500])
    return response


@pytest.fixture(scope="session")
def facturx_pdf() -> bytes:
    """A real Factur-X PDF (EN 16931 profile) made by the project's generator."""
    import random

    from ingest.facturx_pdf import to_facturx_pdf
    from ingest.sample_data import make_invoice

    return to_facturx_pdf(make_invoice(random.Random(5), 1))


@pytest.fixture(scope="session")
def portal_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_certificate(tmp_path_factory.mktemp("tls"))


def _database(backend: str, request: pytest.FixtureRequest, folder: Path) -> str:
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'encaisse.db'}"
    else:
        databases: PostgresDatabases = request.getfixturevalue("pg_databases")
        url = db.normalize_url(databases.create("portal"))
    db.upgrade(url)
    return url


def serve(
    request: pytest.FixtureRequest,
    backend: str,
    folder: Path,
    *,
    tls: tuple[Path, Path] | None,
    facturx: bytes | None,
    host: str = "127.0.0.1",
    extra: dict[str, Any] | None = None,
) -> Iterator[Portal]:
    url = _database(backend, request, folder)
    smtp_sink = request.getfixturevalue("smtp_server")
    port = free_port()
    scheme = "https" if tls else "http"
    settings = Settings(
        data_dir=folder,
        database_url=url,
        smtp_url=smtp_sink.url,
        public_url=f"{scheme}://{host if host != '127.0.0.1' or tls else 'localhost'}:{port}",
        mail_from="Encaisse <portal@encaisse.example>",
        **(extra or {}),
    )
    engine = db.make_engine(url)
    store = DirectoryStore(folder / "archive")
    sessions = db.make_session_factory(engine)
    world = build_world(sessions, store, facturx_pdf=facturx)
    app = create_app(settings, engine=engine, store=store)
    server = ThreadServer(app, host=host, port=port, tls=tls).start()
    served = Portal(backend, server.url, app, world, settings, tls[0] if tls else Path(), sessions, store)
    try:
        yield served
    finally:
        served.close_clients()
        server.stop()
        engine.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def portal(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    portal_cert: tuple[Path, Path],
    facturx_pdf: bytes,
) -> Iterator[Portal]:
    """The portal over TLS on 127.0.0.1, on one backend, seeded with the world."""
    folder = tmp_path_factory.mktemp(f"portal-{request.param}")
    yield from serve(request, request.param, folder, tls=portal_cert, facturx=facturx_pdf)
