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


@app.command("worker")
def worker_command(
    burst: Annotated[bool, typer.Option("--burst", help="Stop when the queues are empty.")] = False,
    queues: Annotated[
        list[str] | None, typer.Option("--queues", help="Queue names (default: encaisse).")
    ] = None,
) -> None:
    """Run an RQ worker (a SimpleWorker: the compiled stylesheets serve every job)."""
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


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``encaisse`` console script."""
    try:
        app(args=list(argv) if argv is not None else None, prog_name="encaisse")
    except KeyboardInterrupt:
        err.print("interrupted")
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
