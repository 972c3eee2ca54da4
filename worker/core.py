"""The worker's core: constants, crash points for the kill tests, the runtime, leases and retries."""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from archive.failpoints import failpoint
from archive.store import Store, store_from_settings
from ledger import db, outbox, services
from ledger.models import Document
from notify.transport import TransientSendError, Transport, transport_from_settings
from schemas.errors import EncaisseError, ErrorCode
from schemas.settings import Settings, get_settings

if TYPE_CHECKING:
    from worker.dispatch import Dispatcher

log = logging.getLogger("encaisse.worker")

JOB_PROCESS = "process_document"
JOB_NOTIFY = "notify_document"
JOB_PUBLISH = "publish_document"
#: seconds between the attempts of a job that failed on a transient error (RQ ``Retry``)
RETRY_INTERVALS: tuple[int, ...] = (2, 10, 30)
#: the same policy inline, shorter: the caller is waiting
INLINE_RETRY_INTERVALS: tuple[float, ...] = (0.2, 1.0, 3.0)
#: errors worth another attempt: the database or the mail server being briefly unavailable
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OperationalError, TransientSendError)

_final_attempt: contextvars.ContextVar[bool] = contextvars.ContextVar("final_attempt", default=True)

#: ``point:n``: the process SIGKILLs itself at the n-th pass of that crash point (RELIABILITY 17)
CRASH_ENV = "ENCAISSE_WORKER_CRASH_AT"
#: the crash points, in the order a document passes them
CRASH_POINTS = (
    "process.locked",  # lease and row lock taken, nothing done
    "process.validated",  # validated, nothing written
    "process.recorded",  # report, invoice, statuses, outbox rows flushed, not committed
    "process.committed",  # committed, the notice job not yet enqueued
    "notify.rendered",  # the notice rendered, nothing claimed
    "notify.claimed",  # the notice row claimed (not committed), nothing sent
    "notify.committed",  # sent and committed
)


def _crash_point(name: str) -> None:
    """Die here (SIGKILL: no clean-up, no rollback) when the crash tests asked for this pass of ``name``.

    Unset (always, outside those tests) it costs one environment lookup.
    """
    failpoint(name, env=CRASH_ENV)


class DatabaseNotMigrated(EncaisseError):
    """The database is not at the code's revision."""

    code = ErrorCode.DB_NOT_MIGRATED


# --------------------------------------------------------------------------- runtime


@dataclass
class Runtime:
    """What the jobs of one process share: settings, database, archive store, mail transport."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: Store
    transport: Transport
    dispatcher: Dispatcher | None = None
    _rules: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, *, url: str | None = None) -> Runtime:
        """Engine, store and transport as the settings say (``url`` overrides the database)."""
        settings = settings or get_settings()
        # real transactions on SQLite too: savepoints (duplicate races) must be able to roll back
        engine = db.use_real_sqlite_transactions(db.make_engine(url or db.database_url(settings)))
        return cls(
            settings=settings,
            engine=engine,
            sessions=db.make_session_factory(engine),
            store=store_from_settings(settings),
            transport=transport_from_settings(settings),
        )

    def get_dispatcher(self) -> Dispatcher:
        """RQ when ``ENCAISSE_REDIS_URL`` is set, else inline."""
        if self.dispatcher is None:
            redis_url = self.settings.redis_url.get_secret_value().strip() if self.settings.redis_url else ""
            from worker.dispatch import InlineDispatcher, RQDispatcher

            self.dispatcher = RQDispatcher(self, redis_url) if redis_url else InlineDispatcher(self)
        return self.dispatcher


_runtime: Runtime | None = None


def runtime() -> Runtime:
    """This process's runtime, built on first use (after any fork: engines are per process)."""
    global _runtime
    if _runtime is None:
        _runtime = Runtime.from_settings()
    return _runtime


def configure(rt: Runtime | None) -> None:
    """Use ``rt`` for the jobs of this process (tests, the CLI); ``None`` forgets it."""
    global _runtime
    if _runtime is not None and rt is not _runtime:
        _runtime.engine.dispose()
    _runtime = rt


def ensure_database(url: str) -> None:
    """Make sure the database is migrated: the embedded SQLite is upgraded, PostgreSQL must be.

    Raises :class:`DatabaseNotMigrated` for a PostgreSQL database behind the code.
    """
    if db.current_revision(url) == db.head_revision():
        return
    if url.startswith("sqlite"):
        db.upgrade(url)
        return
    raise DatabaseNotMigrated(
        f"the database is at revision {db.current_revision(url) or 'none'}, the code needs "
        f"{db.head_revision()}: run `encaisse db upgrade`",
        where=url.split("@")[-1],
    )


#: first key of the PostgreSQL advisory locks that mark a running job (the second is its outbox id)
LEASE_LOCK_CLASS = 0x656E6362  # "encb"


def _hold_lease(session: Session, outbox_id: int | None) -> None:
    """Take the job's lease: a transaction-level advisory lock on its outbox id (PostgreSQL).

    The job's transaction spans the whole job, so the lock is held while it runs
    and released by its commit or rollback, or by the server when a dying worker's
    connection drops: the reconciler can tell a dead "started" job from a live one
    (:func:`lease_is_free`), and a second copy of a live job waits here for the
    first to finish, then finds its work done. Nothing to do on SQLite, whose
    transactions are serialised anyway (``BEGIN IMMEDIATE``).
    """
    if outbox_id is None or session.get_bind().dialect.name != "postgresql":
        return
    session.execute(text("SELECT pg_advisory_xact_lock(:c, :o)"), {"c": LEASE_LOCK_CLASS, "o": outbox_id})


def lease_is_free(rt: Runtime, outbox_id: int) -> bool | None:
    """True when no live process runs this outbox job; ``None`` when the backend cannot tell (SQLite)."""
    if rt.engine.dialect.name != "postgresql":
        return None
    with rt.engine.connect() as conn:
        free = bool(
            conn.execute(
                text("SELECT pg_try_advisory_lock(:c, :o)"), {"c": LEASE_LOCK_CLASS, "o": outbox_id}
            ).scalar()
        )
        if free:
            conn.execute(text("SELECT pg_advisory_unlock(:c, :o)"), {"c": LEASE_LOCK_CLASS, "o": outbox_id})
        conn.commit()
    return free


def _guarded(name: str, document_id: int, outbox_id: int | None, body: Callable[[Runtime], str]) -> str:
    """Run a job body; on a failure that will not be retried, show it on the document and outbox."""
    rt = runtime()
    try:
        return body(rt)
    except TRANSIENT_ERRORS as exc:
        if _is_final_attempt():
            _record_failure(rt, name, document_id, outbox_id, exc)
        else:
            _record_retry(rt, outbox_id, exc)
        raise
    except (EncaisseError, DBAPIError, OSError, ValueError, LookupError) as exc:
        _no_more_retries()
        _record_failure(rt, name, document_id, outbox_id, exc)
        raise


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _record_retry(rt: Runtime, outbox_id: int | None, exc: BaseException) -> None:
    if outbox_id is None:
        return
    try:
        with rt.sessions() as session, session.begin():
            outbox.mark(session, outbox_id=outbox_id, state="enqueued", error=_describe(exc), attempt=True)
    except OperationalError:
        log.warning("could not record the retry of outbox row %s", outbox_id)


def _record_failure(
    rt: Runtime, name: str, document_id: int, outbox_id: int | None, exc: BaseException
) -> None:
    """Outbox row ``failed``; for the processing job, the document ``failed`` with the error."""
    try:
        with rt.sessions() as session, session.begin():
            if outbox_id is not None:
                outbox.mark(session, outbox_id=outbox_id, state="failed", error=_describe(exc), attempt=True)
            doc = session.get(Document, document_id)
            if doc is not None and name == JOB_PROCESS and doc.status_code is None:
                services.set_processing_state(session, document=doc, state="failed", error=_describe(exc))
    except OperationalError:
        log.exception("could not record the failure of job %s for document %s", name, document_id)


def _is_final_attempt() -> bool:
    from rq import get_current_job

    job = get_current_job()
    if job is not None:
        return not job.retries_left
    return _final_attempt.get()


def _no_more_retries() -> None:
    """A permanent failure: tell RQ not to retry (the job goes to the failed registry)."""
    from rq import get_current_job

    job = get_current_job()
    if job is not None:
        job.retries_left = 0


def _reuse_tls_context(transport: Transport) -> None:
    """Give an SMTP transport one TLS context for the run (it builds one per message otherwise).

    Loading the system's CA certificates takes ~40 ms here: per message, that is 40 s
    for a thousand reminders. The context is the default one the transport would build.
    """
    import ssl

    from notify.transport import SmtpTransport

    if isinstance(transport, SmtpTransport) and transport.ssl_context is None:
        transport.ssl_context = ssl.create_default_context()
