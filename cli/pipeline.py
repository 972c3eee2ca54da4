"""`encaisse ingest`, `invoices ...`, `worker` and `jobs`: the pipeline from the command line."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from cli import _fail, _pipeline, _usage_error, app, collect_files, err, out
from schemas.errors import EncaisseError, ErrorCode


def _document_view(session: Any, doc: Any, *, created: bool | None = None) -> dict[str, Any]:
    """The JSON answer for one document (``encaisse ingest`` / ``invoices list``)."""
    from ledger import services
    from schemas.lifecycle import Status

    events = services.history(session, document_id=doc.id)
    report = services.latest_report(session, document_id=doc.id)
    fatal = [
        {k: f.get(k) for k in ("rule_id", "severity", "layer", "message", "terms", "value") if f.get(k)}
        for f in (report.findings if report else [])
        if f.get("severity") == "fatal"
    ]
    view: dict[str, Any] = {
        "document_id": doc.id,
        "sha256": doc.digest,
        "invoice_number": doc.invoice_number,
        "status": Status(doc.status_code).label_fr if doc.status_code else doc.processing_state,
        "status_code": doc.status_code,
        "reasons": list(events[-1].reason_codes) if events and doc.status_code else [],
        "findings": fatal,
        "processing_state": doc.processing_state,
        "file": doc.original_filename,
    }
    if created is not None:
        view["created"] = created
    if doc.last_error:
        view["error"] = doc.last_error
    return view


def _wait_for(rt: Any, ids: Sequence[int], timeout: float) -> bool:
    """Poll the database until every document is done or failed; False on timeout."""
    import time

    from sqlalchemy import select

    from ledger.models import Document

    deadline = time.monotonic() + timeout
    pending = set(ids)
    while pending:
        with rt.sessions() as session:
            rows = session.execute(
                select(Document.id, Document.processing_state).where(Document.id.in_(pending))
            ).all()
        pending -= {i for i, state in rows if state in ("done", "failed")}
        if not pending:
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.25)
    return True


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Invoice files or directories (recursive).")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per document on stdout.")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="With a job queue: wait until processed.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds --wait waits at most.")] = 600.0,
    direction: Annotated[str, typer.Option(help="incoming (from a supplier) or outgoing.")] = "incoming",
    supplier: Annotated[int | None, typer.Option("--supplier", help="Supplier party id.")] = None,
    customer: Annotated[int | None, typer.Option("--customer", help="Customer party id.")] = None,
) -> None:
    """Submit files to the pipeline: archived, registered, validated, decided, answered.

    Without ENCAISSE_REDIS_URL the jobs run here, before the answer; with it they
    are queued for `encaisse worker` (--wait to wait for them). The same bytes
    twice give one document. Exit 0 when every document has a status, 1 otherwise.
    """
    import worker
    from ledger import services

    if direction not in ("incoming", "outgoing"):
        raise _usage_error("--direction must be incoming or outgoing")
    if supplier is not None and customer is not None:
        raise _usage_error("give --supplier or --customer, not both")
    files = collect_files(paths)
    if not files:
        raise _usage_error("no invoice files found")
    rt = _pipeline()
    answers: list[tuple[int, bool]] = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=len(files) < 2,
    ) as progress:
        task = progress.add_task("ingesting", total=len(files))
        for path in files:
            try:
                sub = worker.submit(
                    path.read_bytes(),
                    filename=path.name,
                    direction=direction,
                    supplier_id=supplier,
                    customer_id=customer,
                    rt=rt,
                )
            except EncaisseError as exc:
                err.print(f"[bold red]error:[/] {path}: {exc}")
                raise typer.Exit(code=2 if exc.code is ErrorCode.USAGE else 1) from None
            answers.append((sub.document_id, sub.created))
            progress.advance(task)
    complete = True
    if wait:  # inline too: a duplicate may be being processed by another process
        complete = _wait_for(rt, [i for i, _ in answers], timeout)
        if not complete:
            err.print(f"[yellow]timed out after {timeout:g} s; some documents are still being processed[/]")
    with rt.sessions() as session:
        views = [
            _document_view(session, services.get_document(session, document_id=i), created=created)
            for i, created in answers
        ]
    _print_documents(views, as_json)
    if not complete or any(v["processing_state"] == "failed" for v in views):
        raise typer.Exit(code=1)


def _print_documents(views: Sequence[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        for view in views:
            out.print_json(json.dumps(view, ensure_ascii=False), indent=None)
        return
    table = Table(show_lines=False)
    for col in ("id", "file", "invoice", "status", "reasons", "fatal rules"):
        table.add_column(col)
    for v in views:
        table.add_row(
            str(v["document_id"]),
            v.get("file") or "",
            v["invoice_number"] or "",
            f"{v['status_code'] or ''} {v['status']}".strip(),
            ", ".join(v["reasons"]),
            ", ".join(sorted({f["rule_id"] for f in v["findings"]}))[:60],
        )
    out.print(table)


invoices_app = typer.Typer(help="Documents and their lifecycle.", no_args_is_help=True)
app.add_typer(invoices_app, name="invoices")


@invoices_app.command("list")
def invoices_list(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    status: Annotated[str | None, typer.Option(help="A status code (203) or processing state.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many, newest first.")] = 1000,
) -> None:
    """The documents, newest first."""
    from ledger import services

    rt = _pipeline()
    with rt.sessions() as session:
        views = [
            _document_view(session, d) for d in services.list_documents(session, status=status, limit=limit)
        ]
    _print_documents(views, as_json)


@invoices_app.command("history")
def invoices_history(
    document_id: Annotated[int, typer.Argument(help="Document id.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The lifecycle events of one document, oldest first."""
    from ledger import services
    from schemas.lifecycle import Status

    rt = _pipeline()
    with rt.sessions() as session:
        try:
            events = services.history(session, document_id=document_id)
        except EncaisseError as exc:
            err.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(code=1) from None
        rows: list[dict[str, Any]] = [
            {
                "event_id": e.id,
                "status_code": e.status_code,
                "status": Status(e.status_code).label_fr,
                "reasons": list(e.reason_codes),
                "text": e.text,
                "actor": f"{e.actor_kind}:{e.actor_id}" if e.actor_id else e.actor_kind,
                "occurred_at": e.occurred_at.isoformat(),
                "amount": str(e.amount) if e.amount is not None else None,
            }
            for e in events
        ]
    if as_json:
        for row in rows:
            out.print_json(json.dumps(row, ensure_ascii=False), indent=None)
        return
    table = Table(title=f"document {document_id}")
    for col in ("when (UTC)", "status", "reasons", "actor", "text"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["occurred_at"],
            f"{r['status_code']} {r['status']}",
            ", ".join(r["reasons"]),
            r["actor"],
            r["text"] or "",
        )
    out.print(table)


@invoices_app.command("cdar")
def invoices_cdar(
    document_id: Annotated[int, typer.Argument(help="Document id.")],
    status: Annotated[
        str | None, typer.Option(help="The status event to export (default: the latest).")
    ] = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout.")] = None,
) -> None:
    """Write the CDAR lifecycle message (D22B) of one status event of a document."""
    from ledger import services
    from schemas.cdar import write_cdar

    rt = _pipeline()
    with rt.sessions() as session:
        try:
            doc = services.get_document(session, document_id=document_id)
            events = [
                e
                for e in services.history(session, document_id=document_id)
                if status in (None, e.status_code)
            ]
            if not events:
                raise EncaisseError(
                    f"document {document_id} has no {'event' if status is None else f'{status} event'}",
                    code=ErrorCode.USAGE,
                )
            data = write_cdar(services.event_model(doc, events[-1]))
        except EncaisseError as exc:
            err.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(code=1) from None
    if out_file is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        out_file.write_bytes(data)
        err.print(f"wrote {out_file}")


@invoices_app.command("cdar-import")
def invoices_cdar_import(
    path: Annotated[Path, typer.Argument(help="A CDAR lifecycle message (XML).")],
) -> None:
    """Read a CDAR message from a platform and record its events (an invoice of ours at 203 is published)."""
    import worker
    from ingest.safexml import parse_xml
    from schemas.cdar import read_cdar

    rt = _pipeline()
    try:
        events = read_cdar(parse_xml(path.read_bytes()))
        for answer in worker.import_platform_events(events, rt=rt):
            what = "recorded" if answer.recorded else "already recorded"
            out.print(f"document {answer.document_id}: {answer.status.value} {answer.status.label_fr} {what}")
    except EncaisseError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=1) from None
    except OSError as exc:
        raise _usage_error(f"cannot read {path}: {exc}") from None


@invoices_app.command("import")
def invoices_import(
    csv_file: Annotated[Path, typer.Option("--csv", help="Open receivables (README: invoices import).")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Take over open invoices from another system (idempotent on customer and number)."""
    from payments.receivables import import_receivables

    rt = _pipeline()
    try:
        with rt.sessions() as session, session.begin():
            report = import_receivables(session, path=csv_file).as_dict()
    except EncaisseError as exc:
        raise _fail(exc) from None
    if as_json:
        out.print_json(data=report)
    else:
        out.print(", ".join(f"{k} {v}" for k, v in report.items() if k not in ("file", "refused")))
        for r in report["refused"]:
            out.print(f"  row {r['row']}: {r['reason']}")


@app.command("worker")
def worker_command(
    burst: Annotated[bool, typer.Option("--burst", help="Stop when the queues are empty.")] = False,
    queues: Annotated[
        list[str] | None,
        typer.Option(
            "--queues",
            help="Queue names, in priority order (default: encaisse, then encaisse-notify).",
        ),
    ] = None,
) -> None:
    """Run an RQ worker (a SimpleWorker: the compiled stylesheets serve every job).

    It takes a notice (encaisse-notify) only when no document waits to be processed.
    """
    import worker

    rt = _pipeline()
    try:
        worker.run_worker(queues=queues or (), burst=burst, rt=rt)
    except EncaisseError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=1) from None


@app.command("jobs")
def jobs_command(
    reconcile: Annotated[
        bool, typer.Option("--reconcile", help="Re-dispatch unfinished outbox jobs.")
    ] = False,
    failed: Annotated[bool, typer.Option("--failed", help="List RQ's failed jobs.")] = False,
    retry: Annotated[str | None, typer.Option("--retry", help="Requeue this failed job id.")] = None,
    retry_all: Annotated[bool, typer.Option("--all", help="Requeue every failed job.")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Jobs: reconcile the outbox with the queue, list failed jobs, retry them."""
    import worker

    if not (reconcile or failed or retry or retry_all):
        raise _usage_error("give --reconcile, --failed, --retry ID or --all")
    rt = _pipeline()
    try:
        if reconcile:
            out.print(f"re-dispatched {worker.reconcile(rt)} unfinished job(s)")
        if retry or retry_all:
            done = worker.retry_failed(None if retry_all else [retry or ""], rt=rt)
            out.print(f"requeued {len(done)} job(s): {', '.join(done)}")
        if failed:
            jobs = worker.failed_jobs(rt)
            if as_json:
                for job in jobs:
                    out.print_json(json.dumps(job.__dict__, ensure_ascii=False), indent=None)
            else:
                table = Table(title=f"{len(jobs)} failed job(s)")
                for col in ("job id", "function", "document", "error"):
                    table.add_column(col)
                for job in jobs:
                    table.add_row(job.job_id, job.function, str(job.document_id or ""), job.error[:100])
                out.print(table)
    except EncaisseError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=2 if exc.code is ErrorCode.USAGE else 1) from None
