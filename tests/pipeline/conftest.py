"""Real services for the pipeline scenarios (see :mod:`tests.services`).

Per test session (per xdist worker): one ``redis-server`` on a free port, one
SMTP server (aiosmtpd), throwaway PostgreSQL databases (one per test, migrated
to head, all dropped at the end). The sample invoices are generated once per
test run and shared by the xdist workers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.services import (  # noqa: F401  (fixtures)
    SampleSet,
    pg_databases,
    pg_url,
    redis,
    redis_server,
    run_root,
    shared_samples,
    smtp,
    smtp_server,
    workers,
)

#: The scenario set: 72 files (every format of ingest.sample.PLAN six times), 20% with a
#: defect; seed 8 hands out every defect kind of ingest.sample.DEFECTS at least once.
SCENARIO_COUNT = 72
SCENARIO_SEED = 8


@pytest.fixture(scope="session")
def scenario_samples(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> SampleSet:
    """The scenario's sample invoices (generated once per test run)."""
    return shared_samples(
        run_root(tmp_path_factory, worker_id) / "encaisse-samples", SCENARIO_COUNT, seed=SCENARIO_SEED
    )


@pytest.fixture
def files_dir(tmp_path: Path) -> Path:
    """A folder for this test's own files."""
    out = tmp_path / "files"
    out.mkdir()
    return out
