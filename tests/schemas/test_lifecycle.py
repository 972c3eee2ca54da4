"""The lifecycle state machine and its code lists, checked against the BR-FR-CDV schematron."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from schemas.errors import ErrorCode, InputRejected
from schemas.lifecycle import (
    PROCESSING_STATUSES,
    REASON_REQUIRED,
    REASONS_BY_STATUS,
    TERMINAL_STATUSES,
    ActionCode,
    Actor,
    ActorKind,
    AmountMissing,
    InvoiceReference,
    LifecycleEvent,
    ReasonCode,
    ReasonMissing,
    ReasonNotAllowed,
    Status,
    StatusReason,
    TransitionForbidden,
    allowed_reasons,
    can_transition,
    check_history,
    next_statuses,
    transition,
)

SCH = Path("fr/cdar/schematron/BR-FR-CDV-Schematron-CDAR.sch")
INVOICE = InvoiceReference(invoice_number="F2026-001", issue_date=date(2026, 9, 1))
JOB = Actor(kind=ActorKind.JOB, id="decide")


def _go(current: Status | None, to: Status, **kw: object) -> LifecycleEvent:
    return transition(current, to, invoice=INVOICE, actor=JOB, **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------ code lists vs the corpus


def _sch_list(text: str, function: str) -> set[str]:
    block = text.split(f'name="{function}"', 1)[1]
    return set(re.search(r"select=\"'([^']*)'\"", block, re.S).group(1).split())  # type: ignore[union-attr]


def test_code_lists_are_the_schematrons(corpus: Path) -> None:
    text = (corpus / SCH).read_text(encoding="utf-8")
    assert {c.value for c in ReasonCode} == _sch_list(text, "custom:is-valid-status-reason-code")
    assert {a.value for a in ActionCode} == _sch_list(text, "custom:is-valid-invoice-action-code")
    assert {s.value for s in Status} <= _sch_list(text, "custom:is-valid-invoice-status-code")


@pytest.mark.parametrize(
    ("status", "assert_id"),
    [(s, f"BR-FR-CDV-CL-09_MDT-113_{s.value}") for s in REASONS_BY_STATUS]
    + [(None, "BR-FR-CDV-CL-09_MDT-113_210B2G")],
)
def test_per_status_reasons_are_the_schematrons(corpus: Path, status: Status | None, assert_id: str) -> None:
    text = (corpus / SCH).read_text(encoding="utf-8")
    start = text.index(f'id="{assert_id}"')
    test_attr = text[:start].rsplit("<assert test=", 1)[1]
    in_sch = set(re.findall(r"\(\.\) = '([A-Z0-9_]+)'", test_attr))
    ours = allowed_reasons(Status.REFUSEE, b2g=True) if status is None else allowed_reasons(status)
    assert {c.value for c in ours} == in_sch


def test_reason_required_is_br_fr_cdv_15(corpus: Path) -> None:
    text = (corpus / SCH).read_text(encoding="utf-8")
    block = text.split('<pattern id="BR-FR-CDV-15">', 1)[1].split("</pattern>", 1)[0]
    test_attr = block.split("<assert test=", 1)[1].split("flag=", 1)[0]
    assert {s.value for s in REASON_REQUIRED} == set(re.findall(r"\(\.\) = '(\d+)'", test_attr))


def test_every_code_has_both_labels() -> None:
    for enum in (Status, ReasonCode, ActionCode):
        for member in enum:
            assert member.label_fr and member.label_en, member
    assert Status.EN_LITIGE.label_fr == "En litige"
    assert Status.IRRECEVABLE.label_en == "Inadmissible"
    assert ReasonCode.DOUBLON.label_fr.startswith("Facture en doublon")


# ------------------------------------------------------------------ transitions


@pytest.mark.parametrize(
    ("current", "to"),
    [
        (None, Status.DEPOSEE),
        (None, Status.RECUE),
        (None, Status.REJETEE),
        (None, Status.IRRECEVABLE),
        (Status.DEPOSEE, Status.EMISE),
        (Status.EMISE, Status.RECUE),
        (Status.DEPOSEE, Status.REJETEE),
        (Status.RECUE, Status.MISE_A_DISPOSITION),
        (Status.MISE_A_DISPOSITION, Status.PRISE_EN_CHARGE),
        (Status.MISE_A_DISPOSITION, Status.REFUSEE),
        (Status.PRISE_EN_CHARGE, Status.APPROUVEE),
        (Status.APPROUVEE, Status.PAIEMENT_TRANSMIS),
        (Status.PAIEMENT_TRANSMIS, Status.ENCAISSEE),
        (Status.ENCAISSEE, Status.EN_LITIGE),  # paid first, disputed later (XP Z12-014 §1.2)
        (Status.ENCAISSEE, Status.REFUSEE),
        (Status.SUSPENDUE, Status.COMPLETEE),
        (Status.COMPLETEE, Status.APPROUVEE),
        (Status.EN_LITIGE, Status.ANNULEE),
        (Status.REFUSEE, Status.ANNULEE),
        (Status.ENCAISSEE, Status.ENCAISSEE),  # partial cashing
    ],
)
def test_allowed_transitions(current: Status | None, to: Status) -> None:
    assert can_transition(current, to)


@pytest.mark.parametrize(
    ("current", "to"),
    [
        (None, Status.MISE_A_DISPOSITION),
        (None, Status.APPROUVEE),
        (None, Status.ENCAISSEE),
        (Status.RECUE, Status.REJETEE),  # Reçue *or* Rejetée
        (Status.RECUE, Status.APPROUVEE),  # processing waits for 203
        (Status.DEPOSEE, Status.MISE_A_DISPOSITION),
        (Status.REJETEE, Status.RECUE),
        (Status.IRRECEVABLE, Status.RECUE),
        (Status.REFUSEE, Status.ENCAISSEE),  # no mandatory status after a refusal
        (Status.REFUSEE, Status.APPROUVEE),
        (Status.ANNULEE, Status.APPROUVEE),
        (Status.APPROUVEE, Status.COMPLETEE),  # Complétée only after Suspendue
        (Status.MISE_A_DISPOSITION, Status.RECUE),
        (Status.APPROUVEE, Status.APPROUVEE),
    ],
)
def test_forbidden_transitions(current: Status | None, to: Status) -> None:
    assert not can_transition(current, to)
    with pytest.raises(TransitionForbidden) as info:
        _go(current, to, reasons=[next(iter(sorted(allowed_reasons(to))))], amount=Decimal(1))
    assert info.value.code is ErrorCode.LIFECYCLE_TRANSITION
    assert isinstance(info.value, InputRejected)


def test_terminal_statuses_have_no_successor() -> None:
    for status in TERMINAL_STATUSES:
        assert next_statuses(status) == frozenset()
    for status in PROCESSING_STATUSES:
        assert Status.REFUSEE in next_statuses(status)
        assert Status.DEPOSEE not in next_statuses(status)


# ------------------------------------------------------------------ reasons and amounts


@pytest.mark.parametrize("status", sorted(REASON_REQUIRED))
def test_reason_is_mandatory(status: Status) -> None:
    current = {Status.REJETEE: None, Status.IRRECEVABLE: None}.get(status, Status.MISE_A_DISPOSITION)
    with pytest.raises(ReasonMissing) as info:
        _go(current, status)
    assert info.value.code is ErrorCode.LIFECYCLE_REASON_MISSING
    event = _go(current, status, reasons=[sorted(allowed_reasons(status))[0]])
    assert len(event.reasons) == 1


@pytest.mark.parametrize(
    ("current", "status", "good", "bad"),
    [
        (None, Status.REJETEE, ["REJ_SEMAN", "DOUBLON", "CALCUL_ERR"], "CMD_ERR"),
        (Status.MISE_A_DISPOSITION, Status.REFUSEE, ["CMD_ERR", "REF_CT_ABSENT", "DEST_ERR"], "REJ_SEMAN"),
        (Status.MISE_A_DISPOSITION, Status.SUSPENDUE, ["JUSTIF_ABS", "CMD_ERR"], "DOUBLON"),
        (None, Status.IRRECEVABLE, ["IRR_VIDE_F", "IRR_TYPE_F", "IRR_SYNTAX"], "REJ_SEMAN"),
        (Status.MISE_A_DISPOSITION, Status.EN_LITIGE, ["TX_TVA_ERR"], "JUSTIF_ABS"),
        (Status.MISE_A_DISPOSITION, Status.APPROUVEE_PARTIELLEMENT, ["QTE_ERR"], "DOUBLON"),
        (None, Status.DEPOSEE, ["NON_TRANSMISE"], "DOUBLON"),
    ],
)
def test_reason_lists_per_status(current: Status | None, status: Status, good: list[str], bad: str) -> None:
    event = _go(current, status, reasons=good)
    assert [r.value for r in event.reason_codes] == good
    with pytest.raises(ReasonNotAllowed) as info:
        _go(current, status, reasons=[*good, bad])
    assert info.value.code is ErrorCode.LIFECYCLE_REASON
    assert bad in info.value.message


def test_unknown_reason_and_b2g_refusal() -> None:
    with pytest.raises(ReasonNotAllowed):
        _go(Status.MISE_A_DISPOSITION, Status.REFUSEE, reasons=["PAS_UN_CODE"])
    with pytest.raises(ReasonNotAllowed):
        _go(Status.MISE_A_DISPOSITION, Status.REFUSEE, reasons=["LIVR_INCOMP"])
    event = _go(Status.MISE_A_DISPOSITION, Status.REFUSEE, reasons=["LIVR_INCOMP"], b2g=True)
    assert event.b2g
    with pytest.raises(ReasonNotAllowed):  # the assert's test does not accept it
        _go(Status.MISE_A_DISPOSITION, Status.REFUSEE, reasons=["CONTACT_ACHTR"], b2g=True)


def test_cashed_needs_its_amount() -> None:
    with pytest.raises(AmountMissing) as info:
        _go(Status.PAIEMENT_TRANSMIS, Status.ENCAISSEE)
    assert info.value.code is ErrorCode.LIFECYCLE_AMOUNT_MISSING
    event = _go(
        Status.PAIEMENT_TRANSMIS, Status.ENCAISSEE, amount=Decimal("12000.00"), vat_rate=Decimal("20")
    )
    assert event.amount == Decimal("12000.00") and event.currency == "EUR"
    with pytest.raises(AmountMissing):  # an amount where none belongs
        _go(Status.MISE_A_DISPOSITION, Status.APPROUVEE, amount=Decimal(5))
    paid = _go(Status.APPROUVEE, Status.PAIEMENT_TRANSMIS, amount=Decimal(10), payment_date=date(2026, 9, 30))
    assert paid.payment_date == date(2026, 9, 30)


# ------------------------------------------------------------------ the event model


def test_event_fields_and_utc() -> None:
    paris = timezone(timedelta(hours=2))
    event = _go(
        Status.MISE_A_DISPOSITION,
        Status.EN_LITIGE,
        reasons=[StatusReason(code=ReasonCode.TX_TVA_ERR, action=ActionCode.NIN)],
        free_text="Le taux de 10 % ne s'applique pas",
        at=datetime(2026, 9, 2, 10, 0, tzinfo=paris),
    )
    assert event.timestamp == datetime(2026, 9, 2, 8, 0, tzinfo=UTC)
    assert event.timestamp.utcoffset() == timedelta(0)
    assert event.actor.kind is ActorKind.JOB and event.invoice.invoice_number == "F2026-001"
    assert event.event_id and event.event_id != _go(None, Status.RECUE).event_id
    with pytest.raises(ValidationError):
        LifecycleEvent(invoice=INVOICE, status=Status.RECUE, actor=JOB, timestamp=datetime(2026, 9, 1))
    with pytest.raises(ValidationError):
        Actor(kind="robot", id="x")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):  # events are immutable: history is append-only
        event.status = Status.APPROUVEE  # type: ignore[misc]


def test_history() -> None:
    t0 = datetime(2026, 9, 1, tzinfo=UTC)
    steps: list[tuple[Status | None, Status, dict[str, Any]]] = [
        (None, Status.RECUE, {}),
        (Status.RECUE, Status.MISE_A_DISPOSITION, {}),
        (Status.MISE_A_DISPOSITION, Status.SUSPENDUE, {"reasons": ["JUSTIF_ABS"]}),
        (Status.SUSPENDUE, Status.COMPLETEE, {}),
        (Status.COMPLETEE, Status.APPROUVEE, {}),
        (Status.APPROUVEE, Status.ENCAISSEE, {"amount": Decimal("100.00")}),
    ]
    events = [_go(c, t, at=t0 + timedelta(hours=i), **kw) for i, (c, t, kw) in enumerate(steps)]
    check_history(events)
    with pytest.raises(TransitionForbidden):
        check_history(events[1:])
    with pytest.raises(TransitionForbidden):
        check_history([*events, events[0]])
