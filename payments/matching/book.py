"""The open invoices, indexed for matching, and their running open amounts.

Every lookup the engine makes is a dictionary access: by RF reference, by the
digit and group keys of the invoice number, by payer IBAN (to customers), by
customer and amount, by amount alone, and by payer name. Amounts are held in
integer cents inside the engine; the :class:`Book` is the only mutable state and
is changed only by :meth:`Book.apply` (automatic matches), so lines processed
later see what earlier ones already paid.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from payments.matching.text import compare_names, name_key, number_keys, plain_name
from payments.matching.types import OpenInvoice
from schemas.errors import ErrorCode, InputRejected

_CENT = Decimal("0.01")


def compact_ref(ref: str) -> str:
    """A reference without spaces, upper case (the fast path of ``normalise_rf``).

    >>> compact_ref("rf18 5390 0754 7034")
    'RF18539007547034'
    """
    return "".join(ref.split()).upper()


def to_cents(amount: Decimal) -> int:
    """An amount in integer cents (amounts carry at most two decimals).

    >>> to_cents(Decimal("12.3")), to_cents(Decimal("-0.05"))
    (1230, -5)
    """
    cents = amount.scaleb(2)
    if cents == cents.to_integral_value():  # the usual case: at most two decimals
        return int(cents)
    return int((amount.quantize(_CENT) * 100).to_integral_value())


def from_cents(cents: int) -> Decimal:
    """The Decimal amount of integer cents.

    >>> from_cents(1230)
    Decimal('12.30')
    """
    return (Decimal(cents) / 100).quantize(_CENT)


def normalise_iban(iban: str) -> str:
    """An IBAN without spaces, upper case.

    >>> normalise_iban("de89 3704 0044 0532 0130 00")
    'DE89370400440532013000'
    """
    return "".join(iban.split()).upper()


class Book:
    """Open invoices indexed for matching, with what is still open on each."""

    def __init__(self, invoices: Iterable[OpenInvoice]) -> None:
        self.invoices: dict[str, OpenInvoice] = {}
        self.open: dict[str, int] = {}
        self.by_rf: dict[str, str] = {}
        self.by_digits: defaultdict[str, list[str]] = defaultdict(list)
        self.by_groups: defaultdict[str, list[str]] = defaultdict(list)
        self.by_customer: defaultdict[str, list[str]] = defaultdict(list)
        self.by_customer_amount: defaultdict[tuple[str, int], list[str]] = defaultdict(list)
        self.by_amount: defaultdict[tuple[str, int], list[str]] = defaultdict(list)
        self.customers_by_iban: defaultdict[str, set[str]] = defaultdict(set)
        self.customer_names: dict[str, str] = {}
        self._head: dict[str, int] = {}
        self._ibans_seen: dict[str, tuple[str, ...]] = {}
        self.open_count: defaultdict[str, int] = defaultdict(int)
        self._name_forms: dict[str, tuple[str, str]] = {}
        self._by_name_key: defaultdict[str, set[str]] = defaultdict(set)
        self._by_first_word: defaultdict[str, set[str]] = defaultdict(set)
        self._by_two_words: defaultdict[str, set[str]] = defaultdict(set)
        self.digit_lengths: set[int] = set()
        self.max_groups = 1
        for inv in invoices:
            self._add(inv)
        for ids in self.by_customer.values():  # oldest first, once
            ids.sort(key=lambda i: (self.invoices[i].due_date, self.invoices[i].number))

    def _add(self, inv: OpenInvoice) -> None:
        if inv.id in self.invoices:
            return
        if not inv.amount_due.is_finite() or inv.amount_due < 0:
            raise InputRejected(
                f"invoice {inv.number} has an amount due of {inv.amount_due}; it must be a number, 0 or more",
                code=ErrorCode.USAGE,
                invoice_id=inv.id,
            )
        cents = to_cents(inv.amount_due)
        customer = inv.customer_id
        self.invoices[inv.id] = inv
        self.open[inv.id] = cents
        if inv.rf_reference:
            self.by_rf[compact_ref(inv.rf_reference)] = inv.id
        digits, groups = number_keys(inv.number)
        if digits:
            self.by_digits[digits].append(inv.id)
            self.by_groups[groups].append(inv.id)
            self.digit_lengths.add(len(digits))
            self.max_groups = max(self.max_groups, groups.count("-") + 1)
        self.by_customer[customer].append(inv.id)
        if cents > 0:
            self.open_count[customer] += 1
        self.by_customer_amount[customer, cents].append(inv.id)
        self.by_amount[inv.currency, cents].append(inv.id)
        if self._ibans_seen.get(inv.customer_id) != inv.customer_ibans:  # once per customer, usually
            self._ibans_seen[inv.customer_id] = inv.customer_ibans
            for iban in inv.customer_ibans:
                self.customers_by_iban[normalise_iban(iban)].add(inv.customer_id)
        if inv.customer_id not in self.customer_names:
            self.customer_names[inv.customer_id] = inv.customer_name
            key, plain = name_key(inv.customer_name), plain_name(inv.customer_name)
            self._name_forms[inv.customer_id] = (key, plain)
            self._by_name_key[key].add(inv.customer_id)
            first = plain.split()[:1]
            if first:
                self._by_first_word[first[0]].add(inv.customer_id)
            self._by_two_words[" ".join(key.split()[:2])].add(inv.customer_id)

    # ------------------------------------------------------------------ lookups

    def open_ids(self, ids: Iterable[str], cents: int | None = None) -> list[str]:
        """The invoices among ``ids`` still open (for exactly ``cents`` when given)."""
        if cents is None:
            return [i for i in ids if self.open[i] > 0]
        return [i for i in ids if self.open[i] == cents]

    def customer_open_for(self, customer_id: str, cents: int) -> list[str]:
        """The customer's open invoices whose open amount is exactly ``cents``."""
        return self.open_ids(self.by_customer_amount.get((customer_id, cents), ()), cents)

    def customers_named(self, payer_name: str, minimum: float = 0.85) -> dict[str, float]:
        """Customers whose name the payer name may be, with the similarity.

        Only customers sharing the payer's first words are compared, so the cost
        does not grow with the customer base.
        """
        if not payer_name.strip():
            return {}
        key, plain = name_key(payer_name), plain_name(payer_name)
        found = {cid: 1.0 for cid in self._by_name_key.get(key, ())}
        # compared: customers sharing the first two distinctive words, and those sharing
        # the first word when there are few of them (a bank may cut the name in its second word)
        pool = set(self._by_two_words.get(" ".join(key.split()[:2]), ()))
        first = plain.split()[:1]
        if first:
            same_first = self._by_first_word.get(first[0], set())
            if len(same_first) <= 50:
                pool |= same_first
        for cid in sorted(pool):
            if cid not in found:
                score = compare_names(key, plain, *self._name_forms[cid])
                if score >= minimum:
                    found[cid] = score
        return found

    def customer_open(self, customer_id: str, cap: int) -> list[tuple[str, int]]:
        """(id, open cents) of the customer's oldest open invoices, at most ``cap``.

        Paid invoices at the head of the customer's list are skipped once and for all.
        """
        ids = self.by_customer[customer_id]
        start = self._head.get(customer_id, 0)
        while start < len(ids) and self.open[ids[start]] <= 0:
            start += 1
        self._head[customer_id] = start
        out: list[tuple[str, int]] = []
        for i in ids[start:]:
            cents = self.open[i]
            if cents > 0:
                out.append((i, cents))
                if len(out) >= cap:
                    break
        return out

    # ------------------------------------------------------------------ changes

    def apply(self, invoice_id: str, cents: int) -> None:
        """Lower (or, negative, raise) what is open on an invoice by ``cents``."""
        inv = self.invoices[invoice_id]
        before = self.open[invoice_id]
        left = before - cents
        self.open[invoice_id] = left
        self.open_count[inv.customer_id] += (left > 0) - (before > 0)
        if cents < 0:  # reopened: the customer's list is scanned from the start again
            self._head.pop(inv.customer_id, None)
        if left > 0:
            self.by_customer_amount[inv.customer_id, left].append(invoice_id)
            self.by_amount[inv.currency, left].append(invoice_id)
