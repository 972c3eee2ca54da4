"""Refusals (210) and suspensions (208) by a supplier billing-rule set, on real services.

A rule set imported with ``encaisse rules import`` (scope ``suppliers``, stored in
PostgreSQL) asks every supplier invoice for our purchase order (BT-13, else 210
Refusée, CMD_ERR) and for a routing code (BT-10, else 208 Suspendue,
CODE_ROUTAGE_ERR). Invoices with and without them, and a few invalid ones, go
through ``encaisse ingest`` with a real ``redis-server``, two ``encaisse worker``
processes and an aiosmtpd SMTP server:

1. each ends with the status, reasons and events the rules call for; a refused or
   suspended invoice is registered (its number is taken) but not accepted;
2. each refused, suspended or rejected invoice gets exactly one notice, of the
   "refused by the buyer's rules" kind for 210 and 208, naming the rule, the
   reason code and the field;
3. the same files with the same rules (``ENCAISSE_SUPPLIER_RULES``) inline on
   SQLite give the same statuses.
"""

from __future__ import annotations

import random
import time
from decimal import Decimal
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from ingest.generate_cii import to_cii
from ingest.kinds import Profile
from ingest.sample_data import make_invoice
from tests.pipeline.scenario import (
    SUPPLIER_EMAIL,
    Ledger,
    add_supplier,
    ingest_args,
    outcome_of,
    parse_cli_json,
    read_ledger,
    sha256_file,
)
from tests.services import (
    PostgresDatabases,
    Received,
    RedisServer,
    SmtpSink,
    app_env,
    run_encaisse,
    wait_until,
)

pytestmark = pytest.mark.slow

RUN_TIMEOUT = 240.0

RULES = """\
version: 1
name: suppliers-billing-test
scope: suppliers
rules:
  - id: po-required
    kind: field_required
    severity: fatal
    status: "210"
    reason: CMD_ERR
    message_fr: Le numéro de notre bon de commande (BT-13) est obligatoire.
    message_en: Our purchase order number (BT-13) is required.
    params: {fields: [BT-13]}
  - id: routing-code-required
    kind: field_required
    severity: fatal
    status: "208"
    reason: CODE_ROUTAGE_ERR
    message_fr: Indiquez notre code de service (BT-10).
    message_en: Give our service code (BT-10).
    params: {fields: [BT-10]}
"""

#: what each kind of file must end as: (status, reasons, events, rule id)
WANT: dict[str, tuple[str, tuple[str, ...], tuple[str, ...], str | None]] = {
    "accepted": ("203", (), ("202", "203"), None),
    "refused": ("210", ("CMD_ERR",), ("202", "203", "210"), "po-required"),
    "suspended": ("208", ("CODE_ROUTAGE_ERR",), ("202", "203", "208"), "routing-code-required"),
    "invalid": ("213", ("MONTANTTOTAL_ERR",), ("213",), "BR-CO-15"),
}
PLAN = ("accepted", "refused", "suspended", "invalid", "accepted", "refused", "suspended", "accepted")


def billing_files(directory: Path, *, seed: int = 210) -> dict[Path, str]:
    """CII invoices, one per :data:`PLAN` entry, each with or without BT-13 and BT-10 as its kind says."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    out: dict[Path, str] = {}
    for index, kind in enumerate(PLAN):
        inv = make_invoice(rng, 9100 + index)
        inv.purchase_order_reference = None if kind == "refused" else f"PO{rng.randint(100000, 999999)}"
        inv.buyer_reference = None if kind == "suspended" else f"SERV-{rng.randint(10, 99)}"
        if kind == "invalid":  # BR-CO-15: the total with VAT is not the sum
            inv.totals.total_with_vat = (inv.totals.total_with_vat or Decimal(0)) + 10
            inv.totals.amount_due = (inv.totals.amount_due or Decimal(0)) + 10
        path = directory / f"{index:02d}-{kind}.xml"
        path.write_bytes(to_cii(inv, profile=Profile.EN16931))
        out[path] = kind
    return out


def check_billing_run(files: dict[Path, str], ledger: Ledger, messages: list[Received]) -> list[str]:
    """Every way the run differs from :data:`WANT` (empty: all is well)."""
    problems = []
    if len(ledger.documents) != len(files):
        problems.append(f"{len(ledger.documents)} documents for {len(files)} files")
    if ledger.unfinished_jobs or ledger.failed_jobs:
        problems.append(f"outbox: {ledger.unfinished_jobs} unfinished, {ledger.failed_jobs} failed")
    by_doc: dict[str, list[Received]] = {}
    for msg in messages:
        by_doc.setdefault(msg.header("X-Encaisse-Document"), []).append(msg)
    for path, kind in files.items():
        status, reasons, events, _ = WANT[kind]
        doc = ledger.by_digest.get(sha256_file(path))
        if doc is None:
            problems.append(f"{path.name}: lost")
            continue
        if outcome_of(doc) != (status, reasons, events):
            problems.append(f"{path.name}: got {outcome_of(doc)}, want {(status, reasons, events)}")
        if doc.has_invoice != (kind != "invalid"):
            problems.append(f"{path.name}: invoices row {'present' if doc.has_invoice else 'missing'}")
        received = by_doc.get(str(doc.id), [])
        if kind == "accepted":
            if received or doc.notices:
                problems.append(f"{path.name}: accepted, yet {len(received)} notice(s)")
            continue
        if len(received) != 1 or doc.notices != [status]:
            problems.append(f"{path.name}: {len(received)} notices received, rows {doc.notices}")
            continue
        problems.extend(_check_notice(path.name, kind, received[0]))
    return problems


def _check_notice(name: str, kind: str, msg: Received) -> list[str]:
    status, reasons, _, rule = WANT[kind]
    problems = []
    if msg.rcpt_tos != [SUPPLIER_EMAIL] or msg.header("X-Encaisse-Status") != status:
        problems.append(f"{name}: notice to {msg.rcpt_tos} for status {msg.header('X-Encaisse-Status')}")
    text, html = msg.text(), msg.html()
    for needle in (*reasons, rule or ""):
        if needle not in text or needle not in html:
            problems.append(f"{name}: the notice does not mention {needle}")
    if kind in ("refused", "suspended"):
        field = "BT-13" if kind == "refused" else "BT-10"
        if field not in text:
            problems.append(f"{name}: the notice does not name the field {field}")
        # the "refused by the buyer's rules" notice, not the "invalid invoice" one
        words = ("refusée", "règles de facturation") if kind == "refused" else ("suspendue", "manque")
        if not all(w in text for w in (*words, "non respectées", "conforme au format")):
            problems.append(f"{name}: not the billing-rules notice:\n{text[:600]}")
    pdfs = [a for a in msg.attachments() if a.get_content_type() == "application/pdf"]
    if len(pdfs) != 1 or not bytes(pdfs[0].get_content()).startswith(b"%PDF"):
        problems.append(f"{name}: notice carries {len(pdfs)} PDF report(s)")
    return problems


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, str]:
    return billing_files(tmp_path_factory.mktemp("billing"))


@pytest.fixture(scope="module")
def pg_billing_run(
    files: dict[Path, str],
    pg_databases: PostgresDatabases,
    redis_server: RedisServer,
    smtp_server: SmtpSink,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Ledger, list[Received], list[dict[str, Any]]]:
    """The rules imported into PostgreSQL, the files ingested with two workers, everything settled."""
    from ledger import db
    from tests.services import Workers

    workdir = tmp_path_factory.mktemp("pg-billing")
    if not redis_server.ping():
        redis_server.start()
    redis_server.flushall()
    smtp_server.clear()
    url = pg_databases.create("billing")
    db.upgrade(url)
    supplier = add_supplier(url)
    env = app_env(
        data_dir=workdir / "var", database_url=url, redis_url=redis_server.url, smtp_url=smtp_server.url
    )
    rules = workdir / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    imported = run_encaisse(["rules", "import", str(rules)], env=env, cwd=workdir, timeout=120)
    assert imported.returncode == 0, imported.stderr[-3000:]
    pool = Workers(env, workdir / "workers")
    pool.start(2)
    try:
        result = run_encaisse(ingest_args(list(files), supplier), env=env, cwd=workdir, timeout=RUN_TIMEOUT)
        assert result.returncode in (0, 1), result.stderr[-3000:] + pool.logs()
        notices = sum(1 for kind in files.values() if kind != "accepted")
        wait_until(
            lambda: read_ledger(url).settled(len(files)) and len(smtp_server.messages) >= notices,
            timeout=RUN_TIMEOUT,
            interval=0.3,
            what="the billing run to settle",
        )
        time.sleep(1.0)  # a notice sent twice would arrive now
        return read_ledger(url), smtp_server.messages, parse_cli_json(result.stdout)
    finally:
        pool.stop()


def test_billing_rules_refuse_and_suspend_on_real_services(
    files: dict[Path, str], pg_billing_run: tuple[Ledger, list[Received], list[dict[str, Any]]]
) -> None:
    ledger, messages, outputs = pg_billing_run
    problems = check_billing_run(files, ledger, messages)
    assert not problems, "\n".join(problems)
    assert {d.status for d in ledger.documents} == {"203", "210", "208", "213"}
    assert len(messages) == sum(1 for kind in files.values() if kind != "accepted")
    printed = {o["sha256"]: (o["status_code"], o["reasons"]) for o in outputs}
    for path, kind in files.items():
        assert printed[sha256_file(path)] == (WANT[kind][0], list(WANT[kind][1])), path.name


def test_the_same_rules_inline_on_sqlite_give_the_same_statuses(
    files: dict[Path, str],
    pg_billing_run: tuple[Ledger, list[Received], list[dict[str, Any]]],
    tmp_path: Path,
) -> None:
    from ledger import db

    data_dir = tmp_path / "var"
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    env = app_env(data_dir=data_dir, extra={"ENCAISSE_SUPPLIER_RULES": str(rules)})
    url = f"sqlite:///{data_dir / db.SQLITE_FILENAME}"
    db.upgrade(url)
    supplier = add_supplier(url)
    result = run_encaisse(ingest_args(list(files), supplier), env=env, cwd=tmp_path, timeout=RUN_TIMEOUT)
    assert result.returncode in (0, 1), result.stderr[-3000:]
    messages = []
    for path in sorted((data_dir / "outbox").glob("*.eml")):
        msg = message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(msg, EmailMessage)
        messages.append(Received("", [str(msg["To"]).rpartition("<")[2].rstrip(">")], msg))
    ledger = read_ledger(url)
    problems = check_billing_run(files, ledger, messages)
    assert not problems, "\n".join(problems)
    pg_ledger = pg_billing_run[0]
    for path in files:
        digest = sha256_file(path)
        assert outcome_of(ledger.by_digest[digest]) == outcome_of(pg_ledger.by_digest[digest]), path.name
