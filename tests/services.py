"""Real services for the pipeline tests: redis-server, PostgreSQL, an SMTP server, worker processes.

Everything here starts a real component on 127.0.0.1 and stops it again:

* :class:`RedisServer`: a ``redis-server`` on a free port, no persistence, in a
  temporary folder; it can be flushed, stopped and restarted on the same port
  (RELIABILITY 19).
* :class:`PostgresDatabases`: throwaway databases on the local PostgreSQL server
  (``ENCAISSE_TEST_POSTGRES_URL`` or the ``postgres`` user on 127.0.0.1:5432,
  then on the Unix socket), dropped at the end, their backends terminated first.
* :class:`SmtpSink`: an aiosmtpd server that keeps every message it accepts.
* :class:`Workers`: ``encaisse worker`` subprocesses with the environment set,
  which can be killed (SIGKILL) and restarted one by one.

When a service cannot be had (no ``redis-server`` binary, PostgreSQL not
answering) :func:`unavailable` fails under ``CI=true`` and skips elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, NoReturn

import psycopg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SmtpServer
from aiosmtpd.smtp import Envelope, Session
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent


def unavailable(reason: str) -> NoReturn:
    """A missing real service: a failure under ``CI=true``, a skip elsewhere."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: Callable[[], bool], *, timeout: float, interval: float = 0.1, what: str = "condition"
) -> None:
    """Poll ``predicate`` until it is true; raise ``AssertionError`` naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


# -- redis ---------------------------------------------------------------------------------------


class RedisServer:
    """A ``redis-server`` of its own: free port, no RDB or AOF files, killed at :meth:`stop`."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL for ``ENCAISSE_REDIS_URL``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start the server (on the same port as before, after a :meth:`stop`) and wait for PONG."""
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("redis-server is not installed (apt-get install redis-server)")
        self.directory.mkdir(parents=True, exist_ok=True)
        log = (self.directory / "redis.log").open("ab")
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                "--protected-mode",
                "yes",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.directory,
        )
        log.close()
        wait_until(self.ping, timeout=timeout, interval=0.05, what=f"redis-server on port {self.port}")
        return self

    def ping(self) -> bool:
        """Whether the server answers PING (and its process is still alive)."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        try:
            return self.command("PING") == "PONG"
        except OSError:
            return False

    def command(self, *args: str) -> str:
        """Send one command with the inline protocol and return the first reply line (without +)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            sock.sendall((" ".join(args) + "\r\n").encode())
            reply = b""
            while not reply.endswith(b"\r\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    break
                reply += chunk
        return reply.decode().strip().lstrip("+:")

    def flushall(self) -> None:
        """Lose every key (queues, registries, job hashes): RELIABILITY 19."""
        assert self.command("FLUSHALL") == "OK"

    def stop(self, sig: int = signal.SIGKILL) -> None:
        """Stop the server (SIGKILL by default: nothing is saved anyway)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None

    def restart(self) -> None:
        """Kill the server and start an empty one on the same port."""
        self.stop()
        self.start()


# -- PostgreSQL ----------------------------------------------------------------------------------


def _admin_urls() -> list[str]:
    if os.environ.get("ENCAISSE_TEST_POSTGRES_URL"):
        return [os.environ["ENCAISSE_TEST_POSTGRES_URL"]]
    return [
        "postgresql://postgres@127.0.0.1:5432/postgres",
        "postgresql://postgres@/postgres?host=/var/run/postgresql",
    ]


def _with_dbname(admin_url: str, name: str) -> str:
    base, _, query = admin_url.partition("?")
    base = base.rsplit("/", 1)[0] + "/" + name
    return base + ("?" + query if query else "")


class PostgresDatabases:
    """Throwaway databases on the local PostgreSQL server, all dropped by :meth:`drop_all`."""

    def __init__(self, tag: str = "") -> None:
        errors = []
        self.admin: psycopg.Connection[tuple[Any, ...]] | None = None
        for url in _admin_urls():
            try:
                self.admin = psycopg.connect(url, autocommit=True, connect_timeout=3)
                self.admin_url = url
                break
            except psycopg.Error as exc:
                errors.append(f"{url}: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc!r}")
        if self.admin is None:
            unavailable(
                f"PostgreSQL is not reachable ({'; '.join(errors)}); run scripts/ensure-postgres.sh "
                "or set ENCAISSE_TEST_POSTGRES_URL"
            )
        self.prefix = f"encaisse_pipe_{tag}_{secrets.token_hex(4)}".replace("__", "_")
        self.created: list[str] = []

    def create(self, purpose: str) -> str:
        """Create an empty database and return its URL (``postgresql://``, libpq form)."""
        assert self.admin is not None
        name = f"{self.prefix}_{purpose}_{len(self.created)}"
        self.admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        self.created.append(name)
        return _with_dbname(self.admin_url, name)

    def exists(self, url: str) -> bool:
        """Whether the database of ``url`` exists on the server."""
        assert self.admin is not None
        name = url.partition("?")[0].rsplit("/", 1)[1]
        row = self.admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        return row is not None

    def drop_all(self) -> None:
        """Drop every database made here (terminating their connections first) and disconnect."""
        if self.admin is None:
            return
        for name in self.created:
            self.admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )
            self.admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        self.created.clear()
        self.admin.close()
        self.admin = None


# -- SMTP ----------------------------------------------------------------------------------------


@dataclass
class Received:
    """One message the SMTP server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    def header(self, name: str) -> str:
        """A header's value ('' when absent)."""
        return str(self.message.get(name, ""))

    def text(self) -> str:
        """The text/plain body."""
        part = self.message.get_body(preferencelist=("plain",))
        return "" if part is None else str(part.get_content())  # type: ignore[attr-defined]

    def html(self) -> str:
        """The text/html body."""
        part = self.message.get_body(preferencelist=("html",))
        return "" if part is None else str(part.get_content())  # type: ignore[attr-defined]

    def attachments(self) -> list[EmailMessage]:
        """The attached parts (the validation report PDF)."""
        return [p for p in self.message.iter_attachments() if isinstance(p, EmailMessage)]


@dataclass
class _Handler:
    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SmtpServer, session: Session, envelope: Envelope) -> str:
        raw = envelope.content if isinstance(envelope.content, bytes) else str(envelope.content).encode()
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.lock:
            self.messages.append(
                Received(str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos], parsed)
            )
        return "250 Message accepted for delivery"


class SmtpSink:
    """An aiosmtpd server on a free port of 127.0.0.1 that keeps what it receives."""

    def __init__(self) -> None:
        self.handler = _Handler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, ready_timeout=10)

    @property
    def url(self) -> str:
        """The URL for ``ENCAISSE_SMTP_URL``."""
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> SmtpSink:
        """Start serving (in a thread)."""
        self.controller.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.controller.stop()

    @property
    def messages(self) -> list[Received]:
        """A snapshot of what was received so far."""
        with self.handler.lock:
            return list(self.handler.messages)

    def clear(self) -> None:
        """Forget what was received (between scenarios sharing the server)."""
        with self.handler.lock:
            self.handler.messages.clear()


# -- the application's processes -----------------------------------------------------------------


def encaisse_command(*args: str) -> list[str]:
    """The command line running ``encaisse ARGS`` with this interpreter (no install needed)."""
    return [sys.executable, "-c", "import sys, cli; sys.argv[0] = 'encaisse'; cli.main()", *args]


def app_env(
    *,
    data_dir: Path,
    database_url: str | None = None,
    redis_url: str | None = None,
    smtp_url: str | None = None,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment of an ``encaisse`` process: ours, with the ``ENCAISSE_*`` settings replaced."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCAISSE_") or k == "ENCAISSE_CORPUS"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    env["ENCAISSE_DATA_DIR"] = str(data_dir)
    for key, value in (
        ("ENCAISSE_DATABASE_URL", database_url),
        ("ENCAISSE_REDIS_URL", redis_url),
        ("ENCAISSE_SMTP_URL", smtp_url),
    ):
        if value:
            env[key] = value
    env.update(extra or {})
    return env


def run_encaisse(
    args: Sequence[str], *, env: Mapping[str, str], cwd: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run one ``encaisse`` command to completion and return what it printed."""
    return subprocess.run(
        encaisse_command(*args),
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Workers:
    """``encaisse worker`` processes sharing one environment; each logs to its own file."""

    def __init__(self, env: Mapping[str, str], log_dir: Path, args: Sequence[str] = ()) -> None:
        self.env = dict(env)
        self.log_dir = log_dir
        self.args = list(args)
        self.procs: list[subprocess.Popen[bytes]] = []
        self.started = 0

    def start(self, count: int = 1) -> list[subprocess.Popen[bytes]]:
        """Start ``count`` more workers."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        new = []
        for _ in range(count):
            self.started += 1
            with (self.log_dir / f"worker-{self.started}.log").open("wb") as log:
                proc = subprocess.Popen(
                    encaisse_command("worker", *self.args),
                    env=self.env,
                    cwd=self.log_dir,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group: a work horse dies with it
                )
            self.procs.append(proc)
            new.append(proc)
        return new

    def alive(self) -> list[subprocess.Popen[bytes]]:
        """The workers still running."""
        return [p for p in self.procs if p.poll() is None]

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL a worker and whatever it forked (its process group), and reap it."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every worker (a warm shutdown); SIGKILL those still there after ``timeout``."""
        for proc in self.alive():
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            remaining = max(0.1, deadline - time.monotonic())
            try:
                proc.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                self.kill(proc)
        # the process groups too: a forked work horse left behind would hold a job
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)

    def logs(self) -> str:
        """Every worker's log, for an assertion message."""
        parts = []
        for path in sorted(self.log_dir.glob("worker-*.log")):
            parts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)


# -- sample invoices -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleSet:
    """Generated sample invoices in a folder, with what each must give (``manifest.json``)."""

    directory: Path
    entries: tuple[Any, ...]  # ingest.sample.SampleEntry

    def paths(self) -> list[Path]:
        """The files, in manifest order."""
        return [self.directory / e.path for e in self.entries]


def shared_samples(root: Path, count: int, *, seed: int, invalid_share: float = 0.2) -> SampleSet:
    """:func:`ingest.sample.generate_samples` into ``root``, once per test run for all xdist workers.

    Rendering a PDF takes about a second, so the set is made by the first process
    that asks (under an exclusive lock) and read by the others, and kept for the
    next runs while the generator's code is unchanged (:func:`generator_digest`).
    """
    import fcntl

    from ingest.sample import MANIFEST_NAME, generate_samples, load_manifest

    directory = root / f"samples-{count}-{seed}-{invalid_share}-{generator_digest()}"
    root.mkdir(parents=True, exist_ok=True)
    with (root / f"{directory.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (directory / MANIFEST_NAME).is_file():
                tmp = root / f"{directory.name}.partial-{os.getpid()}"
                shutil.rmtree(tmp, ignore_errors=True)
                generate_samples(tmp, count, seed=seed, invalid_share=invalid_share)
                tmp.rename(directory)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return SampleSet(directory, tuple(load_manifest(directory)))


def run_root(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """A folder shared by every xdist worker and kept across test runs (pytest's ``pytest-of-USER``)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent.parent if worker_id != "master" else base.parent


def generator_digest() -> str:
    """A digest of the code that makes samples (``ingest``, ``schemas``): a cached set is reused only
    while it is unchanged."""
    import hashlib

    h = hashlib.sha256()
    for package in ("ingest", "schemas"):
        for path in sorted((ROOT / package).rglob("*")):
            if path.is_file() and path.suffix in (".py", ".jinja", ".css", ".json", ".xml", ".xsd"):
                h.update(path.relative_to(ROOT).as_posix().encode())
                h.update(path.read_bytes())
    return h.hexdigest()[:16]


# -- pytest fixtures (imported by tests/pipeline/conftest.py and tests/reliability/test_jobs.py) ---


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A redis-server of this session (per xdist worker), killed at the end."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis(redis_server: RedisServer) -> RedisServer:
    """The session's redis-server, running and empty."""
    if not redis_server.ping():
        redis_server.start()
    redis_server.flushall()
    return redis_server


@pytest.fixture(scope="session")
def pg_databases(worker_id: str) -> Any:
    """Throwaway PostgreSQL databases of this session, dropped at the end."""
    dbs = PostgresDatabases(tag=worker_id)
    try:
        yield dbs
    finally:
        dbs.drop_all()


@pytest.fixture
def pg_url(pg_databases: PostgresDatabases) -> str:
    """A fresh PostgreSQL database migrated to head (``postgresql://`` URL)."""
    from ledger import db

    url = pg_databases.create("t")
    db.upgrade(url)
    return url


@pytest.fixture(scope="session")
def smtp_server() -> Any:
    """An SMTP server (aiosmtpd) of this session, stopped at the end."""
    sink = SmtpSink().start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def smtp(smtp_server: SmtpSink) -> SmtpSink:
    """The session's SMTP server with nothing received yet."""
    smtp_server.clear()
    return smtp_server


@pytest.fixture
def workers(tmp_path: Path) -> Any:
    """Start ``encaisse worker`` processes: ``workers(env, count)``; all stopped after the test."""
    pools: list[Workers] = []

    def start(env: Mapping[str, str], count: int = 1) -> Workers:
        pool = Workers(env, tmp_path / f"workers-{len(pools)}")
        pools.append(pool)
        pool.start(count)
        return pool

    try:
        yield start
    finally:
        for pool in pools:
            pool.stop()
