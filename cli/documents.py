"""`encaisse validate`, `show`, `sample`, `rules ...` and `db upgrade`."""

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
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from cli import _pipeline, _usage_error, app, collect_files, err, out
from schemas.errors import EncaisseError, ErrorCode
from schemas.findings import Severity
from schemas.invoice import Invoice


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
