"""Evidence bundles: one document's proof, in a zip anyone can check with sha256sum and openssl.

The caller (the CLI, later the portal) loads the document's facts from the ledger
and hands them over as a :class:`BundleInput`; this module adds the journal
entries about it, their Merkle inclusion proofs up to the seals, the seals with
their signatures and time-stamps, the public key, a readable PDF summary, a
manifest and a README. :func:`archive.bundle_verify.verify_bundle` checks it offline.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from archive.canonical import canonical_json, sha256_hex, utc_text
from archive.journal import Entry, JournalBackend, SealRecord
from archive.merkle import inclusion_proofs
from archive.summary_pdf import SummaryWriter
from schemas.errors import EncaisseError, ErrorCode

BUNDLE_FORMAT = "encaisse-evidence/1"
README_PATH = Path(__file__).with_name("bundle_readme.txt")


class BundleError(EncaisseError):
    """The bundle could not be built (an entry not yet sealed, a missing object...)."""

    code = ErrorCode.ARCHIVE_BUNDLE


class StatusLine(BaseModel):
    """A lifecycle status the invoice went through."""

    at: dt.datetime
    code: str
    label: str
    reason: str | None = None


class NoticeLine(BaseModel):
    """A message sent about the invoice."""

    at: dt.datetime
    to: str
    subject: str


class PaymentLine(BaseModel):
    """Money received for the invoice."""

    at: dt.datetime
    amount: Decimal
    currency: str = "EUR"
    method: str = ""
    reference: str = ""


class ViewLine(BaseModel):
    """Someone looked at or downloaded the invoice in the portal."""

    at: dt.datetime
    who: str
    action: str = "viewed"


class BundleInput(BaseModel):
    """What the caller knows about one document, as plain data."""

    model_config = ConfigDict(frozen=True)

    document_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    original: bytes
    original_filename: str = "original.bin"
    xml: bytes | None = None
    validation_report: bytes | None = None  # the stored report bytes (their SHA-256 is journaled)
    invoice_id: str | None = None
    subjects: list[str] = Field(default_factory=list)  # journal subjects besides the document's SHA-256
    invoice: dict[str, str] = Field(default_factory=dict)  # number, seller, buyer, issue date, amounts...
    statuses: list[StatusLine] = Field(default_factory=list)
    notices: list[NoticeLine] = Field(default_factory=list)
    payments: list[PaymentLine] = Field(default_factory=list)
    portal_views: list[ViewLine] = Field(default_factory=list)


def _safe_name(name: str) -> str:
    base = Path(name.replace("\\", "/")).name.strip() or "original.bin"
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in base)[:120]


def _seal_for(seq: int, seals: Sequence[SealRecord]) -> SealRecord | None:
    for seal in seals:
        f = seal.fields
        if int(f["from_seq"]) <= seq <= int(f["to_seq"]):
            return seal
    return None


_VIEW_KINDS = {"portal_viewed": "viewed", "downloaded": "downloaded"}


def _when(value: dt.datetime | str) -> str:
    """``2026-11-23 09:14:05``: an instant to the second, UTC (the entries keep the full precision)."""
    text = utc_text(value) if isinstance(value, dt.datetime) else value
    return text[:19].replace("T", " ")


def render_summary(inp: BundleInput, entries: Sequence[Entry], exported: str) -> bytes:
    """The readable PDF summary: the invoice, its statuses, notices, payments, portal views and entries.

    Portal views not handed in are read from the journal entries (``portal_viewed``,
    ``downloaded``). Written directly as PDF (:mod:`archive.summary_pdf`) in milliseconds.
    """
    number = inp.invoice.get("number")
    doc = SummaryWriter(f"Evidence summary{f' - invoice {number}' if number else ''}")
    doc.heading(doc.title, 15)
    doc.paragraph(f"Document SHA-256: {inp.document_sha256}")
    doc.paragraph(
        f"Exported {exported}. This summary is a reading aid; the proof is the files listed in "
        "manifest-sha256.txt (see README.txt for how to check them with sha256sum and openssl)."
    )
    doc.heading("Invoice")
    doc.columns(("field", "value"), inp.invoice.items(), (24,))
    doc.heading("Statuses")
    doc.columns(
        ("date (UTC)", "code", "status", "reason"),
        ((_when(s.at), s.code, s.label, s.reason or "") for s in inp.statuses),
        (22, 6, 26),
    )
    doc.heading("Notices sent")
    doc.columns(
        ("date (UTC)", "to", "subject"), ((_when(n.at), n.to, n.subject) for n in inp.notices), (22, 32)
    )
    doc.heading("Payments")
    doc.columns(
        ("date (UTC)", "amount", "method", "reference"),
        ((_when(p.at), f"{p.amount} {p.currency}", p.method, p.reference) for p in inp.payments),
        (22, 18, 14),
    )
    views = [(_when(v.at), v.who, v.action) for v in inp.portal_views] or [
        (_when(e.at), str(e.fields.get("actor", "")), _VIEW_KINDS[e.kind])
        for e in entries
        if e.kind in _VIEW_KINDS
    ]
    doc.heading("Portal views and downloads")
    doc.columns(("date (UTC)", "who", "action"), views, (22, 40))
    doc.heading(f"Journal entries ({len(entries)})")
    doc.columns(
        ("seq", "at (UTC)", "kind", "actor", "entry hash"),
        (
            (str(e.seq), _when(e.at), e.kind, str(e.fields.get("actor", "")), e.hash[:16] + "...")
            for e in entries
        ),
        (8, 22, 20, 28),
    )
    return doc.pdf()


def bundle_files(
    inp: BundleInput,
    journal: JournalBackend,
    *,
    public_key_pem: bytes,
    tsa_ca_pem: bytes | None = None,
    now: dt.datetime | None = None,
    summary: bool = True,
) -> dict[str, bytes]:
    """Every file of the bundle by its path (the manifest and README included)."""
    if sha256_hex(inp.original) != inp.document_sha256:
        raise BundleError("the original bytes do not match the document's SHA-256", where=inp.document_sha256)
    exported = utc_text(now or dt.datetime.now(dt.UTC))
    subjects = {inp.document_sha256, *inp.subjects}
    if inp.invoice_id:
        subjects.add(inp.invoice_id)
    entries = journal.about(subjects)
    if not entries:
        raise BundleError("the journal has no entry about this document", where=inp.document_sha256)
    seals = journal.seals()
    files: dict[str, bytes] = {}
    proofs_by_seal: dict[int, list[Entry]] = {}
    for entry in entries:
        seal = _seal_for(entry.seq, seals)
        if seal is None:
            raise BundleError(
                f"journal entry {entry.seq} is not sealed yet: seal the journal, then export",
                where=str(entry.seq),
            )
        proofs_by_seal.setdefault(seal.number, []).append(entry)
        files[f"journal/{entry.seq:010d}.json"] = entry.body
    last_needed = max(proofs_by_seal)
    for seal in seals[:last_needed]:
        f = seal.fields
        stem = f"seals/{seal.number:06d}"
        files[f"{stem}.json"] = seal.body
        files[f"{stem}.sig"] = seal.signature
        if seal.timestamp:
            files[f"{stem}.tsr"] = seal.timestamp
        covered = proofs_by_seal.get(seal.number)
        if not covered:
            continue
        from_seq, to_seq = int(f["from_seq"]), int(f["to_seq"])
        period = [e.hash for e in journal.iter(from_seq, to_seq)]
        paths = inclusion_proofs(period, [e.seq - from_seq for e in covered])
        for entry in covered:
            proof = {
                "seq": entry.seq,
                "entry_hash": entry.hash,
                "seal": seal.number,
                "leaf_index": entry.seq - from_seq,
                "tree_size": to_seq - from_seq + 1,
                "path": paths[entry.seq - from_seq],
                "merkle_root": f["merkle_root"],
            }
            files[f"proofs/{entry.seq:010d}.json"] = canonical_json(proof)
    original_path = f"document/{_safe_name(inp.original_filename)}"
    files[original_path] = inp.original
    if inp.xml is not None:
        files["document/invoice.xml"] = inp.xml
    if inp.validation_report is not None:
        files["validation-report.json"] = inp.validation_report
    files["keys/seal-public.pem"] = public_key_pem
    if tsa_ca_pem:
        files["keys/tsa-ca.pem"] = tsa_ca_pem
    if summary:
        files["summary.pdf"] = render_summary(inp, entries, exported)
    files["bundle.json"] = canonical_json(
        {
            "format": BUNDLE_FORMAT,
            "document_sha256": inp.document_sha256,
            "original": original_path,
            "invoice_id": inp.invoice_id,
            "exported_at": exported,
            "entries": [e.seq for e in entries],
        }
    )
    files["README.txt"] = README_PATH.read_bytes()
    files["manifest-sha256.txt"] = "".join(
        f"{sha256_hex(data)}  {name}\n" for name, data in sorted(files.items())
    ).encode()
    return files


def write_bundle(files: dict[str, bytes], out: Path) -> Path:
    """Write the files as a zip at ``out`` (via a temporary file, then rename)."""
    out = Path(out)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name])
    tmp = out.with_name(out.name + ".part")
    try:
        tmp.write_bytes(buffer.getvalue())
        tmp.replace(out)
    except OSError as exc:
        raise BundleError(f"cannot write the bundle: {exc.strerror or exc}", where=str(out)) from exc
    return out


def export_bundle(
    inp: BundleInput,
    journal: JournalBackend,
    out: Path,
    *,
    public_key_pem: bytes,
    tsa_ca_pem: bytes | None = None,
    now: dt.datetime | None = None,
) -> Path:
    """Build and write the evidence bundle for one document."""
    files = bundle_files(inp, journal, public_key_pem=public_key_pem, tsa_ca_pem=tsa_ca_pem, now=now)
    return write_bundle(files, out)
