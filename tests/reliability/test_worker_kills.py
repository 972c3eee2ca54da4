"""RELIABILITY 17: the work horse SIGKILLed at random points during ingest, then restarted.

``encaisse worker`` runs jobs in an :class:`rq.SimpleWorker`: the worker process
is the work horse. A seeded plan kills it, round after round, at a different
point of a job:

* at one of :data:`worker.CRASH_POINTS` (``ENCAISSE_WORKER_CRASH_AT``: the
  worker SIGKILLs itself at the n-th pass of that point: with its lease and row
  lock held, after validating, with every row flushed but not committed, right
  after the commit, with a notice rendered or claimed, after a notice was sent
  and recorded);
* or at a random instant, by a SIGKILL from outside while it works through a wave.

Each round starts a fresh worker (the restart), waits until it listens,
submits a wave of invoices (a quarter of them invalid: 213 and a notice) and
waits for the kill; what the dead worker left half done is picked up by the
next one once the reconciler (run here as a cron job would) re-enqueues it.
Then two workers finish the batch. In the end every document has the status an
uninterrupted run gives it, each status once, one invoice row per accepted
document, exactly one notice per rejected one, and the outbox is empty with
nothing failed.

``ENCAISSE_TEST_SEED`` changes the plan (default 17); a failure prints the plan.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pytest

import worker
from tests import services
from tests.pipeline.scenario import add_supplier, read_ledger
from tests.reliability.test_jobs import _check_batch, xml_batch
from tests.services import RedisServer, SmtpSink, Workers, app_env, wait_until

redis_server = services.redis_server
redis = services.redis
pg_databases = services.pg_databases
pg_url = services.pg_url
smtp_server = services.smtp_server
smtp = services.smtp
workers = services.workers

SEED = int(os.environ.get("ENCAISSE_TEST_SEED", "17"))
ROUNDS = 6  # kills; every crash point of a processing job and of a notice is drawn at least once over 2 seeds
WAVE = 8  # invoices submitted per round (every 4th invalid: a 213 and its notice)
STARTUP_TIMEOUT = 90.0  # a worker compiles the stylesheets before it listens
ROUND_TIMEOUT = 60.0
SETTLE_TIMEOUT = 120.0
RECONCILE_EVERY = 1.0


def kill_plan(seed: int, rounds: int) -> list[tuple[str, int] | float]:
    """Per round: a crash point and the pass to die at, or the delay of an outside SIGKILL (seconds).

    >>> kill_plan(17, 3) == kill_plan(17, 3)
    True
    """
    rng = random.Random(seed)
    points = list(worker.CRASH_POINTS)
    rng.shuffle(points)
    plan: list[tuple[str, int] | float] = []
    for index in range(rounds):
        if index % 3 == 2:  # one round in three: a kill from outside, at a random instant
            plan.append(round(rng.uniform(0.05, 0.8), 3))
        else:
            point = points[(index - index // 3) % len(points)]
            # notices come one wave in four: die at the first one; processing jobs at any of the first 3
            plan.append((point, 1 if point.startswith("notify.") else rng.randint(1, 3)))
    return plan


def _listening(pool: Workers, index: int) -> bool:
    log = pool.log_dir / f"worker-{index}.log"
    return log.is_file() and "Listening on" in log.read_text(errors="replace")


@pytest.mark.slow
def test_work_horse_killed_at_random_points_changes_nothing(
    redis: RedisServer, pg_url: str, smtp: SmtpSink, workers: Callable[..., Workers], tmp_path: Path
) -> None:
    from schemas.settings import Settings

    plan = kill_plan(SEED, ROUNDS)
    files = xml_batch(tmp_path / "batch", ROUNDS * WAVE, invalid_every=4, first=1700)
    paths = list(files)
    supplier = add_supplier(pg_url)
    env = app_env(data_dir=tmp_path / "var", database_url=pg_url, redis_url=redis.url, smtp_url=smtp.url)
    settings = Settings(  # type: ignore[call-arg]
        data_dir=tmp_path / "var", database_url=pg_url, redis_url=redis.url, smtp_url=smtp.url
    )
    rt = worker.Runtime.from_settings(settings)
    worker.configure(rt)  # this process submits (the receive step) and reconciles
    deaths: list[str] = []
    last_reconcile = 0.0

    def reconcile() -> None:
        nonlocal last_reconcile
        if time.monotonic() - last_reconcile >= RECONCILE_EVERY:
            worker.reconcile(rt)  # what a cron `encaisse jobs --reconcile` does
            last_reconcile = time.monotonic()

    try:
        for index, kill in enumerate(plan):
            crash_env = {worker.CRASH_ENV: f"{kill[0]}:{kill[1]}"} if isinstance(kill, tuple) else {}
            doomed = workers({**env, **crash_env}, 1)
            wait_until(partial(_listening, doomed, 1), timeout=STARTUP_TIMEOUT, what=f"worker {index}")
            proc = doomed.procs[0]
            wave = paths[index * WAVE : (index + 1) * WAVE]
            for path in wave:
                worker.submit(path.read_bytes(), filename=path.name, supplier_id=supplier, rt=rt)
            if isinstance(kill, float):
                time.sleep(kill)
                doomed.kill(proc)
                deaths.append(f"round {index}: SIGKILL from outside after {kill} s")
                continue
            deadline = time.monotonic() + ROUND_TIMEOUT
            while proc.poll() is None and time.monotonic() < deadline:
                reconcile()  # the jobs the previous worker died in
                time.sleep(0.05)
            if proc.poll() is None:
                doomed.kill(proc)
                deaths.append(f"round {index}: {kill} never reached, SIGKILL from outside")
            else:
                assert proc.returncode == -signal.SIGKILL, doomed.logs()
                deaths.append(f"round {index}: died at {kill[0]} pass {kill[1]}")
        workers(env, 2)  # the restart after the last kill
        ledger: dict[str, Any] = {}

        def settled() -> bool:
            reconcile()
            ledger["now"] = read_ledger(pg_url)
            notices = sum(1 for s in files.values() if s == "213")
            return ledger["now"].settled(len(files)) and len(smtp.messages) >= notices

        wait_until(settled, timeout=SETTLE_TIMEOUT, interval=0.2, what="the batch to settle after the kills")
        time.sleep(1.0)  # a notice sent twice would arrive now
    finally:
        worker.configure(None)
    summary = "\n".join([f"seed {SEED}, plan {plan}", *deaths])
    problems = _check_batch(pg_url, files, smtp)
    assert not problems, "\n".join(problems) + "\n" + summary
    assert len(deaths) == ROUNDS, summary
    # one worker at a time and waves big enough: every planned crash point is reached
    planned = sum(isinstance(kill, tuple) for kill in plan)
    assert sum("died at" in d for d in deaths) == planned, summary
    print(summary)
