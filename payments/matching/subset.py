"""Bounded search for open invoices of one customer that add up to a payment.

Exact sums only, in integer cents. One and two invoices are found through a
hash lookup over all the customer's open invoices (complete); three and more by
a depth-first search over the oldest candidates with a budget of steps, so a
customer with thousands of open invoices cannot stall a statement. The caller
learns whether the search was complete, because a single solution found by an
incomplete search proves nothing about uniqueness.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SubsetResult:
    """Solutions found (at most ``limit``, each a tuple of keys) and whether the search was complete."""

    solutions: tuple[tuple[str, ...], ...]
    complete: bool


def find_subsets(
    candidates: Sequence[tuple[str, int]],
    target: int,
    *,
    max_size: int,
    budget: int = 20_000,
    limit: int = 2,
    dfs_pool: int = 30,
    max_pool: int = 2000,
) -> SubsetResult:
    """Sets of 1 to ``max_size`` candidates whose amounts sum to ``target`` exactly.

    ``candidates`` are (key, cents) pairs, oldest first; amounts must be positive.
    The search stops after ``limit`` solutions (two are enough to know a payment is
    ambiguous). Only the first ``max_pool`` candidates are looked at, so a customer
    with thousands of open invoices costs no more than one with a few hundred.

    >>> invs = [("a", 100), ("b", 250), ("c", 300), ("d", 50)]
    >>> find_subsets(invs, 350, max_size=3)
    SubsetResult(solutions=(('a', 'b'), ('c', 'd')), complete=True)
    >>> find_subsets(invs, 700, max_size=3).solutions
    ()
    >>> find_subsets(invs, 400, max_size=3, limit=5).solutions
    (('a', 'c'), ('b', 'a', 'd'))
    """
    pool = [(k, c) for k, c in candidates[:max_pool] if 0 < c <= target]
    truncated = len(candidates) > max_pool
    found: list[tuple[str, ...]] = []
    by_amount: dict[int, list[str]] = {}
    for k, c in pool:
        by_amount.setdefault(c, []).append(k)
    # one invoice
    for k in by_amount.get(target, ()):
        found.append((k,))
        if len(found) >= limit:
            return SubsetResult(tuple(found), not truncated)
    if max_size < 2:
        return SubsetResult(tuple(found), not truncated)
    # two invoices: for each, look up the complement
    index = {k: i for i, (k, _) in enumerate(pool)}
    for i, (k, c) in enumerate(pool):
        for other in by_amount.get(target - c, ()):
            if index[other] > i:
                found.append((k, other))
                if len(found) >= limit:
                    return SubsetResult(tuple(found), not truncated)
    if max_size < 3:
        return SubsetResult(tuple(found), not truncated)
    # three and more: depth-first over the oldest candidates, largest amounts first
    small = sorted(pool[:dfs_pool], key=lambda kc: -kc[1])
    complete = len(pool) <= dfs_pool and not truncated
    steps = 0
    suffix = [0] * (len(small) + 1)
    for i in range(len(small) - 1, -1, -1):
        suffix[i] = suffix[i + 1] + small[i][1]
    chosen: list[str] = []

    def dfs(start: int, left: int) -> bool:
        nonlocal steps, complete
        for i in range(start, len(small)):
            steps += 1
            if steps > budget:
                complete = False
                return True
            k, c = small[i]
            if c > left:
                continue
            if suffix[i] < left:
                return False
            chosen.append(k)
            if c == left:
                if len(chosen) >= 3:
                    found.append(tuple(chosen))
                    if len(found) >= limit:
                        chosen.pop()
                        return True
            elif len(chosen) < max_size and dfs(i + 1, left - c):
                chosen.pop()
                return True
            chosen.pop()
        return False

    dfs(0, target)
    return SubsetResult(tuple(found), complete)
