"""`encaisse evidence`, `verify-bundle` and `archive ...`: the evidence archive."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cli import _fail, _operator, _pipeline, _usage_error, app, out
from schemas.errors import EncaisseError


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


def _archive() -> tuple[Any, Any]:
    """The runtime (database, store, settings) and its SQL journal."""
    from archive.journal_sql import SqlJournal

    rt = _pipeline()
    return rt, SqlJournal(rt.engine)


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
