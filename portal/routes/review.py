"""The review queue in the back office: bank lines the matcher was not sure about.

``GET /staff/review`` shows each pending line (date, amount, payer, remittance
text) with its ranked suggestions side by side (invoice, customer, amount still
due, confidence, explanation), and the latest decisions, which can be undone.
``POST /staff/review/{decision_id}/confirm|reject|undo`` act through
:mod:`payments.review`; the decision is journaled in the archive in the same
transaction as the ledger change (one commit for both).

Who: admin, receivables managers and collectors act; litigation and auditors
may look (403 when they try to act). A collector sees, and may act on, only the
decisions whose candidate invoices all belong to customers of their portfolio
(:mod:`ledger.scoping`); any other decision is a 404, the same as an id that
does not exist. A decision with no candidate invoice is shown to the roles
that see everything only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.responses import RedirectResponse, Response

from ledger import scoping
from ledger.bank import MatchDecision
from ledger.bank import StatementLine as LineRow
from ledger.models import Invoice
from payments import review
from payments.posting import JournalItem, MatchConflict, note_journaled
from portal.deps import Db, Form, SignedIn, Staff
from portal.errors import HttpError
from portal.pages import render
from schemas.errors import ErrorCode

router = APIRouter(prefix="/staff/review", include_in_schema=False)

#: roles that may decide (the others of the back office only look)
DECIDERS = ("admin", "receivables_manager", "collector")
RECENT = 20
REASON_MAX = 500


def _invoice_ids(proposal: Iterable[dict[str, Any]]) -> set[int]:
    return {int(x["invoice_id"]) for s in proposal for x in s.get("invoices", [])}


def _visible_ids(db: Session, auth: SignedIn, ids: set[int]) -> set[int]:
    if not ids:
        return set()
    return set(
        db.scalars(scoping.invoices(auth.viewer).where(Invoice.id.in_(ids)).with_only_columns(Invoice.id))
    )


def _may_see(db: Session, auth: SignedIn, ids: set[int]) -> bool:
    """True when every candidate invoice is the viewer's (and there is one, unless they see everything)."""
    if auth.viewer.sees_everything:
        return True
    return bool(ids) and _visible_ids(db, auth, ids) == ids


def _candidates(db: Session, decision: MatchDecision) -> set[int]:
    """The invoices a decision is about: its own suggestions and those of the proposal it decided."""
    ids = _invoice_ids(decision.proposal)
    if decision.supersedes_id is not None:
        origin = db.get(MatchDecision, decision.supersedes_id)
        if origin is not None:
            ids |= _invoice_ids(origin.proposal)
    return ids


def _decision_for(db: Session, auth: SignedIn, decision_id: int) -> MatchDecision:
    """The decision if the viewer may see it, else the portal's plain 404."""
    decision = db.get(MatchDecision, decision_id)
    if decision is None or not _may_see(db, auth, _candidates(db, decision)):
        raise scoping.NotFound("no such decision", where="decision_id")
    return decision


def _recent(db: Session, auth: SignedIn) -> list[dict[str, Any]]:
    """The latest applied or rejected decisions still in force (what the viewer may undo)."""
    rows = db.execute(
        select(MatchDecision, LineRow)
        .join(LineRow, LineRow.id == MatchDecision.statement_line_id)
        .where(
            MatchDecision.state.in_(("applied", "rejected")),
            MatchDecision.action != "suggest",
            MatchDecision.undone_at.is_(None),
        )
        .order_by(MatchDecision.id.desc())
        .limit(RECENT * 5)
    ).tuples()
    out: list[dict[str, Any]] = []
    for decision, line in rows:
        if len(out) >= RECENT:
            break
        if _may_see(db, auth, _candidates(db, decision)):
            numbers = [str(x["number"]) for s in decision.proposal for x in s.get("invoices", [])]
            out.append({"decision": decision, "line": line, "numbers": numbers})
    return out


def journal_decisions(session: Session, items: Sequence[JournalItem], actor: str) -> None:
    """Journal a review action's events in the request's transaction (as ``encaisse bank confirm`` does)."""
    from archive.service import journal_many

    entries = journal_many(session, items=items, actor=actor)
    note_journaled(
        session,
        seqs={i.decision_id: e.seq for i, e in zip(items, entries, strict=True) if i.decision_id is not None},
    )


def _decider(auth: SignedIn) -> str:
    """The actor id to journal; 403 for the roles that only look."""
    if not auth.viewer.has(*DECIDERS):
        raise HttpError(403, "your role may look at the review queue, not decide", code=ErrorCode.AUTH_FAILED)
    return f"user:{auth.user.id}:{auth.user.email}"


def _act(db: Session, auth: SignedIn, decision_id: int, fn: Any, **kwargs: Any) -> Response:
    actor = _decider(auth)
    _decision_for(db, auth, decision_id)
    try:
        result = fn(db, decision_id=decision_id, actor=actor, **kwargs)
        journal_decisions(db, result.journal, actor)
        db.commit()
    except MatchConflict as exc:
        db.rollback()
        raise HttpError(409, exc.message, code=ErrorCode.USAGE) from None
    except BaseException:
        db.rollback()
        raise
    return RedirectResponse(f"/staff/review?done={result.decision.id}", status_code=303)


def _reason(form: dict[str, str]) -> str | None:
    text = (form.get("reason") or "").strip()
    if len(text) > REASON_MAX:
        raise HttpError(400, f"the reason is longer than {REASON_MAX} characters")
    return text or None


@router.get("")
def queue(request: Request, db: Db, auth: Staff) -> Response:
    """The pending lines with their suggestions side by side, and the latest decisions."""
    pending = [
        item for item in review.list_pending(db) if _may_see(db, auth, _invoice_ids(item["suggestions"]))
    ]
    return render(
        request,
        "staff/review.html",
        {
            "pending": pending,
            "recent": _recent(db, auth),
            "may_decide": auth.viewer.has(*DECIDERS),
            "done": request.query_params.get("done", "").isdigit(),
            "money": lambda text: Decimal(text) if text is not None else None,
            "iso_day": dt.date.fromisoformat,
        },
    )


@router.post("/{decision_id}/confirm")
def confirm(db: Db, auth: Staff, form: Form, decision_id: int) -> Response:
    """Apply the suggestion ranked ``choice`` (default: the best one)."""
    raw = (form.get("choice") or "0").strip()
    if not raw.isdigit() or len(raw) > 3:
        raise HttpError(400, "choice must be the rank of a suggestion")
    return _act(db, auth, decision_id, review.confirm, choice=int(raw))


@router.post("/{decision_id}/reject")
def reject(db: Db, auth: Staff, form: Form, decision_id: int) -> Response:
    """The line belongs to none of the suggested invoices."""
    return _act(db, auth, decision_id, review.reject, reason=_reason(form))


@router.post("/{decision_id}/undo")
def undo(db: Db, auth: Staff, form: Form, decision_id: int) -> Response:
    """Undo an applied or rejected decision: the line goes back to the queue."""
    found = _decision_for(db, auth, decision_id)
    if found.action == "suggest":
        raise HttpError(400, "this is a proposal, not a decision: undo the decision made on it")
    return _act(db, auth, decision_id, review.undo, reason=_reason(form))
