"""Running jobs: inline or on RQ, the reconciler, failed jobs and the worker process."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ledger import outbox
from schemas.errors import EncaisseError, ErrorCode
from schemas.settings import Settings
from worker.core import (
    INLINE_RETRY_INTERVALS,
    JOB_NOTIFY,
    JOB_PUBLISH,
    RETRY_INTERVALS,
    TRANSIENT_ERRORS,
    Runtime,
    _final_attempt,
    ensure_database,
    lease_is_free,
    log,
    runtime,
)

if TYPE_CHECKING:
    pass


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
        from worker import JOBS

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


def notice_queue_name(settings: Settings) -> str:
    """The queue of the notice jobs: the processing queue's name + ``-notify``."""
    return f"{settings.queue_name}-notify"


def queue_names(settings: Settings) -> list[str]:
    """The queues a worker listens to, in priority order: processing first, then notices."""
    return [settings.queue_name, notice_queue_name(settings)]


#: rows enqueued by one process are marked ``enqueued`` together, by this many at a time ...
MARK_BATCH = 32
#: ... or once the oldest of them waited this long
MARK_AFTER_SECONDS = 2.0


class RQDispatcher:
    """Enqueues jobs to RQ (JSON serializer, ``Retry``) and marks their outbox rows enqueued.

    Processing jobs go to the ``queue_name`` queue, notices to its ``-notify``
    queue (:func:`queue_names`).
    """

    def __init__(self, rt: Runtime, redis_url: str) -> None:
        from redis import Redis
        from rq import Queue
        from rq.serializers import JSONSerializer

        self.rt = rt
        self.redis = Redis.from_url(redis_url)
        self.queues = {
            name: Queue(name, connection=self.redis, serializer=JSONSerializer)
            for name in queue_names(rt.settings)
        }
        self.queue = self.queues[rt.settings.queue_name]
        self.notice_queue = self.queues[notice_queue_name(rt.settings)]
        self._unmarked: list[int] = []
        self._unmarked_since = 0.0

    def queue_for(self, job: str) -> Any:
        """The queue a job of this name goes to."""
        return self.notice_queue if job in (JOB_NOTIFY, JOB_PUBLISH) else self.queue

    def dispatch(self, jobs: Sequence[tuple[int, str, dict[str, Any]]]) -> None:
        """Enqueue each job (replacing a lost or dead copy); mark the rows enqueued now."""
        done = self._enqueue_all(jobs, fresh=False)
        if done:
            with self.rt.sessions() as session, session.begin():
                outbox.mark_enqueued(session, outbox_ids=done)

    def dispatch_new(self, jobs: Sequence[tuple[int, str, dict[str, Any]]]) -> None:
        """Enqueue the jobs of rows :func:`submit` just committed: no earlier copy to look for.

        Their rows are marked enqueued later, in a batch, by one of this process's
        next submissions (:func:`_mark_dispatched`) rather than by a commit of their
        own: until then they read ``pending``, which the reconciler treats as it
        treats ``enqueued`` (it looks the job up in RQ either way).
        """
        if not self._unmarked:
            self._unmarked_since = time.monotonic()
        self._unmarked.extend(self._enqueue_all(jobs, fresh=True))

    def take_unmarked(self) -> list[int]:
        """The rows enqueued by :meth:`dispatch_new` and not yet marked, when it is time to mark them.

        Time is when there are :data:`MARK_BATCH` of them or the oldest waited
        :data:`MARK_AFTER_SECONDS`; the ids returned are forgotten here.
        """
        if not self._unmarked:
            return []
        waited = time.monotonic() - self._unmarked_since
        if len(self._unmarked) < MARK_BATCH and waited < MARK_AFTER_SECONDS:
            return []
        ids, self._unmarked = self._unmarked, []
        return ids

    def _enqueue_all(self, jobs: Sequence[tuple[int, str, dict[str, Any]]], *, fresh: bool) -> list[int]:
        """Enqueue ``jobs``; the outbox ids that made it (one that did not stays for the reconciler)."""
        from redis.exceptions import RedisError

        if not jobs:
            return []
        try:
            if fresh:
                pipe = self.redis.pipeline()
                for outbox_id, name, kwargs in jobs:
                    self._enqueue_call(outbox_id, name, kwargs, pipeline=pipe)
                pipe.execute()
                return [outbox_id for outbox_id, _, _ in jobs]
        except RedisError as exc:
            ids = [outbox_id for outbox_id, _, _ in jobs]
            log.warning("could not enqueue outbox rows %s (%s): the reconciler will", ids, exc)
            return []
        done: list[int] = []
        for outbox_id, name, kwargs in jobs:
            try:
                self.enqueue(outbox_id, name, kwargs)
                done.append(outbox_id)
            except RedisError as exc:
                log.warning("could not enqueue outbox row %s (%s): the reconciler will", outbox_id, exc)
        return done

    def enqueue(self, outbox_id: int, name: str, kwargs: dict[str, Any]) -> None:
        """Enqueue one job under its outbox id (a failed or vanished earlier copy is replaced)."""
        from rq.exceptions import NoSuchJobError
        from rq.job import Job, JobStatus
        from rq.serializers import JSONSerializer

        job_id = rq_job_id(outbox_id)
        try:
            old = Job.fetch(job_id, connection=self.redis, serializer=JSONSerializer)
            status = old.get_status(refresh=True)
            if status in (JobStatus.SCHEDULED, JobStatus.DEFERRED):
                return  # waiting for its time or its dependency: nothing to do
            queue = self.queues.get(old.origin, self.queue_for(name))
            if status == JobStatus.QUEUED and not _dequeued_and_lost(queue, old):
                return  # waiting for a worker: nothing to do
            if status == JobStatus.STARTED and lease_is_free(self.rt, outbox_id) is not True:
                return  # running (or, on SQLite, RQ's own heartbeat will tell)
            old.delete()  # failed, stopped, finished without its row done, or its worker died
        except NoSuchJobError:
            pass
        self._enqueue_call(outbox_id, name, kwargs)

    def _enqueue_call(self, outbox_id: int, name: str, kwargs: dict[str, Any], pipeline: Any = None) -> None:
        from rq import Retry

        self.queue_for(name).enqueue_call(
            func=f"worker.{name}",
            kwargs={**kwargs, "outbox_id": outbox_id},
            job_id=rq_job_id(outbox_id),
            timeout=self.rt.settings.job_timeout,
            retry=Retry(max=len(RETRY_INTERVALS), interval=list(RETRY_INTERVALS)),
            failure_ttl=30 * 24 * 3600,
            result_ttl=3600,
            pipeline=pipeline,
        )


def _dispatch_new(rt: Runtime, jobs: Sequence[tuple[int, str, dict[str, Any]]]) -> None:
    """Hand over the jobs of rows this process has just committed."""
    if not jobs:
        return
    dispatcher = rt.get_dispatcher()
    if isinstance(dispatcher, RQDispatcher):
        dispatcher.dispatch_new(jobs)
    else:
        dispatcher.dispatch(jobs)


def _mark_dispatched(rt: Runtime, session: Session) -> None:
    """Mark enqueued, in the caller's transaction, the rows this process enqueued since its last one.

    For :func:`submit` only: its transaction is short and waits for no worker while
    holding those rows, so a worker finishing one of them waits a moment, never in a
    cycle. A job's transaction must not do it: two workers each marking a row the
    other is finishing deadlock, and the one PostgreSQL rolls back may have sent its
    notice already.
    """
    dispatcher = rt.dispatcher
    if isinstance(dispatcher, RQDispatcher):
        ids = dispatcher.take_unmarked()
        if ids:
            outbox.mark_enqueued(session, outbox_ids=ids)


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
    ids = [i for queue in rq.queues.values() for i in queue.failed_job_registry.get_job_ids()]
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
    registries = [queue.failed_job_registry for queue in rq.queues.values()]
    failed = {job_id: registry for registry in registries for job_id in registry.get_job_ids()}
    ids = list(job_ids) if job_ids is not None else list(failed)
    requeued: list[str] = []
    from rq.exceptions import InvalidJobOperation, NoSuchJobError

    for job_id in ids:
        try:
            if job_id not in failed:
                raise NoSuchJobError(job_id)
            failed[job_id].requeue(job_id)
        except (NoSuchJobError, InvalidJobOperation):
            raise EncaisseError(
                f"no failed job {job_id!r} (see `encaisse jobs --failed`)", code=ErrorCode.USAGE
            ) from None
        requeued.append(job_id)
        if job_id.startswith("outbox-") and job_id[7:].isdigit():
            with rt.sessions() as session, session.begin():
                outbox.mark(session, outbox_id=int(job_id[7:]), state="enqueued")
    return requeued


#: after a processing job, how long a worker waits for the next one before it takes a notice
NOTICE_GRACE_SECONDS = 0.5


def _worker_class() -> type[Any]:
    """:class:`rq.SimpleWorker` that, right after a document, waits a moment for the next one.

    RQ takes queues in order, so a notice is taken only when no processing job
    waits; but while documents arrive one by one (an ``encaisse ingest`` in
    progress) the processing queue is empty between two of them, and a worker
    would start a notice (its PDF report takes far longer than a decision) in
    every gap. Waiting :data:`NOTICE_GRACE_SECONDS` on the processing queue first
    keeps the workers on decisions while documents keep coming; once none came
    for that long, the notices go out (still behind any document that arrives).
    """
    from rq import SimpleWorker
    from rq.exceptions import DequeueTimeout

    class PipelineWorker(SimpleWorker):  # type: ignore[misc]
        after_processing = False

        def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None) -> Any:
            first = self.queues[0] if self.queues else None
            if self.after_processing and timeout is not None and first is not None and len(self.queues) > 1:
                try:
                    found = self.queue_class.dequeue_any(
                        [first],
                        NOTICE_GRACE_SECONDS,  # type: ignore[arg-type]  # BLPOP takes seconds as a float
                        connection=self.connection,
                        job_class=self.job_class,
                        serializer=self.serializer,
                        death_penalty_class=self.death_penalty_class,
                    )
                except DequeueTimeout:
                    found = None
                if found is not None:
                    found[0].redis_server_version = self.get_redis_server_version()  # type: ignore[no-untyped-call]
                    return found
            result = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
            self.after_processing = result is not None and first is not None and result[1].name == first.name
            return result

    return PipelineWorker


def run_worker(*, queues: Sequence[str] = (), burst: bool = False, rt: Runtime | None = None) -> bool:
    """Run an RQ worker: :class:`rq.SimpleWorker`, stylesheets compiled once before the first job.

    ``queues`` defaults to :func:`queue_names`: processing first, then notices, so
    a notice is taken only when no document waits for its decision.
    """
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
            worker = _worker_class()(
                list(queues) or queue_names(rt.settings), connection=rq.redis, serializer=JSONSerializer
            )
            return bool(worker.work(burst=burst, with_scheduler=True))
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.warning("lost the connection to Redis (%s); starting again in %.0f s", exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, 30.0)
