"""The dunning planner over simulated days: each step once, none skipped, pauses respected."""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from decimal import Decimal

from ledger.dunning import Channel, OpenItem, Promise, Scenario, Step, plan, plan_item, scenario_for

D = Decimal
START = dt.date(2026, 1, 1)
SME = Scenario(
    "sme",
    (
        Step("courtesy", -3, Channel.EMAIL, "friendly"),
        Step("r1", 5, Channel.EMAIL),
        Step("call", 15, Channel.CALL),
        Step("r2", 30, Channel.LETTER, "firm"),
        Step("notice", 45, Channel.FORMAL_NOTICE, "formal"),
    ),
    ("sme",),
)
KEY = Scenario("key", (Step("k1", 10, Channel.CALL), Step("k2", 40, Channel.EMAIL, "firm")), ("key_account",))
SCENARIOS = {s.name: s for s in (SME, KEY)}


def test_ninety_days_with_missed_days_each_step_once_none_skipped() -> None:
    rng = random.Random(2026)
    items = {
        i: OpenItem(
            i, i % 7, START + dt.timedelta(days=rng.randint(-20, 60)), D(100 + i), rng.choice(["sme", "key"])
        )
        for i in range(1, 201)
    }
    done: dict[int, set[str]] = {i: set() for i in items}
    performed: list[tuple[int, str, dt.date, dt.date]] = []
    missed = set(rng.sample(range(90), 25))  # a quarter of the days the job did not run
    last_run = START
    for n in range(90):
        day = START + dt.timedelta(days=n)
        if n in missed:
            continue
        for restart in range(2 if n % 11 == 0 else 1):  # some days the job runs twice (a restart)
            current = [
                OpenItem(
                    it.invoice_id, it.customer_id, it.due, it.amount_due, it.scenario, done=frozenset(done[i])
                )
                for i, it in items.items()
            ]
            for p in plan(current, SCENARIOS, day):
                assert not (set(p.marks) & done[p.invoice_id]), f"step {p.step.id} twice (restart {restart})"
                done[p.invoice_id].update(p.marks)
                performed.append((p.invoice_id, p.step.id, p.fell_due, day))
        last_run = day
    counts = Counter((inv, step) for inv, step, _, _ in performed)
    assert counts and max(counts.values()) == 1
    for _inv, _step, fell_due, day in performed:
        assert fell_due <= day  # never early
    for inv, it in items.items():
        for step in SCENARIOS[it.scenario].steps:
            fell_due = it.due + dt.timedelta(days=step.offset_days)
            assert ((inv, step.id) in counts) is (fell_due <= last_run), (inv, step.id)
    # caught up: steps that fell due on a missed day were done at the next run
    late = [(day - fell_due).days for _, _, fell_due, day in performed if START <= fell_due != day]
    assert late and max(late) <= max(len(list(g)) for g in _runs_of(sorted(missed))) + 1


def _runs_of(days: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for d in days:
        if runs and runs[-1][-1] == d - 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    return runs


def test_dispute_pauses_only_that_invoice() -> None:
    due = dt.date(2026, 3, 1)
    disputed = OpenItem(1, 5, due, D(500), "sme", disputed=True)
    other = OpenItem(2, 5, due, D(300), "sme")
    planned = plan([disputed, other], SCENARIOS, due + dt.timedelta(days=20))
    assert {p.invoice_id for p in planned} == {2}
    resolved = OpenItem(1, 5, due, D(500), "sme")
    assert [p.step.id for p in plan_item(resolved, SME, due + dt.timedelta(days=20))] == [
        "courtesy",
        "r1",
        "call",
    ]


def test_promise_pauses_until_its_day_then_a_broken_one_escalates_once() -> None:
    due = dt.date(2026, 3, 1)
    promise = Promise(dt.date(2026, 3, 20), D(500))
    item = OpenItem(1, 5, due, D(500), "sme", promises=(promise,), done=frozenset({"courtesy", "r1"}))
    assert plan_item(item, SME, dt.date(2026, 3, 18)) == []  # "call" fell due on 16 March: paused
    assert plan_item(item, SME, dt.date(2026, 3, 20)) == []  # the promised day itself
    broken = plan_item(item, SME, dt.date(2026, 3, 21))
    assert [p.step.id for p in broken] == ["call"] and "broken" in broken[0].reason
    after = OpenItem(
        1, 5, due, D(500), "sme", promises=(promise,), done=frozenset({"courtesy", "r1", *broken[0].marks})
    )
    assert plan_item(after, SME, dt.date(2026, 3, 22)) == []  # escalated once, not every day
    # with no overdue step left, a broken promise brings the next step forward
    ahead = OpenItem(
        1, 5, due, D(500), "sme", promises=(promise,), done=frozenset({"courtesy", "r1", "call"})
    )
    escalated = plan_item(ahead, SME, dt.date(2026, 3, 21))
    assert [p.step.id for p in escalated] == ["r2"] and escalated[0].fell_due == dt.date(2026, 3, 21)
    kept = OpenItem(
        1,
        5,
        due,
        D(200),
        "sme",
        promises=(promise,),
        paid_since_promise=D(500),
        done=frozenset({"courtesy", "r1", "call"}),
    )
    assert plan_item(kept, SME, dt.date(2026, 3, 21)) == []


def test_partial_payment_rebases_and_paid_invoices_are_left_alone() -> None:
    due = dt.date(2026, 3, 1)
    partial = plan_item(
        OpenItem(1, 5, due, D("123.45"), "sme", done=frozenset({"courtesy"})), SME, due + dt.timedelta(days=6)
    )
    assert [(p.step.id, p.amount_due) for p in partial] == [("r1", D("123.45"))]
    assert plan_item(OpenItem(1, 5, due, D(0), "sme"), SME, due + dt.timedelta(days=60)) == []


def test_scenarios_by_profile_and_their_shape() -> None:
    assert scenario_for("key_account", [SME, KEY], "sme") == "key"
    assert scenario_for("consumer", [SME, KEY], "sme") == "sme"
    try:
        Scenario("bad", (Step("a", 10, Channel.EMAIL), Step("b", 5, Channel.EMAIL)))
    except ValueError as exc:
        assert "rising offsets" in str(exc)
    else:  # pragma: no cover - the assertion above is the test
        raise AssertionError("steps out of order were accepted")
