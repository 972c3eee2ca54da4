"""Acceptance 3 of issue 7: 90 days of daily dunning runs, with missed days, restarts and crashes.

A seeded world of customers and invoices (payments dated through the 90 days, partial
ones among them; disputes opened and resolved, payment promises kept and broken on set
days) is loaded once; :func:`worker.run_dunning` is then called day by day with ``as_of``,
skipping some days, restarting the runtime on others, failing the mail server on one
and dying between recording and sending on another. An independent model written here
says, invoice by invoice, which step must be done on which run day and for what amount;
the test checks the action rows against it, and the real SMTP server (aiosmtpd) for
each e-mail step exactly once. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import random
import re
import ssl
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pypdf
import pytest
from sqlalchemy import select, update

import worker
import worker.dunning
from ledger import db
from ledger.collections import Dispute, DunningAction, PaymentPromise
from ledger.dunning_store import DEFAULT_SCENARIOS
from ledger.history import HInvoice, History, HPayment, load_history
from ledger.models import CollectorAssignment, Invoice, Party, PartyContact, User
from notify.render import format_date
from notify.transport import SmtpTransport, TransientSendError
from schemas.settings import Settings, get_settings
from tests.ledger import conftest as ledger_db
from tests.services import SmtpSink

postgres_server = ledger_db.postgres_server
db_url = ledger_db.db_url

START = dt.date(2026, 3, 2)  # day 0 of the simulation
DAYS = 90
MISSED = {5, 6, 7, 20, 33, 34, 50, 61, 62, 63, 64, 80}
RESTARTS = {10, 40, 70}
MAIL_DOWN = 25  # the SMTP server fails after two messages that day
DIES = 45  # the run dies after recording, before sending
TWICE = 55  # run twice that day
PROFILES = ("sme", "key_account", "consumer", "public_body", "sme")
SCENARIOS = {s.name: s for s in DEFAULT_SCENARIOS}


@dataclass
class World:
    """The simulated ledger: what is loaded, and what happens on which day."""

    history: History
    languages: list[str]
    emails: list[str | None]
    #: invoice key -> (day opened, day resolved or None)
    disputes: dict[int, tuple[int, int | None]] = field(default_factory=dict)
    #: invoice key -> (day made, day promised)
    promises: dict[int, tuple[int, int]] = field(default_factory=dict)


def day(n: int) -> dt.date:
    return START + dt.timedelta(days=n)


def build_world(seed: int = 7, customers: int = 30, invoices: int = 240) -> World:
    rng = random.Random(seed)
    people: list[tuple[str, str, Decimal | None]] = [
        (f"Client {c:03d}", PROFILES[c % len(PROFILES)], None) for c in range(customers)
    ]
    languages = ["en" if c % 3 == 2 else "fr" for c in range(customers)]
    emails = [None if c in (4, 17) else f"compta{c}@client{c}.test" for c in range(customers)]
    invs: list[HInvoice] = []
    pays: list[HPayment] = []
    for key in range(invoices):
        issue = START - dt.timedelta(days=70) + dt.timedelta(days=rng.randrange(130))
        due = issue + dt.timedelta(days=rng.choice((30, 45)))
        amount = Decimal(rng.randint(10_000, 900_000)) / 100
        invs.append(HInvoice(key, rng.randrange(customers), f"F2026-{key + 1:05d}", issue, due, amount))
        luck = rng.random()
        if luck < 0.45:  # paid in full, late or not
            pays.append(HPayment(key, due + dt.timedelta(days=rng.randint(-10, 40)), amount))
        elif luck < 0.60:  # a part first, the rest later or never
            part = (amount * Decimal("0.4")).quantize(Decimal("0.01"))
            pays.append(HPayment(key, due + dt.timedelta(days=rng.randint(-5, 20)), part))
            if rng.random() < 0.5:
                pays.append(HPayment(key, due + dt.timedelta(days=rng.randint(25, 60)), amount - part))
    world = World(History(people, invs, pays), languages, emails)
    never_paid = [i.key for i in invs if all(p.invoice != i.key for p in pays) and day(5) < i.due < day(60)]
    rng.shuffle(never_paid)
    for key in never_paid[:6]:  # disputes: opened after the due date, half resolved later
        due_day = (invs[key].due - START).days
        world.disputes[key] = (due_day + 2, due_day + 25 if key % 2 else None)
    for n, key in enumerate(never_paid[6:12]):  # promises: made, then kept (paid) or broken
        due_day = (invs[key].due - START).days
        made, on = due_day + 4, due_day + 6
        world.promises[key] = (made, on)
        if n % 2 == 0:
            pays.append(HPayment(key, day(on - 2), invs[key].amount))
    return world


# --------------------------------------------------------------------------- the model


def expected_actions(world: World, run_days: list[int]) -> dict[tuple[int, str], tuple[int, Decimal]]:
    """(invoice key, step) -> (run day it is recorded on, amount still due then): the rules, again."""
    profiles = [p for _, p, _ in world.history.customers]
    out: dict[tuple[int, str], tuple[int, Decimal]] = {}
    for inv in world.history.invoices:
        steps = SCENARIOS[profiles[inv.customer]].steps
        payments = [p for p in world.history.payments if p.invoice == inv.key]
        done: set[str] = set()
        promise = world.promises.get(inv.key)
        settled = False
        for r in run_days:
            left = inv.amount - sum((p.amount for p in payments if p.on <= day(r)), Decimal(0))
            broken = False
            if promise and not settled and promise[0] <= r:
                if r <= promise[1]:
                    continue  # paused until the promised day (inclusive)
                settled, broken = True, left > 0  # promised the whole amount: kept only when paid
            if left <= 0 or inv.issue > day(r):
                continue
            dispute = world.disputes.get(inv.key)
            if dispute and dispute[0] <= r and (dispute[1] is None or r < dispute[1]):
                continue
            pending = [s for s in steps if s.id not in done]
            due_now = [s for s in pending if inv.due + dt.timedelta(days=s.offset_days) <= day(r)]
            if broken and not due_now and pending:
                due_now = [pending[0]]  # a broken promise escalates: the next step at once
            for s in due_now:
                done.add(s.id)
                out[(inv.key, s.id)] = (r, left)
    return out


# --------------------------------------------------------------------------- the run


class FlakyTransport:
    """The real SMTP transport, failing (4xx-like) after ``ok`` messages while ``down``."""

    def __init__(self, inner: SmtpTransport) -> None:
        self.inner = inner
        self.down = False
        self.ok = 0

    def send(self, message: EmailMessage) -> str:
        if self.down:
            if self.ok <= 0:
                raise TransientSendError("451 try again later", where="test")
            self.ok -= 1
        return self.inner.send(message)


class Died(Exception):
    """The run process died (simulated)."""


def _settings(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=None,
        redis_url=None,
        smtp_url=None,
        mail_from="Encaisse Démo <relances@encaisse.test>",
        company_name="Encaisse Démo SAS",
        public_url="https://pay.encaisse.test",
        company_iban="FR7630006000011234567890189",
    )


def load_world(rt: worker.Runtime, world: World) -> dict[int, int]:
    with rt.sessions() as session, session.begin():
        ids = load_history(session, world.history)
        parties = dict(session.execute(select(Party.name, Party.id)).tuples().all())
        for c, (name, _profile, _limit) in enumerate(world.history.customers):
            party_id = parties[name]
            session.execute(update(Party).where(Party.id == party_id).values(language=world.languages[c]))
            session.add(
                PartyContact(
                    party_id=party_id,
                    name=f"Compta {c}",
                    email=world.emails[c],
                    phone=f"+33 1 00 00 00 {c:02d}",
                )
            )
    return ids


def _events_of_day(rt: worker.Runtime, world: World, ids: dict[int, int], n: int) -> None:
    """Disputes opened or resolved and promises made on day ``n`` (before that day's run)."""
    by_key = {inv.key: inv for inv in world.history.invoices}
    with rt.sessions() as session, session.begin():
        for key, (opened, resolved) in world.disputes.items():
            if opened == n:
                session.add(
                    Dispute(invoice_id=ids[key], reason_code="AUTRE", opened_by="test", owner="alice")
                )
            if resolved == n:
                session.execute(
                    update(Dispute)
                    .where(Dispute.invoice_id == ids[key])
                    .values(state="resolved", resolution="credit note refused")
                )
        for key, (made, on) in world.promises.items():
            if made == n:
                amount = by_key[key].amount
                session.add(
                    PaymentPromise(
                        invoice_id=ids[key],
                        promised_on=day(on),
                        amount=amount,
                        amount_due_then=amount,
                        made_by="customer",
                    )
                )


def simulate(db_url: str, tmp_path: Path, smtp: SmtpSink, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    db.upgrade(db_url)
    settings = _settings(tmp_path / "var")
    # one TLS context for the run: SmtpTransport builds one per message otherwise (40 ms each here)
    transport = FlakyTransport(SmtpTransport(smtp.url, timeout=10, ssl_context=ssl.create_default_context()))
    rt = worker.Runtime.from_settings(settings, url=db_url)
    rt.transport = transport
    world = build_world()
    ids = load_world(rt, world)
    run_days = []
    summaries = []
    try:
        for n in range(DAYS):
            _events_of_day(rt, world, ids, n)
            if n in MISSED:
                continue
            run_days.append(n)
            if n in RESTARTS:  # a new process: new engine, new runtime
                rt.engine.dispose()
                rt = worker.Runtime.from_settings(settings, url=db_url)
                rt.transport = transport
            transport.down, transport.ok = n == MAIL_DOWN, 2
            if n == DIES:
                with monkeypatch.context() as m:

                    def die(*args: Any) -> None:
                        raise Died

                    m.setattr(worker.dunning, "_perform_dunning", die)
                    with pytest.raises(Died):
                        worker.run_dunning(day(n), rt=rt)
                continue
            summaries.append(worker.run_dunning(day(n), rt=rt))
            if n == TWICE:
                again = worker.run_dunning(day(n), rt=rt)
                assert (again.recorded, again.emails_sent, again.tasks) == (0, 0, 0)
                assert again.already_done == 0  # nothing planned: what is done is not planned again
        transport.down = False
        with rt.sessions() as session:
            actions = list(session.scalars(select(DunningAction).order_by(DunningAction.id)))
            numbers = dict(session.execute(select(Invoice.id, Invoice.number)).tuples().all())
            session.expunge_all()
        return {
            "world": world,
            "ids": ids,
            "run_days": run_days,
            "summaries": summaries,
            "actions": actions,
            "numbers": numbers,
            "store": rt.store,
        }
    finally:
        rt.engine.dispose()


def test_ninety_days_of_daily_runs(
    db_url: str, tmp_path: Path, smtp: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Acceptance 3, on SQLite and PostgreSQL (see the module's docstring)."""
    # WeasyPrint takes ~0.1-0.2 s a letter here: the 90 days use a stand-in PDF naming the
    # invoices; test_a_run_files_real_pdfs below renders real ones through the same path.
    monkeypatch.setattr("notify.reminders.render_letter_pdf", _stub_pdf)
    sim = simulate(db_url, tmp_path, smtp, monkeypatch)
    sim["messages"] = smtp.messages
    check_each_due_step_once_at_the_right_run(sim)
    check_disputes_and_promises_pause_exactly_their_invoices(sim)
    check_each_email_step_reaches_the_smtp_server_once(sim)
    check_letters_and_formal_notices_are_tasks_with_their_pdf(sim)


def _stub_pdf(data: Any) -> bytes:
    return b"%PDF-1.7 stand-in " + " ".join(line.number for line in data.lines).encode()


def check_each_due_step_once_at_the_right_run(sim: dict[str, Any]) -> None:
    world: World = sim["world"]
    ids: dict[int, int] = sim["ids"]
    key_of = {v: k for k, v in ids.items()}
    expected = expected_actions(world, sim["run_days"])
    steps = [a for a in sim["actions"] if a.mark == a.step]
    got = Counter((key_of[a.invoice_id], a.step) for a in steps)
    assert all(count == 1 for count in got.values()), [k for k, c in got.items() if c > 1]
    assert set(got) == set(expected), {
        "missing": sorted(set(expected) - set(got))[:10],
        "extra": sorted(set(got) - set(expected))[:10],
    }
    for a in steps:
        when, left = expected[(key_of[a.invoice_id], a.step)]
        assert (a.run_date, a.amount_due) == (day(when), left), (key_of[a.invoice_id], a.step)
    assert len(expected) > 300  # the world exercises the scenarios, not a handful of steps


def check_disputes_and_promises_pause_exactly_their_invoices(sim: dict[str, Any]) -> None:
    world: World = sim["world"]
    key_of = {v: k for k, v in sim["ids"].items()}
    steps = [a for a in sim["actions"] if a.mark == a.step]
    for a in steps:
        key = key_of[a.invoice_id]
        if key in world.disputes:
            opened, resolved = world.disputes[key]
            assert not (day(opened) <= a.run_date and (resolved is None or a.run_date < day(resolved)))
        if key in world.promises:
            made, on = world.promises[key]
            assert not day(made) <= a.run_date <= day(on)
    disputed_customers = {world.history.invoices[k].customer for k in world.disputes}
    others = [
        a
        for a in steps
        if world.history.invoices[key_of[a.invoice_id]].customer in disputed_customers
        and key_of[a.invoice_id] not in world.disputes
    ]
    assert others, "the other invoices of a disputing customer go on being dunned"
    broken = [a for a in sim["actions"] if a.mark.startswith("promise-broken:")]
    unpaid_promises = [k for n, k in enumerate(world.promises) if n % 2 == 1]
    assert sorted(key_of[a.invoice_id] for a in broken) == sorted(unpaid_promises)
    profiles = [p for _, p, _ in world.history.customers]
    early = []  # steps a broken promise brought forward, before their own offset
    for a in broken:
        inv = world.history.invoices[key_of[a.invoice_id]]
        offset = next(s.offset_days for s in SCENARIOS[profiles[inv.customer]].steps if s.id == a.step)
        early.append(inv.due + dt.timedelta(days=offset) > a.run_date)
    assert any(early)


def _reminder_invoices(message: EmailMessage) -> list[str]:
    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    return re.findall(r"^(?:Facture|Invoice) (F2026-\d{5})", text, re.M)


def check_each_email_step_reaches_the_smtp_server_once(sim: dict[str, Any]) -> None:
    world: World = sim["world"]
    key_of = {v: k for k, v in sim["ids"].items()}
    numbers: dict[int, str] = sim["numbers"]
    email_steps = [a for a in sim["actions"] if a.mark == a.step and a.channel == "email"]
    no_address = {c for c, e in enumerate(world.emails) if e is None}
    sendable = [
        a for a in email_steps if world.history.invoices[key_of[a.invoice_id]].customer not in no_address
    ]
    assert all(a.state == "sent" for a in sendable)
    assert all(a.state == "failed" for a in email_steps if a not in sendable)
    received: Counter[tuple[str, str]] = Counter()
    for m in sim["messages"]:
        step = m.header("X-Encaisse-Reminder").split(":")[3]
        for number in _reminder_invoices(m.message):
            received[(number, step)] += 1
    assert received == Counter((numbers[a.invoice_id], a.step) for a in sendable)
    ids_by_message = Counter(m.header("Message-ID") for m in sim["messages"])
    assert max(ids_by_message.values()) == 1
    # content: the amount still due, the due date, days late, penalties and indemnity for businesses
    partial = {
        p.invoice for p in world.history.payments if p.amount < world.history.invoices[p.invoice].amount
    }
    checked_partial = checked_consumer = 0
    profiles = [p for _, p, _ in world.history.customers]
    for m in sim["messages"]:
        text = m.text()
        lang = m.header("Content-Language")
        assert m.rcpt_tos and m.rcpt_tos[0].startswith("compta")
        for number in _reminder_invoices(m.message):
            inv = next(i for i in world.history.invoices if i.number == number)
            assert format_date(inv.due, "fr" if lang == "fr" else "en") in text
            assert f"https://pay.encaisse.test/invoices/{sim['ids'][inv.key]}" in text
            assert "FR76 3000 6000 0112 3456 7890 189" in text
            if inv.key in partial and ("Déjà réglé" in text or "Already paid" in text):
                checked_partial += 1
        consumer = profiles[world.history.invoices[key_of[_first_invoice(sim, m)]].customer] == "consumer"
        if consumer:
            checked_consumer += 1
            assert "40 euros" not in text and "indemnit" not in text.lower()
        elif "en retard de" in text or "days late" in text:
            assert ("40,00 EUR" in text) or ("EUR 40.00" in text)
            assert "L441-10" in text
    assert checked_partial > 0 and checked_consumer > 0


def _first_invoice(sim: dict[str, Any], m: Any) -> int:
    action_ids = [int(x) for x in m.header("X-Encaisse-Reminder").split(":")[-1].split(",")]
    by_id = {a.id: a for a in sim["actions"]}
    return int(by_id[action_ids[0]].invoice_id)


def check_letters_and_formal_notices_are_tasks_with_their_pdf(sim: dict[str, Any]) -> None:
    tasks = [a for a in sim["actions"] if a.mark == a.step and a.channel in ("letter", "formal_notice")]
    calls = [a for a in sim["actions"] if a.mark == a.step and a.channel == "call"]
    assert tasks and calls
    for a in tasks:
        assert a.state == "todo"
        match = re.match(r"pdf sha256:([0-9a-f]{64}) (\S+\.pdf)$", a.detail or "")
        assert match, a.detail
        assert sim["store"].get(match.group(1)).startswith(b"%PDF-")
    assert all(a.state == "todo" and (a.detail or "").startswith("call +33") for a in calls)


def test_a_run_files_real_pdfs_and_the_cli_lists_them(
    db_url: str, tmp_path: Path, smtp: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One run on a world where letters and formal notices are due: real PDFs, in the archive store."""
    db.upgrade(db_url)
    settings = _settings(tmp_path / "var")
    rt = worker.Runtime.from_settings(settings, url=db_url)
    rt.transport = SmtpTransport(smtp.url, timeout=10, ssl_context=ssl.create_default_context())
    world = build_world(seed=3, customers=4, invoices=12)
    try:
        load_world(rt, world)
        dry = worker.run_dunning(day(60), True, rt=rt, list_steps=True)
        assert dry.planned > 0 and dry.recorded == 0 and smtp.messages == []
        with rt.sessions() as session:
            assert session.scalars(select(DunningAction)).first() is None  # a dry run writes nothing
        summary = worker.run_dunning(day(60), rt=rt)
        assert summary.recorded == dry.planned and summary.documents > 0
        with rt.sessions() as session:
            tasks = [
                a for a in session.scalars(select(DunningAction)) if a.channel in ("letter", "formal_notice")
            ]
        assert tasks
        for a in tasks:
            digest = (a.detail or "").split()[1].removeprefix("sha256:")
            pdf = rt.store.get(digest)
            assert pdf.startswith(b"%PDF-")
            text = " ".join(p.extract_text() or "" for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)
            assert "L441-10" in text or "1344" in text
        with rt.sessions() as session, session.begin():
            collector = User(email="coll@encaisse.test", name="Coll")
            session.add(collector)
            session.flush()
            session.add(CollectorAssignment(user_id=collector.id, party_id=tasks[0].party_id))
        _cli_checks(db_url, tmp_path, smtp, monkeypatch, tasks, day(60))
    finally:
        rt.engine.dispose()
        worker.configure(None)
        get_settings.cache_clear()


def _cli_checks(
    db_url: str,
    tmp_path: Path,
    smtp: SmtpSink,
    monkeypatch: pytest.MonkeyPatch,
    tasks: list[Any],
    when: dt.date,
) -> None:
    """``encaisse dunning run`` and ``encaisse dunning todo`` on the same database."""
    from typer.testing import CliRunner

    from cli import app

    monkeypatch.setenv("ENCAISSE_DATABASE_URL", db_url)
    monkeypatch.setenv("ENCAISSE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("ENCAISSE_SMTP_URL", smtp.url)
    monkeypatch.delenv("ENCAISSE_REDIS_URL", raising=False)
    get_settings.cache_clear()
    runner = CliRunner()
    again = runner.invoke(app, ["dunning", "run", "--as-of", when.isoformat(), "--json"])
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["recorded"] == 0  # done already: nothing twice
    todo = runner.invoke(app, ["dunning", "todo", "--json"])
    assert todo.exit_code == 0, todo.output
    rows = json.loads(todo.stdout)
    filed = {r["action_id"]: r for r in rows if r["pdf"]}
    assert set(filed) == {a.id for a in tasks}
    assert all(Path(r["pdf"]).read_bytes().startswith(b"%PDF-") for r in filed.values())
    mine = json.loads(
        runner.invoke(app, ["dunning", "todo", "--json", "--collector", "coll@encaisse.test"]).stdout
    )
    assert mine and {r["party_id"] for r in mine} == {tasks[0].party_id}
    first = tasks[0].id
    done = runner.invoke(
        app, ["dunning", "done", str(first), "--by", "coll@encaisse.test", "--note", "posted"]
    )
    assert done.exit_code == 0, done.output
    left = json.loads(runner.invoke(app, ["dunning", "todo", "--json"]).stdout)
    assert first not in {r["action_id"] for r in left} and len(left) == len(rows) - 1
    twice = runner.invoke(app, ["dunning", "done", str(first), "--by", "coll@encaisse.test"])
    assert twice.exit_code == 1 and "nothing to complete" in twice.output
    bad = runner.invoke(app, ["dunning", "run", "--as-of", "yesterday"])
    assert bad.exit_code == 2 and "not a date" in bad.output


class _DiesAfterSending:
    """Delivers the first message, then the process dies before the run records it as sent."""

    def __init__(self, inner: SmtpTransport) -> None:
        self.inner = inner
        self.calls = 0

    def send(self, message: EmailMessage) -> str:
        self.calls += 1
        mid = self.inner.send(message)
        if self.calls == 1:
            raise Died
        return mid


def test_a_run_dying_between_the_mail_server_and_the_commit_resends_the_same_message(
    db_url: str, tmp_path: Path, smtp: SmtpSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SMTP has no two-phase commit: the next run sends that e-mail again, same Message-ID and Date."""
    monkeypatch.setattr("notify.reminders.render_letter_pdf", _stub_pdf)
    db.upgrade(db_url)
    rt = worker.Runtime.from_settings(_settings(tmp_path / "var"), url=db_url)
    inner = SmtpTransport(smtp.url, timeout=10, ssl_context=ssl.create_default_context())
    rt.transport = _DiesAfterSending(inner)
    try:
        load_world(rt, build_world(seed=5, customers=3, invoices=9))
        with pytest.raises(Died):
            worker.run_dunning(day(30), rt=rt)
        first = smtp.messages
        assert len(first) == 1
        rt.transport = inner
        summary = worker.run_dunning(day(31), rt=rt)
        assert summary.emails_sent >= 1  # the e-mail left unrecorded, at least
        again = [m for m in smtp.messages[1:] if m.header("Message-ID") == first[0].header("Message-ID")]
        assert len(again) == 1 and again[0].header("Date") == first[0].header("Date")
        with rt.sessions() as session:
            states = {a.state for a in session.scalars(select(DunningAction)) if a.channel == "email"}
        assert states <= {"sent", "failed"}
        ids = Counter(m.header("Message-ID") for m in smtp.messages)
        assert [mid for mid, n in ids.items() if n > 1] == [first[0].header("Message-ID")]
    finally:
        rt.engine.dispose()
