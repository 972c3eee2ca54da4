"""The two RQ queues: processing jobs first, notices behind them (PostgreSQL, redis-server, SMTP).

Notices go to ``encaisse-notify``, which a worker takes only when no processing
job waits in ``encaisse``: rendering a notice's PDF report never delays a
decision. And a processing job is one transaction: a document is decided and its
notice job recorded by one commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import func, select

import worker
from ledger import db
from ledger.models import Document, JobOutbox, LifecycleEvent, Notice
from schemas.errors import EncaisseError
from schemas.settings import Settings
from tests.pipeline.scenario import add_supplier, read_ledger
from tests.services import RedisServer, SmtpSink, app_env, run_encaisse

pytestmark = pytest.mark.slow


@pytest.fixture
def rt(redis: RedisServer, pg_url: str, smtp: SmtpSink, tmp_path: Path) -> Iterator[worker.Runtime]:
    settings = Settings(  # type: ignore[call-arg]
        data_dir=tmp_path / "var", database_url=pg_url, redis_url=redis.url, smtp_url=smtp.url
    )
    runtime = worker.Runtime.from_settings(settings)
    worker.configure(runtime)
    try:
        yield runtime
    finally:
        worker.configure(None)


def _queue(redis: RedisServer, name: str) -> Queue:
    from redis import Redis

    return Queue(name, connection=Redis.from_url(redis.url), serializer=JSONSerializer)


def test_queue_names_put_processing_first() -> None:
    settings = Settings(queue_name="enc")  # type: ignore[call-arg]
    assert worker.queue_names(settings) == ["enc", "enc-notify"]
    assert worker.notice_queue_name(settings) == "enc-notify"


def test_notices_wait_until_no_document_waits(
    rt: worker.Runtime, redis: RedisServer, pg_url: str, smtp: SmtpSink, tmp_path: Path
) -> None:
    supplier = add_supplier(pg_url)
    processing, notices = _queue(redis, "encaisse"), _queue(redis, "encaisse-notify")
    first = worker.submit(b"not an invoice 0", filename="0.txt", supplier_id=supplier, rt=rt)
    assert (processing.count, notices.count) == (1, 0)
    (job,) = processing.get_jobs()
    # run the first processing job here, as a worker would: its notice is queued on the notify queue
    assert worker.process_document(**job.kwargs) == "501"
    processing.remove(job)
    assert notices.count == 1
    later = [
        worker.submit(f"not an invoice {i}".encode(), filename=f"{i}.txt", supplier_id=supplier, rt=rt)
        for i in range(1, 6)
    ]
    assert (processing.count, notices.count) == (5, 1)
    env = app_env(data_dir=tmp_path / "var", database_url=pg_url, redis_url=redis.url, smtp_url=smtp.url)
    burst = run_encaisse(["worker", "--burst"], env=env, cwd=tmp_path, timeout=180)
    assert burst.returncode == 0, burst.stderr[-3000:]
    assert (processing.count, notices.count) == (0, 0)
    assert len(smtp.messages) == 6
    engine = db.make_engine(pg_url)
    try:
        with db.make_session_factory(engine)() as session:
            ids = [s.document_id for s in later]
            last_decision = session.scalar(
                select(func.max(LifecycleEvent.recorded_at)).where(LifecycleEvent.document_id.in_(ids))
            )
            first_notice = session.scalar(
                select(Notice.sent_at).where(Notice.document_id == first.document_id)
            )
            assert last_decision is not None and first_notice is not None
            # the first document's notice waited in its queue while the five others were decided
            assert first_notice > last_decision
            states = session.execute(select(JobOutbox.state, func.count()).group_by(JobOutbox.state)).all()
            assert {state: n for state, n in states} == {"done": 12}  # 6 processing jobs, 6 notices
            assert session.scalar(select(func.count()).select_from(Document)) == 6
    finally:
        engine.dispose()
    ledger = read_ledger(pg_url)
    assert all(d.status == "501" and d.notices == ["501"] for d in ledger.documents)


def test_a_repeated_processing_job_changes_nothing(rt: worker.Runtime, pg_url: str) -> None:
    """Idempotence of the one-transaction job: run twice, one set of rows."""
    sub = worker.submit(b"<Invoice/>", filename="x.xml", direction="outgoing", rt=rt)
    (job,) = _queue_jobs(rt)
    assert worker.process_document(**job.kwargs) == "501"
    assert worker.process_document(**job.kwargs) == "501"
    ledger = read_ledger(pg_url)
    (doc,) = ledger.documents
    assert doc.id == sub.document_id and [c for c, _ in doc.events] == ["501"]
    assert ledger.unfinished_jobs == 0 and ledger.failed_jobs == 0


def _queue_jobs(rt: worker.Runtime) -> list[Any]:
    dispatcher = rt.get_dispatcher()
    assert isinstance(dispatcher, worker.RQDispatcher)
    return list(dispatcher.queue.get_jobs())


def test_failed_jobs_of_both_queues_are_listed_and_retried(
    rt: worker.Runtime, redis: RedisServer, pg_url: str
) -> None:
    """``encaisse jobs --failed`` and ``--retry`` cover the processing and the notice queue."""
    from rq import SimpleWorker

    sub = worker.submit(b"not an invoice either", filename="gone.txt", direction="outgoing", rt=rt)
    stored = rt.store.path(sub.sha256)
    kept = stored.read_bytes()
    stored.unlink()  # the original is unreadable: a permanent failure, no retry
    dispatcher = rt.get_dispatcher()
    assert isinstance(dispatcher, worker.RQDispatcher)
    # a notice for a document that does not exist: a permanent failure of the notice queue
    dispatcher.dispatch_new([(999_999, worker.JOB_NOTIFY, {"document_id": 424_242, "status": "501"})])

    def burst() -> None:
        queues = list(dispatcher.queues.values())
        SimpleWorker(queues, connection=dispatcher.redis, serializer=JSONSerializer).work(burst=True)

    burst()
    failed = {job.job_id: job for job in worker.failed_jobs(rt)}
    assert set(failed) == {worker.rq_job_id(999_999), worker.rq_job_id(_outbox_id(pg_url))}
    assert failed[worker.rq_job_id(999_999)].function == "worker.notify_document"
    assert failed[worker.rq_job_id(999_999)].document_id == 424_242
    ledger = read_ledger(pg_url)
    (doc,) = ledger.documents
    assert (doc.status, doc.processing_state) == (None, "failed")  # shown failed, never nothing
    assert "ArchiveNotFound" in (doc.last_error or "") or "missing" in (doc.last_error or "")

    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(kept)  # the operator restores the original ...
    assert sorted(worker.retry_failed(None, rt=rt)) == sorted(failed)  # ... and retries everything
    burst()
    ledger = read_ledger(pg_url)
    assert [(d.status, d.processing_state) for d in ledger.documents] == [("501", "done")]
    assert [job.job_id for job in worker.failed_jobs(rt)] == [worker.rq_job_id(999_999)]  # still no document
    with pytest.raises(EncaisseError):
        worker.retry_failed(["outbox-123456"], rt=rt)


def _outbox_id(pg_url: str) -> int:
    engine = db.make_engine(pg_url)
    try:
        with db.make_session_factory(engine)() as session:
            return int(session.scalars(select(JobOutbox.id).where(JobOutbox.job == worker.JOB_PROCESS)).one())
    finally:
        engine.dispose()
