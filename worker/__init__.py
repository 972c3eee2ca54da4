"""The job functions' registry and the RQ worker entry point.

Modules: :mod:`worker.core` (runtime, leases, retries, crash points),
:mod:`worker.pipeline` (receive, process, notify, and the journaling of each stage),
:mod:`worker.dispatch` (inline and RQ dispatch, the reconciler, failed jobs, the worker
process), :mod:`worker.dunning` (the daily dunning run). Everything public is
re-exported here, and RQ finds the jobs as ``worker.<name>``.

The pipeline of one document is two jobs, each composing the stages' public
functions (which is why they live here and not in a stage):

* :func:`process_document`: bytes from the archive store → detect, parse, validate
  (``validation.validate`` with the supplier rule set) → register (``ledger.services``)
  → decide (``ledger.decision``) → statuses recorded, all in one transaction; a notice
  job is added to the outbox when the document ends in 501, 213, 210 or 208;
* :func:`notify_document`: the rejection notice (``notify``) sent once per document
  and status.

:func:`submit` is the receive step: store the original, register the document and
its first job in one transaction, then dispatch after commit. Jobs take only JSON
arguments (ids), are idempotent (running one twice has the effect of running it
once: the document row is locked and re-checked before anything is written), and
mark their outbox row done in the same transaction as their effects.

Each event of a document's life happens in one place, in :mod:`worker.pipeline`, and is
journaled in the archive in the same transaction: "received" in :func:`submit`,
"detected", "validated", "registered" and "status changed" when a document is decided,
"notice sent" when its notice goes out.

Queue: with ``ENCAISSE_REDIS_URL`` jobs go to RQ (``JSONSerializer``, ``Retry``
for transient errors): processing jobs to the ``encaisse`` queue, notices to
``encaisse-notify``, which a worker takes only when no processing job waits (RQ
workers take their queues in order), so rendering the notices' PDF reports never
delays a decision. ``encaisse worker`` runs them in a :class:`rq.SimpleWorker`
(no fork per job, so the XSLT stylesheets compiled by ``validation.warm_up`` at
start are reused by every job); without it, :class:`InlineDispatcher` runs the
same functions in the caller's process after commit.
"""

from __future__ import annotations

from collections.abc import Callable

from worker.core import (
    CRASH_ENV,
    CRASH_POINTS,
    JOB_NOTIFY,
    JOB_PROCESS,
    JOB_PUBLISH,
    DatabaseNotMigrated,
    Runtime,
    configure,
    ensure_database,
    lease_is_free,
    log,
    runtime,
)
from worker.dispatch import (
    Dispatcher,
    FailedJob,
    InlineDispatcher,
    RQDispatcher,
    failed_jobs,
    notice_queue_name,
    queue_names,
    reconcile,
    retry_failed,
    rq_job_id,
    run_worker,
)
from worker.dunning import JOB_DUNNING, DunningSummary, dunning_job, run_dunning
from worker.pipeline import (
    ImportedEvent,
    Submission,
    import_platform_events,
    notify_document,
    process_document,
    publish_document,
    submit,
)

#: The registry: job name → function (RQ imports them as ``worker.<name>``).
JOBS: dict[str, Callable[..., str]] = {
    JOB_PROCESS: process_document,
    JOB_NOTIFY: notify_document,
    JOB_DUNNING: dunning_job,
    JOB_PUBLISH: publish_document,
}

__all__ = [
    "CRASH_ENV",
    "CRASH_POINTS",
    "JOBS",
    "JOB_DUNNING",
    "JOB_NOTIFY",
    "JOB_PROCESS",
    "JOB_PUBLISH",
    "DatabaseNotMigrated",
    "Dispatcher",
    "DunningSummary",
    "FailedJob",
    "ImportedEvent",
    "InlineDispatcher",
    "RQDispatcher",
    "Runtime",
    "Submission",
    "configure",
    "dunning_job",
    "ensure_database",
    "failed_jobs",
    "import_platform_events",
    "lease_is_free",
    "log",
    "notice_queue_name",
    "notify_document",
    "process_document",
    "publish_document",
    "queue_names",
    "reconcile",
    "retry_failed",
    "rq_job_id",
    "run_dunning",
    "run_worker",
    "runtime",
    "submit",
]
