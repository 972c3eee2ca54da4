"""Dunning against the database: scenarios, the open items of a day, actions recorded once.

:mod:`ledger.dunning` plans; this module feeds it and keeps what was done:

- **scenarios**: :data:`DEFAULT_SCENARIOS` (one per customer profile, French practice),
  overridable by a YAML file (:func:`load_scenarios`, format in
  ``examples/dunning/scenarios.yaml``);
- **open items** (:func:`load_open_items`): the invoices with something still due on a
  day (:func:`ledger.receivables.open_items`), each with its scenario (the customer's
  ``customer_terms.dunning_scenario``, else the one claiming its profile), whether a
  dispute is open, its pending promise and the marks already recorded;
- **actions** (:func:`record_actions`): one row per (invoice, scenario, mark), inserted
  with ``ON CONFLICT DO NOTHING``: a row that was already there means "already done",
  and the step is skipped; only the rows this call inserted are returned, for the caller
  to perform. Whatever runs concurrently or again, a step is recorded, hence performed,
  once.
- **promises** (:func:`settle_promises`): a pending promise whose day has passed becomes
  ``kept`` (paid by then) or ``broken``.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Select, and_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ledger.collections import CustomerTerms, Dispute, DunningAction, PaymentPromise
from ledger.dunning import Channel, OpenItem, PlannedStep, Promise, Scenario, Step, scenario_for
from ledger.models import Party
from ledger.receivables import open_items
from schemas.errors import EncaisseError, ErrorCode, InputRejected

TONES = ("friendly", "neutral", "firm", "formal")
DEFAULT_SCENARIO = "sme"
#: days after the issue date an invoice without a due date falls due (Code de commerce L441-10)
DEFAULT_TERM_DAYS = 30
#: ids per IN list when reading actions of open invoices
CHUNK = 5000


class ScenariosInvalid(InputRejected):
    """The dunning scenarios file cannot be used."""

    code = ErrorCode.DUNNING_SCENARIOS_INVALID


class ActionNotFound(EncaisseError):
    """No dunning task with that id to complete."""

    code = ErrorCode.NOT_FOUND


def _s(id_: str, offset: int, channel: Channel, tone: str) -> Step:
    return Step(id_, offset, channel, tone)


E, L, C, N = Channel.EMAIL, Channel.LETTER, Channel.CALL, Channel.FORMAL_NOTICE

#: One scenario per profile. Businesses: a courtesy e-mail before the due date, e-mails
#: growing firmer, a collector's call, a letter, then the formal notice (mise en demeure)
#: that opens the way to an injunction. Key accounts get more time and an early call;
#: consumers gentler steps and more time (no 40 EUR indemnity is claimed from them);
#: public bodies pay through their accountant within the legal 30 days (R2192-10 CCP),
#: so a reminder goes early and a call follows.
DEFAULT_SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "key_account",
        (
            _s("courtesy", -5, E, "friendly"),
            _s("reminder-1", 7, E, "neutral"),
            _s("call-1", 15, C, "neutral"),
            _s("reminder-2", 30, E, "firm"),
            _s("letter", 45, L, "firm"),
            _s("formal-notice", 60, N, "formal"),
        ),
        ("key_account",),
    ),
    Scenario(
        "sme",
        (
            _s("courtesy", -3, E, "friendly"),
            _s("reminder-1", 3, E, "neutral"),
            _s("reminder-2", 15, E, "firm"),
            _s("call-1", 20, C, "firm"),
            _s("letter", 30, L, "firm"),
            _s("formal-notice", 45, N, "formal"),
        ),
        ("sme",),
    ),
    Scenario(
        "consumer",
        (
            _s("courtesy", -3, E, "friendly"),
            _s("reminder-1", 5, E, "friendly"),
            _s("reminder-2", 20, E, "neutral"),
            _s("call-1", 30, C, "neutral"),
            _s("letter", 45, L, "firm"),
            _s("formal-notice", 60, N, "formal"),
        ),
        ("consumer",),
    ),
    Scenario(
        "public_body",
        (
            _s("reminder-1", 1, E, "neutral"),
            _s("reminder-2", 15, E, "neutral"),
            _s("call-1", 30, C, "neutral"),
            _s("letter", 45, L, "firm"),
            _s("formal-notice", 75, N, "formal"),
        ),
        ("public_body",),
    ),
)


@dataclass(frozen=True)
class ScenarioSet:
    """The scenarios in force and the one for customers that no scenario claims."""

    scenarios: tuple[Scenario, ...]
    default: str = DEFAULT_SCENARIO

    @property
    def by_name(self) -> dict[str, Scenario]:
        """The scenarios by name."""
        return {s.name: s for s in self.scenarios}

    def for_customer(self, *, assigned: str | None, profile: str | None) -> str:
        """The customer's own scenario when it names one that exists, else its profile's."""
        if assigned and assigned in self.by_name:
            return assigned
        return scenario_for(profile, self.scenarios, self.default)


def _bad(path: Path | str, message: str) -> ScenariosInvalid:
    return ScenariosInvalid(f"{path}: {message}", where=str(path))


def _step(raw: Any, where: str, path: Path | str) -> Step:
    if not isinstance(raw, Mapping):
        raise _bad(path, f"{where}: a step is a mapping with id, offset, channel and tone")
    unknown = set(raw) - {"id", "offset", "channel", "tone", "template"}
    if unknown:
        raise _bad(path, f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    try:
        step_id, offset = str(raw["id"]), raw["offset"]
        channel = Channel(str(raw["channel"]))
    except KeyError as exc:
        raise _bad(path, f"{where}: missing {exc.args[0]!r}") from None
    except ValueError:
        choices = ", ".join(c.value for c in Channel)
        raise _bad(path, f"{where}: channel {raw['channel']!r} is not one of {choices}") from None
    if not isinstance(offset, int) or isinstance(offset, bool) or not -365 <= offset <= 3650:
        raise _bad(path, f"{where}: offset must be a whole number of days from the due date")
    if not step_id or len(step_id) > 64 or step_id.startswith("promise-broken"):
        raise _bad(path, f"{where}: id must be 1 to 64 characters, not starting with promise-broken")
    tone = str(raw.get("tone", "neutral"))
    if tone not in TONES:
        raise _bad(path, f"{where}: tone {tone!r} is not one of {', '.join(TONES)}")
    return Step(step_id, offset, channel, tone, str(raw.get("template", "reminder")))


def parse_scenarios(data: Any, *, path: Path | str = "<scenarios>") -> ScenarioSet:
    """Scenarios from the parsed YAML ``data`` merged over the defaults (see the example file).

    >>> s = parse_scenarios({"scenarios": [{"name": "sme", "profiles": ["sme"], "steps": [
    ...     {"id": "r1", "offset": 10, "channel": "email", "tone": "firm"}]}]})
    >>> [st.id for st in s.by_name["sme"].steps], s.for_customer(assigned=None, profile="sme")
    (['r1'], 'sme')
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise _bad(path, "the file must be a mapping with a 'scenarios' list")
    unknown = set(data) - {"scenarios", "default", "replace_defaults"}
    if unknown:
        raise _bad(path, f"unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    raw_list = data.get("scenarios") or []
    if not isinstance(raw_list, list):
        raise _bad(path, "'scenarios' must be a list")
    ours: list[Scenario] = []
    for i, raw in enumerate(raw_list):
        if not isinstance(raw, Mapping) or not raw.get("name"):
            raise _bad(path, f"scenario #{i + 1}: a mapping with a name and steps")
        name = str(raw["name"])
        if len(name) > 64:
            raise _bad(path, f"scenario {name!r}: a name of at most 64 characters")
        steps = raw.get("steps") or []
        profiles = raw.get("profiles") or []
        if not isinstance(steps, list) or not isinstance(profiles, list):
            raise _bad(path, f"scenario {name!r}: steps and profiles must be lists")
        parsed = tuple(_step(s, f"scenario {name!r} step #{j + 1}", path) for j, s in enumerate(steps))
        try:
            ours.append(Scenario(name, parsed, tuple(str(p) for p in profiles)))
        except ValueError as exc:
            raise _bad(path, str(exc)) from None
    names = [s.name for s in ours]
    if len(set(names)) != len(names):
        raise _bad(path, "two scenarios have the same name")
    kept = () if data.get("replace_defaults") else tuple(s for s in DEFAULT_SCENARIOS if s.name not in names)
    merged = (*ours, *kept)  # the file's scenarios claim their profiles first
    default = str(data.get("default", DEFAULT_SCENARIO))
    if default not in {s.name for s in merged}:
        raise _bad(path, f"the default scenario {default!r} is not defined")
    return ScenarioSet(merged, default)


def load_scenarios(path: Path | None) -> ScenarioSet:
    """The defaults, or the defaults overridden by the YAML file at ``path``."""
    if path is None:
        return ScenarioSet(DEFAULT_SCENARIOS)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise _bad(path, f"cannot read the file: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise _bad(path, f"not valid YAML: {str(exc).splitlines()[0]}") from None
    return parse_scenarios(data, path=path)


# --------------------------------------------------------------------------- open items


@dataclass(frozen=True)
class ItemInfo:
    """What the reminders need beside the planner's item: the customer's profile and terms."""

    issue: dt.date | None
    amount: Decimal
    profile: str | None
    penalty_rate: Decimal | None


def _open_rows(as_of: dt.date) -> Select[Any]:
    items = open_items(as_of).subquery()
    return (
        select(
            items.c.invoice_id,
            items.c.party_id,
            items.c.issue_date,
            items.c.due_date,
            items.c.amount,
            items.c.outstanding,
            Party.profile,
            CustomerTerms.dunning_scenario,
            CustomerTerms.penalty_rate,
        )
        .join(Party, Party.id == items.c.party_id)
        .outerjoin(CustomerTerms, CustomerTerms.party_id == items.c.party_id)
    )


def load_open_items(
    session: Session, *, as_of: dt.date, scenarios: ScenarioSet
) -> tuple[list[OpenItem], dict[int, ItemInfo]]:
    """The planner's items on ``as_of`` (invoice id order) and, per invoice, what reminders show."""
    rows = session.execute(_open_rows(as_of)).all()
    ids = {r.invoice_id for r in rows}
    disputed = {
        i for i in session.scalars(select(Dispute.invoice_id).where(Dispute.state == "open")) if i in ids
    }
    promises: dict[int, list[tuple[Promise, Decimal]]] = defaultdict(list)
    for invoice_id, on, amount, due_then in session.execute(
        select(
            PaymentPromise.invoice_id,
            PaymentPromise.promised_on,
            PaymentPromise.amount,
            PaymentPromise.amount_due_then,
        ).where(PaymentPromise.state == "pending")
    ):
        if invoice_id in ids:
            promises[invoice_id].append((Promise(on, Decimal(amount)), Decimal(due_then)))
    done: dict[tuple[int, str], set[str]] = defaultdict(set)
    ordered = sorted(ids)
    for i in range(0, len(ordered), CHUNK):
        for invoice_id, scenario, mark in session.execute(
            select(DunningAction.invoice_id, DunningAction.scenario, DunningAction.mark).where(
                DunningAction.invoice_id.in_(ordered[i : i + CHUNK])
            )
        ):
            done[(invoice_id, scenario)].add(mark)
    items: list[OpenItem] = []
    info: dict[int, ItemInfo] = {}
    for r in sorted(rows, key=lambda r: r.invoice_id):
        name = scenarios.for_customer(assigned=r.dunning_scenario, profile=r.profile)
        due = r.due_date or (r.issue_date + dt.timedelta(days=DEFAULT_TERM_DAYS) if r.issue_date else None)
        if due is None:
            continue
        outstanding = Decimal(r.outstanding)
        own = promises.get(r.invoice_id, [])
        latest = max(own, key=lambda p: p[0].on) if own else None
        items.append(
            OpenItem(
                invoice_id=r.invoice_id,
                customer_id=r.party_id,
                due=due,
                amount_due=outstanding,
                scenario=name,
                disputed=r.invoice_id in disputed,
                promises=tuple(p for p, _ in own),
                paid_since_promise=(latest[1] - outstanding) if latest else Decimal(0),
                done=frozenset(done.get((r.invoice_id, name), ())),
            )
        )
        info[r.invoice_id] = ItemInfo(
            r.issue_date,
            Decimal(r.amount),
            r.profile,
            None if r.penalty_rate is None else Decimal(r.penalty_rate),
        )
    return items, info


# --------------------------------------------------------------------------- actions


def _insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(DunningAction)
    if dialect == "sqlite":
        return sqlite.insert(DunningAction)
    raise ScenariosInvalid(f"dunning needs PostgreSQL or SQLite, not {dialect}", where="database")


def action_rows(
    planned: Sequence[PlannedStep], *, run_date: dt.date, state_for: Mapping[Channel, str]
) -> list[dict[str, Any]]:
    """The rows recording ``planned``: one per mark (the step itself, and a broken promise)."""
    rows = []
    for p in planned:
        for mark in p.marks:
            is_step = mark == p.step.id
            rows.append(
                {
                    "invoice_id": p.invoice_id,
                    "party_id": p.customer_id,
                    "scenario": p.scenario,
                    "mark": mark,
                    "step": p.step.id,
                    "channel": p.step.channel.value,
                    "run_date": run_date,
                    "fell_due": p.fell_due,
                    "amount_due": p.amount_due,
                    "reason": p.reason[:200],
                    "state": state_for[p.step.channel] if is_step else "done",
                    "detail": None if is_step else "promise broken: escalated",
                }
            )
    return rows


def record_actions(session: Session, rows: Sequence[Mapping[str, Any]], *, batch: int = 2000) -> list[int]:
    """Insert the action rows not already there; the ids of those inserted (the others were done).

    A row whose (invoice, scenario, mark) exists is skipped by the database itself
    (``ON CONFLICT DO NOTHING``), so two runs racing still record each step once.
    """
    inserted: list[int] = []
    stmt = (
        _insert(session)
        .on_conflict_do_nothing(index_elements=["invoice_id", "scenario", "mark"])
        .returning(DunningAction.id)
    )
    for i in range(0, len(rows), batch):
        chunk = [dict(r) for r in rows[i : i + batch]]
        inserted.extend(session.scalars(stmt, chunk))
    return sorted(inserted)


def set_action_state(session: Session, *, action_ids: Sequence[int], state: str, detail: str | None) -> None:
    """Move actions to ``state`` (``sent``, ``done``, ``failed``...) with a detail."""
    for i in range(0, len(action_ids), 2000):
        session.execute(
            update(DunningAction)
            .where(DunningAction.id.in_(action_ids[i : i + 2000]))
            .values(state=state, detail=detail)
        )


def claim_pending(session: Session, *, action_ids: Sequence[int]) -> set[int]:
    """Those of ``action_ids`` still to perform, locked until the transaction ends.

    On PostgreSQL rows another transaction holds are skipped (``SKIP LOCKED``): two runs at
    once never perform the same action. SQLite serialises writers instead.
    """
    if not action_ids:
        return set()
    query = select(DunningAction.id).where(
        DunningAction.id.in_(list(action_ids)),
        DunningAction.state == "todo",
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return set(session.scalars(query))


def complete_action(session: Session, *, action_id: int, by: str, note: str | None = None) -> DunningAction:
    """Mark a collector's task done (the call made, the letter posted); refuses what is not a task to do."""
    action = session.get(DunningAction, action_id, with_for_update=True)
    if action is None or action.mark != action.step:
        raise ActionNotFound(f"no dunning task {action_id}", where=str(action_id))
    if action.state != "todo" or action.channel == "email":
        raise ActionNotFound(
            f"dunning task {action_id} is {action.channel} in state {action.state}: nothing to complete",
            where=str(action_id),
        )
    action.state = "done"
    done = f"done by {by}" + (f": {note}" if note else "")
    action.detail = f"{action.detail}; {done}" if action.detail else done
    return action


def settle_promises(
    session: Session, *, as_of: dt.date, open_amounts: Mapping[int, Decimal]
) -> dict[str, int]:
    """Pending promises whose day is before ``as_of``: ``kept`` when paid as promised, else ``broken``.

    ``open_amounts`` is what each open invoice still owes on ``as_of`` (an invoice not in it
    is settled). Returns how many became kept and broken.
    """
    counts = {"kept": 0, "broken": 0}
    rows = session.execute(
        select(
            PaymentPromise.id,
            PaymentPromise.invoice_id,
            PaymentPromise.amount,
            PaymentPromise.amount_due_then,
        ).where(PaymentPromise.state == "pending", PaymentPromise.promised_on < as_of)
    ).all()
    outcome: dict[str, list[int]] = {"kept": [], "broken": []}
    for promise_id, invoice_id, amount, due_then in rows:
        still = open_amounts.get(invoice_id, Decimal(0))
        kept = still <= 0 or Decimal(due_then) - still >= Decimal(amount)
        outcome["kept" if kept else "broken"].append(promise_id)
    for state, ids in outcome.items():
        if ids:
            session.execute(update(PaymentPromise).where(PaymentPromise.id.in_(ids)).values(state=state))
        counts[state] = len(ids)
    return counts


def pending_actions(
    session: Session, *, channels: Sequence[str], states: Sequence[str] = ("todo",)
) -> list[DunningAction]:
    """Actions in ``states`` on ``channels``, oldest first (e-mails left unsent by a crash, tasks)."""
    return list(
        session.scalars(
            select(DunningAction)
            .where(DunningAction.channel.in_(channels), DunningAction.state.in_(states))
            .order_by(DunningAction.id)
        )
    )


def todo_list(session: Session, *, party_ids: Iterable[int] | None = None) -> list[DunningAction]:
    """A collector's to-do list: calls, letters and formal notices to do, e-mails that failed."""
    query = (
        select(DunningAction)
        .where(
            and_(
                DunningAction.mark == DunningAction.step,
                (
                    (
                        DunningAction.channel.in_(("call", "letter", "formal_notice"))
                        & (DunningAction.state == "todo")
                    )
                    | ((DunningAction.channel == "email") & (DunningAction.state == "failed"))
                ),
            )
        )
        .order_by(DunningAction.fell_due, DunningAction.id)
    )
    if party_ids is not None:
        query = query.where(DunningAction.party_id.in_(list(party_ids)))
    return list(session.scalars(query))
