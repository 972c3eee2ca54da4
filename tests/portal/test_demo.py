"""``encaisse demo --no-serve`` run twice for real, on SQLite and PostgreSQL: it seeds once, prints logins.

The command runs in a subprocess as a user would run it (inline jobs, files
under its own data folder); the logins it prints sign in to the portal's
password check, every role is there, and the second run adds nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ledger import db
from ledger.models import CollectorAssignment, Document, Invoice, LifecycleEvent, User, UserRole
from portal.security import verify_password
from tests.services import encaisse_command

LOGIN = re.compile(r"│\s*(\w+)\s*│\s*(\S+@demo\.encaisse\.example)\s*│\s*(\S+)\s*│")
ROLES = {"admin", "receivables_manager", "collector", "litigation", "auditor", "customer", "supplier"}


def _run(folder: Path, url: str) -> tuple[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENCAISSE_")}
    env.update(ENCAISSE_DATA_DIR=str(folder / "var"), ENCAISSE_DATABASE_URL=url, COLUMNS="200")
    begin = time.monotonic()
    done = subprocess.run(
        encaisse_command("demo", "--no-serve"),
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    elapsed = time.monotonic() - begin
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    return done.stdout, elapsed


def _counts(url: str) -> dict[str, int]:
    engine = db.make_engine(url)
    try:
        with db.make_session_factory(engine)() as session:
            return {
                "documents": session.scalar(select(func.count()).select_from(Document)) or 0,
                "invoices": session.scalar(select(func.count()).select_from(Invoice)) or 0,
                "events": session.scalar(select(func.count()).select_from(LifecycleEvent)) or 0,
                "users": session.scalar(select(func.count()).select_from(User)) or 0,
                "roles": session.scalar(select(func.count()).select_from(UserRole)) or 0,
                "assignments": session.scalar(select(func.count()).select_from(CollectorAssignment)) or 0,
            }
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_demo_seeds_once_and_prints_working_logins(backend, tmp_path, request):
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'var' / 'encaisse.db'}"
    else:
        url = db.normalize_url(request.getfixturevalue("pg_databases").create("demo"))
    first, first_seconds = _run(tmp_path, url)
    logins = LOGIN.findall(first)
    assert {role for role, _e, _p in logins} == ROLES, first
    counts = _counts(url)
    assert counts["documents"] >= 300 and counts["invoices"] >= 300
    assert counts["assignments"] >= 1

    engine = db.make_engine(url)
    try:
        with db.make_session_factory(engine)() as session:
            for role, email, password in logins:
                user = session.scalars(select(User).where(User.email == email)).one()
                assert verify_password(user.password_hash, password), email
                assert role in {r.role for r in user.roles}
            statuses = set(session.scalars(select(Document.status_code).distinct()))
            samples = session.scalars(
                select(Document).where(Document.original_filename.like("demo-%"), Document.size_bytes > 0)
            ).all()
    finally:
        engine.dispose()
    # every status a demo visitor meets: made available, processing ones, paid, rejected, unreadable
    assert {"203", "204", "205", "206", "207", "208", "209", "210", "211", "212", "213", "501"} <= statuses, (
        statuses
    )
    assert len(samples) == 36 and all(d.processing_state == "done" for d in samples)
    assert {d.direction for d in samples} == {"incoming", "outgoing"}
    assert (tmp_path / "var" / "archive").is_dir()

    second, second_seconds = _run(tmp_path, url)
    assert LOGIN.findall(second) == logins
    assert _counts(url) == counts
    print(f"demo on {backend}: first run {first_seconds:.1f} s, second {second_seconds:.1f} s")
    assert first_seconds < 120 and second_seconds < 60
