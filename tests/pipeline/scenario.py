"""Running the pipeline on sample invoices and reading back what it did (for the scenario tests).

:func:`expected_outcome` says, from a sample's manifest entry, which status and
reasons the pipeline must give it. :func:`read_ledger` reads every document's
final state, lifecycle events, notices and outbox rows from the database;
:func:`check_outcomes` compares them with the manifest and returns the list of
problems (empty when all is well), so an assertion shows all of them at once.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ingest.sample import SampleEntry
from ledger import db
from ledger.decision import rejection_reasons
from ledger.models import Document, JobOutbox, LifecycleEvent, Notice, Party, PartyContact
from schemas.errors import ErrorCode
from schemas.lifecycle import Status
from tests.services import Received

SUPPLIER_EMAIL = "factures@fournisseur.example"
FINAL_STATES = ("done", "failed")
UNFINISHED_JOB_STATES = ("pending", "enqueued")
NOTICE_STATUSES = {"501", "213", "210", "208"}

#: The 501 reason for each input error the samples carry (XP Z12-012 IRR_* codes).
IRR_REASONS = {
    ErrorCode.XML_NOT_WELL_FORMED: "IRR_SYNTAX",
    ErrorCode.XML_UNKNOWN_ROOT: "IRR_TYPE_F",
    ErrorCode.PDF_NO_ATTACHMENT: "IRR_TYPE_F",
}


@dataclass(frozen=True)
class Expected:
    """What the pipeline must make of one sample."""

    status: str
    reasons: tuple[str, ...]
    events: tuple[str, ...]  # the status codes of its lifecycle events, in order
    rule_ids: tuple[str, ...] = ()

    @property
    def notice(self) -> bool:
        """Whether the supplier gets a rejection notice."""
        return self.status in NOTICE_STATUSES


def expected_outcome(entry: SampleEntry) -> Expected:
    """Unreadable → 501 with its IRR_* reason; invalid → 213, reasons from its rules; valid → 202, 203."""
    if entry.error_code is not None:
        return Expected("501", (IRR_REASONS[entry.error_code],), ("501",))
    if not entry.expected_valid:
        reasons = tuple(r.value for r in rejection_reasons(entry.fatal_rule_ids))
        return Expected("213", reasons, ("213",), tuple(entry.fatal_rule_ids))
    return Expected("203", (), ("202", "203"))


def sha256_file(path: Path) -> str:
    """The file's SHA-256, lower-case hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class DocState:
    """One document as the ledger holds it after the run."""

    id: int
    digest: str
    status: str | None
    processing_state: str
    last_error: str | None
    events: list[tuple[str, tuple[str, ...]]]
    notices: list[str]  # status codes of its notices rows
    has_invoice: bool

    @property
    def reasons(self) -> tuple[str, ...]:
        """The reasons of the last event."""
        return self.events[-1][1] if self.events else ()


@dataclass
class Ledger:
    """What the database holds after a run."""

    documents: list[DocState]
    unfinished_jobs: int
    failed_jobs: int
    by_digest: dict[str, DocState] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_digest = {d.digest: d for d in self.documents}

    def settled(self, expected_documents: int) -> bool:
        """Every document is there and done (or visibly failed), and the outbox is empty."""
        return (
            len(self.documents) >= expected_documents
            and all(d.processing_state in FINAL_STATES for d in self.documents)
            and self.unfinished_jobs == 0
        )


def read_ledger(url: str) -> Ledger:
    """Read documents, events, notices and outbox counts from the database at ``url``."""
    engine = db.make_engine(url)
    try:
        with db.make_session_factory(engine)() as session:
            docs = session.scalars(select(Document).order_by(Document.id)).all()
            events: dict[int, list[tuple[str, tuple[str, ...]]]] = {}
            for ev in session.scalars(select(LifecycleEvent).order_by(LifecycleEvent.id)):
                events.setdefault(ev.document_id, []).append((ev.status_code, tuple(ev.reason_codes or ())))
            notices: dict[int, list[str]] = {}
            for notice in session.scalars(select(Notice).order_by(Notice.id)):
                notices.setdefault(notice.document_id, []).append(notice.status_code)
            jobs = Counter(state for (state,) in session.execute(select(JobOutbox.state)))
            return Ledger(
                [
                    DocState(
                        id=d.id,
                        digest=d.digest,
                        status=d.status_code,
                        processing_state=d.processing_state,
                        last_error=d.last_error,
                        events=events.get(d.id, []),
                        notices=notices.get(d.id, []),
                        has_invoice=d.invoice is not None,
                    )
                    for d in docs
                ],
                unfinished_jobs=sum(jobs[s] for s in UNFINISHED_JOB_STATES),
                failed_jobs=jobs["failed"],
            )
    finally:
        engine.dispose()


def add_supplier(url: str, *, email: str = SUPPLIER_EMAIL, language: str = "fr") -> int:
    """Register the supplier the files come from (with an invoicing contact) and return its id."""
    engine = db.make_engine(url)
    try:
        with db.make_session_factory(engine)() as session:
            party = Party(kind="supplier", name="Fournisseur d'essai SARL", language=language)
            party.contacts.append(PartyContact(name="Service comptable", email=email, role="billing"))
            session.add(party)
            session.commit()
            return party.id
    finally:
        engine.dispose()


def parse_cli_json(stdout: str) -> list[dict[str, Any]]:
    """The per-document objects ``encaisse ingest --json`` printed (a JSON array, or one object a line)."""
    text = stdout.strip()
    if not text:
        return []
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]
    return value if isinstance(value, list) else [value]


OUTPUT_KEYS = {"document_id", "sha256", "invoice_number", "status", "status_code", "reasons", "findings"}


def outcome_of(doc: DocState) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
    """What a run made of a document: (status, reasons, event statuses): compared across runs."""
    return doc.status, doc.reasons, tuple(code for code, _ in doc.events)


def check_outcomes(
    samples: list[tuple[Path, SampleEntry]],
    ledger: Ledger,
    messages: list[Received],
    outputs: list[dict[str, Any]] | None = None,
) -> list[str]:
    """Every way the run differs from what the manifest and the contract say (empty: all is well)."""
    problems: list[str] = []
    if len(ledger.documents) != len(samples):
        problems.append(f"{len(ledger.documents)} documents in the ledger for {len(samples)} files")
    if ledger.failed_jobs or ledger.unfinished_jobs:
        problems.append(f"outbox: {ledger.failed_jobs} failed, {ledger.unfinished_jobs} unfinished jobs")
    by_doc: dict[str, list[Received]] = {}
    for msg in messages:
        by_doc.setdefault(msg.header("X-Encaisse-Document"), []).append(msg)
    printed = {str(o.get("sha256")): o for o in outputs or []}
    seen_ids: set[str] = set()
    for path, entry in samples:
        want = expected_outcome(entry)
        digest = sha256_file(path)
        doc = ledger.by_digest.get(digest)
        name = path.name
        if doc is None:
            problems.append(f"{name}: no document (lost)")
            continue
        seen_ids.add(str(doc.id))
        if doc.processing_state != "done":
            problems.append(f"{name}: processing_state {doc.processing_state} ({doc.last_error})")
        got = outcome_of(doc)
        if got != (want.status, want.reasons, want.events):
            problems.append(
                f"{name} ({entry.defect or entry.error_code or 'valid'}): got status {got[0]} reasons "
                f"{list(got[1])} events {list(got[2])}, want {want.status} {list(want.reasons)} "
                f"{list(want.events)}"
            )
        if len({code for code, _ in doc.events}) != len(doc.events):
            problems.append(f"{name}: a status recorded twice: {doc.events}")
        if doc.has_invoice != (want.status == "203"):
            problems.append(f"{name}: invoices row {'present' if doc.has_invoice else 'missing'}")
        if outputs is not None:
            out = printed.get(digest)
            if out is None:
                problems.append(f"{name}: not in the ingest output")
            else:
                if not set(out) >= OUTPUT_KEYS:
                    problems.append(f"{name}: output keys {sorted(out)}")
                if str(out.get("document_id")) != str(doc.id) or str(out.get("status_code")) != want.status:
                    problems.append(f"{name}: printed {out.get('document_id')} {out.get('status_code')}")
                printed_rules = {
                    str(f.get("rule_id")) for f in out.get("findings") or [] if isinstance(f, dict)
                }
                if not set(want.rule_ids) <= printed_rules:
                    problems.append(
                        f"{name}: printed findings lack {sorted(set(want.rule_ids) - printed_rules)}"
                    )
        problems.extend(_check_notices(name, entry, want, doc, by_doc.get(str(doc.id), [])))
    strays = sorted(set(by_doc) - seen_ids)
    if strays:
        problems.append(f"notices for unknown documents {strays}")
    return problems


def _check_notices(
    name: str, entry: SampleEntry, want: Expected, doc: DocState, received: list[Received]
) -> list[str]:
    if not want.notice:
        return [f"{name}: accepted, yet {len(received)} notice(s)"] if received else []
    if len(received) != 1:
        return [f"{name}: {len(received)} notices for status {want.status}, want exactly one"]
    if doc.notices != [want.status]:
        return [f"{name}: notices rows {doc.notices}"]
    msg = received[0]
    problems = []
    status = Status(want.status)
    subject = msg.header("Subject")
    if msg.header("X-Encaisse-Status") != want.status or want.status not in subject:
        problems.append(
            f"{name}: notice subject {subject!r}, status header {msg.header('X-Encaisse-Status')}"
        )
    if status.label_fr not in subject and status.label_en not in subject:
        problems.append(f"{name}: notice subject {subject!r} does not say {status.label_fr!r}")
    # a readable invoice is named by its number; a file that could not be read, by its name
    number = (entry.invoice or {}).get("number") if entry.error_code is None else name
    if number and number not in subject:
        problems.append(f"{name}: notice subject {subject!r} does not name {number}")
    if msg.rcpt_tos != [SUPPLIER_EMAIL]:
        problems.append(f"{name}: notice sent to {msg.rcpt_tos}")
    text, html = msg.text(), msg.html()
    for rule in (*want.rule_ids, *want.reasons):
        if rule not in text or rule not in html:
            problems.append(f"{name}: notice does not mention {rule}")
    pdfs = [a for a in msg.attachments() if a.get_content_type() == "application/pdf"]
    if len(pdfs) != 1 or not bytes(pdfs[0].get_content()).startswith(b"%PDF"):
        problems.append(f"{name}: notice carries {len(pdfs)} PDF report(s)")
    return problems


def ingest_args(paths: list[Path], supplier_id: int) -> list[str]:
    """``encaisse ingest --json --wait`` of the files, from the given supplier."""
    return [
        "ingest", "--json", "--wait", "--direction", "incoming", "--supplier", str(supplier_id),
        *map(str, paths),
    ]  # fmt: skip
