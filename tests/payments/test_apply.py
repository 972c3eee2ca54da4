"""Matching applied to the ledger, on SQLite and PostgreSQL, with a generated scenario and its truth.

Invoices come in through ``payments.receivables``, the camt.053 through
``payments.imports``; the run is journaled as the CLI does it (``cli.money._journal_match``
over ``archive.service.journal_event``), in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from archive.tables import journal_entries
from cli.money import _journal_match
from ledger.bank import MatchDecision, Payment, PaymentAllocation, StatementLine
from ledger.models import Document, Invoice, LifecycleEvent, PartyIban
from payments.apply import MatchRun, run_matching
from payments.matching import MatchSettings
from payments.posting import DecisionRejected
from payments.review import DecisionNotFound, confirm, list_pending, reject, undo
from tests.payments.bankscenario import Scenario, TruthLine, generate, load

ACTOR = "test:matcher"


@contextmanager
def tx(session: Session) -> Iterator[None]:
    """One transaction: committed at the end, rolled back on an error."""
    try:
        yield
    except BaseException:
        session.rollback()
        raise
    session.commit()


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    return generate(tmp_path_factory.mktemp("bank") / "gb", invoices=300, seed=3)


@pytest.fixture
def loaded(session: Session, scenario: Scenario) -> Iterator[Session]:
    with tx(session):
        load(session, scenario)
    yield session


def _run(session: Session, settings: MatchSettings | None = None) -> MatchRun:
    with tx(session):
        run = run_matching(session, actor=ACTOR, settings=settings)
        _journal_match(session, run.journal, ACTOR)
    return run


def _invoice(session: Session, number: str) -> Invoice:
    return session.scalars(select(Invoice).where(Invoice.number == number)).one()


def _status(session: Session, inv: Invoice) -> str | None:
    return session.scalar(select(Document.status_code).where(Document.id == inv.document_id))


def _line(session: Session, ref: str) -> StatementLine:
    return session.scalars(select(StatementLine).where(StatementLine.entry_ref == ref)).one()


def _journal_head(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.max(journal_entries.c.seq), 0))) or 0)


def _kinds_since(session: Session, seq: int) -> dict[str, int]:
    rows = session.execute(
        select(journal_entries.c.kind, func.count())
        .where(journal_entries.c.seq > seq)
        .group_by(journal_entries.c.kind)
    ).tuples()
    return {k: int(n) for k, n in rows.all()}


def _first(lines: list[TruthLine]) -> TruthLine:
    assert lines, "the seeded scenario lacks this case"
    return lines[0]


def test_match_applies_what_it_is_sure_of(loaded: Session, scenario: Scenario) -> None:
    session = loaded
    head = _journal_head(session)
    run = _run(session)
    rows = {r.row["line_ref"]: r for r in run.lines}
    assert len(rows) == len(scenario.truth)
    # every automatic match pays exactly the invoices the truth names; nothing unrelated is applied
    applied = [r for r in run.lines if r.outcome == "applied"]
    for r in applied:
        truth = scenario.truth[r.row["line_ref"]]
        assert {x["number"] for x in r.row["invoices"]} == set(truth.numbers), (r.row, truth)
    matchable = [t for t in scenario.truth.values() if t.numbers]
    assert len(applied) >= 0.9 * len(matchable)

    exact = _first(scenario.of("exact_rf"))
    inv = _invoice(session, exact.numbers[0])
    assert inv.amount_still_due == Decimal("0.00") and _status(session, inv) == "212"
    event = session.scalars(
        select(LifecycleEvent)
        .where(LifecycleEvent.document_id == inv.document_id)
        .order_by(LifecycleEvent.id)
    ).all()[-1]
    assert event.status_code == "212" and event.amount == exact.amount == scenario.amounts[exact.numbers[0]]
    assert _line(session, exact.line_ref).match_state == "matched"
    digest = session.scalar(select(Document.digest).where(Document.id == inv.document_id))
    assert (
        session.scalar(
            select(func.count()).where(
                journal_entries.c.kind == "matched", journal_entries.c.subject == digest
            )
        )
        == 1
    )  # the evidence bundle of the invoice's document finds the match

    partial = _first(scenario.of("partial"))
    inv = _invoice(session, partial.numbers[0])
    assert inv.amount_still_due == scenario.amounts[partial.numbers[0]] - partial.amount > 0
    assert _status(session, inv) == "203"
    allocs = session.scalars(select(PaymentAllocation).where(PaymentAllocation.invoice_id == inv.id)).all()
    assert [(a.kind, a.amount) for a in allocs] == [("payment", partial.amount)]

    grouped = next(t for t in scenario.of("grouped") if len(t.numbers) >= 3)
    for number in grouped.numbers:
        inv = _invoice(session, number)
        assert inv.amount_still_due == 0 and _status(session, inv) == "212", number
    assert len(rows[grouped.line_ref].row["invoices"]) == len(grouped.numbers)

    fee = _first(scenario.of("fee_diff", "charges"))
    inv = _invoice(session, fee.numbers[0])
    allocs = session.scalars(select(PaymentAllocation).where(PaymentAllocation.invoice_id == inv.id)).all()
    kinds = {a.kind: a for a in allocs}
    assert kinds["writeoff"].reason == "bank_charges" and kinds["writeoff"].amount == fee.difference
    assert kinds["payment"].amount == fee.amount and inv.amount_still_due == 0
    cashed = session.scalars(
        select(LifecycleEvent.amount).where(
            LifecycleEvent.document_id == inv.document_id, LifecycleEvent.status_code == "212"
        )
    ).one()
    assert cashed == fee.amount  # the amount cashed, not the invoice's total

    over = _first(scenario.of("fee_diff", "rounding_over"))
    payment = session.scalars(
        select(Payment).join(StatementLine).where(StatementLine.entry_ref == over.line_ref)
    ).one()
    credit = [a for a in payment.allocations if a.kind == "credit"]
    assert len(credit) == 1 and credit[0].invoice_id is None
    assert credit[0].amount == -over.difference == over.amount - scenario.amounts[over.numbers[0]]

    for t in scenario.of("unrelated") + scenario.of("debit_noise"):
        assert rows[t.line_ref].outcome == "left" and rows[t.line_ref].row["applied"] is False
        assert _line(session, t.line_ref).match_state == "unmatched"
        assert not session.scalars(
            select(Payment).join(StatementLine).where(StatementLine.entry_ref == t.line_ref)
        ).all()

    # the journal: a payment and a match per applied line, a decision entry per proposal; seqs kept
    journal_kinds = _kinds_since(session, head)
    review = sum(1 for r in run.lines if r.outcome == "review")
    assert journal_kinds.get("payment_received") == len(applied) == journal_kinds.get("matched")
    assert journal_kinds.get("match_decided", 0) == review
    decisions = session.scalars(select(MatchDecision)).all()
    assert len(decisions) == len(applied) + review and all(d.journal_seq for d in decisions)

    # a second run applies nothing and decides nothing again
    payments = session.scalar(select(func.count()).select_from(Payment))
    again = _run(session)
    assert again.counts()["applied"] == 0 and again.counts()["review"] == 0
    assert session.scalar(select(func.count()).select_from(Payment)) == payments
    assert session.scalar(select(func.count()).select_from(MatchDecision)) == len(decisions)


def test_dry_run_writes_nothing(loaded: Session) -> None:
    with tx(loaded):
        run = run_matching(loaded, actor=ACTOR, dry_run=True)
        assert run.journal == []
    assert run.counts()["applied"] > 0 and all(r.row["applied"] is False for r in run.lines)
    assert loaded.scalar(select(func.count()).select_from(Payment)) == 0
    assert set(loaded.scalars(select(StatementLine.match_state))) == {"unmatched"}


def test_review_queue_confirm_change_reject(loaded: Session, scenario: Scenario) -> None:
    session = loaded
    run = _run(session, MatchSettings(auto_threshold=0.999))  # nothing is that sure: all to review
    assert run.counts()["applied"] == 0 and run.counts()["review"] > 0
    pending = list_pending(session)
    assert len(pending) == run.counts()["review"]
    by_ref = {p["line"]["line_ref"]: p for p in pending}

    exact = next(t for t in scenario.of("amount_payer") if not t.ambiguous)
    item = by_ref[exact.line_ref]
    assert item["suggestions"][0]["invoices"][0]["number"] == exact.numbers[0]
    assert item["suggestions"][0]["invoices"][0]["amount_still_due"] == str(
        scenario.amounts[exact.numbers[0]]
    )
    head = _journal_head(session)
    with tx(session):
        result = confirm(session, decision_id=item["decision_id"], actor="staff:alice")
        _journal_match(session, result.journal, "staff:alice")
    assert result.decision.mode == "manual" and result.decision.action == "confirm"
    inv = _invoice(session, exact.numbers[0])
    assert inv.amount_still_due == 0 and _status(session, inv) == "212"
    assert _kinds_since(session, head) == {"payment_received": 1, "matched": 1}
    with pytest.raises(DecisionRejected):
        confirm(session, decision_id=item["decision_id"], actor="staff:alice")
    session.rollback()

    # a person's confirmation teaches the payer's IBAN when it was unknown
    unknown = _first(scenario.of("amount_payer", "generic_text+unknown_iban"))
    line = _line(session, unknown.line_ref)
    party = _invoice(session, unknown.numbers[0]).buyer_party_id
    ibans = select(PartyIban.iban).where(PartyIban.party_id == party)
    assert line.counterparty_iban and line.counterparty_iban not in session.scalars(ibans)
    with tx(session):
        learned = confirm(session, decision_id=by_ref[unknown.line_ref]["decision_id"], actor="staff:alice")
    assert learned.decision.proposal[0]["learned_iban"]["iban"] == line.counterparty_iban
    assert line.counterparty_iban in session.scalars(ibans)

    # a change: a partial payment applied by hand to the invoice with another amount, the rest as credit
    partial = _first(scenario.of("partial"))
    inv = _invoice(session, partial.numbers[0])
    part = (partial.amount / 2).quantize(Decimal("0.01"))
    with tx(session):
        changed = confirm(
            session,
            decision_id=by_ref[partial.line_ref]["decision_id"],
            actor="staff:bob",
            allocations=[(inv.id, part)],
        )
    assert changed.decision.action == "change"
    session.refresh(inv)
    assert inv.amount_still_due == scenario.amounts[partial.numbers[0]] - part
    kinds = sorted(
        (a.kind, a.amount)
        for a in session.scalars(
            select(PaymentAllocation).where(PaymentAllocation.decision_id == changed.decision.id)
        )
    )
    assert kinds == [("credit", partial.amount - part), ("payment", part)]
    with pytest.raises(DecisionRejected):  # more than is due
        other = next(
            p
            for p in pending
            if p["line"]["line_ref"] not in (exact.line_ref, partial.line_ref, unknown.line_ref)
        )
        confirm(
            session,
            decision_id=other["decision_id"],
            actor="staff:bob",
            allocations=[(inv.id, Decimal("999999.00"))],
        )
    session.rollback()

    grouped = _first(scenario.of("grouped"))
    with tx(session):
        rejected = reject(
            session, decision_id=by_ref[grouped.line_ref]["decision_id"], actor="staff:bob", reason="a refund"
        )
        _journal_match(session, rejected.journal, "staff:bob")
    assert _line(session, grouped.line_ref).match_state == "ignored"
    assert all(_invoice(session, n).amount_still_due == scenario.amounts[n] for n in grouped.numbers)
    remaining = {p["line"]["line_ref"] for p in list_pending(session)}
    assert grouped.line_ref not in remaining and exact.line_ref not in remaining


def test_undo_restores_everything(loaded: Session, scenario: Scenario) -> None:
    session = loaded
    before = {n: _invoice(session, n).amount_still_due for n in scenario.amounts}
    _run(session)
    grouped = next(t for t in scenario.of("grouped") if len(t.numbers) >= 3)
    fee = _first(scenario.of("fee_diff", "charges"))
    events_before = session.scalar(select(func.count()).select_from(LifecycleEvent))
    for t in (grouped, fee):
        decision = session.scalars(
            select(MatchDecision)
            .join(StatementLine)
            .where(StatementLine.entry_ref == t.line_ref, MatchDecision.state == "applied")
        ).one()
        head = _journal_head(session)
        with tx(session):
            result = undo(session, decision_id=decision.id, actor="staff:carol", reason="wrong customer")
            _journal_match(session, result.journal, "staff:carol")
        assert _kinds_since(session, head) == {"match_undone": 1}
        session.refresh(decision)
        assert decision.state == "undone" and decision.undone_by == "staff:carol" and decision.undone_at
        for number in t.numbers:
            inv = _invoice(session, number)
            assert inv.amount_still_due == before[number], number
            assert _status(session, inv) == "203", number  # 212 reverted to the status before it
        allocs = session.scalars(
            select(PaymentAllocation).where(PaymentAllocation.decision_id == decision.id)
        )
        assert all(a.undone_at is not None for a in allocs)
        payment = session.scalars(
            select(Payment).join(StatementLine).where(StatementLine.entry_ref == t.line_ref)
        ).one()
        assert payment.undone_at is not None
        assert _line(session, t.line_ref).match_state == "review"  # back in the queue, not re-matched
        with pytest.raises(DecisionRejected):
            undo(session, decision_id=decision.id, actor="staff:carol")
        session.rollback()
    # the 212 events stay in the append-only history; nothing was deleted
    assert session.scalar(select(func.count()).select_from(LifecycleEvent)) == events_before
    # the next run leaves the lines alone; a person can confirm them again
    again = _run(session)
    assert again.counts()["applied"] == 0
    queued = {p["line"]["line_ref"]: p for p in list_pending(session)}
    assert set(queued) >= {grouped.line_ref, fee.line_ref}
    with tx(session):
        confirm(session, decision_id=queued[fee.line_ref]["decision_id"], actor="staff:carol")
    inv = _invoice(session, fee.numbers[0])
    assert inv.amount_still_due == 0 and _status(session, inv) == "212"
    with pytest.raises(DecisionNotFound):
        undo(session, decision_id=10**9, actor="staff:carol")


def test_sepa_return_reopens_and_its_undo_closes_again(loaded: Session, scenario: Scenario) -> None:
    session = loaded
    _run(session)
    exact = next(t for t in scenario.of("exact_rf", "strd_scor"))
    paid = _line(session, exact.line_ref)
    inv = _invoice(session, exact.numbers[0])
    assert _status(session, inv) == "212"
    with tx(session):
        session.add(
            StatementLine(
                account_id=paid.account_id,
                import_id=paid.import_id,
                identity_key="return-" + exact.line_ref,
                booking_date=paid.booking_date + dt.timedelta(days=3),
                amount=-paid.amount,
                currency=paid.currency,
                counterparty_name=paid.counterparty_name,
                remittance="RETOUR " + paid.remittance,
                creditor_refs=list(paid.creditor_refs),
                entry_ref="RET" + exact.line_ref,
                return_reason="AC04",
            )
        )
    run = _run(session)
    row = next(r for r in run.lines if r.row["line_ref"] == "RET" + exact.line_ref)
    assert row.outcome == "applied" and row.row["action"] == "reopen", row.row
    session.refresh(inv)
    assert inv.amount_still_due == exact.amount and _status(session, inv) == "203"
    statuses = session.scalars(
        select(LifecycleEvent.status_code).where(LifecycleEvent.document_id == inv.document_id)
    ).all()
    assert statuses[-1] == "212"  # history is append-only: the 212 stays, the current status is reverted
    assert row.decision_id is not None
    with tx(session):
        undo(session, decision_id=row.decision_id, actor="staff:dan")
    session.refresh(inv)
    assert inv.amount_still_due == 0 and _status(session, inv) == "212"


def test_threshold_and_tolerance_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from payments.apply import match_settings
    from schemas.settings import get_settings

    monkeypatch.setenv("ENCAISSE_MATCH_AUTO_THRESHOLD", "0.97")
    monkeypatch.setenv("ENCAISSE_MATCH_WRITEOFF_TOLERANCE", "0.50")
    get_settings.cache_clear()
    try:
        got = match_settings()
        assert got.auto_threshold == 0.97 and got.rounding_tolerance == Decimal("0.50")
        monkeypatch.setenv("ENCAISSE_MATCH_AUTO_THRESHOLD", "1.5")
        get_settings.cache_clear()
        with pytest.raises(ValueError):
            match_settings()
    finally:
        get_settings.cache_clear()


def test_a_line_is_claimed_once(loaded: Session, scenario: Scenario) -> None:
    from payments.posting import JournalItem, Plan, apply_plan, claim_line

    t = _first(scenario.of("exact_rf"))
    line = _line(loaded, t.line_ref)
    inv = _invoice(loaded, t.numbers[0])
    plan = Plan(((inv.id, inv.number, t.amount),), 1.0, "by hand")
    journal: list[JournalItem] = []
    first = apply_plan(
        loaded,
        line=line,
        plan=plan,
        mode="manual",
        action="change",
        actor="a",
        actor_kind="user",
        expect_state="unmatched",
        journal=journal,
    )
    assert first is not None and len(journal) == 2
    again = apply_plan(
        loaded,
        line=line,
        plan=plan,
        mode="manual",
        action="change",
        actor="a",
        actor_kind="user",
        expect_state="unmatched",
        journal=journal,
    )
    assert again is None and len(journal) == 2
    assert not claim_line(loaded, line_id=line.id, expect="unmatched", to="review")
    loaded.commit()
    assert loaded.scalar(select(func.count()).select_from(Payment)) == 1
    assert _invoice(loaded, t.numbers[0]).amount_still_due == 0
