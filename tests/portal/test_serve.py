"""``encaisse serve``: the portal in its own process, on the embedded SQLite database and on PostgreSQL."""

from __future__ import annotations

import signal
import subprocess

import httpx
import pytest

from ledger import db
from tests.services import app_env, encaisse_command, free_port, wait_until


def _ready(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_serve_answers_on_the_port_it_was_given(tmp_path, request, backend):
    database_url = None
    if backend == "postgresql":
        database_url = request.getfixturevalue("pg_databases").create("serve")
        db.upgrade(database_url)  # PostgreSQL is migrated by `encaisse db upgrade`, never by serve
    env = app_env(data_dir=tmp_path / "var", database_url=database_url)
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        encaisse_command("serve", "--host", "127.0.0.1", "--port", str(port)),
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(
            lambda: _ready(base + "/livez") or proc.poll() is not None, timeout=60, what="encaisse serve"
        )
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()
        ready = httpx.get(base + "/readyz")
        assert ready.status_code == 200, ready.text
        login = httpx.get(base + "/login")
        assert login.status_code == 200 and "__Host-encaisse-csrf" in login.headers["set-cookie"]
        assert "frame-ancestors 'none'" in login.headers["content-security-policy"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()
    assert f"http://localhost:{port}/" in (tmp_path / "serve.log").read_text()


def test_serve_refuses_an_unmigrated_postgresql(tmp_path, pg_databases):
    url = pg_databases.create("unmigrated")
    result = subprocess.run(
        encaisse_command("serve", "--port", str(free_port())),
        env=app_env(data_dir=tmp_path, database_url=url),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "encaisse db upgrade" in result.stderr or "migrat" in result.stderr.lower()
    assert "Traceback" not in result.stderr
