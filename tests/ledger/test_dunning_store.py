"""ledger.dunning_store: scenarios from YAML, open items from the database, actions recorded once."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from ledger import db
from ledger.collections import CustomerTerms, Dispute, DunningAction, PaymentPromise
from ledger.dunning import Channel, plan
from ledger.dunning_store import (
    DEFAULT_SCENARIOS,
    ScenarioSet,
    ScenariosInvalid,
    action_rows,
    load_open_items,
    load_scenarios,
    parse_scenarios,
    record_actions,
    settle_promises,
    todo_list,
)
from ledger.history import HInvoice, History, HPayment, load_history
from ledger.models import Party
from schemas.errors import ErrorCode

ROOT = Path(__file__).resolve().parents[2]
D = dt.date(2026, 4, 1)


# --------------------------------------------------------------------------- scenarios


def test_every_profile_has_a_default_scenario_and_consumers_get_gentler_steps() -> None:
    s = ScenarioSet(DEFAULT_SCENARIOS)
    for profile in ("key_account", "sme", "consumer", "public_body"):
        assert s.for_customer(assigned=None, profile=profile) == profile
    assert s.for_customer(assigned=None, profile=None) == "sme"
    assert s.for_customer(assigned="key_account", profile="sme") == "key_account"
    assert s.for_customer(assigned="no-such", profile="consumer") == "consumer"
    for scenario in DEFAULT_SCENARIOS:
        channels = [st.channel for st in scenario.steps]
        assert (
            Channel.CALL in channels and Channel.LETTER in channels and channels[-1] is Channel.FORMAL_NOTICE
        )
        assert scenario.steps[-1].tone == "formal"
    by = s.by_name
    first_late = {n: next(st.offset_days for st in by[n].steps if st.offset_days > 0) for n in by}
    assert first_late["consumer"] > first_late["sme"]
    assert by["consumer"].steps[-1].offset_days > by["sme"].steps[-1].offset_days


def test_the_example_file_loads_and_overrides_by_name() -> None:
    s = load_scenarios(ROOT / "examples" / "dunning" / "scenarios.yaml")
    assert [x.name for x in s.scenarios][:2] == ["sme", "strategic"]
    assert {x.name for x in s.scenarios} >= {"key_account", "consumer", "public_body"}
    assert s.for_customer(assigned="strategic", profile="sme") == "strategic"


def test_a_file_can_replace_every_default() -> None:
    s = parse_scenarios(
        {
            "replace_defaults": True,
            "default": "only",
            "scenarios": [{"name": "only", "steps": [{"id": "r", "offset": 1, "channel": "letter"}]}],
        }
    )
    assert [x.name for x in s.scenarios] == ["only"]
    assert s.for_customer(assigned=None, profile="consumer") == "only"
    assert s.by_name["only"].steps[0].tone == "neutral"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2], "must be a mapping"),
        ({"scenarioz": []}, "unknown key"),
        (
            {"scenarios": [{"name": "x", "steps": [{"id": "a", "offset": 1, "channel": "fax"}]}]},
            "channel 'fax'",
        ),
        ({"scenarios": [{"name": "x", "steps": [{"id": "a", "offset": "3", "channel": "email"}]}]}, "offset"),
        ({"scenarios": [{"name": "x", "steps": [{"offset": 3, "channel": "email"}]}]}, "missing 'id'"),
        (
            {
                "scenarios": [
                    {"name": "x", "steps": [{"id": "a", "offset": 3, "channel": "email", "tone": "rude"}]}
                ]
            },
            "tone",
        ),
        (
            {
                "scenarios": [
                    {
                        "name": "x",
                        "steps": [
                            {"id": "a", "offset": 9, "channel": "email"},
                            {"id": "b", "offset": 3, "channel": "email"},
                        ],
                    }
                ]
            },
            "rising offsets",
        ),
        ({"scenarios": [{"name": "x"}, {"name": "x"}]}, "same name"),
        ({"default": "nope"}, "default scenario 'nope'"),
        (
            {
                "scenarios": [
                    {"name": "x", "steps": [{"id": "promise-broken:1", "offset": 1, "channel": "email"}]}
                ]
            },
            "id",
        ),
    ],
)
def test_bad_scenarios_are_refused_with_a_clear_error(data: object, message: str) -> None:
    with pytest.raises(ScenariosInvalid) as info:
        parse_scenarios(data, path="s.yaml")
    assert info.value.code is ErrorCode.DUNNING_SCENARIOS_INVALID
    assert message in str(info.value) and "s.yaml" in str(info.value)


def test_unreadable_or_invalid_yaml_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenariosInvalid, match="cannot read"):
        load_scenarios(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenarios: [\n  - {name: x\n", encoding="utf-8")
    with pytest.raises(ScenariosInvalid, match="not valid YAML"):
        load_scenarios(bad)
    assert load_scenarios(None).scenarios == DEFAULT_SCENARIOS


# --------------------------------------------------------------------------- the database


def _world(session: Session) -> dict[int, int]:
    """Four customers (one per profile) and six invoices due on 1 March 2026."""
    due = dt.date(2026, 3, 1)
    history = History(
        customers=[
            ("SME", "sme", None),
            ("Key", "key_account", None),
            ("Person", "consumer", None),
            ("Town", "public_body", None),
        ],
        invoices=[
            HInvoice(0, 0, "F-0", due - dt.timedelta(days=30), due, Decimal("1000.00")),  # open
            HInvoice(1, 0, "F-1", due - dt.timedelta(days=30), due, Decimal("500.00")),  # paid in full
            HInvoice(2, 0, "F-2", due - dt.timedelta(days=30), due, Decimal("800.00")),  # part paid
            HInvoice(3, 1, "F-3", due - dt.timedelta(days=30), due, Decimal("300.00")),  # disputed
            HInvoice(4, 2, "F-4", due - dt.timedelta(days=30), due, Decimal("90.00")),  # promised
            HInvoice(
                5, 3, "F-5", D + dt.timedelta(days=5), D + dt.timedelta(days=35), Decimal("70.00")
            ),  # future
        ],
        payments=[
            HPayment(1, dt.date(2026, 3, 10), Decimal("500.00")),
            HPayment(2, dt.date(2026, 3, 10), Decimal("300.00")),
            HPayment(0, D + dt.timedelta(days=1), Decimal("1000.00")),  # after the day: still open on D
        ],
    )
    ids = load_history(session, history)
    session.add(Dispute(invoice_id=ids[3], reason_code="AUTRE", opened_by="test"))
    session.add(
        PaymentPromise(
            invoice_id=ids[4],
            promised_on=D + dt.timedelta(days=3),
            amount=Decimal("90.00"),
            amount_due_then=Decimal("90.00"),
            made_by="test",
        )
    )
    party_sme = session.scalar(select(Party.id).where(Party.name == "SME"))
    session.add(CustomerTerms(party_id=party_sme, dunning_scenario="key_account"))
    session.flush()
    return ids


def test_open_items_carry_scenario_dispute_promise_and_rebased_amounts(session: Session) -> None:
    ids = _world(session)
    items, info = load_open_items(session, as_of=D, scenarios=ScenarioSet(DEFAULT_SCENARIOS))
    by = {i.invoice_id: i for i in items}
    assert set(by) == {ids[0], ids[2], ids[3], ids[4]}  # paid and not yet issued are left out
    assert by[ids[0]].amount_due == Decimal("1000.00")
    assert by[ids[2]].amount_due == Decimal("500.00") and info[ids[2]].amount == Decimal("800.00")
    assert by[ids[0]].scenario == "key_account"  # the customer's terms name it, over the profile
    assert by[ids[3]].scenario == "key_account" and by[ids[3]].disputed
    assert by[ids[4]].scenario == "consumer" and [p.on for p in by[ids[4]].promises] == [
        D + dt.timedelta(days=3)
    ]
    assert not by[ids[0]].disputed and not by[ids[0]].promises
    planned = {p.invoice_id for p in plan(items, ScenarioSet(DEFAULT_SCENARIOS).by_name, D)}
    assert planned == {ids[0], ids[2]}  # the dispute and the promise pause their invoices only
    later, _ = load_open_items(
        session, as_of=D + dt.timedelta(days=1), scenarios=ScenarioSet(DEFAULT_SCENARIOS)
    )
    assert ids[0] not in {i.invoice_id for i in later}


def test_actions_are_recorded_once_and_marked_done_for_the_planner(session: Session) -> None:
    _world(session)
    scenarios = ScenarioSet(DEFAULT_SCENARIOS)
    items, _ = load_open_items(session, as_of=D, scenarios=scenarios)
    planned = plan(items, scenarios.by_name, D)
    rows = action_rows(planned, run_date=D, state_for=dict.fromkeys(Channel, "todo"))
    first = record_actions(session, rows)
    assert len(first) == len(rows) > 0
    assert record_actions(session, rows) == []  # already there: skipped, nothing raised
    items, _ = load_open_items(session, as_of=D, scenarios=scenarios)
    assert plan(items, scenarios.by_name, D) == []  # done marks come back from the table
    count = session.scalar(select(DunningAction.id).order_by(DunningAction.id.desc()).limit(1))
    assert count == max(first)


def test_promises_are_kept_or_broken_once_their_day_has_passed(session: Session) -> None:
    ids = _world(session)
    promise_day = D + dt.timedelta(days=3)
    assert settle_promises(session, as_of=promise_day, open_amounts={ids[4]: Decimal("90.00")}) == {
        "kept": 0,
        "broken": 0,
    }
    assert settle_promises(
        session, as_of=promise_day + dt.timedelta(days=1), open_amounts={ids[4]: Decimal("90.00")}
    ) == {"kept": 0, "broken": 1}
    session.execute(update(PaymentPromise).values(state="pending"))
    assert settle_promises(session, as_of=promise_day + dt.timedelta(days=1), open_amounts={}) == {
        "kept": 1,
        "broken": 0,
    }


def test_the_todo_list_holds_tasks_and_failed_emails_of_the_given_customers(session: Session) -> None:
    ids = _world(session)
    scenarios = ScenarioSet(DEFAULT_SCENARIOS)
    items, _ = load_open_items(session, as_of=D + dt.timedelta(days=60), scenarios=scenarios)
    planned = plan(items, scenarios.by_name, D + dt.timedelta(days=60))
    record_actions(session, action_rows(planned, run_date=D, state_for=dict.fromkeys(Channel, "todo")))
    tasks = todo_list(session)
    assert tasks and {a.channel for a in tasks} == {"call", "letter", "formal_notice"}
    party_sme = session.scalars(select(Party.id).where(Party.name == "SME")).one()
    mine = todo_list(session, party_ids=[party_sme])
    assert mine and {a.party_id for a in mine} == {party_sme} and len(mine) < len(tasks)
    assert {a.invoice_id for a in mine} <= {ids[0], ids[2]}


def test_the_scenarios_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from schemas.settings import Settings

    monkeypatch.setenv("ENCAISSE_DUNNING_SCENARIOS", "examples/dunning/scenarios.yaml")
    assert Settings().dunning_scenarios == Path("examples/dunning/scenarios.yaml")


def test_concurrent_recording_keeps_one_row(engine: Engine) -> None:
    """Two sessions recording the same step: the second one's insert is skipped, not an error."""
    factory = db.make_session_factory(engine)
    with factory() as s, s.begin():
        _world(s)
    scenarios = ScenarioSet(DEFAULT_SCENARIOS)
    with factory() as s:
        items, _ = load_open_items(s, as_of=D, scenarios=scenarios)
    rows = action_rows(
        plan(items, scenarios.by_name, D), run_date=D, state_for=dict.fromkeys(Channel, "todo")
    )
    with factory() as a, a.begin():
        got_a = record_actions(a, rows)
    with factory() as b, b.begin():
        got_b = record_actions(b, rows)
    assert got_a and got_b == []
    with factory() as s:
        assert len(s.scalars(select(DunningAction)).all()) == len(rows)
