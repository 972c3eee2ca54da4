"""RELIABILITY 19-21: the job pipeline on PostgreSQL, a real redis-server and worker processes.

19. Redis loss (FLUSHALL, or a restart) in the middle of a batch: the reconciler
    re-enqueues from the outbox; nothing lost, nothing done twice.
20. Enqueue after commit: 1,000 submissions, half failing inside their
    transaction (rolled back), while two workers consume: no job ever exists for
    a rolled-back row, no job fails to find its committed row.
21. Concurrent duplicate ingest: the same file submitted 10× at once (threads
    in one process, and separate ``encaisse ingest`` processes) gives one
    document; every answer carries its id.
"""

from __future__ import annotations

import os
import random
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ingest.generate_cii import to_cii
from ingest.kinds import Profile
from ingest.sample import DEFECTS
from ingest.sample_data import make_invoice
from tests import services
from tests.pipeline.scenario import (
    SUPPLIER_EMAIL,
    add_supplier,
    parse_cli_json,
    read_ledger,
)
from tests.services import (
    RedisServer,
    SmtpSink,
    Workers,
    app_env,
    encaisse_command,
    run_encaisse,
    wait_until,
)

# the real services' fixtures (tests/pipeline/conftest.py uses the same ones)
redis_server = services.redis_server
redis = services.redis
pg_databases = services.pg_databases
pg_url = services.pg_url
smtp_server = services.smtp_server
smtp = services.smtp
workers = services.workers

SETTLE_TIMEOUT = 180.0
REDIS_DOWN_SECONDS = 3.0
TOTAL_MISMATCH = next(d for d in DEFECTS if d.name == "total-mismatch")


def xml_batch(directory: Path, count: int, *, invalid_every: int = 5, first: int = 5000) -> dict[Path, str]:
    """``count`` distinct CII invoices (quick, unlike PDFs); every ``invalid_every``-th fails BR-CO-15.

    Returns each file with the status it must end in.
    """
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(count * 31 + first)
    out: dict[Path, str] = {}
    for i in range(count):
        inv = make_invoice(rng, first + i)
        invalid = invalid_every > 0 and i % invalid_every == invalid_every - 1
        if invalid:
            assert TOTAL_MISMATCH.apply is not None
            TOTAL_MISMATCH.apply(inv)
        path = directory / f"{first + i:05d}.xml"
        path.write_bytes(to_cii(inv, profile=Profile.EN16931))
        out[path] = "213" if invalid else "203"
    return out


def _check_batch(url: str, files: dict[Path, str], sink: SmtpSink) -> list[str]:
    """Each file one document with its status, each status once, one notice per rejected document."""
    import hashlib

    ledger = read_ledger(url)
    problems = []
    if len(ledger.documents) != len(files):
        problems.append(f"{len(ledger.documents)} documents for {len(files)} files")
    if ledger.unfinished_jobs or ledger.failed_jobs:
        problems.append(f"outbox: {ledger.unfinished_jobs} unfinished, {ledger.failed_jobs} failed")
    sent: dict[str, int] = {}
    for msg in sink.messages:
        key = msg.header("X-Encaisse-Document")
        sent[key] = sent.get(key, 0) + 1
        if msg.rcpt_tos != [SUPPLIER_EMAIL]:
            problems.append(f"notice to {msg.rcpt_tos}")
    for path, status in files.items():
        doc = ledger.by_digest.get(hashlib.sha256(path.read_bytes()).hexdigest())
        if doc is None:
            problems.append(f"{path.name}: lost")
            continue
        codes = [code for code, _ in doc.events]
        want = ["213"] if status == "213" else ["202", "203"]
        if doc.status != status or codes != want or doc.processing_state != "done":
            problems.append(f"{path.name}: {doc.status} {doc.processing_state} events {codes}, want {want}")
        notices = sent.get(str(doc.id), 0)
        if notices != (1 if status == "213" else 0) or doc.notices != (["213"] if status == "213" else []):
            problems.append(f"{path.name}: {notices} notices received, rows {doc.notices}")
    return problems


# -- 19. Redis loss --------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["flushall", "restart"])
def test_redis_loss_mid_batch_is_reconciled_from_the_outbox(
    loss: str,
    redis: RedisServer,
    pg_url: str,
    smtp: SmtpSink,
    workers: Any,
    tmp_path: Path,
) -> None:
    files = xml_batch(tmp_path / "batch", 60)
    supplier = add_supplier(pg_url)
    env = app_env(data_dir=tmp_path / "var", database_url=pg_url, redis_url=redis.url, smtp_url=smtp.url)
    pool: Workers = workers(env, 2)
    args = ["ingest", "--json", "--direction", "incoming", "--supplier", str(supplier), *map(str, files)]
    ingest = subprocess.Popen(
        encaisse_command(*args),
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(
        lambda: sum(d.processing_state == "done" for d in read_ledger(pg_url).documents) >= 10,
        timeout=SETTLE_TIMEOUT,
        what="10 documents done",
    )
    if loss == "flushall":
        redis.flushall()
    else:  # down for a few seconds, as a real restart is: jobs end (and heartbeat) meanwhile
        redis.stop()
        time.sleep(REDIS_DOWN_SECONDS)
        redis.start()
    stdout, stderr = ingest.communicate(timeout=SETTLE_TIMEOUT)
    assert ingest.returncode in (0, 1), stderr[-3000:]
    # the jobs lost with Redis stay unfinished until the reconciler runs: else nothing was tested
    lost = read_ledger(pg_url).unfinished_jobs
    assert lost > 0, "the batch was over before Redis was lost"
    # workers that lost their connection may have stopped: a supervisor would start them again
    time.sleep(REDIS_DOWN_SECONDS)
    dead = len(pool.procs) - len(pool.alive())
    if dead:
        pool.start(dead)
    print(f"{loss}: {lost} unfinished jobs after the loss, {dead} worker(s) had stopped")

    def settled() -> bool:
        reconciled = run_encaisse(["jobs", "--reconcile"], env=env, cwd=tmp_path, timeout=60)
        assert reconciled.returncode == 0, reconciled.stderr[-3000:]
        return read_ledger(pg_url).settled(len(files)) and len(smtp.messages) >= sum(
            s == "213" for s in files.values()
        )

    try:
        wait_until(settled, timeout=SETTLE_TIMEOUT, interval=2.0, what="the reconciled batch to settle")
    except AssertionError as exc:
        led = read_ledger(pg_url)
        states = Counter((d.processing_state, d.status) for d in led.documents)
        raise AssertionError(
            f"{exc}: documents {dict(states)}, outbox unfinished {led.unfinished_jobs} failed "
            f"{led.failed_jobs}, notices {len(smtp.messages)}\n{pool.logs()}"
        ) from None
    time.sleep(1.0)  # a notice sent twice would arrive now
    problems = _check_batch(pg_url, files, smtp)
    assert not problems, "\n".join(problems) + "\n" + pool.logs()
    assert len(parse_cli_json(stdout)) == len(files)


# -- 20. Enqueue after commit ----------------------------------------------------------------------


class RolledBack(RuntimeError):
    """Raised inside a submission's transaction to roll it back."""


@pytest.mark.slow
def test_jobs_are_enqueued_after_commit_only(
    redis: RedisServer, pg_url: str, workers: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import worker
    from ledger import outbox, services
    from schemas.settings import Settings

    iterations = int(os.environ.get("ENCAISSE_TEST_ITERATIONS", "1000"))
    env = app_env(data_dir=tmp_path / "var", database_url=pg_url, redis_url=redis.url)
    pool: Workers = workers(env, 2)  # consuming while we submit: a job enqueued too early would miss its row
    settings = Settings(data_dir=tmp_path / "var", database_url=pg_url, redis_url=redis.url)  # type: ignore[call-arg]
    rt = worker.Runtime.from_settings(settings)
    worker.configure(rt)

    fail_now = threading.local()
    rolled_back_outbox_ids: list[int] = []
    real_add_job = outbox.add_job
    real_set_state = services.set_processing_state

    def add_job(session: Any, **kwargs: Any) -> Any:
        row = real_add_job(session, **kwargs)
        if getattr(fail_now, "value", False):
            rolled_back_outbox_ids.append(row.id)
        return row

    def set_processing_state(session: Any, **kwargs: Any) -> None:
        if getattr(fail_now, "value", False) and kwargs.get("state") == "queued":
            raise RolledBack("the transaction fails after its outbox row was written")
        real_set_state(session, **kwargs)

    monkeypatch.setattr(outbox, "add_job", add_job)
    monkeypatch.setattr(services, "set_processing_state", set_processing_state)
    committed: dict[str, int] = {}
    rolled_back: set[str] = set()
    rng = random.Random(20)
    try:
        for i in range(iterations):
            # outgoing junk: decided 501 in a few ms, and no notice (outgoing documents get none)
            data = f"not an invoice, iteration {i} {rng.random()}".encode()
            fail_now.value = i % 2 == 1
            if fail_now.value:
                with pytest.raises(RolledBack):
                    worker.submit(data, filename=f"{i}.txt", direction="outgoing", rt=rt)
                rolled_back.add(rt.store.put(data))
            else:
                answer = worker.submit(data, filename=f"{i}.txt", direction="outgoing", rt=rt)
                committed[answer.sha256] = answer.document_id
    finally:
        fail_now.value = False
        worker.configure(None)
    assert len(committed) == len(rolled_back) == iterations // 2
    assert len(rolled_back_outbox_ids) == iterations // 2

    try:
        wait_until(lambda: read_ledger(pg_url).settled(len(committed)), timeout=SETTLE_TIMEOUT, what="jobs")
    except AssertionError:
        led = read_ledger(pg_url)
        states = Counter((d.processing_state, d.status) for d in led.documents)
        import psycopg

        with psycopg.connect(pg_url) as conn:
            stuck = conn.execute(
                "SELECT o.id, o.state, o.attempts, d.status_code FROM job_outbox o "
                "JOIN documents d ON d.id = o.document_id WHERE o.state IN ('pending', 'enqueued') "
                "ORDER BY o.id LIMIT 10"
            ).fetchall()
        raise AssertionError(
            f"not settled: {len(led.documents)} documents {dict(states)}, outbox unfinished "
            f"{led.unfinished_jobs} failed {led.failed_jobs}; unfinished rows (id, state, attempts, "
            f"document status): {stuck}\n{pool.logs()}"
        ) from None
    ledger = read_ledger(pg_url)
    assert {d.digest for d in ledger.documents} == set(committed)  # no row from a rolled-back transaction
    assert all(d.status == "501" and d.processing_state == "done" for d in ledger.documents)
    assert ledger.failed_jobs == 0 and ledger.unfinished_jobs == 0

    from redis import Redis

    client = Redis.from_url(redis.url)
    never = [i for i in rolled_back_outbox_ids if client.exists(f"rq:job:{worker.rq_job_id(i)}")]
    assert never == [], f"jobs exist for rolled-back outbox rows {never[:10]}"
    failed = client.zcard(f"rq:failed:{settings.queue_name}")
    assert failed == 0, f"{failed} jobs failed (a committed row not found?)\n{pool.logs()}"
    assert "DocumentNotFound" not in pool.logs()


# -- 21. Concurrent duplicate ingest ---------------------------------------------------------------


@pytest.fixture
def one_invoice(tmp_path: Path) -> Iterator[Path]:
    (path,) = xml_batch(tmp_path / "one", 1, invalid_every=0, first=7000)
    yield path


@pytest.mark.slow
def test_the_same_file_submitted_ten_times_at_once_is_one_document_threads(
    pg_url: str, one_invoice: Path, tmp_path: Path
) -> None:
    import worker
    from schemas.settings import Settings

    rt = worker.Runtime.from_settings(Settings(data_dir=tmp_path / "var", database_url=pg_url))  # inline
    worker.configure(rt)  # the jobs run with this process's runtime
    data = one_invoice.read_bytes()
    barrier = threading.Barrier(10)
    answers: list[Any] = []
    errors: list[BaseException] = []

    def submit() -> None:
        barrier.wait()
        try:
            answers.append(worker.submit(data, filename=one_invoice.name, rt=rt))
        except BaseException as exc:  # any error is a finding: collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=submit) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    worker.configure(None)
    assert errors == []
    assert len(answers) == 10
    assert len({a.document_id for a in answers}) == 1
    assert sum(a.created for a in answers) == 1
    ledger = read_ledger(pg_url)
    assert len(ledger.documents) == 1
    (doc,) = ledger.documents
    assert doc.status == "203" and [c for c, _ in doc.events] == ["202", "203"]


@pytest.mark.slow
def test_the_same_file_submitted_ten_times_at_once_is_one_document_processes(
    pg_url: str, one_invoice: Path, tmp_path: Path
) -> None:
    env = app_env(data_dir=tmp_path / "var", database_url=pg_url)  # inline: each process runs the pipeline
    procs: list[subprocess.Popen[str]] = []
    for _ in range(10):
        procs.append(
            subprocess.Popen(
                encaisse_command("ingest", "--json", "--wait", str(one_invoice)),
                env=env,
                cwd=tmp_path,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=180)
        assert proc.returncode == 0, stderr[-3000:]
        (answer,) = parse_cli_json(stdout)
        outputs.append(answer)
    ids = {str(o["document_id"]) for o in outputs}
    assert len(ids) == 1, outputs
    assert sum(bool(o.get("created")) for o in outputs) == 1
    ledger = read_ledger(pg_url)
    assert len(ledger.documents) == 1 and str(ledger.documents[0].id) in ids
    assert [c for c, _ in ledger.documents[0].events] == ["202", "203"]
    # --wait: every answer, the duplicates' too, gives the document's decided status
    statuses = [(o.get("created"), o["status_code"], o.get("processing_state")) for o in outputs]
    assert {s for _, s, _ in statuses} == {"203"}, (
        f"encaisse ingest --wait (inline) answered a duplicate before the document was decided: {statuses}"
    )


# -- 4 and 6 again, through the pipeline -------------------------------------------------------------


@pytest.mark.slow
def test_hostile_inputs_through_the_pipeline_get_a_status_and_the_worker_survives(
    redis: RedisServer, pg_url: str, workers: Any, tmp_path: Path
) -> None:
    """RELIABILITY 4 and 6 through the jobs: mutated XML and PDFs (and a few crafted ones) each end
    with a status and no partial rows (an invoice row only for an accepted one); the worker lives on."""
    from tests.reliability.hostile import hostile_inputs

    folder = tmp_path / "hostile"
    folder.mkdir()
    for i, (name, data) in enumerate(hostile_inputs(seed=4, count=60)):
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:60]
        (folder / f"{i:03d}-{safe}").write_bytes(data)
    env = app_env(data_dir=tmp_path / "var", database_url=pg_url, redis_url=redis.url)
    pool: Workers = workers(env, 1)
    # outgoing: the checks run the same, and no notice is due (nobody to write to)
    result = run_encaisse(
        ["ingest", "--json", "--wait", "--direction", "outgoing", *map(str, sorted(folder.iterdir()))],
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode in (0, 1), result.stderr[-3000:]
    ledger = read_ledger(pg_url)
    assert ledger.documents, result.stderr[-3000:]
    assert ledger.settled(len(ledger.documents)), pool.logs()
    problems = []
    for doc in ledger.documents:
        codes = [c for c, _ in doc.events]
        if doc.processing_state != "done" or doc.status not in ("200", "213", "501") or codes != [doc.status]:
            problems.append(
                f"document {doc.id}: {doc.processing_state} {doc.status} {codes} {doc.last_error}"
            )
        if doc.has_invoice != (doc.status == "200"):
            problems.append(f"document {doc.id}: status {doc.status} with invoices row {doc.has_invoice}")
    assert not problems, "\n".join(problems)
    assert ledger.failed_jobs == 0
    assert pool.alive() == pool.procs, pool.logs()  # the worker survived every input


# -- 18. A worker killed between dequeue and start ------------------------------------------------


def test_a_job_taken_off_the_queue_by_a_worker_that_died_is_enqueued_again(
    redis: RedisServer, pg_url: str, smtp: SmtpSink, tmp_path: Path
) -> None:
    """RELIABILITY 18, made deterministic: the job is popped as a dying worker would pop it.

    RQ then still marks it queued, but no queue holds it: only the reconciler can see
    it is lost, and it must enqueue it again, and only it.
    """
    import datetime as dt

    from redis import Redis
    from rq import Queue
    from rq.job import Job, JobStatus
    from rq.serializers import JSONSerializer

    files = xml_batch(tmp_path / "batch", 3, invalid_every=0)
    supplier = add_supplier(pg_url)
    env = app_env(data_dir=tmp_path / "var", database_url=pg_url, redis_url=redis.url, smtp_url=smtp.url)
    args = ["ingest", "--json", "--direction", "incoming", "--supplier", str(supplier), *map(str, files)]
    submitted = run_encaisse(args, env=env, cwd=tmp_path, timeout=120)
    assert submitted.returncode in (0, 1), submitted.stderr[-3000:]

    conn = Redis.from_url(redis.url)
    queue = Queue("encaisse", connection=conn, serializer=JSONSerializer)
    assert queue.count == 3
    lost_id: Any = conn.lpop(queue.key)
    assert isinstance(lost_id, bytes)
    lost = Job.fetch(lost_id.decode(), connection=conn, serializer=JSONSerializer)
    assert lost.get_status() == JobStatus.QUEUED and queue.count == 2
    lost.enqueued_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    lost.save()

    reconciled = run_encaisse(["jobs", "--reconcile"], env=env, cwd=tmp_path, timeout=60)
    assert reconciled.returncode == 0, reconciled.stderr[-3000:]
    assert queue.count == 3, "the lost job is back, the two waiting ones are not doubled"
    assert queue.get_job_position(lost.id) is not None

    worker = subprocess.run(
        encaisse_command("worker", "--burst"),
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert worker.returncode == 0, worker.stderr[-3000:]
    ledger = read_ledger(pg_url)
    assert [d.status for d in ledger.documents] == ["203", "203", "203"]
    assert all([code for code, _ in d.events] == ["202", "203"] for d in ledger.documents)
    assert not ledger.unfinished_jobs and not ledger.failed_jobs
    assert not smtp.messages
