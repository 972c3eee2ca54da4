"""The real services the scenarios run on work, and are cleaned up."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage

import psycopg
from redis import Redis

from tests.services import PostgresDatabases, RedisServer, SmtpSink


def test_redis_server_answers_flushes_and_restarts_empty(redis: RedisServer) -> None:
    client = Redis.from_url(redis.url)
    client.set("k", "v")
    assert client.get("k") == b"v"
    redis.flushall()
    assert client.get("k") is None
    client.set("k", "v")
    port = redis.port
    redis.restart()
    assert redis.port == port and redis.ping()
    assert Redis.from_url(redis.url).get("k") is None  # nothing persisted
    assert not list(redis.directory.glob("*.rdb")) and not list(redis.directory.glob("appendonly*"))


def test_redis_server_stops(tmp_path) -> None:
    server = RedisServer(tmp_path / "r").start()
    proc = server.proc
    assert proc is not None and server.ping()
    server.stop()
    assert proc.poll() is not None and not server.ping()


def test_smtp_server_keeps_what_it_receives(smtp: SmtpSink) -> None:
    msg = EmailMessage()
    msg["From"] = "a@example.org"
    msg["To"] = "b@example.org"
    msg["Subject"] = "Facture F-1 : Rejetée (213)"
    msg.set_content("texte")
    msg.add_alternative("<p>html</p>", subtype="html")
    with smtplib.SMTP("127.0.0.1", smtp.port, timeout=5) as client:
        client.send_message(msg)
    (got,) = smtp.messages
    assert got.rcpt_tos == ["b@example.org"]
    assert got.header("Subject") == "Facture F-1 : Rejetée (213)"
    assert got.text().strip() == "texte" and "html" in got.html()
    smtp.clear()
    assert smtp.messages == []


def test_postgres_databases_are_created_migrated_and_dropped(worker_id: str) -> None:
    from ledger import db

    dbs = PostgresDatabases(tag=f"{worker_id}_selftest")
    url = dbs.create("x")
    try:
        db.upgrade(url)
        assert db.current_revision(url) == db.head_revision()
        with psycopg.connect(url) as conn:
            conn.execute("SELECT count(*) FROM documents").fetchone()
    finally:
        dbs.drop_all()
    check = PostgresDatabases(tag="check")
    try:
        assert not check.exists(url)
    finally:
        check.drop_all()


def test_sample_set_covers_every_defect_kind() -> None:
    from ingest.sample import DEFECTS, plan
    from tests.pipeline.conftest import SCENARIO_COUNT, SCENARIO_SEED

    handed_out = {d for _, _, d in plan(SCENARIO_COUNT, seed=SCENARIO_SEED)}
    assert {d.name for d in DEFECTS} <= handed_out
