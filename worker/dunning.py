"""The daily dunning run: plan, record once, then send the e-mails and file the collectors' tasks."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from notify.transport import TransientSendError
from worker.core import Runtime, _reuse_tls_context, log, runtime

if TYPE_CHECKING:
    pass


# --------------------------------------------------------------------------- dunning (issue 7)
#
# The daily dunning run composes ledger.dunning (the plan), ledger.dunning_store (the open
# items, the actions recorded once), ledger.penalties (what lateness costs), notify.reminders
# (the e-mail, the letter's PDF), the archive store and journal, and the mail transport.
#
# Order of things, so that a step is done once whatever crashes or runs twice:
# 1. one transaction records every planned step as an action row, unique per (invoice,
#    scenario, mark) with ON CONFLICT DO NOTHING, settles the promises whose day passed and
#    journals the actions: a step recorded is never planned again;
# 2. then the recorded work is performed group by group (one customer, one step, one run
#    day): an e-mail is rendered, sent, and its actions marked ``sent`` in one transaction
#    each; a letter or formal notice gets its PDF stored in the archive and stays ``todo``
#    for a collector, as does a call. Work left by a crashed run (e-mails still ``todo``,
#    tasks without their document) is taken up by the next run, with the same Message-ID.

import datetime as _dt
from decimal import Decimal as _Decimal

JOB_DUNNING = "dunning_run"
DUNNING_ACTOR = "job:dunning_run"


@dataclass
class DunningSummary:
    """What one dunning run planned and did."""

    as_of: _dt.date
    dry_run: bool
    open_items: int = 0
    paused_disputed: int = 0
    paused_promised: int = 0
    planned: int = 0
    planned_by_channel: dict[str, int] = field(default_factory=dict)
    recorded: int = 0
    already_done: int = 0
    emails_sent: int = 0
    emails_failed: int = 0
    emails_deferred: int = 0
    tasks: int = 0
    documents: int = 0
    skipped_paid: int = 0
    promises_kept: int = 0
    promises_broken: int = 0
    seconds: float = 0.0
    steps: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready form."""
        out = {k: v for k, v in self.__dict__.items() if k != "steps"}
        out["as_of"] = self.as_of.isoformat()
        out["seconds"] = round(self.seconds, 3)
        out["steps"] = self.steps
        return out


def run_dunning(
    as_of: _dt.date | None = None,
    dry_run: bool = False,
    *,
    rt: Runtime | None = None,
    baseline: bool = False,
    list_steps: bool = False,
) -> DunningSummary:
    """The daily dunning run for ``as_of`` (default today): plan, record once, then send and file.

    ``dry_run`` computes the plan and writes or sends nothing. ``baseline`` records every
    step already due as ``skipped`` without sending anything: for the first run on a ledger
    imported with its history, so that reminders start from today. ``list_steps`` puts
    each planned step in the summary (the CLI's ``--json``).
    """
    from ledger.dunning import Channel, plan
    from ledger.dunning_store import (
        action_rows,
        load_open_items,
        load_scenarios,
        record_actions,
        settle_promises,
    )

    rt = rt or runtime()
    as_of = as_of or _dt.datetime.now(_dt.UTC).date()
    started = time.perf_counter()
    summary = DunningSummary(as_of=as_of, dry_run=dry_run)
    scenarios = load_scenarios(rt.settings.dunning_scenarios)
    with rt.sessions() as session, session.begin():
        items, _info = load_open_items(session, as_of=as_of, scenarios=scenarios)
        planned = plan(items, scenarios.by_name, as_of)
        summary.open_items = len(items)
        summary.paused_disputed = sum(1 for i in items if i.disputed)
        summary.paused_promised = sum(
            1 for i in items if not i.disputed and any(p.on >= as_of for p in i.promises)
        )
        summary.planned = len(planned)
        for p in planned:
            key = p.step.channel.value
            summary.planned_by_channel[key] = summary.planned_by_channel.get(key, 0) + 1
        if list_steps:
            summary.steps = [
                {
                    "invoice_id": p.invoice_id,
                    "party_id": p.customer_id,
                    "scenario": p.scenario,
                    "step": p.step.id,
                    "channel": p.step.channel.value,
                    "tone": p.step.tone,
                    "fell_due": p.fell_due.isoformat(),
                    "amount_due": str(p.amount_due),
                    "reason": p.reason,
                }
                for p in planned
            ]
        if dry_run:
            summary.seconds = time.perf_counter() - started
            return summary
        state = "skipped" if baseline else "todo"
        rows = action_rows(planned, run_date=as_of, state_for=dict.fromkeys(Channel, state))
        inserted = record_actions(session, rows)
        summary.recorded = len(inserted)
        summary.already_done = len(rows) - len(inserted)
        settled = settle_promises(
            session, as_of=as_of, open_amounts={i.invoice_id: i.amount_due for i in items}
        )
        summary.promises_kept, summary.promises_broken = settled["kept"], settled["broken"]
        _journal_actions(session, inserted, baseline=baseline, as_of=as_of)
    if not baseline:
        _reuse_tls_context(rt.transport)
        _perform_dunning(rt, as_of, summary, {i.invoice_id: i.amount_due for i in items})
    summary.seconds = time.perf_counter() - started
    return summary


def _journal_actions(session: Session, action_ids: Sequence[int], *, baseline: bool, as_of: _dt.date) -> None:
    """One journal entry per action recorded (a baseline is journaled as one entry)."""
    from archive.journal import Event
    from archive.journal_sql import SqlJournal
    from ledger.collections import DunningAction

    if not action_ids:
        return
    journal = SqlJournal(session.get_bind())  # type: ignore[arg-type]
    if baseline:
        event = Event(
            "dunning_baseline", f"dunning:{as_of.isoformat()}", DUNNING_ACTOR, {"actions": len(action_ids)}
        )
        journal.append_many([event], connection=session)
        return
    events = []
    for i in range(0, len(action_ids), 2000):
        for a in session.scalars(select(DunningAction).where(DunningAction.id.in_(action_ids[i : i + 2000]))):
            events.append(
                Event(
                    "dunning_action",
                    f"invoice:{a.invoice_id}",
                    DUNNING_ACTOR,
                    {
                        "action": a.id,
                        "scenario": a.scenario,
                        "mark": a.mark,
                        "channel": a.channel,
                        "state": a.state,
                        "run_date": a.run_date,
                        "fell_due": a.fell_due,
                        "amount_due": _Decimal(a.amount_due),
                    },
                )
            )
    journal.append_many(events, connection=session)


@dataclass
class _Group:
    party_id: int
    scenario: str
    step: str
    channel: str
    run_date: _dt.date
    actions: list[Any] = field(default_factory=list)


def _perform_dunning(
    rt: Runtime, as_of: _dt.date, summary: DunningSummary, open_amounts: dict[int, _Decimal]
) -> None:
    """Send the e-mails and prepare the collectors' tasks recorded and not yet performed.

    ``open_amounts`` is what each open invoice still owes on ``as_of`` (read by the run).
    """
    from sqlalchemy import or_

    from ledger.collections import DunningAction

    with rt.sessions() as session:
        pending = list(
            session.scalars(
                select(DunningAction)
                .where(
                    DunningAction.state == "todo",
                    DunningAction.mark == DunningAction.step,
                    or_(DunningAction.channel == "email", DunningAction.detail.is_(None)),
                )
                .order_by(DunningAction.id)
            )
        )
        session.expunge_all()
    groups: dict[tuple[int, str, str, _dt.date], _Group] = {}
    for a in pending:
        key = (a.party_id, a.scenario, a.step, a.run_date)
        groups.setdefault(key, _Group(a.party_id, a.scenario, a.step, a.channel, a.run_date)).actions.append(
            a
        )
    batch: list[_Group] = []
    for group in groups.values():
        batch.append(group)
        if len(batch) >= 500:
            _perform_batch(rt, as_of, batch, summary, open_amounts)
            batch = []
    if batch:
        _perform_batch(rt, as_of, batch, summary, open_amounts)


def _perform_batch(
    rt: Runtime,
    as_of: _dt.date,
    groups: Sequence[_Group],
    summary: DunningSummary,
    open_amounts: dict[int, _Decimal],
) -> None:
    from ledger.dunning_store import claim_pending, set_action_state

    facts = _reminder_facts(rt, as_of, groups, open_amounts)
    for group in groups:
        with rt.sessions() as session, session.begin():
            # locked and still pending: a run going on at the same time skips them (PostgreSQL)
            claimed = claim_pending(session, action_ids=[a.id for a in group.actions])
            mine = [a for a in group.actions if a.id in claimed]
            live = [a for a in mine if a.invoice_id in facts.open_amounts]
            paid = [a.id for a in mine if a.invoice_id not in facts.open_amounts]
            if paid:
                set_action_state(session, action_ids=paid, state="skipped", detail="paid in the meantime")
                summary.skipped_paid += len(paid)
            if not live:
                continue
            if group.channel == "email":
                _send_reminder(rt, session, as_of, group, live, facts, summary)
            else:
                _file_task(rt, session, as_of, group, live, facts, summary)


@dataclass
class _Facts:
    """What the reminders of a batch need, read in a few queries."""

    open_amounts: dict[int, Any]
    invoices: dict[int, Any]
    parties: dict[int, Any]
    emails: dict[int, tuple[str | None, str | None]]
    phones: dict[int, str | None]
    terms: dict[int, Any]
    payments: dict[int, list[Any]]
    notices: dict[int, _dt.date]
    scenarios: dict[str, Any]


def _reminder_facts(
    rt: Runtime, as_of: _dt.date, groups: Sequence[_Group], all_open: dict[int, _Decimal]
) -> _Facts:

    from ledger import penalties
    from ledger.bank import Payment, PaymentAllocation
    from ledger.collections import CustomerTerms, DunningAction
    from ledger.dunning_store import load_scenarios
    from ledger.models import Invoice, Party, PartyContact

    invoice_ids = sorted({a.invoice_id for g in groups for a in g.actions})
    party_ids = sorted({g.party_id for g in groups})
    with rt.sessions() as session:
        open_amounts: dict[int, Any] = {i: all_open[i] for i in invoice_ids if i in all_open}
        invoices = {i.id: i for i in session.scalars(select(Invoice).where(Invoice.id.in_(invoice_ids)))}
        parties = {p.id: p for p in session.scalars(select(Party).where(Party.id.in_(party_ids)))}
        emails: dict[int, tuple[str | None, str | None]] = {}
        phones: dict[int, str | None] = {}
        rank = {"collection": 0, "billing": 1, "accounting": 2}
        contacts = sorted(
            session.scalars(select(PartyContact).where(PartyContact.party_id.in_(party_ids))),
            key=lambda c: (rank.get(c.role, 9), c.id),
        )
        for c in contacts:
            if c.email and c.party_id not in emails:
                emails[c.party_id] = (c.email, c.name)
            if c.phone and c.party_id not in phones:
                phones[c.party_id] = c.phone
        terms = {
            t.party_id: t
            for t in session.scalars(select(CustomerTerms).where(CustomerTerms.party_id.in_(party_ids)))
        }
        paid: dict[int, list[Any]] = {}
        for invoice_id, on, amount in session.execute(
            select(PaymentAllocation.invoice_id, Payment.received_on, PaymentAllocation.amount)
            .join(Payment, Payment.id == PaymentAllocation.payment_id)
            .where(
                PaymentAllocation.invoice_id.in_(invoice_ids),
                PaymentAllocation.kind.in_(("payment", "writeoff")),
                PaymentAllocation.undone_at.is_(None),
                Payment.undone_at.is_(None),
                Payment.received_on <= as_of,
            )
        ):
            paid.setdefault(invoice_id, []).append(penalties.Payment(on, _Decimal(amount)))
        notices = dict(
            session.execute(
                select(DunningAction.invoice_id, DunningAction.run_date).where(
                    DunningAction.invoice_id.in_(invoice_ids),
                    DunningAction.channel == "formal_notice",
                    DunningAction.mark == DunningAction.step,
                    DunningAction.state.in_(("done", "sent")),
                )
            )
            .tuples()
            .all()
        )
        session.expunge_all()
    scenarios = load_scenarios(rt.settings.dunning_scenarios).by_name
    return _Facts(open_amounts, invoices, parties, emails, phones, terms, paid, notices, scenarios)


def _reminder_data(rt: Runtime, as_of: _dt.date, group: _Group, live: Sequence[Any], facts: _Facts) -> Any:
    """The :class:`notify.reminders.ReminderData` of one group of actions."""
    from ledger.penalties import late_penalties
    from notify.models import company_from_settings
    from notify.reminders import ReminderData, ReminderLine
    from payments.epc import EpcRejected, epc_payload, epc_svg
    from payments.rf import format_rf
    from payments.transfer import invoice_rf

    party = facts.parties[group.party_id]
    consumer = party.profile == "consumer"
    term = facts.terms.get(group.party_id)
    scenario = facts.scenarios.get(group.scenario)
    step = next((s for s in scenario.steps if s.id == group.step), None) if scenario else None
    tone = step.tone if step is not None else ("formal" if group.channel == "formal_notice" else "neutral")
    public = (rt.settings.public_url or "").strip().rstrip("/")
    lang = "en" if (party.language or "fr").startswith("en") else "fr"
    lines: list[ReminderLine] = []
    rates: set[_Decimal] = set()
    for a in sorted(live, key=lambda a: a.invoice_id):
        inv = facts.invoices[a.invoice_id]
        total = _Decimal(inv.amount_due if inv.amount_due is not None else inv.total_with_vat or 0)
        due = inv.due_date or a.fell_due
        pen = late_penalties(
            amount=total,
            due=due,
            as_of=as_of,
            payments=facts.payments.get(a.invoice_id, ()),
            debtor="consumer" if consumer else "business",
            contractual_rate=None
            if term is None or term.penalty_rate is None
            else _Decimal(term.penalty_rate),
            formal_notice=facts.notices.get(a.invoice_id),
        )
        rates.update(s.rate for s in pen.segments)
        reference = invoice_rf(number=inv.number, payment_reference=inv.payment_reference, invoice_id=inv.id)
        lines.append(
            ReminderLine(
                number=inv.number,
                issue_date=inv.issue_date,
                due_date=due,
                total=total,
                amount_due=_Decimal(facts.open_amounts[a.invoice_id]),
                days_late=max((as_of - due).days, 0),
                penalties=pen.interest,
                indemnity=pen.indemnity,
                payment_reference=reference,
                pay_url=f"{public}/invoices/{inv.id}" if public else None,
            )
        )
    basis = None
    if len(rates) == 1:
        rate = rates.pop().normalize()
        basis = f"taux annuel de {str(rate).replace('.', ',')} %" if lang == "fr" else f"at {rate} % a year"
    email, contact = facts.emails.get(group.party_id, (None, None))
    iban, qr = rt.settings.company_iban, None
    if iban and group.channel != "email" and len(lines) == 1:  # a letter paying one invoice: its QR code
        try:
            payload = epc_payload(
                name=rt.settings.company_name[:70],
                iban=iban,
                bic=rt.settings.company_bic,
                amount=lines[0].amount_due,
                reference=lines[0].payment_reference or "",
            )
            qr = epc_svg(payload, title=f"EPC QR code {format_rf(lines[0].payment_reference or '')}")
        except EpcRejected as exc:
            log.warning("no EPC QR code on the letter to party %s: %s", group.party_id, exc)
    address = [x for x in (party.address_line, " ".join(filter(None, (party.postcode, party.city)))) if x]
    return ReminderData(
        key=f"dunning:{group.party_id}:{group.scenario}:{group.step}:{group.run_date.isoformat()}:"
        + ",".join(str(a.id) for a in sorted(live, key=lambda a: a.id)),
        channel="email" if group.channel == "email" else group.channel,
        tone=tone,
        language=lang,
        as_of=as_of,
        company=company_from_settings(rt.settings),
        customer_name=contact or party.name,
        recipient_email=email,
        postal_address=tuple(address),
        business=not consumer,
        lines=tuple(lines),
        penalty_basis=basis,
        portal_url=public or None,
        iban=" ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) if iban else None,
        qr_svg=qr,
        issued_at=min(a.created_at for a in live),
    )


def _send_reminder(
    rt: Runtime,
    session: Session,
    as_of: _dt.date,
    group: _Group,
    live: Sequence[Any],
    facts: _Facts,
    summary: DunningSummary,
) -> None:
    """Render and send one e-mail; its actions become ``sent`` (or ``failed``) with it."""
    from archive.service import journal_event
    from ledger.dunning_store import set_action_state
    from notify.reminders import render_email
    from notify.transport import PermanentSendError

    ids = [a.id for a in live]
    data = _reminder_data(rt, as_of, group, live, facts)
    if data.recipient_email is None:
        set_action_state(
            session, action_ids=ids, state="failed", detail="no e-mail address for this customer"
        )
        summary.emails_failed += 1
        return
    message = render_email(data)
    try:
        sent_id = rt.transport.send(message)
    except PermanentSendError as exc:
        set_action_state(session, action_ids=ids, state="failed", detail=f"not sent: {exc}"[:2000])
        summary.emails_failed += 1
        return
    except TransientSendError as exc:  # left todo: the next run sends it, same Message-ID
        log.warning("dunning e-mail to party %s deferred: %s", group.party_id, exc)
        summary.emails_deferred += 1
        return
    set_action_state(
        session, action_ids=ids, state="sent", detail=f"Message-ID {sent_id} to {data.recipient_email}"
    )
    journal_event(
        session,
        kind="dunning_sent",
        subject=f"invoice:{live[0].invoice_id}",
        actor=DUNNING_ACTOR,
        data={
            "message_id": sent_id,
            "to": data.recipient_email,
            "step": group.step,
            "tone": data.tone,
            "actions": ids,
            "amount_due": data.amount_due,
        },
        related=[f"invoice:{a.invoice_id}" for a in live[1:]],
    )
    summary.emails_sent += 1


def _file_task(
    rt: Runtime,
    session: Session,
    as_of: _dt.date,
    group: _Group,
    live: Sequence[Any],
    facts: _Facts,
    summary: DunningSummary,
) -> None:
    """A collector's task: a call (with the number to dial), or a letter / formal notice with its PDF."""
    from archive.service import archive_object
    from ledger.dunning_store import set_action_state
    from notify.reminders import letter_filename, render_letter_pdf

    ids = [a.id for a in live]
    summary.tasks += 1
    if group.channel == "call":
        phone = facts.phones.get(group.party_id)
        set_action_state(
            session,
            action_ids=ids,
            state="todo",
            detail=f"call {phone}" if phone else "call: no phone number on file",
        )
        return
    data = _reminder_data(rt, as_of, group, live, facts)
    pdf = render_letter_pdf(data)
    digest, _entry = archive_object(
        session,
        store=rt.store,
        data=pdf,
        kind="dunning_document",
        subject=f"invoice:{live[0].invoice_id}",
        actor=DUNNING_ACTOR,
        details={
            "channel": group.channel,
            "step": group.step,
            "actions": ids,
            "file_name": letter_filename(data),
        },
        related=[f"invoice:{a.invoice_id}" for a in live[1:]],
        role=f"dunning_{group.channel}",
    )
    set_action_state(
        session, action_ids=ids, state="todo", detail=f"pdf sha256:{digest} {letter_filename(data)}"
    )
    summary.documents += 1


def dunning_job(as_of: str | None = None, outbox_id: int | None = None) -> str:
    """Job: the daily dunning run (``as_of`` ISO date, default today); returns its summary as text."""
    day = _dt.date.fromisoformat(as_of) if as_of else None
    s = run_dunning(day)
    return (
        f"dunning {s.as_of}: {s.recorded} actions recorded, {s.emails_sent} e-mails sent, "
        f"{s.tasks} tasks, {s.already_done} already done"
    )
