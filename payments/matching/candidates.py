"""Readings of one line, each with a confidence and its reasons.

Signals, strongest first: an RF reference of ours, an invoice number in the
text (exact, then one typo away), the payer IBAN known for a customer (which
confirms or questions a reference but never overrides an RF one), amount
equality with one open invoice or a combination of one customer's invoices,
and the payer name. Each reading is scored from its weakest reference, how
the amount fits, and whether the payer agrees.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from payments.matching.book import Book, from_cents, to_cents
from payments.matching.evidence import Evidence, Run, fuzzy_hits
from payments.matching.fit import Fit, FitKind, fit_amount
from payments.matching.subset import find_subsets
from payments.matching.types import Line, MatchSettings, WriteOffReason

RF, EXACT, FUZZY, FUZZY_UNIQUE = "rf", "exact", "fuzzy", "fuzzy_unique"
_BASE = {RF: 0.99, EXACT: 0.97, FUZZY: 0.88, FUZZY_UNIQUE: 0.88}
_FIT_PENALTY = {
    FitKind.EQUAL: 0.0,
    FitKind.OVER_SMALL: 0.02,
    FitKind.OVER: 0.2,
}
_WRITE_OFF_PENALTY = {
    WriteOffReason.BANK_CHARGES: 0.01,
    WriteOffReason.CASH_DISCOUNT: 0.02,
    WriteOffReason.ROUNDING: 0.03,
}


@dataclass(slots=True)
class Candidate:
    """One reading of a line: the invoices (oldest first), the fit and the confidence."""

    ids: tuple[str, ...]
    fit: Fit
    confidence: float
    reasons: list[str]
    source: str = ""


def rf_short(rf: str) -> str:
    """A reference shortened for explanations.

    >>> rf_short("RF18539007547034")
    'RF18…34'
    """
    return f"{rf[:4]}…{rf[-2:]}" if len(rf) > 8 else rf


def _oldest_first(book: Book, ids: list[str]) -> list[str]:
    return sorted(ids, key=lambda i: (book.invoices[i].due_date, book.invoices[i].number))


def _payer(book: Book, ev: Evidence, ids: list[str]) -> tuple[int, str]:
    """+1 the payer IBAN is known for the invoices' customer, -1 for another one, 0 unknown."""
    if not ev.iban_customers:
        return 0, ""
    customers = {book.invoices[i].customer_id for i in ids}
    if customers & ev.iban_customers:
        return 1, "payer IBAN known for the customer"
    names = ", ".join(sorted(book.customer_names[c] for c in ev.iban_customers)[:2])
    return -1, f"payer IBAN belongs to another customer ({names})"


def score(
    book: Book, line: Line, ev: Evidence, ids: list[str], source: str, why: str, settings: MatchSettings
) -> Candidate:
    """Score a reading resting on references (RF, exact or fuzzy invoice numbers)."""
    ordered = _oldest_first(book, ids)
    fit = fit_amount([book.open[i] for i in ordered], to_cents(line.amount), line, settings)
    conf = _BASE[source]
    if fit.kind is FitKind.WRITE_OFF:
        assert fit.reason is not None
        conf -= _WRITE_OFF_PENALTY[fit.reason] + (0.02 if source in (FUZZY, FUZZY_UNIQUE) else 0.0)
        if len(ids) > 1 and source != RF and fit.reason is WriteOffReason.ROUNDING:
            conf -= 0.1  # a typo'd list that nearly adds up is more often a wrong list
    elif fit.kind is FitKind.PARTIAL:
        conf -= 0.04 if len(ids) == 1 else 0.25
    else:
        conf -= _FIT_PENALTY[fit.kind]
    agree, payer_text = _payer(book, ev, ordered)
    if agree > 0:
        conf += {FUZZY: 0.05, FUZZY_UNIQUE: 0.07}.get(source, 0.02)
    elif agree < 0:
        conf -= {RF: 0.02, EXACT: 0.15}.get(source, 0.5)
    elif fit.kind is not FitKind.EQUAL and source != RF:
        conf -= 0.1
    reasons = [why, fit.text] + ([payer_text] if payer_text else [])
    return Candidate(tuple(ordered), fit, round(min(conf, 0.99), 3), reasons, source)


def _numbers(book: Book, ids: list[str]) -> str:
    return ", ".join(book.invoices[i].number for i in ids)


def reference_candidates(book: Book, line: Line, ev: Evidence, settings: MatchSettings) -> list[Candidate]:
    """Readings built on the references the line carries."""
    out: list[Candidate] = []
    amount = to_cents(line.amount)
    rf_open = [i for i in ev.rf_ids if book.open[i] > 0]
    if rf_open:
        refs = ", ".join(rf_short(ev.rf_shown[i]) for i in rf_open)
        why = f"RF reference {refs} matches invoice {_numbers(book, rf_open)}"
        out.append(score(book, line, ev, rf_open, RF, why, settings))
    # invoice numbers: per group of digits, the exact hit, or the typo neighbours
    chosen: list[tuple[str, str]] = []  # (invoice id, source)
    slots: list[list[str]] = []  # a typo'd number of a list with several neighbours of the payer's
    goods = [_good_hits(book, ev, run) for run in ev.runs]
    single_good = [i for g in goods for i in g]
    # when the one trusted number does not fit the amount, its typo neighbours are readings too
    unsure = (
        len(single_good) == 1
        and fit_amount([book.open[single_good[0]]], amount, line, settings).kind is FitKind.PARTIAL
    )
    for run, good in zip(ev.runs, goods, strict=True):
        exact = [i for i in run.exact if book.open[i] > 0]
        chosen.extend((i, EXACT) for i in good)
        for i in exact:
            if i not in good:  # a number of another customer's (often a typo): a weaker reading
                out.append(
                    score(
                        book,
                        line,
                        ev,
                        [i],
                        EXACT,
                        f"invoice number {book.invoices[i].number} "
                        f"found in the remittance text ('{run.text}')",
                        settings,
                    )
                )
        trusted = set() if unsure else set(good)
        typo_chosen = False
        for window in fuzzy_hits(run, book, trusted):
            hits = [i for i in window if book.open[i] > 0 and i not in good]
            agreeing = [i for i in hits if book.invoices[i].customer_id in ev.iban_customers]
            if len(agreeing) == 1 and not unsure:
                chosen.append((agreeing[0], FUZZY_UNIQUE))
                typo_chosen = True
                continue
            if len(agreeing) > 1 and not unsure and len(ev.runs) + len(rf_open) > 1:
                slots.append(([i for i in exact if i not in good] + agreeing)[:8])
                typo_chosen = True
            for i in (agreeing or hits)[:12]:
                if agreeing or book.open[i] == amount:
                    cand = score(
                        book,
                        line,
                        ev,
                        [i],
                        FUZZY_UNIQUE if len(agreeing) == 1 else FUZZY,
                        f"'{run.text}' in the remittance text is one typo away from invoice "
                        f"{book.invoices[i].number}",
                        settings,
                    )
                    if cand.fit.kind in (FitKind.PARTIAL, FitKind.OVER):
                        cand.confidence = round(cand.confidence - 0.15, 3)
                    out.append(cand)
        if exact and not good and not typo_chosen:
            chosen.extend((i, EXACT) for i in exact)
    if slots:
        out.extend(_fill_slots(book, line, ev, rf_open + [i for i, _ in chosen], slots, settings))
    ids = list(dict.fromkeys(i for i, _ in chosen if i not in rf_open))
    if ids:
        source = FUZZY_UNIQUE if any(s == FUZZY_UNIQUE for _, s in chosen) else EXACT
        what = "typed with a typo " if source == FUZZY_UNIQUE else ""
        why = f"invoice number {_numbers(book, ids)} {what}found in the remittance text"
        if rf_open:
            both = rf_open + ids
            out.append(
                score(
                    book,
                    line,
                    ev,
                    both,
                    RF if source == EXACT else FUZZY_UNIQUE,
                    f"RF reference and {why}",
                    settings,
                )
            )
        else:
            out.append(score(book, line, ev, ids, source, why, settings))
            if len(ids) > 1:
                out.extend(_subset_of_listed(book, line, ev, ids, source, settings))
    for cand in list(out):  # a list that misses invoices of the same customer
        if cand.fit.kind is FitKind.OVER and cand.confidence >= 0.5:
            out.extend(_complete_the_list(book, line, ev, cand, settings))
    return out


def _open_of_customer(
    book: Book, customer: str, exclude: tuple[str, ...], cap: int = 2000
) -> list[tuple[str, int]]:
    """(id, open cents) of the customer's oldest open invoices but ``exclude``, at most ``cap``."""
    return [(i, c) for i, c in book.customer_open(customer, cap + len(exclude)) if i not in exclude]


def _good_hits(book: Book, ev: Evidence, run: Run) -> list[str]:
    """Open invoices the run names exactly, of the payer's customer when the IBAN tells it."""
    exact = [i for i in run.exact if book.open[i] > 0]
    if not ev.iban_customers:
        return exact
    return [i for i in exact if book.invoices[i].customer_id in ev.iban_customers]


def _fill_slots(
    book: Book, line: Line, ev: Evidence, fixed: list[str], slots: list[list[str]], settings: MatchSettings
) -> list[Candidate]:
    """Lists with typo'd numbers: the choices of typo neighbours that make the amount add up."""
    amount = to_cents(line.amount)
    fixed = list(dict.fromkeys(fixed))
    rest = amount - sum(book.open[i] for i in fixed)
    out: list[Candidate] = []
    for n, combo in enumerate(itertools.product(*slots)):
        if n >= 64:
            break
        if (
            len(set(combo)) == len(combo)
            and not set(combo) & set(fixed)
            and sum(book.open[i] for i in combo) == rest
        ):
            ids = fixed + list(combo)
            out.append(
                score(
                    book,
                    line,
                    ev,
                    ids,
                    FUZZY,
                    f"invoice numbers {_numbers(book, ids)} found in the "
                    "remittance text, some one typo away; their sum is the amount",
                    settings,
                )
            )
    return out


def _subset_of_listed(
    book: Book, line: Line, ev: Evidence, ids: list[str], source: str, settings: MatchSettings
) -> list[Candidate]:
    res = find_subsets(
        [(i, book.open[i]) for i in ids],
        to_cents(line.amount),
        max_size=len(ids),
        budget=settings.subset_budget,
    )
    out = []
    for sol in res.solutions:
        if len(sol) < len(ids):
            cand = score(
                book,
                line,
                ev,
                list(sol),
                source,
                f"invoices {_numbers(book, list(sol))} of those listed add up to the amount",
                settings,
            )
            cand.confidence = round(cand.confidence - (0.05 if len(res.solutions) == 1 else 0.4), 3)
            out.append(cand)
    return out


def _complete_the_list(
    book: Book, line: Line, ev: Evidence, cand: Candidate, settings: MatchSettings
) -> list[Candidate]:
    """The referenced invoices plus other open ones of the same customer that make up the excess.

    One more invoice with exactly the missing amount is a likely reading; several
    more only when the search was complete and found a single combination.
    """
    customers = {book.invoices[i].customer_id for i in cand.ids}
    if len(customers) != 1 or cand.source == FUZZY:
        return []
    (customer,) = customers
    room = settings.max_group - len(cand.ids)
    if room < 1:
        return []
    excess = cand.fit.credit
    singles = [i for i in book.customer_open_for(customer, excess) if i not in cand.ids]
    others = _open_of_customer(book, customer, cand.ids)
    res = find_subsets(others, excess, max_size=room, budget=settings.subset_budget, limit=4)
    sols = list(dict.fromkeys([*[(i,) for i in singles], *res.solutions]))
    out = []
    for sol in sols:
        ids = list(cand.ids) + list(sol)
        c = score(
            book,
            line,
            ev,
            ids,
            cand.source,
            cand.reasons[0] + f"; with {_numbers(book, list(sol))} "
            "of the same customer the amount is made up",
            settings,
        )
        sure = (len(sol) == 1 and len(singles) == 1) or (len(sols) == 1 and res.complete)
        c.confidence = round(c.confidence - (0.06 if sure else 0.25), 3)
        out.append(c)
    return out


def amount_candidates(book: Book, line: Line, ev: Evidence, settings: MatchSettings) -> list[Candidate]:
    """Readings without a reference: the payer's open invoices that the amount fits."""
    amount = to_cents(line.amount)
    out: list[Candidate] = []
    payer_text = ""
    named = {i for run in ev.runs for i in run.exact} | set(ev.rf_ids)
    customers: dict[str, float] = {}
    if ev.iban_customers:
        customers = {c: 1.0 for c in sorted(ev.iban_customers)}
        payer_text = "payer IBAN known for customer {name}"
        base = 0.93 if len(customers) == 1 else 0.8
    elif line.counterparty_name:
        customers = book.customers_named(line.counterparty_name)
        payer_text = f"payer name '{line.counterparty_name}' like customer {{name}}"
        base = 0.9
    if customers:
        equal = [i for c in customers for i in book.customer_open_for(c, amount)]
        equal = [i for i in equal if book.invoices[i].currency == line.currency]
        for i in _oldest_first(book, equal):
            inv = book.invoices[i]
            sim = customers[inv.customer_id]
            conf = base - (1.0 - sim) * 0.5 - (0.0 if len(equal) == 1 else 0.4)
            if named and i not in named:
                conf -= 0.15  # the text names other invoices
            reasons = [
                f"amount {from_cents(amount)} equals invoice {inv.number}"
                + ("" if len(equal) == 1 else f" (one of {len(equal)} open invoices with that amount)"),
                payer_text.format(name=inv.customer_name),
            ]
            out.append(Candidate((i,), fit_amount([amount], amount, line, settings), round(conf, 3), reasons))
        if not equal and len(customers) <= 3:
            for c in customers:
                out.extend(_customer_combinations(book, line, c, base - 0.08, payer_text, settings))
    if not out:
        same = [i for i in book.open_ids(book.by_amount.get((line.currency, amount), ()), amount)][:5]
        for i in _oldest_first(book, same):
            inv = book.invoices[i]
            out.append(
                Candidate(
                    (i,),
                    fit_amount([amount], amount, line, settings),
                    0.3,
                    [
                        f"amount {from_cents(amount)} equals invoice {inv.number} "
                        f"of {inv.customer_name}; nothing else links them"
                    ],
                )
            )
    return out


def _customer_combinations(
    book: Book, line: Line, customer: str, base: float, payer_text: str, settings: MatchSettings
) -> list[Candidate]:
    """Open invoices of one customer that the amount pays together, or with a write-off."""
    amount = to_cents(line.amount)
    opens = _open_of_customer(book, customer, ())
    name = book.customer_names[customer]
    out: list[Candidate] = []
    rate = max(settings.cash_discount_rates, default=0)
    ceiling = amount + max(to_cents(settings.max_bank_charges), int(amount * rate) + 2)
    for i, cents in opens:  # one invoice less a write-off the line explains
        if not amount < cents <= ceiling:
            continue
        fit = fit_amount([cents], amount, line, settings)
        if fit.kind is FitKind.WRITE_OFF and fit.reason is not WriteOffReason.ROUNDING:
            conf = base - 0.04 if fit.reason is WriteOffReason.BANK_CHARGES else base - 0.15
            out.append(
                Candidate(
                    (i,),
                    fit,
                    round(conf, 3),
                    [f"invoice {book.invoices[i].number}: {fit.text}", payer_text.format(name=name)],
                )
            )
    res = find_subsets(opens, amount, max_size=settings.max_group, budget=settings.subset_budget)
    for sol in res.solutions:
        if len(sol) < 2:
            continue
        ids = _oldest_first(book, list(sol))
        unique = len(res.solutions) == 1 and res.complete
        out.append(
            Candidate(
                tuple(ids),
                fit_amount([book.open[i] for i in ids], amount, line, settings),
                round(base - (0.05 if unique else 0.4), 3),
                [f"amount equals the sum of invoices {_numbers(book, ids)}", payer_text.format(name=name)],
            )
        )
    return out
