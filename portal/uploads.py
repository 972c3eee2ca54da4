"""Suppliers' uploads: one invoice file or a zip of several, bounded, handed to the pipeline.

What is refused, before anything is stored (RELIABILITY 7 and 12):

* a file whose first bytes are neither a PDF, XML nor a zip, whatever its name
  says (415);
* a zip with more than :data:`MAX_ZIP_ENTRIES` entries, more than
  ``max_upload_bytes`` uncompressed, or an entry inflating more than
  :data:`MAX_ZIP_RATIO` times (400, ``ZIP_BOMB``): declared sizes are checked
  first, then enforced while inflating (:func:`ingest.limits.open_zip_bounded`),
  so a lying header stops at the cap;
* an entry of the zip that is itself not a PDF or XML (415).

Each accepted file goes to :func:`worker.submit` (archived, registered,
processed inline or queued), and :func:`document_view` says where it is.
"""

from __future__ import annotations

import threading
import zipfile
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from sqlalchemy.orm import Session

import worker
from ingest.limits import open_zip_bounded
from ledger import services
from ledger.models import Document
from portal.errors import HttpError
from portal.state import PortalState
from schemas.errors import ErrorCode, InputRejected
from schemas.lifecycle import ReasonCode, Status

MAX_ZIP_ENTRIES = 200
#: an entry inflating more than this many times its compressed size is a bomb
MAX_ZIP_RATIO = 200
_PDF, _ZIP = b"%PDF-", b"PK\x03\x04"
_runtime_lock = threading.Lock()


class UnsupportedUpload(HttpError):
    """The bytes are not a PDF, an XML document or a zip of them (415)."""

    def __init__(self, message: str) -> None:
        super().__init__(415, message, code=ErrorCode.NOT_AN_INVOICE)


def kind_of(data: bytes) -> str | None:
    r"""``pdf``, ``xml``, ``zip`` from the first bytes, or ``None``.

    >>> kind_of(b"%PDF-1.7"), kind_of(b"\xef\xbb\xbf  <?xml"), kind_of(b"PK\x03\x04"), kind_of(b"MZ")
    ('pdf', 'xml', 'zip', None)
    """
    head = data[:1024]
    if head.startswith(_PDF):
        return "pdf"
    if head.startswith(_ZIP):
        return "zip"
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    return "xml" if text.startswith(b"<") else None


def _check_ratios(data: bytes) -> None:
    try:
        with zipfile.ZipFile(BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise InputRejected(
            f"the file is not a readable zip archive: {exc}", code=ErrorCode.NOT_AN_INVOICE
        ) from None
    for info in infos:
        if info.file_size > 1024 * 1024 and info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1):
            raise InputRejected(
                f"the zip entry {info.filename!r} inflates {info.file_size} bytes from "
                f"{info.compress_size}: over the ratio limit of {MAX_ZIP_RATIO}",
                code=ErrorCode.ZIP_BOMB,
                limit=MAX_ZIP_RATIO,
            )


def unpack(data: bytes, filename: str, *, max_total: int) -> list[tuple[str, bytes]]:
    """The invoice files of an upload: itself, or the entries of a zip (bounded).

    Raises :class:`UnsupportedUpload` (415) for bytes that are no invoice file and
    :class:`~schemas.errors.InputRejected` (400) for an empty upload or a zip past its bounds.
    """
    if not data:
        raise InputRejected("the file is empty", code=ErrorCode.EMPTY_FILE)
    kind = kind_of(data)
    if kind is None:
        raise UnsupportedUpload(f"{filename[:100]!r} is neither a PDF, an XML invoice nor a zip of them")
    if kind != "zip":
        return [(filename, data)]
    _check_ratios(data)
    entries = open_zip_bounded(data, max_entries=MAX_ZIP_ENTRIES, max_total=max_total)
    files = [(name, content) for name, content in entries if not name.endswith("/")]
    if not files:
        raise InputRejected("the zip archive holds no file", code=ErrorCode.EMPTY_FILE)
    for name, content in files:
        if kind_of(content) not in ("pdf", "xml"):
            raise UnsupportedUpload(f"the zip entry {name[:100]!r} is neither a PDF nor an XML invoice")
    return [(name.rsplit("/", 1)[-1][:200] or "invoice", content) for name, content in files]


def pipeline(state: PortalState) -> worker.Runtime:
    """The jobs' runtime of this application (its own engine: real transactions on SQLite).

    It shares the portal's archive store and mail transport, and is made the
    process's runtime (:func:`worker.configure`), since the jobs look it up there.
    """
    with _runtime_lock:
        rt: worker.Runtime | None = state.extra.get("pipeline")
        if rt is None:
            url = state.engine.url.render_as_string(hide_password=False)
            rt = worker.Runtime.from_settings(state.settings, url=url)
            rt.store, rt.transport = state.store, state.transport
            state.extra["pipeline"] = rt
        worker.configure(rt)
        return rt


@dataclass(frozen=True)
class Accepted:
    """One file taken by the pipeline."""

    document_id: int
    sha256: str
    filename: str
    created: bool


def submit_files(state: PortalState, files: list[tuple[str, bytes]], *, supplier_id: int) -> list[Accepted]:
    """Hand each file to :func:`worker.submit` as an incoming invoice of ``supplier_id``."""
    rt = pipeline(state)
    out = []
    for name, data in files:
        sub = worker.submit(data, filename=name, direction="incoming", supplier_id=supplier_id, rt=rt)
        out.append(Accepted(sub.document_id, sub.sha256, name, sub.created))
    return out


def _label(code: str, lang: str) -> str:
    try:
        status = Status(code)
    except ValueError:
        return code
    return status.label_fr if lang == "fr" else status.label_en


def _reason(code: str, lang: str) -> dict[str, str]:
    try:
        reason = ReasonCode(code)
    except ValueError:
        return {"code": code, "label": code}
    return {"code": code, "label": reason.label_fr if lang == "fr" else reason.label_en}


def document_view(session: Session, document: Document, *, lang: str = "en") -> dict[str, Any]:
    """Where a document is: status, reasons, findings (with their explanations), notices sent."""
    events = services.history(session, document_id=document.id)
    last = events[-1] if events and document.status_code else None
    report = services.latest_report(session, document_id=document.id)
    findings = []
    for f in report.findings if report else []:
        if f.get("severity") not in ("fatal", "warning"):
            continue
        item = {k: f.get(k) for k in ("rule_id", "severity", "layer", "message", "value") if f.get(k)}
        item["terms"] = list(f.get("terms") or [])
        explanation = f.get(f"explanation_{lang}") or f.get("explanation_en")
        hint = f.get(f"hint_{lang}") or f.get("hint_en")
        if explanation:
            item["explanation"] = explanation
        if hint:
            item["hint"] = hint
        findings.append(item)
    findings.sort(key=lambda f: f["severity"] != "fatal")
    return {
        "id": document.id,
        "sha256": document.digest,
        "filename": document.original_filename,
        "received_at": document.received_at.isoformat(),
        "invoice_number": document.invoice_number,
        "processing_state": document.processing_state,
        "status_code": document.status_code,
        "status": _label(document.status_code, lang) if document.status_code else document.processing_state,
        "reason_codes": list(last.reason_codes) if last else [],
        "reasons": [_reason(code, lang) for code in (last.reason_codes if last else [])],
        "reason_text": last.text if last else None,
        "findings": findings,
        "error": document.last_error,
        "history": [
            {
                "status_code": e.status_code,
                "at": e.occurred_at.isoformat(),
                "reason_codes": list(e.reason_codes),
            }
            for e in events
        ],
        "notices": [
            {"status_code": n.status_code, "sent_at": n.sent_at.isoformat() if n.sent_at else None}
            for n in services.notices_for(session, document_id=document.id)
        ],
    }
