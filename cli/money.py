"""`encaisse bank ...`, `receivables` and `dunning ...`: from statements to cash and collections."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from cli import _fail, _operator, _pipeline, _usage_error, app, err, out
from schemas.errors import EncaisseError

bank_app = typer.Typer(
    help="Bank statements: import (camt.053/054, MT940, CSV), match, review, undo.", no_args_is_help=True
)
app.add_typer(bank_app, name="bank")


@bank_app.command("import")
def bank_import(
    files: Annotated[list[Path], typer.Argument(help="Statement files.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    account: Annotated[str | None, typer.Option(help="Our account's IBAN (CSV files rarely say).")] = None,
    mapping: Annotated[str | None, typer.Option(help="CSV mapping: YAML/JSON file or saved name.")] = None,
) -> None:
    """Import statements; each line is stored once, however often it is imported."""
    from payments.imports import import_file

    rt = _pipeline()
    reports = []
    for path in files:
        with rt.sessions() as session, session.begin():
            report = import_file(session, path=path, account=account, mapping=mapping, actor=_operator())
            reports.append(report)
    if as_json:
        out.print_json(data=[r.as_dict() for r in reports])
    for r in reports if not as_json else []:
        if r.error:
            err.print(f"[bold red]{r.file}[/]: [{r.error['code']}] {r.error['message']}")
            continue
        counts = f"{r.lines_read} read, {r.lines_new} new, {r.duplicates} duplicates"
        out.print(f"{r.file}: {r.format}, {counts}, {len(r.unreadable)} unreadable")
        for u in r.unreadable:
            out.print(f"  {u['where']}: {u['reason']}")
    if any(r.error for r in reports):
        raise typer.Exit(code=1)


def _journal_match(session: Any, items: Sequence[Any], actor: str) -> None:
    """Journal a matching run's or a review action's events in the caller's transaction."""
    from archive.service import journal_many
    from payments.posting import note_journaled

    entries = journal_many(session, items=items, actor=actor)
    note_journaled(
        session,
        seqs={i.decision_id: e.seq for i, e in zip(items, entries, strict=True) if i.decision_id is not None},
    )


@bank_app.command("match")
def bank_match(
    as_json: Annotated[bool, typer.Option("--json", help="One object per statement line.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be done; write nothing.")
    ] = False,
) -> None:
    """Match unmatched statement lines to open invoices: apply the sure ones, queue the rest for review."""
    from payments.apply import run_matching

    rt = _pipeline()
    actor = "system:matcher"
    try:
        with rt.sessions() as session, session.begin():
            run = run_matching(session, actor=actor, dry_run=dry_run)  # a dry run writes nothing
            if not dry_run:
                _journal_match(session, run.journal, actor)
    except EncaisseError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps([r.row for r in run.lines], indent=1))
        return
    counts = run.counts()
    verb = "would be applied" if dry_run else "applied"
    out.print(
        f"{len(run.lines)} lines: {counts['applied']} {verb}, {counts['review']} to review, "
        f"{counts['left']} left unmatched" + (f", {counts['skipped']} skipped" if counts["skipped"] else "")
    )
    unapplied = [r for r in run.lines if r.outcome != "applied"]
    for r in unapplied[:30]:
        out.print(
            f"  {r.row['line_ref']} {r.row['amount']} ({r.outcome}): {r.row['explanation']}", markup=False
        )
    if len(unapplied) > 30:
        out.print(f"  ... and {len(unapplied) - 30} more (--json lists every line)")


@bank_app.command("review")
def bank_review(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The review queue: lines the matcher was not sure about, with their ranked suggestions."""
    from payments.review import list_pending

    rt = _pipeline()
    with rt.sessions() as session:
        items = list_pending(session)
    if as_json:
        typer.echo(json.dumps(items, indent=1))
        return
    if not items:
        out.print("the review queue is empty")
    for it in items:
        ln = it["line"]
        out.print(
            f"[bold]decision {it['decision_id']}[/] {ln['line_ref']} {ln['booking_date']} {ln['amount']} "
            f"{ln['currency']} {ln['counterparty_name'] or ''}"
        )
        for s in it["suggestions"]:
            numbers = ", ".join(f"{x['number']} ({x['amount']})" for x in s["invoices"]) or "no invoice"
            out.print(f"  {s['rank']}. {numbers} -- {s['confidence']}: {s['explanation']}", markup=False)


def _review_action(fn: Any, **kwargs: Any) -> None:
    rt = _pipeline()
    actor = _operator()
    try:
        with rt.sessions() as session, session.begin():
            result = fn(session, actor=actor, **kwargs)
            _journal_match(session, result.journal, actor)
            d = result.decision
            out.print(f"decision {d.id}: {d.action} ({d.state}) -- {d.explanation}")
    except EncaisseError as exc:
        raise _fail(exc) from None


@bank_app.command("confirm")
def bank_confirm(
    decision_id: Annotated[int, typer.Argument(help="A proposed decision (bank review).")],
    choice: Annotated[int, typer.Option("--choice", help="Rank of the suggestion to apply.")] = 0,
) -> None:
    """Apply a suggestion of the review queue (the best one unless --choice says another)."""
    from payments.review import confirm

    _review_action(confirm, decision_id=decision_id, choice=choice)


@bank_app.command("reject")
def bank_reject(
    decision_id: Annotated[int, typer.Argument(help="A proposed decision (bank review).")],
    reason: Annotated[str | None, typer.Option("--reason")] = None,
) -> None:
    """The line belongs to none of the suggested invoices: take it out of the queue."""
    from payments.review import reject

    _review_action(reject, decision_id=decision_id, reason=reason)


@bank_app.command("undo")
def bank_undo(
    decision_id: Annotated[int, typer.Argument(help="An applied or rejected decision.")],
    reason: Annotated[str | None, typer.Option("--reason")] = None,
) -> None:
    """Undo a decision: allocations reversed, amounts due and statuses restored, the line back in review."""
    from payments.review import undo

    _review_action(undo, decision_id=decision_id, reason=reason)


@app.command("receivables")
def receivables_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The day to compute for (YYYY-MM-DD; default: today).")
    ] = None,
) -> None:
    """What customers owe: totals, aging, DSO and its trend, expected cash-in, top late payers."""
    import datetime as dt

    from ledger import alerts, receivables
    from schemas.settings import get_settings

    try:
        day = dt.date.fromisoformat(as_of) if as_of else dt.date.today()
    except ValueError:
        raise _usage_error(f"--as-of {as_of!r} is not a date (YYYY-MM-DD)") from None
    rt = _pipeline()
    settings = get_settings()
    with rt.sessions() as session:
        computed = receivables.figures(session, as_of=day)
        found = alerts.alerts(
            session,
            as_of=day,
            cash_in_days=settings.alert_cash_in_days,
            cash_in_threshold=settings.alert_cash_in_threshold,
            limitation_months=settings.alert_limitation_months,
            figures=computed,
        )
    figures = computed.as_json()
    figures["alerts"] = [a.as_json() for a in found]
    if as_json:
        sys.stdout.write(json.dumps(figures, ensure_ascii=False) + "\n")
        return
    out.print(
        f"[bold]Receivables on {figures['as_of']}[/]: due {figures['total_due']}, "
        f"overdue {figures['overdue']}, "
        f"next 7 days {figures['due_next_7_days']}, next 30 days {figures['due_next_30_days']}; "
        f"DSO {figures['dso_days']} days"
    )
    aging = Table("not yet due", "1-30", "31-60", "61-90", "over 90", title="Aging")
    aging.add_row(*figures["aging"].values())
    out.print(aging)
    weeks = Table("week of", "expected", title="Expected cash-in")
    for week in figures["forecast"]:
        weeks.add_row(week["week_of"], week["amount"])
    weeks.add_row("later", figures["forecast_later"])
    out.print(weeks)
    late = Table("customer", "overdue", "outstanding", "credit limit", title="Top late payers")
    for c in figures["top_late_payers"]:
        flag = " [red](over)[/]" if c["over_limit"] else ""
        late.add_row(escape(c["name"]), c["overdue"], c["outstanding"], (c["credit_limit"] or "—") + flag)
    out.print(late)
    shown = 50
    table = Table("severity", "kind", "alert", title=f"Alerts ({len(found)})")
    for a in sorted(found, key=lambda a: a.severity != "critical")[:shown]:
        colour = "red" if a.severity == "critical" else "yellow"
        table.add_row(f"[{colour}]{a.severity}[/]", a.kind, escape(a.message_en))
    if len(found) > shown:
        table.add_row("", "", f"... and {len(found) - shown} more (--json lists them all)")
    out.print(table)


# --------------------------------------------------------------------------- dunning (issue 7)

dunning_app = typer.Typer(help="Dunning: the daily run and the collectors' to-do list.", no_args_is_help=True)
app.add_typer(dunning_app, name="dunning")


@dunning_app.command("run")
def dunning_run(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The day to run for (YYYY-MM-DD; default: today).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Plan only: record, send and file nothing.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="The summary (and the planned steps) as JSON.")
    ] = False,
    baseline: Annotated[
        bool,
        typer.Option("--baseline", help="First run on an imported ledger: record what is due as skipped."),
    ] = False,
) -> None:
    """Plan the reminders due, record each once, send the e-mails and file the collectors' tasks."""
    import datetime as dt

    import worker

    try:
        day = dt.date.fromisoformat(as_of) if as_of else None
    except ValueError:
        raise _usage_error(f"--as-of {as_of!r} is not a date (YYYY-MM-DD)") from None
    rt = _pipeline()
    try:
        summary = worker.run_dunning(day, dry_run, rt=rt, baseline=baseline, list_steps=as_json)
    except EncaisseError as exc:
        raise _fail(exc) from None
    if as_json:
        sys.stdout.write(json.dumps(summary.as_json(), ensure_ascii=False) + "\n")
        return
    s = summary
    what = "would do" if s.dry_run else "did"
    channels = ", ".join(f"{n} {c}" for c, n in sorted(s.planned_by_channel.items())) or "nothing"
    out.print(
        f"[bold]Dunning on {s.as_of}[/] ({what}): {s.open_items} open invoices, "
        f"{s.planned} steps due ({channels})"
    )
    out.print(f"  paused: {s.paused_disputed} disputed, {s.paused_promised} under a payment promise")
    if not s.dry_run:
        out.print(
            f"  recorded {s.recorded} (already done: {s.already_done}); e-mails sent {s.emails_sent}, "
            f"failed {s.emails_failed}, deferred {s.emails_deferred}; "
            f"tasks {s.tasks} ({s.documents} documents); "
            f"promises kept {s.promises_kept}, broken {s.promises_broken}"
        )


@dunning_app.command("todo")
def dunning_todo(
    collector: Annotated[
        str | None,
        typer.Option("--collector", help="A collector's e-mail: only the customers assigned to them."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array on stdout.")] = False,
) -> None:
    """The collectors' to-do list: calls to make, letters and formal notices to post, e-mails that failed."""
    from sqlalchemy import select

    from ledger.dunning_store import todo_list
    from ledger.models import CollectorAssignment, Invoice, Party, User

    rt = _pipeline()
    with rt.sessions() as session:
        parties: list[int] | None = None
        if collector is not None:
            user = session.scalar(select(User).where(User.email == collector.strip().lower()))
            if user is None:
                raise _usage_error(f"no user {collector!r}")
            parties = list(
                session.scalars(
                    select(CollectorAssignment.party_id).where(CollectorAssignment.user_id == user.id)
                )
            )
        actions = todo_list(session, party_ids=parties)
        names = dict(
            session.execute(select(Party.id, Party.name).where(Party.id.in_({a.party_id for a in actions})))
            .tuples()
            .all()
        )
        numbers = dict(
            session.execute(
                select(Invoice.id, Invoice.number).where(Invoice.id.in_({a.invoice_id for a in actions}))
            )
            .tuples()
            .all()
        )
        rows = []
        for a in actions:
            pdf = None
            if a.detail and a.detail.startswith("pdf sha256:"):
                pdf = str(rt.store.path(a.detail.split()[1].removeprefix("sha256:")))
            rows.append(
                {
                    "action_id": a.id,
                    "party_id": a.party_id,
                    "customer": names.get(a.party_id, ""),
                    "invoice_id": a.invoice_id,
                    "invoice": numbers.get(a.invoice_id, ""),
                    "channel": a.channel,
                    "step": a.step,
                    "state": a.state,
                    "fell_due": a.fell_due.isoformat(),
                    "since": a.run_date.isoformat(),
                    "amount_due": str(a.amount_due),
                    "detail": a.detail,
                    "pdf": pdf,
                }
            )
    if as_json:
        sys.stdout.write(json.dumps(rows, ensure_ascii=False) + "\n")
        return
    table = Table("since", "customer", "invoice", "what", "amount due", "detail", title="Dunning to-do")
    for r in rows:
        what = r["channel"] if r["state"] == "todo" else f"{r['channel']} ({r['state']})"
        table.add_row(
            r["since"], r["customer"], r["invoice"], what, r["amount_due"], r["pdf"] or r["detail"] or ""
        )
    out.print(table)


@dunning_app.command("done")
def dunning_done(
    action_id: Annotated[int, typer.Argument(help="The task's action id (see `encaisse dunning todo`).")],
    by: Annotated[str, typer.Option("--by", help="Who did it (journaled).")],
    note: Annotated[str | None, typer.Option("--note", help="What came of it (a call's outcome...).")] = None,
) -> None:
    """Mark a collector's task done: the call made, the letter or formal notice posted."""
    from archive.service import journal_event
    from ledger.dunning_store import complete_action

    rt = _pipeline()
    try:
        with rt.sessions() as session, session.begin():
            action = complete_action(session, action_id=action_id, by=by, note=note)
            journal_event(
                session,
                kind="dunning_done",
                subject=f"invoice:{action.invoice_id}",
                actor=f"staff:{by}",
                data={
                    "action": action.id,
                    "channel": action.channel,
                    "step": action.step,
                    "note": note or "",
                },
            )
            out.print(f"task {action.id} ({action.channel} {action.step}) done")
    except EncaisseError as exc:
        raise _fail(exc) from None
