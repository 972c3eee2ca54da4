"""The ``encaisse`` command: a thin edge over the stages' public functions."""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from schemas.errors import EncaisseError, ErrorCode
from schemas.findings import Severity
from schemas.invoice import Invoice

app = typer.Typer(
    name="encaisse",
    help="Encaisse: read, validate, register and answer e-invoices, with proof of every step.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

#: Wide enough for the summary table when the output is a file or a pipe.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)

#: File name endings `encaisse validate DIR` picks up when walking a directory.
INVOICE_SUFFIXES = frozenset({".xml", ".pdf"})


def _usage_error(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)


def collect_files(paths: Iterable[Path]) -> list[Path]:
    """Files named on the command line, and invoice-like files found below directories.

    Raises:
        typer.Exit: (exit code 2) when a path does not exist.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in INVOICE_SUFFIXES)
            )
        elif path.is_file():
            files.append(path)
        else:
            raise _usage_error(f"no such file or directory: {path}")
    return files


def _load_rules(spec: str) -> Any:
    """The rule set ``--rules`` names: a YAML file, ``customer:ID`` or ``suppliers`` (stored ones)."""
    from validation.customer_rules import load_ruleset, rules_from_file

    if spec != "suppliers" and not spec.startswith("customer:"):
        return rules_from_file(spec)
    from ledger import services

    with _pipeline().sessions() as session:
        if spec == "suppliers":
            text, what = services.get_ruleset_text(session, scope="suppliers"), "the suppliers"
        else:
            party = services.resolve_customer(session, ref=spec.partition(":")[2].strip())
            text = services.customer_ruleset_text(session, party_id=party.id)
            what = f"customer {party.id} ({party.name})"
    if text is None:
        raise _usage_error(f"no rule set is stored for {what}: import one with `encaisse rules import`")
    return load_ruleset(text, source=spec)


def _iter_reports(
    files: Sequence[Path],
    *,
    ruleset: str | None,
    french: bool | None,
    workers: int,
    rules: str | None,
) -> Iterator[tuple[Path, Any]]:
    from validation import iter_validate

    customer_rules = list(_load_rules(rules).as_customer_rules()) if rules is not None else []
    for name, report in iter_validate(
        files, workers=workers, ruleset=ruleset, french=french, customer_rules=customer_rules
    ):
        yield Path(name), report


def _fmt_amount(value: Decimal | None, currency: str | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.2f} {currency or ''}".strip()


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Invoice files or directories (searched recursively).")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per file on stdout.")] = False,
    ruleset: Annotated[
        str | None, typer.Option("--ruleset", help="Rule set name (default: facturx-7.8).")
    ] = None,
    fr: Annotated[
        bool | None,
        typer.Option(
            "--fr/--no-fr", help="Force the French BR-FR rules on or off (default: seller's country)."
        ),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Parallel worker processes.")] = 1,
    rules: Annotated[
        str | None,
        typer.Option(
            "--rules",
            help="Billing constraints too: a YAML rule-set file, customer:ID (the rule set stored "
            "for that customer: id, SIREN or name) or suppliers (the stored suppliers' rule set).",
        ),
    ] = None,
) -> None:
    """Validate invoices in every layer: safety, XSD, EN 16931 schematron, French rules.

    Exit 0 when all are valid, 1 when any is not, 2 on a usage error.
    """
    files = collect_files(paths)
    if not files:
        raise _usage_error("no invoice files (.xml, .pdf) found in the paths given")
    results: list[tuple[Path, Any]] = []
    try:
        reports = _iter_reports(files, ruleset=ruleset, french=fr, workers=workers, rules=rules)
        if as_json:
            for path, report in reports:
                results.append((path, report))
                sys.stdout.write(json.dumps(report.as_json(str(path)), ensure_ascii=False) + "\n")
                sys.stdout.flush()
        else:
            with Progress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err,
                transient=True,
                disable=len(files) < 2,
            ) as progress:
                task = progress.add_task("validating", total=len(files))
                for path, report in reports:
                    results.append((path, report))
                    progress.advance(task)
            _print_summary(results)
    except EncaisseError as exc:
        if exc.code in (ErrorCode.RULESET_UNKNOWN, ErrorCode.USAGE, ErrorCode.CUSTOMER_RULES_INVALID):
            raise _usage_error(exc.message) from None
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=1) from None
    all_valid = all(report.valid for _, report in results)
    raise typer.Exit(code=0 if all_valid else 1)


def _common_dir(paths: Sequence[Path]) -> Path | None:
    parents = {p.resolve().parent for p in paths}
    if not parents:
        return None
    common = Path(os.path.commonpath([str(p) for p in parents]))
    return common if common != Path(common.anchor) else None


def _print_summary(results: Sequence[tuple[Path, Any]]) -> None:
    base = _common_dir([p for p, _ in results])
    title = f"Validation of {len(results)} file(s) in {base}" if base else "Validation"
    table = Table(title=title, show_lines=False)
    table.add_column("file", overflow="fold")
    table.add_column("format")
    table.add_column("profile")
    table.add_column("number")
    table.add_column("total", justify="right")
    table.add_column("verdict")
    table.add_column("fatal rules", overflow="fold")
    for path, report in results:
        inv: Invoice | None = report.invoice
        fatal = report.rule_ids(Severity.FATAL)
        verdict = "[green]valid[/]" if report.valid else "[red]invalid[/]"
        if report.error is not None:
            verdict = "[red]rejected[/]"
        table.add_row(
            str(path.resolve().relative_to(base)) if base else str(path),
            report.format,
            report.profile or "—",
            (inv.number if inv else None) or "—",
            _fmt_amount(inv.totals.total_with_vat, inv.currency) if inv else "—",
            verdict,
            ", ".join(fatal[:8]) + (f" (+{len(fatal) - 8})" if len(fatal) > 8 else ""),
        )
    out.print(table)
    counts = Counter("valid" if r.valid else "invalid" for _, r in results)
    out.print(f"{len(results)} file(s): {counts['valid']} valid, {counts['invalid']} invalid")
    for path, report in results:
        if report.error is not None:
            out.print(f"[red]{path}[/]: {report.error.get('code')}: {report.error.get('message')}")


@app.command()
def show(
    path: Annotated[Path, typer.Argument(help="An invoice file (PDF or XML).")],
    as_json: Annotated[bool, typer.Option("--json", help="The parsed invoice as JSON.")] = False,
) -> None:
    """Show the parsed invoice, its terms named the EN 16931 way."""
    from ingest.detect import detect
    from ingest.kinds import DocumentKind
    from ingest.parse import parse_invoice

    if not path.is_file():
        raise _usage_error(f"no such file: {path}")
    data = path.read_bytes()
    detection = detect(data)
    if detection.kind is DocumentKind.PLAIN_PDF:
        from ingest.plainpdf import draft_from_pdf

        try:
            draft = draft_from_pdf(data)
        except EncaisseError as exc:
            err.print(f"[bold red]rejected:[/] {exc}")
            raise typer.Exit(code=1) from None
        if as_json:
            sys.stdout.write(json.dumps(draft.as_json(), ensure_ascii=False, default=str) + "\n")
        else:
            _print_draft(draft)
        return
    if detection.xml is None:
        message = f"[{detection.code}] {detection.reason}"
        if as_json:
            sys.stdout.write(json.dumps({"path": str(path), "error": message}) + "\n")
        else:
            err.print(f"[bold red]not an invoice:[/] {message}")
        raise typer.Exit(code=1)
    try:
        invoice = parse_invoice(detection.xml, detection.syntax)
    except EncaisseError as exc:
        err.print(f"[bold red]rejected:[/] {exc}")
        raise typer.Exit(code=1) from None
    if as_json:
        sys.stdout.write(invoice.model_dump_json(exclude_none=True, indent=2) + "\n")
        return
    _print_invoice(invoice, detection.kind.value, detection.profile)


def _kv_table(title: str, rows: Iterable[tuple[str, str, Any]]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("term", style="dim")
    table.add_column("name")
    table.add_column("value", overflow="fold")
    for term_id, name, value in rows:
        if value not in (None, "", [], ()):
            table.add_row(term_id, name, str(value))
    return table


def _party_rows(prefix: str, party: Any) -> list[tuple[str, str, Any]]:
    addr = party.address
    address = None
    if addr is not None:
        address = ", ".join(
            x for x in (addr.line1, addr.line2, addr.postcode, addr.city, addr.country_code) if x
        )
    idents = ", ".join(f"{i.value} ({i.scheme})" if i.scheme else i.value for i in party.identifiers)
    reg = party.legal_registration
    return [
        ("", f"{prefix} name", party.name),
        ("", "identifiers", idents),
        (
            "",
            "legal registration",
            f"{reg.value} ({reg.scheme})" if reg and reg.scheme else reg and reg.value,
        ),
        ("", "VAT number", party.vat_id),
        ("", "electronic address", party.electronic_address and party.electronic_address.value),
        ("", "address", address),
    ]


def _print_invoice(inv: Invoice, kind: str, profile: Any) -> None:
    cur = inv.currency
    out.print(
        _kv_table(
            f"Invoice {inv.number or '?'} ({kind}, profile {profile or '—'})",
            [
                ("BT-1", "number", inv.number),
                ("BT-2", "issue date", inv.issue_date),
                ("BT-3", "type code", inv.type_code),
                ("BT-5", "currency", cur),
                ("BT-9", "due date", inv.due_date),
                ("BT-10", "buyer reference", inv.buyer_reference),
                ("BT-12", "contract", inv.contract_reference),
                ("BT-13", "purchase order", inv.purchase_order_reference),
                ("BT-20", "payment terms", inv.payment_terms),
                ("BT-23", "business process", inv.business_process),
                ("BT-24", "specification", inv.specification_id),
            ],
        )
    )
    seller = [("BG-4", *r[1:]) if i == 0 else r for i, r in enumerate(_party_rows("seller", inv.seller))]
    buyer = [("BG-7", *r[1:]) if i == 0 else r for i, r in enumerate(_party_rows("buyer", inv.buyer))]
    out.print(_kv_table("Parties", seller + buyer))
    if inv.lines:
        lines = Table(title="Lines (BG-25)", title_justify="left")
        for col in ("BT-126 id", "BT-153 item", "BT-129 qty", "BT-146 price", "BT-152 VAT %", "BT-131 net"):
            lines.add_column(col, justify="right" if col[-1] not in "dm" else "left")
        for line in inv.lines:
            lines.add_row(
                line.line_id or "",
                line.item.name or "",
                f"{line.quantity} {line.unit_code or ''}" if line.quantity is not None else "",
                str(line.net_price) if line.net_price is not None else "",
                str(line.vat_rate) if line.vat_rate is not None else "",
                _fmt_amount(line.net_amount, cur),
            )
        out.print(lines)
    if inv.vat_breakdown:
        vat = Table(title="VAT breakdown (BG-23)", title_justify="left")
        for col in ("BT-118 category", "BT-119 rate", "BT-116 taxable", "BT-117 VAT"):
            vat.add_column(col, justify="right")
        for v in inv.vat_breakdown:
            vat.add_row(
                v.category or "",
                str(v.rate) if v.rate is not None else "",
                _fmt_amount(v.taxable_amount, cur),
                _fmt_amount(v.tax_amount, cur),
            )
        out.print(vat)
    t = inv.totals
    out.print(
        _kv_table(
            "Totals (BG-22)",
            [
                ("BT-106", "sum of line net amounts", _fmt_amount(t.line_total, cur)),
                ("BT-109", "total without VAT", _fmt_amount(t.total_without_vat, cur)),
                ("BT-110", "total VAT", _fmt_amount(t.total_vat, cur)),
                ("BT-112", "total with VAT", _fmt_amount(t.total_with_vat, cur)),
                ("BT-113", "paid amount", _fmt_amount(t.prepaid, cur) if t.prepaid is not None else None),
                ("BT-115", "amount due", _fmt_amount(t.amount_due, cur)),
            ],
        )
    )
    if inv.payment is not None:
        p = inv.payment
        ibans = ", ".join(ct.account_id or "" for ct in p.credit_transfers)
        out.print(
            _kv_table(
                "Payment (BG-16)",
                [
                    ("BT-81", "means code", p.means_code),
                    ("BT-83", "remittance information", p.remittance_information),
                    ("BT-84", "account (IBAN)", ibans),
                    ("BT-89", "mandate", p.direct_debit and p.direct_debit.mandate_reference),
                ],
            )
        )


def _print_draft(draft: Any) -> None:
    out.print("[bold yellow]Plain PDF: not an e-invoice.[/] Best-effort draft read from its text:")
    data = draft.as_json()
    table = Table(show_header=True)
    table.add_column("field")
    table.add_column("value", overflow="fold")
    table.add_column("confidence", justify="right")
    for name, field in (data.get("fields") or {}).items():
        if field is None:
            continue
        table.add_row(name, str(field.get("value")), f"{field.get('confidence', 0):.2f}")
    out.print(table)


@app.command()
def sample(
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder to write the invoices and manifest.json to.")
    ],
    count: Annotated[int, typer.Option("--count", min=1, max=100_000, help="How many invoices.")] = 20,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same files.")] = 0,
    invalid_share: Annotated[
        float, typer.Option("--invalid-share", min=0.0, max=1.0, help="Share of files with a known defect.")
    ] = 0.2,
) -> None:
    """Generate realistic synthetic invoices in every format, with a manifest of what each should give."""
    from ingest.sample import generate_samples

    out_dir.mkdir(parents=True, exist_ok=True)
    with Progress(
        TextColumn("generating"), BarColumn(), MofNCompleteColumn(), console=err, transient=True
    ) as progress:
        task = progress.add_task("samples", total=count)
        entries = generate_samples(
            out_dir, count, seed=seed, invalid_share=invalid_share, progress=lambda: progress.advance(task)
        )
    formats = Counter(e.format for e in entries)
    defects = sum(1 for e in entries if not e.expected_valid)
    out.print(
        f"wrote {len(entries)} invoice(s) to {out_dir} "
        f"({', '.join(f'{n} {f}' for f, n in sorted(formats.items()))}; {defects} with a known defect) "
        f"and {out_dir / 'manifest.json'}"
    )


rules_app = typer.Typer(help="Billing constraints (rule sets).", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


@rules_app.command("check")
def rules_check(
    path: Annotated[Path, typer.Argument(help="A YAML rule-set file.")],
) -> None:
    """Check a rule-set file: every problem with the rule and field it concerns; exit 1 if any."""
    from validation.customer_rules import check_rules_file

    ruleset, problems = check_rules_file(path)
    for problem in problems:
        out.print(f"[red]{path}[/]: {problem}")
    if ruleset is None or problems:
        raise typer.Exit(code=1)
    out.print(f"{path}: rule set {ruleset.name!r} ({ruleset.scope}), {len(ruleset.rules)} rule(s), all sound")


db_app = typer.Typer(help="The database: migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply the database migrations (SQLite under ENCAISSE_DATA_DIR, or ENCAISSE_DATABASE_URL)."""
    from ledger.db import current_revision, database_url, upgrade

    try:
        upgrade(revision=revision)
    except EncaisseError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=1) from None
    url = database_url()
    shown = url.split("@")[-1] if "@" in url else url
    out.print(f"database {shown} at revision {current_revision()}")


# --------------------------------------------------------------------------- the pipeline


def _pipeline() -> Any:
    """The jobs' runtime for this process, on a migrated database.

    The embedded SQLite database is migrated on first use; a PostgreSQL database
    behind the code is an error that says to run ``encaisse db upgrade``.
    """
    import worker
    from ledger.db import database_url

    try:
        worker.ensure_database(database_url())
    except EncaisseError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=1) from None
    rt = worker.Runtime.from_settings()
    worker.configure(rt)
    return rt


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
    """Read a CDAR message from a platform and record its events on the matching documents."""
    from ingest.safexml import parse_xml
    from ledger import services
    from schemas.cdar import read_cdar

    rt = _pipeline()
    try:
        events = read_cdar(parse_xml(path.read_bytes()))
        with rt.sessions() as session, session.begin():
            for event in events:
                row, doc = services.record_imported_event(session, event=event)
                what = "already recorded" if row is None else "recorded"
                out.print(f"document {doc.id}: {event.status.value} {event.status.label_fr} {what}")
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
    """Journal a matching run's or a review action's events in the caller's transaction.

    One append for the lot (``SqlJournal.append_many``, one lock): the events are
    those ``archive.service.journal_event`` would write one by one.
    """
    from sqlalchemy import Engine

    from archive.journal import Event
    from archive.journal_sql import SqlJournal
    from payments.posting import note_journaled

    events = [
        Event(item.kind, item.subject, actor, {**item.data, "related": sorted(set(item.related))})
        if item.related
        else Event(item.kind, item.subject, actor, dict(item.data))
        for item in items
    ]
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    entries = SqlJournal(engine).append_many(events, connection=session)
    seqs = {
        item.decision_id: entry.seq
        for item, entry in zip(items, entries, strict=True)
        if item.decision_id is not None
    }
    note_journaled(session, seqs=seqs)


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


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option("--workers", help="Server processes.", min=1, max=64)] = 1,
) -> None:
    """Serve the portal (customers, suppliers, staff) with uvicorn, on a migrated database."""
    import uvicorn

    import worker
    from ledger.db import database_url

    try:
        worker.ensure_database(database_url())
    except EncaisseError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=1) from None
    shown = "localhost" if host in ("127.0.0.1", "::1") else host
    err.print(f"portal: http://{shown}:{port}/  (livez, readyz, metrics beside it)")
    uvicorn.run(
        "portal.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        server_header=False,
        log_level="info",
    )


tokens_app = typer.Typer(help="API tokens of suppliers (the upload API).", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")


@tokens_app.command("create")
def tokens_create(
    supplier: Annotated[int, typer.Option("--supplier", help="Supplier party id.")],
    scope: Annotated[list[str], typer.Option("--scope", help="invoices:write, invoices:read.")],
    user: Annotated[str | None, typer.Option("--user", help="E-mail of the supplier's user.")] = None,
    name: Annotated[str, typer.Option("--name", help="A label to tell tokens apart.")] = "api",
) -> None:
    """Create an API token for a supplier's user; it is shown once, only its hash is kept."""
    from portal.tokens import create_token

    rt = _pipeline()
    try:
        with rt.sessions() as session, session.begin():
            row_id, token = create_token(session, supplier_id=supplier, scopes=scope, email=user, name=name)
    except EncaisseError as exc:
        raise _usage_error(str(exc)) from None
    out.print(f"token {row_id} (shown once, keep it secret):")
    typer.echo(token)


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[int, typer.Argument(help="The token's id.")]) -> None:
    """Revoke an API token: it stops working at once."""
    from portal.tokens import revoke_token

    rt = _pipeline()
    with rt.sessions() as session, session.begin():
        done = revoke_token(session, token_id=token_id)
    if not done:
        raise _usage_error(f"no live token {token_id}")
    out.print(f"token {token_id} revoked")


@app.command("demo")
def demo_command(
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Only seed; do not serve.")] = False,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.", min=1, max=65535)] = 8000,
) -> None:
    """Seed a demo company (customers, suppliers, users of every role, a year of invoices), then serve it.

    Idempotent: a second run adds nothing and prints the same logins.
    """
    from ledger.db import upgrade
    from portal.demo import seed_demo

    try:
        upgrade()
        summary = seed_demo(_pipeline(), progress=lambda message: err.print(f"[dim]demo:[/] {message}"))
    except EncaisseError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=1) from None
    statuses = ", ".join(f"{code}: {n}" for code, n in summary.statuses.items())
    out.print(f"{summary.documents} documents, {summary.invoices} invoices ({statuses})")
    table = Table("role", "e-mail", "password", title="Demo logins")
    for role, email, password in summary.logins:
        table.add_row(role, email, password)
    out.print(table)
    if not no_serve:
        serve_command(host=host, port=port, workers=1)


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


@rules_app.command("import")
def rules_import(
    path: Annotated[Path, typer.Argument(help="A YAML rule-set file.")],
    customer: Annotated[
        str | None,
        typer.Option(
            "--customer", help="The customer (id, SIREN, SIRET or name); default: the file's party."
        ),
    ] = None,
) -> None:
    """Check a rule set and store it in the database under its name (replacing one of that name).

    A customer rule set is stored against its customer, found from ``--customer`` or the
    file's ``party``; ``validate --rules customer:ID`` and outgoing invoices use it.
    """
    from ledger import services
    from validation.customer_rules import check_rules_file

    ruleset, problems = check_rules_file(path)
    for problem in problems:
        err.print(f"[red]{path}[/]: {problem}")
    if ruleset is None or problems:
        raise typer.Exit(code=1)
    ref = customer or ruleset.party
    if str(ruleset.scope) == "customer" and not ref:
        raise _usage_error(f"{path}: a customer rule set needs `party:` in the file or --customer")
    rt = _pipeline()
    with rt.sessions() as session, session.begin():
        try:
            party = (
                services.resolve_customer(session, ref=ref)
                if str(ruleset.scope) == "customer" and ref
                else None
            )
        except EncaisseError as exc:
            raise _usage_error(f"{path}: {exc.message}") from None
        services.save_ruleset(
            session,
            name=ruleset.name,
            scope=str(ruleset.scope),
            yaml_text=path.read_text(encoding="utf-8"),
            party_id=party.id if party else None,
        )
    whose = f" for customer {party.id} ({party.name})" if party else ""
    out.print(f"stored rule set {ruleset.name!r} ({ruleset.scope}{whose}, {len(ruleset.rules)} rule(s))")


@rules_app.command("export")
def rules_export(
    name: Annotated[str, typer.Argument(help="The stored rule set's name.")],
    out_file: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout.")] = None,
) -> None:
    """Write a stored rule set as YAML."""
    from ledger import services

    rt = _pipeline()
    with rt.sessions() as session:
        text = services.get_ruleset_text(session, name=name)
    if text is None:
        err.print(f"[bold red]error:[/] no stored rule set named {name!r}")
        raise typer.Exit(code=1)
    if out_file is None:
        sys.stdout.write(text)
    else:
        out_file.write_text(text, encoding="utf-8")


@app.command("verify-bundle")
def verify_bundle_cmd(
    bundle: Annotated[Path, typer.Argument(help="An evidence bundle (.zip).")],
) -> None:
    """Verify an evidence bundle offline (no database, no configuration): exit 0 proven, 1 failed."""
    from archive.bundle_verify import verify_bundle

    if not bundle.is_file():
        raise _usage_error(f"no such file: {bundle}")
    result = verify_bundle(bundle)
    out.print(result.report())
    raise typer.Exit(code=0 if result.ok else 1)


# --------------------------------------------------------------------------- the archive

archive_app = typer.Typer(
    help="The evidence archive: verify, seal, legal holds, purge, export.", no_args_is_help=True
)
app.add_typer(archive_app, name="archive")
ActorOpt = Annotated[str, typer.Option("--actor", help="Who does it (recorded in the journal).")]


def _operator() -> str:
    return f"staff:{os.environ.get('USER') or 'operator'}"


def _archive() -> tuple[Any, Any]:
    """The runtime (database, store, settings) and its SQL journal."""
    from archive.journal_sql import SqlJournal

    rt = _pipeline()
    return rt, SqlJournal(rt.engine)


def _fail(exc: EncaisseError) -> typer.Exit:
    err.print(f"[bold red]error:[/] {exc}")
    return typer.Exit(code=1)


def _document_of(session: Any, ref: str) -> Any:
    """A document by id, ``invoice:<invoice id>`` or SHA-256 (the ledger's row)."""
    from sqlalchemy import select

    from ledger import services
    from ledger.models import Document, Invoice

    if ref.isdigit():
        return services.get_document(session, document_id=int(ref))
    if ref.startswith("invoice:") and ref[8:].isdigit():
        invoice = session.get(Invoice, int(ref[8:]))
        if invoice is None:
            raise services.DocumentNotFound(f"no invoice {ref[8:]}", where=ref)
        return invoice.document
    doc = session.scalars(select(Document).where(Document.has_sha256(ref))).first()
    if doc is None:
        raise services.DocumentNotFound(f"no document with SHA-256 {ref}", where=ref)
    return doc


def _evidence_input(session: Any, rt: Any, roles: dict[str, str], doc: Any) -> Any:
    """Everything the ledger knows about one document, as the archive's ``BundleInput``."""
    from archive.bundle import BundleInput, NoticeLine, PaymentLine, StatusLine
    from ledger import services
    from schemas.lifecycle_codes import Status

    original = rt.store.get(doc.digest)
    xml = rt.store.get(roles["extracted_xml"]) if "extracted_xml" in roles else None
    report = rt.store.get(roles["validation_report"]) if "validation_report" in roles else None
    inv = doc.invoice
    facts = {
        "document id": str(doc.id),
        "file": doc.original_filename or "",
        "received": str(doc.received_at),
    }
    if inv is not None:
        facts |= {
            "number": inv.number,
            "seller": inv.seller_name or "",
            "buyer": inv.buyer_name or "",
            "issue date": str(inv.issue_date or ""),
            "due date": str(inv.due_date or ""),
            "total with VAT": f"{inv.total_with_vat or ''} {inv.currency or ''}".strip(),
            "amount still due": str(inv.amount_still_due if inv.amount_still_due is not None else ""),
        }
    events = services.history(session, document_id=doc.id)
    return BundleInput(
        document_sha256=doc.digest,
        original=original,
        original_filename=doc.original_filename or "original.bin",
        xml=xml,
        validation_report=report,
        invoice_id=f"invoice:{inv.id}" if inv is not None else None,
        subjects=[f"document:{doc.id}"],
        invoice=facts,
        statuses=[
            StatusLine(
                at=e.occurred_at,
                code=e.status_code,
                label=Status(e.status_code).label_fr,
                reason=", ".join(e.reason_codes) or e.text,
            )
            for e in events
        ],
        notices=[
            NoticeLine(at=n.sent_at, to=n.recipient or "", subject=f"notice for status {n.status_code}")
            for n in services.notices_for(session, document_id=doc.id)
            if n.sent_at is not None
        ],
        payments=[
            PaymentLine(at=e.occurred_at, amount=e.amount, currency=(inv.currency if inv else None) or "EUR")
            for e in events
            if e.status_code == "212" and e.amount is not None
        ],
    )


@app.command("evidence")
def evidence_cmd(
    document: Annotated[
        str, typer.Argument(help="Document id (as in `invoices list`), invoice:ID or SHA-256.")
    ],
    out_file: Annotated[Path, typer.Option("--out", help="The bundle to write (.zip).")],
    actor: ActorOpt = "",
) -> None:
    """Export an invoice's evidence bundle (seals the journal first if needed); journaled."""
    from archive.bundle import export_bundle
    from archive.canonical import sha256_hex
    from archive.journal import EntryKind
    from archive.service import journal_event, objects_by_role, seal_now
    from archive.signing import default_key_path, load_or_create_key, public_pem

    rt, journal = _archive()
    try:
        with rt.sessions() as session:
            digest = _document_of(session, document).digest
        roles = objects_by_role(journal, [digest])  # the XML and report as archived (SQLite: one writer)
        with rt.sessions() as session:
            doc = _document_of(session, digest)
            inp = _evidence_input(session, rt, roles, doc)
        seal_now(engine=rt.engine, settings=rt.settings)
        tsa_ca = rt.settings.tsa_ca_file.read_bytes() if rt.settings.tsa_ca_file else None
        key = load_or_create_key(default_key_path(rt.settings))
        export_bundle(inp, journal, out_file, public_key_pem=public_pem(key), tsa_ca_pem=tsa_ca)
        with rt.sessions() as session, session.begin():
            journal_event(
                session,
                kind=EntryKind.EVIDENCE_EXPORTED,
                subject=inp.document_sha256,
                actor=actor or _operator(),
                data={"bundle_sha256": sha256_hex(out_file.read_bytes())},
                related=[f"document:{doc.id}"],
            )
    except EncaisseError as exc:
        raise _fail(exc) from None
    out.print(f"evidence bundle for document {doc.id} written to {out_file}")


@archive_app.command("verify")
def archive_verify(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Check every object, chain link and seal: exit 0 clean, 1 with each problem classified."""
    from archive.signing import verification_keys
    from archive.timestamp import load_certificates
    from archive.verify import verify_archive

    rt, journal = _archive()
    try:
        roots = load_certificates(rt.settings.tsa_ca_file.read_bytes()) if rt.settings.tsa_ca_file else None
        problems = verify_archive(
            rt.store, journal, public_key=verification_keys(rt.settings), tsa_roots=roots
        )
    except EncaisseError as exc:
        raise _fail(exc) from None
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "ok": not problems,
                    "entries": journal.count(),
                    "problems": [
                        {"class": str(p.problem), "where": p.where, "detail": p.detail} for p in problems
                    ],
                }
            )
        )
    else:
        for p in problems:
            out.print(str(p), markup=False)
        out.print(
            f"{len(problems)} problem(s); {journal.count()} journal entries, {len(journal.seals())} seals"
        )
    raise typer.Exit(code=1 if problems else 0)


@archive_app.command("seal")
def archive_seal() -> None:
    """Seal the journal now (as the daily job does)."""
    from archive.service import run_daily_seal

    rt, _ = _archive()
    try:
        result = run_daily_seal(engine=rt.engine, settings=rt.settings)
    except EncaisseError as exc:
        raise _fail(exc) from None
    out.print(json.dumps(result) if result["sealed"] else "nothing to seal: no entry since the last seal")


@archive_app.command("hold")
def archive_hold(
    action: Annotated[str, typer.Argument(help="set or release")],
    document: Annotated[str, typer.Argument(help="Document id or SHA-256.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (recorded in the journal).")],
    actor: ActorOpt = "",
) -> None:
    """Set or release a legal hold on a document (journaled, with the reason)."""
    from archive.holds import release_legal_hold, set_legal_hold

    if action not in ("set", "release"):
        raise _usage_error("the action is `set` or `release`")
    rt, journal = _archive()
    try:
        with rt.sessions() as session:
            digest = _document_of(session, document).digest
        change = set_legal_hold if action == "set" else release_legal_hold
        hold = change(journal=journal, subject=digest, reason=reason, actor=actor or _operator())
    except EncaisseError as exc:
        raise _fail(exc) from None
    state = "set" if hold.active else "released"
    out.print(f"legal hold {hold.id} on {digest} {state} (journal entry {hold.released_seq or hold.set_seq})")


@archive_app.command("purge")
def archive_purge(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would be purged.")] = False,
    actor: ActorOpt = "",
) -> None:
    """Remove documents past retention and not under legal hold (each purge journaled)."""
    import datetime as dt

    from sqlalchemy import select

    from archive.purge import purge_expired
    from archive.retention import Retained
    from ledger.models import Document, Invoice

    rt, journal = _archive()
    with rt.sessions() as session:
        rows = session.execute(
            select(Document.digest, Document.received_at, Invoice.issue_date, Invoice.type_code)
            .outerjoin(Invoice, Invoice.document_id == Document.id)
            .where(Document.hash_alg == "sha256")
        ).all()
    documents = [
        Retained(d, "credit_note" if t == "381" else "invoice", issued or received.date())
        for d, received, issued, t in rows
    ]
    try:
        report = purge_expired(
            journal=journal,
            store=rt.store,
            documents=documents,
            today=dt.datetime.now(dt.UTC).date(),
            actor=actor or _operator(),
            dry_run=dry_run,
        )
    except EncaisseError as exc:
        raise _fail(exc) from None
    for item in report.planned:
        out.print(
            f"{'would purge' if dry_run else 'purged'} {item.document_sha256} ({item.document_type}, "
            f"kept until {item.retention_until}): {len(item.objects)} object(s)"
        )
    for digest in report.held:
        out.print(f"kept under legal hold: {digest}")
    if report.resumed_objects:
        out.print(f"finished an interrupted purge: {len(report.resumed_objects)} object(s)")


@archive_app.command("export")
def archive_export(folder: Annotated[Path, typer.Argument(help="A new folder for the BagIt bag.")]) -> None:
    """Write the whole archive (objects, journal, seals, holds, purges, keys) as a BagIt bag."""
    from archive.bag import export_bag
    from archive.signing import public_pem, verification_keys

    rt, journal = _archive()
    try:
        tsa_ca = rt.settings.tsa_ca_file.read_bytes() if rt.settings.tsa_ca_file else None
        pems = [public_pem(k) for k in verification_keys(rt.settings)]
        summary = export_bag(
            store=rt.store, journal=journal, out=folder, public_keys_pem=pems, tsa_ca_pem=tsa_ca
        )
    except EncaisseError as exc:
        raise _fail(exc) from None
    out.print(
        f"bag {folder}: {summary.objects} objects, {summary.entries} entries, {summary.seals} seals, "
        f"chain head {summary.chain_head}"
    )


@archive_app.command("import")
def archive_import(
    folder: Annotated[Path, typer.Argument(help="A bag written by `archive export`.")],
) -> None:
    """Restore a bag into this empty instance, after checking every hash, the chain and the seals."""
    from archive.bag import import_bag
    from archive.signing import trust_public_key

    rt, journal = _archive()
    try:
        summary, pems = import_bag(path=folder, store=rt.store, journal=journal)
        for pem in pems:
            trust_public_key(pem, rt.settings)
    except EncaisseError as exc:
        raise _fail(exc) from None
    out.print(
        f"imported {summary.objects} objects, {summary.entries} entries, {summary.seals} seals; "
        f"chain head {summary.chain_head}"
    )


@app.command("receivables")
def receivables_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The day to compute for (YYYY-MM-DD; default: today).")
    ] = None,
) -> None:
    """What customers owe: totals, aging, DSO and its trend, expected cash-in, top late payers."""
    import datetime as dt

    from ledger import receivables

    try:
        day = dt.date.fromisoformat(as_of) if as_of else dt.date.today()
    except ValueError:
        raise _usage_error(f"--as-of {as_of!r} is not a date (YYYY-MM-DD)") from None
    rt = _pipeline()
    with rt.sessions() as session:
        figures = receivables.figures(session, as_of=day).as_json()
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
        late.add_row(c["name"], c["overdue"], c["outstanding"], (c["credit_limit"] or "—") + flag)
    out.print(late)


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


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``encaisse`` console script."""
    try:
        app(args=list(argv) if argv is not None else None, prog_name="encaisse")
    except KeyboardInterrupt:
        err.print("interrupted")
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
