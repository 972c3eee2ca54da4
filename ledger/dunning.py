"""Dunning: which reminder steps are due for which invoices on a day, as a pure function.

A **scenario** is an ordered list of steps, each with an offset in days from the due date
(negative for a courtesy reminder before it), a channel (e-mail, letter, phone call task,
formal notice) and a tone. Customers get a scenario through their profile (key account,
SME, consumer, public body).

The planner is what makes the daily job safe to run late, twice or after a crash:

- a step is due once ``due date + offset`` has come, and it is done at most once per
  invoice (the caller records ``(invoice, scenario, step)`` as done, under a unique key);
- a run that was missed is caught up by the next one: every step that fell due since and
  is not done is planned, in order, so none is skipped;
- a dispute pauses the invoice (nothing planned while it is open); a payment promise
  pauses it until the promised day; a promise that passes unpaid is **broken** and
  escalates: the next step is due at once, whatever its offset;
- only invoices with something still due are dunned, for what is still due: a partial
  payment re-bases the amount named in the next reminder.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum


class Channel(StrEnum):
    """How a step reaches the customer."""

    EMAIL = "email"
    LETTER = "letter"
    CALL = "call"
    FORMAL_NOTICE = "formal_notice"


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a scenario."""

    id: str
    offset_days: int
    channel: Channel
    tone: str = "neutral"
    template: str = "reminder"


@dataclass(frozen=True)
class Scenario:
    """Ordered steps (by offset) for the customers of some profiles."""

    name: str
    steps: tuple[Step, ...]
    profiles: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        offsets = [s.offset_days for s in self.steps]
        ids = [s.id for s in self.steps]
        if offsets != sorted(offsets) or len(set(ids)) != len(ids):
            raise ValueError(f"scenario {self.name!r}: steps must have unique ids and rising offsets")


@dataclass(frozen=True, slots=True)
class Promise:
    """The customer promised to pay ``amount`` by ``on``."""

    on: dt.date
    amount: Decimal


@dataclass(frozen=True)
class OpenItem:
    """What the planner needs to know about one invoice."""

    invoice_id: int
    customer_id: int
    due: dt.date
    amount_due: Decimal
    scenario: str
    disputed: bool = False
    promises: tuple[Promise, ...] = ()
    #: amount paid since each promise was made is not tracked here: a promise is kept
    #: when the invoice is paid (``amount_due`` 0) or reduced by at least its amount
    paid_since_promise: Decimal = Decimal(0)
    done: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """A step to perform today for an invoice, and why."""

    invoice_id: int
    customer_id: int
    scenario: str
    step: Step
    amount_due: Decimal
    fell_due: dt.date
    reason: str
    #: what to record as done for the invoice once performed (the step, and a broken promise)
    marks: tuple[str, ...] = ()


def _promise_state(item: OpenItem, as_of: dt.date) -> tuple[str, Promise | None]:
    """``none``, ``pending`` (pause) or ``broken`` (escalate), from the latest promise."""
    if not item.promises:
        return "none", None
    latest = max(item.promises, key=lambda p: p.on)
    if as_of <= latest.on:
        return "pending", latest
    if item.paid_since_promise >= latest.amount:
        return "none", latest
    return "broken", latest


def plan_item(item: OpenItem, scenario: Scenario, as_of: dt.date) -> list[PlannedStep]:
    """The steps of ``scenario`` to perform on ``as_of`` for ``item`` (see the module's rules).

    >>> s = Scenario("sme", (Step("r1", 3, Channel.EMAIL), Step("r2", 15, Channel.EMAIL)))
    >>> item = OpenItem(1, 9, dt.date(2026, 1, 31), Decimal("100"), "sme")
    >>> [p.step.id for p in plan_item(item, s, dt.date(2026, 2, 20))]  # a missed run: both, in order
    ['r1', 'r2']
    >>> plan_item(item, s, dt.date(2026, 2, 2))
    []
    """
    if item.amount_due <= 0 or item.disputed:
        return []
    state, promise = _promise_state(item, as_of)
    if state == "pending":
        return []
    pending = [s for s in scenario.steps if s.id not in item.done]
    planned: list[PlannedStep] = []
    for step in pending:
        fell_due = item.due + dt.timedelta(days=step.offset_days)
        if fell_due <= as_of:
            planned.append(
                PlannedStep(
                    item.invoice_id,
                    item.customer_id,
                    scenario.name,
                    step,
                    item.amount_due,
                    fell_due,
                    f"due {fell_due.isoformat()}",
                    (step.id,),
                )
            )
    if state == "broken" and promise is not None:
        mark = f"promise-broken:{promise.on.isoformat()}"
        if mark not in item.done and pending and not planned:
            step = pending[0]
            planned.append(
                PlannedStep(
                    item.invoice_id,
                    item.customer_id,
                    scenario.name,
                    step,
                    item.amount_due,
                    as_of,
                    f"promise of {promise.on.isoformat()} broken: escalated",
                    (step.id, mark),
                )
            )
        elif mark not in item.done and planned:
            first = planned[0]
            planned[0] = PlannedStep(
                first.invoice_id,
                first.customer_id,
                first.scenario,
                first.step,
                first.amount_due,
                first.fell_due,
                f"{first.reason}; promise of {promise.on.isoformat()} broken",
                (*first.marks, mark),
            )
    return planned


def plan(items: Iterable[OpenItem], scenarios: Mapping[str, Scenario], as_of: dt.date) -> list[PlannedStep]:
    """Every step to perform on ``as_of``, invoice by invoice, each invoice's steps in order."""
    out: list[PlannedStep] = []
    for item in items:
        scenario = scenarios.get(item.scenario)
        if scenario is not None:
            out.extend(plan_item(item, scenario, as_of))
    return out


def scenario_for(profile: str | None, scenarios: Sequence[Scenario], default: str) -> str:
    """The name of the scenario assigned to a customer profile (``default`` when none claims it).

    >>> ss = [Scenario("key", (), ("key_account",)), Scenario("sme", (), ("sme",))]
    >>> scenario_for("key_account", ss, "sme"), scenario_for(None, ss, "sme")
    ('key', 'sme')
    """
    for scenario in scenarios:
        if profile is not None and profile in scenario.profiles:
            return scenario.name
    return default
