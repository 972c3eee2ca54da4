"""The job functions' registry and the RQ worker entry point.

The pipeline of one document is two jobs, each composing the stages' public
functions (which is why they live here and not in a stage):

* :func:`process_document`: bytes from the archive store → detect, parse, validate
  (``validation.validate`` with the supplier rule set) → register (``ledger.services``)
  → decide (``ledger.decision``) → statuses recorded; a notice job is added to the
  outbox when the document ends in 501, 213, 210 or 208;
* :func:`notify_document`: the rejection notice (``notify``) sent once per document
  and status.

:func:`submit` is the receive step: store the original, register the document and
its first job in one transaction, then dispatch after commit. Jobs take only JSON
arguments (ids), are idempotent (running one twice has the effect of running it
once: the document row is locked and re-checked before anything is written), and
mark their outbox row done in the same transaction as their effects.

Queue: with ``ENCAISSE_REDIS_URL`` jobs go to RQ (``JSONSerializer``, ``Retry``
for transient errors) and ``encaisse worker`` runs them in a :class:`rq.SimpleWorker`
(no fork per job, so the XSLT stylesheets compiled by ``validation.warm_up`` at
start are reused by every job); without it, :class:`InlineDispatcher` runs the
same functions in the caller's process after commit.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from archive.store import Store, store_from_settings
from ledger import db, outbox, services
from ledger.decision import decide_statuses
from ledger.models import Document
from notify.transport import TransientSendError, Transport, transport_from_settings
from schemas.errors import EncaisseError, ErrorCode
from schemas.lifecycle import Actor, ActorKind, Status
from schemas.settings import Settings, get_settings

log = logging.getLogger("encaisse.worker")

JOB_PROCESS = "process_document"
JOB_NOTIFY = "notify_document"
#: seconds between the attempts of a job that failed on a transient error (RQ ``Retry``)
RETRY_INTERVALS: tuple[int, ...] = (2, 10, 30)
#: the same policy inline, shorter: the caller is waiting
INLINE_RETRY_INTERVALS: tuple[float, ...] = (0.2, 1.0, 3.0)
#: errors worth another attempt: the database or the mail server being briefly unavailable
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (OperationalError, TransientSendError)

_final_attempt: contextvars.ContextVar[bool] = contextvars.ContextVar("final_attempt", default=True)


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


# --------------------------------------------------------------------------- receive


@dataclass(frozen=True)
class Submission:
    """The answer to one submitted file."""

    document_id: int
    sha256: str
    created: bool


def submit(
    data: bytes,
    *,
    filename: str | None,
    direction: str = "incoming",
    supplier_id: int | None = None,
    customer_id: int | None = None,
    rt: Runtime | None = None,
) -> Submission:
    """Receive a file: archive the original, register the document and its processing job, dispatch.

    The same bytes submitted again give the first submission's document (and no
    second job). The job is dispatched only after the commit.
    """
    rt = rt or runtime()
    digest = rt.store.put(data)  # durable before any row points at it
    with rt.sessions() as session, session.begin():
        doc, created = services.register_received(
            session,
            sha256=digest,
            size=len(data),
            filename=filename,
            direction=direction,
            supplier_id=supplier_id,
            customer_id=customer_id,
        )
        jobs: list[tuple[int, str, dict[str, Any]]] = []
        if created:
            row = outbox.add_job(session, job=JOB_PROCESS, document_id=doc.id, args={"document_id": doc.id})
            services.set_processing_state(session, document=doc, state="queued")
            jobs.append((row.id, JOB_PROCESS, dict(row.args)))
        answer = Submission(document_id=doc.id, sha256=digest, created=created)
    rt.get_dispatcher().dispatch(jobs)
    return answer


# --------------------------------------------------------------------------- the jobs

JOB_ACTOR = Actor(kind=ActorKind.JOB, id=JOB_PROCESS)


def _supplier_rules(rt: Runtime, session: Session) -> Any:
    """The rule set for incoming invoices: stored in the database, else ``ENCAISSE_SUPPLIER_RULES``."""
    from validation.customer_rules import load_ruleset

    text = services.get_ruleset_text(session, scope="suppliers")
    if text is None and rt.settings.supplier_rules is not None:
        text = rt.settings.supplier_rules.read_text(encoding="utf-8")
    if text is None:
        return None
    if text not in rt._rules:
        rt._rules.clear()
        rt._rules[text] = load_ruleset(text)
    return rt._rules[text]


def process_document(document_id: int, outbox_id: int | None = None) -> str:
    """Job: validate, register and decide one document; returns its final status code."""
    return _guarded(JOB_PROCESS, document_id, outbox_id, lambda rt: _process(rt, document_id, outbox_id))


def _process(rt: Runtime, document_id: int, outbox_id: int | None) -> str:
    from validation import validate
    from validation.customer_rules import decide

    with rt.sessions() as session, session.begin():
        doc = services.get_document(session, document_id=document_id)
        if doc.status_code is not None:  # decided already: a repeated job does nothing
            if outbox_id is not None:
                outbox.mark(session, outbox_id=outbox_id, state="done")
            return doc.status_code
        services.set_processing_state(session, document=doc, state="processing")
        digest, filename, direction = doc.digest, doc.original_filename, doc.direction
        rules = _supplier_rules(rt, session) if direction == "incoming" else None
    data = rt.store.get(digest)
    report = validate(data, customer_rules=rules.as_customer_rules() if rules else (), path=filename)
    notify: list[tuple[int, str, dict[str, Any]]] = []
    with rt.sessions() as session, session.begin():
        doc = services.get_document(session, document_id=document_id, for_update=True)
        if doc.status_code is not None:  # another run decided meanwhile
            if outbox_id is not None:
                outbox.mark(session, outbox_id=outbox_id, state="done")
            return doc.status_code
        findings = [f.model_dump(mode="json", exclude_none=True) for f in report.findings]
        services.record_validation(
            session,
            document=doc,
            ruleset=report.ruleset,
            valid=report.valid,
            findings=findings,
            layers=[lr.model_dump(mode="json", exclude_none=True) for lr in report.layers],
            format=report.format,
            profile=report.profile,
            invoice=report.invoice,
        )
        readable = report.invoice is not None and report.error is None
        error_code = (report.error or {}).get("code")
        billing = decide(report.findings, rules) if rules is not None and readable else None
        decision = decide_statuses(
            direction=direction,
            error_code=error_code,
            readable=readable,
            findings=report.findings,
            billing=billing,
        )
        if (
            decision.registers_invoice
            and report.invoice is not None
            and services.register_invoice(session, document=doc, invoice=report.invoice) is None
        ):
            taken = services.find_duplicate(session, invoice=report.invoice, document=doc)
            decision = decide_statuses(
                direction=direction,
                error_code=None,
                readable=True,
                findings=report.findings,
                duplicate_of=f"document {taken.document_id}" if taken else "an invoice being registered",
            )
        for index, status in enumerate(decision.statuses):
            last = index == len(decision.statuses) - 1
            services.record_status(
                session,
                document=doc,
                status=status,
                actor=JOB_ACTOR,
                reasons=decision.reasons if last else (),
                text=decision.text if last else None,
            )
        services.set_processing_state(session, document=doc, state="done")
        from notify.models import NOTICE_STATUSES

        if direction == "incoming" and decision.final in NOTICE_STATUSES:
            args = {"document_id": doc.id, "status": decision.final.value}
            row = outbox.add_job(session, job=JOB_NOTIFY, document_id=doc.id, args=args)
            notify.append((row.id, JOB_NOTIFY, args))
        if outbox_id is not None:
            outbox.mark(session, outbox_id=outbox_id, state="done", attempt=True)
        final = decision.final.value
    rt.get_dispatcher().dispatch(notify)
    return final


def notify_document(document_id: int, status: str, outbox_id: int | None = None) -> str:
    """Job: send the rejection notice for (document, status) once; returns its Message-ID or why not."""
    return _guarded(
        JOB_NOTIFY, document_id, outbox_id, lambda rt: _notify(rt, document_id, status, outbox_id)
    )


def _recipient(doc: Document) -> tuple[str | None, str | None, str]:
    """Who gets the notice: the supplier's billing contact, else the seller contact of the invoice."""
    summary = doc.invoice_summary or {}
    seller = summary.get("seller_party") or {}
    language = "fr" if (seller.get("country") or "FR") == "FR" else "en"
    supplier = doc.supplier
    if supplier is not None:
        language = "en" if supplier.language.startswith("en") else "fr"
        contacts = sorted(supplier.contacts, key=lambda c: (c.role != "billing", c.id))
        for contact in contacts:
            if contact.email:
                return contact.email, contact.name or supplier.name, language
    return seller.get("email"), seller.get("name"), language


def _notice_data(rt: Runtime, session: Session, doc: Document, status: Status) -> Any:
    """The notice's content, from the document, its last report and the event that set ``status``."""
    from datetime import date
    from decimal import Decimal

    from ingest.kinds import DocumentKind
    from notify.models import (
        DocumentInfo,
        InvoiceSummary,
        NoticeData,
        NoticeKind,
        Recipient,
        company_from_settings,
        resubmission_from_settings,
    )
    from notify.report_pdf import render_report_pdf
    from schemas.findings import Finding
    from schemas.lifecycle import ReasonCode

    email, name, language = _recipient(doc)
    if not email:
        return None
    event = next(
        e for e in reversed(services.history(session, document_id=doc.id)) if e.status_code == status
    )
    report = services.latest_report(session, document_id=doc.id)
    summary = doc.invoice_summary or {}
    data = NoticeData(
        kind=NoticeKind.for_status(status, structured=doc.format != DocumentKind.PLAIN_PDF.value),
        recipient=Recipient(name=name, email=email, language=language),  # type: ignore[arg-type]
        company=company_from_settings(rt.settings, reference=f"DOC-{doc.id}"),
        document=DocumentInfo(
            document_id=str(doc.id), file_name=doc.original_filename, received_at=doc.received_at
        ),
        invoice=InvoiceSummary(
            number=summary.get("number"),
            issue_date=date.fromisoformat(summary["issue_date"]) if summary.get("issue_date") else None,
            total_with_vat=Decimal(summary["total_with_vat"]) if summary.get("total_with_vat") else None,
            currency=summary.get("currency"),
        ),
        status=status,
        reasons=tuple(ReasonCode(c) for c in event.reason_codes),
        findings=tuple(Finding.model_validate(f) for f in (report.findings if report else [])),
        resubmit=resubmission_from_settings(rt.settings),
        issued_at=event.occurred_at,  # the same notice on every attempt: same Date, same bytes
    )
    return data.model_copy(update={"report_pdf": render_report_pdf(data)})


def _notify(rt: Runtime, document_id: int, status_code: str, outbox_id: int | None) -> str:
    from notify.models import NOTICE_STATUSES
    from notify.render import render_notice

    status = Status(status_code)
    with rt.sessions() as session, session.begin():
        doc = services.get_document(session, document_id=document_id)
        data = _notice_data(rt, session, doc, status) if status in NOTICE_STATUSES else None
        if data is None:
            if outbox_id is not None:
                why = "no notice for this status" if status not in NOTICE_STATUSES else "no recipient address"
                outbox.mark(session, outbox_id=outbox_id, state="done", error=why, attempt=True)
            return "no notice: no recipient address or no notice for this status"
        message = render_notice(data)
        notice = services.claim_notice(
            session,
            document=doc,
            status=status,
            message_id=str(message["Message-ID"]),
            recipient=data.recipient.email,
        )
        if notice is None:  # sent by an earlier run
            if outbox_id is not None:
                outbox.mark(session, outbox_id=outbox_id, state="done")
            return "already sent"
        sent_id = rt.transport.send(message)
        services.mark_notice_sent(session, notice=notice, message_id=sent_id)
        if outbox_id is not None:
            outbox.mark(session, outbox_id=outbox_id, state="done", attempt=True)
    return sent_id


#: The registry: job name → function (RQ imports them as ``worker.<name>``).
JOBS: dict[str, Callable[..., str]] = {JOB_PROCESS: process_document, JOB_NOTIFY: notify_document}


#: first key of the PostgreSQL advisory locks that mark a running job (the second is its outbox id)
LEASE_LOCK_CLASS = 0x656E6362  # "encb"


@contextmanager
def _lease(rt: Runtime, outbox_id: int | None) -> Iterator[None]:
    """Hold a session-level advisory lock on the outbox id while the job runs (PostgreSQL).

    A worker that dies loses its connection and with it the lock, so the
    reconciler can tell a dead "started" job from a live one; a second copy of a
    live job waits here for the first to finish, then finds its work done.
    """
    if outbox_id is None or rt.engine.dialect.name != "postgresql":
        yield
        return
    with rt.engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:c, :o)"), {"c": LEASE_LOCK_CLASS, "o": outbox_id})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:c, :o)"), {"c": LEASE_LOCK_CLASS, "o": outbox_id})
            conn.commit()


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
        with _lease(rt, outbox_id):
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


# --------------------------------------------------------------------------- dispatch


class Dispatcher(Protocol):
    """Runs or enqueues jobs recorded in the outbox, after the commit that recorded them."""

    def dispatch(self, jobs: Sequence[tuple[int, str, dict[str, Any]]]) -> None:
        """Hand over ``(outbox id, job name, kwargs)`` triples."""
        ...


class InlineDispatcher:
    """Runs each job now, in this process, retrying transient errors with backoff."""

    def __init__(self, rt: Runtime, intervals: Sequence[float] = INLINE_RETRY_INTERVALS) -> None:
        self.rt = rt
        self.intervals = tuple(intervals)

    def dispatch(self, jobs: Sequence[tuple[int, str, dict[str, Any]]]) -> None:
        """Run the jobs one after the other; a failed one is recorded, not raised."""
        for outbox_id, name, kwargs in jobs:
            self.run(outbox_id, name, kwargs)

    def run(self, outbox_id: int, name: str, kwargs: dict[str, Any]) -> str | None:
        """Run one job to the end (its result), or to its recorded failure (``None``)."""
        func = JOBS[name]
        for attempt in range(len(self.intervals) + 1):
            token = _final_attempt.set(attempt == len(self.intervals))
            try:
                return func(**kwargs, outbox_id=outbox_id)
            except TRANSIENT_ERRORS as exc:
                if attempt == len(self.intervals):
                    log.error("job %s (outbox %s) failed: %s", name, outbox_id, exc)
                    return None
                time.sleep(self.intervals[attempt])
            except (EncaisseError, DBAPIError, OSError, ValueError, LookupError) as exc:
                log.error("job %s (outbox %s) failed: %s", name, outbox_id, exc)
                return None
            finally:
                _final_attempt.reset(token)
        return None


#: How long a job may sit dequeued but not yet started before it counts as lost.
DEQUEUE_GRACE_SECONDS = 10.0


def _dequeued_and_lost(queue: Any, job: Any) -> bool:
    """True for a job still marked queued that is no longer in its queue.

    A worker killed between taking a job off the queue and marking it started
    leaves it so (RELIABILITY 18): nobody will run it. A live worker passes
    through that state in milliseconds, hence the grace period.
    """
    import datetime as dt

    if queue.get_job_position(job.id) is not None:
        return False
    enqueued_at = job.enqueued_at
    if enqueued_at is None:
        return True
    if enqueued_at.tzinfo is None:
        enqueued_at = enqueued_at.replace(tzinfo=dt.UTC)
    waited: float = (dt.datetime.now(dt.UTC) - enqueued_at).total_seconds()
    return waited > DEQUEUE_GRACE_SECONDS


def rq_job_id(outbox_id: int) -> str:
    """The RQ job id of an outbox row: the same row is never two live jobs.

    >>> rq_job_id(42)
    'outbox-42'
    """
    return f"outbox-{outbox_id}"


class RQDispatcher:
    """Enqueues jobs to RQ (JSON serializer, ``Retry``) and marks their outbox rows enqueued."""

    def __init__(self, rt: Runtime, redis_url: str) -> None:
        from redis import Redis
        from rq import Queue
        from rq.serializers import JSONSerializer

        self.rt = rt
        self.redis = Redis.from_url(redis_url)
        self.queue = Queue(rt.settings.queue_name, connection=self.redis, serializer=JSONSerializer)

    def dispatch(self, jobs: Sequence[tuple[int, str, dict[str, Any]]]) -> None:
        """Enqueue each job; one that cannot be enqueued stays pending for the reconciler."""
        from redis.exceptions import RedisError

        done: list[int] = []
        for outbox_id, name, kwargs in jobs:
            try:
                self.enqueue(outbox_id, name, kwargs)
                done.append(outbox_id)
            except RedisError as exc:
                log.warning("could not enqueue outbox row %s (%s): the reconciler will", outbox_id, exc)
        if done:
            with self.rt.sessions() as session, session.begin():
                outbox.mark_enqueued(session, outbox_ids=done)

    def enqueue(self, outbox_id: int, name: str, kwargs: dict[str, Any]) -> None:
        """Enqueue one job under its outbox id (a failed or vanished earlier copy is replaced)."""
        from rq import Retry
        from rq.exceptions import NoSuchJobError
        from rq.job import Job, JobStatus
        from rq.serializers import JSONSerializer

        job_id = rq_job_id(outbox_id)
        try:
            old = Job.fetch(job_id, connection=self.redis, serializer=JSONSerializer)
            status = old.get_status(refresh=True)
            if status in (JobStatus.SCHEDULED, JobStatus.DEFERRED):
                return  # waiting for its time or its dependency: nothing to do
            if status == JobStatus.QUEUED and not _dequeued_and_lost(self.queue, old):
                return  # waiting for a worker: nothing to do
            if status == JobStatus.STARTED and lease_is_free(self.rt, outbox_id) is not True:
                return  # running (or, on SQLite, RQ's own heartbeat will tell)
            old.delete()  # failed, stopped, finished without its row done, or its worker died
        except NoSuchJobError:
            pass
        self.queue.enqueue_call(
            func=f"worker.{name}",
            kwargs={**kwargs, "outbox_id": outbox_id},
            job_id=job_id,
            timeout=self.rt.settings.job_timeout,
            retry=Retry(max=len(RETRY_INTERVALS), interval=list(RETRY_INTERVALS)),
            failure_ttl=30 * 24 * 3600,
            result_ttl=3600,
        )


# --------------------------------------------------------------------------- reconcile, failed jobs


def reconcile(rt: Runtime | None = None, *, older_than_seconds: float = 0) -> int:
    """Re-dispatch every outbox row still pending or enqueued; returns how many.

    Jobs are idempotent and RQ job ids are the outbox ids, so a row whose job is
    still queued or running is left alone, and one whose job vanished (Redis
    flushed or restarted, a crash between commit and enqueue) or died is enqueued
    again. Inline, the jobs simply run now.
    """
    import datetime as dt

    rt = rt or runtime()
    with rt.sessions() as session:
        rows = outbox.unfinished(session, older_than=dt.timedelta(seconds=older_than_seconds))
        jobs = [(r.id, r.job, dict(r.args)) for r in rows]
    rt.get_dispatcher().dispatch(jobs)
    return len(jobs)


@dataclass(frozen=True)
class FailedJob:
    """One job of RQ's failed registry."""

    job_id: str
    function: str
    document_id: int | None
    error: str


def _rq(rt: Runtime) -> RQDispatcher:
    dispatcher = rt.get_dispatcher()
    if not isinstance(dispatcher, RQDispatcher):
        raise EncaisseError("no job queue: set ENCAISSE_REDIS_URL", code=ErrorCode.USAGE)
    return dispatcher


def failed_jobs(rt: Runtime | None = None) -> list[FailedJob]:
    """The jobs in RQ's failed registry (id, function, document id, last line of the error)."""
    from rq.job import Job
    from rq.serializers import JSONSerializer

    rq = _rq(rt or runtime())
    ids = rq.queue.failed_job_registry.get_job_ids()
    found: list[FailedJob] = []
    for job in Job.fetch_many(ids, connection=rq.redis, serializer=JSONSerializer):
        if job is None:
            continue
        result = job.latest_result()
        exc = (result.exc_string if result is not None else None) or ""
        lines = [line for line in exc.strip().splitlines() if line.strip()]
        found.append(
            FailedJob(
                job_id=job.id,
                function=job.func_name or "?",
                document_id=job.kwargs.get("document_id"),
                error=lines[-1] if lines else "",
            )
        )
    return found


def retry_failed(job_ids: Sequence[str] | None = None, rt: Runtime | None = None) -> list[str]:
    """Requeue failed jobs (all of them when ``job_ids`` is None); their outbox rows reopen."""
    rt = rt or runtime()
    rq = _rq(rt)
    registry = rq.queue.failed_job_registry
    ids = list(job_ids) if job_ids is not None else registry.get_job_ids()
    requeued: list[str] = []
    from rq.exceptions import InvalidJobOperation, NoSuchJobError

    for job_id in ids:
        try:
            registry.requeue(job_id)
        except (NoSuchJobError, InvalidJobOperation):
            raise EncaisseError(
                f"no failed job {job_id!r} (see `encaisse jobs --failed`)", code=ErrorCode.USAGE
            ) from None
        requeued.append(job_id)
        if job_id.startswith("outbox-") and job_id[7:].isdigit():
            with rt.sessions() as session, session.begin():
                outbox.mark(session, outbox_id=int(job_id[7:]), state="enqueued")
    return requeued


def run_worker(*, queues: Sequence[str] = (), burst: bool = False, rt: Runtime | None = None) -> bool:
    """Run an RQ worker: :class:`rq.SimpleWorker`, stylesheets compiled once before the first job."""
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    from validation.engine import warm_up

    rt = rt or runtime()
    ensure_database(str(rt.engine.url.render_as_string(hide_password=False)))
    rq = _rq(rt)
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    warm_up()
    delay = 1.0
    while True:
        # RQ gives up when Redis goes away mid-job (the heartbeat after a job raises); the
        # process, its compiled stylesheets and its database pool stay, and a new worker starts
        # once Redis answers again (the reconciler re-enqueues what Redis lost meanwhile).
        try:
            worker = SimpleWorker(
                list(queues) or [rt.settings.queue_name], connection=rq.redis, serializer=JSONSerializer
            )
            return bool(worker.work(burst=burst, with_scheduler=True))
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.warning("lost the connection to Redis (%s); starting again in %.0f s", exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, 30.0)
