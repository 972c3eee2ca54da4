"""Late-payment penalties against hand-checked cases.

Every expected figure was worked out by hand from ``../shared/data/rates.md``: the
arithmetic is in the comment of each case (rates in percent a year, days counted from
the day after the due date to the payment date, both included, over 365).
B2B rates used (ECB rate on 1 Jan / 1 Jul + 10): 2022 H2 10.00, 2023 H1 12.50,
2023 H2 14.00, 2024 H1 14.50, 2024 H2 14.25, 2025 H1 13.15, 2025 H2 12.15,
2026 H2 12.40 (secondary source). Legal interest, other cases: 2024 H1 5.07,
2024 H2 4.92, 2025 H1 3.71, 2025 H2 2.76 (floors 15.21, 14.76, 11.13, 8.28).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from ledger.penalties import Payment, late_penalties
from ledger.rates import RateUnknown, default_tables

D = Decimal


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def pay(*items: tuple[str, str]) -> list[Payment]:
    return [Payment(d(on), D(amount)) for on, amount in items]


# (name, keyword arguments, days late, interest, indemnity)
CASES: list[tuple[str, dict[str, Any], int, str, str]] = [
    # 1000 × 14.50 % × 30 / 365 = 11.9178
    (
        "unpaid-30-days",
        dict(amount=D(1000), due=d("2024-01-31"), as_of=d("2024-03-01")),
        30,
        "11.92",
        "40.00",
    ),
    (
        "paid-on-due-date",
        dict(
            amount=D(1000), due=d("2024-05-15"), as_of=d("2024-06-30"), payments=pay(("2024-05-15", "1000"))
        ),
        0,
        "0.00",
        "0.00",
    ),
    # 5000 × 13.15 % × 1 / 365 = 1.8014
    (
        "one-day-late",
        dict(
            amount=D(5000), due=d("2025-03-31"), as_of=d("2025-05-01"), payments=pay(("2025-04-01", "5000"))
        ),
        1,
        "1.80",
        "40.00",
    ),
    # 10000 × 14.50 % × 10 / 365 + 10000 × 14.25 % × 10 / 365 = 39.7260 + 39.0411
    (
        "crosses-1-july",
        dict(
            amount=D(10000), due=d("2024-06-20"), as_of=d("2024-08-01"), payments=pay(("2024-07-10", "10000"))
        ),
        20,
        "78.77",
        "40.00",
    ),
    # 2000 × 14.25 % × 16 / 365 + 2000 × 13.15 % × 14 / 365 = 12.4932 + 10.0877
    (
        "crosses-1-january",
        dict(
            amount=D(2000), due=d("2024-12-15"), as_of=d("2025-02-01"), payments=pay(("2025-01-14", "2000"))
        ),
        30,
        "22.58",
        "40.00",
    ),
    # 28 Feb, 29 Feb, 1 Mar, 2 Mar: 1000 × 14.50 % × 4 / 365 = 1.5890
    (
        "leap-day-counted",
        dict(
            amount=D(1000), due=d("2024-02-27"), as_of=d("2024-03-31"), payments=pay(("2024-03-02", "1000"))
        ),
        4,
        "1.59",
        "40.00",
    ),
    # February 2024 has 29 days, the divisor stays 365: 1000 × 14.50 % × 29 / 365 = 11.5205
    (
        "leap-february",
        dict(
            amount=D(1000), due=d("2024-01-31"), as_of=d("2024-03-31"), payments=pay(("2024-02-29", "1000"))
        ),
        29,
        "11.52",
        "40.00",
    ),
    # 3000 for 1-10 Feb, then 2000 for 11 Feb-2 Mar (20 days), at 13.15 %: 10.8082 + 14.4110
    (
        "partial-then-rest",
        dict(
            amount=D(3000),
            due=d("2025-01-31"),
            as_of=d("2025-04-01"),
            payments=pay(("2025-02-10", "1000"), ("2025-03-02", "2000")),
        ),
        30,
        "25.22",
        "40.00",
    ),
    # 400 paid before the due date: 600 × 13.15 % × 14 / 365 = 3.0263
    (
        "partial-before-due",
        dict(
            amount=D(1000),
            due=d("2025-01-31"),
            as_of=d("2025-03-01"),
            payments=pay(("2025-01-20", "400"), ("2025-02-14", "600")),
        ),
        14,
        "3.03",
        "40.00",
    ),
    (
        "consumer-no-notice",
        dict(amount=D(500), due=d("2025-01-31"), as_of=d("2025-04-30"), debtor="consumer"),
        89,
        "0.00",
        "0.00",
    ),
    # from the day after the notice (16 Mar) to 30 Apr = 46 days: 500 × 3.71 % × 46 / 365 = 2.3378
    (
        "consumer-after-notice",
        dict(
            amount=D(500),
            due=d("2025-01-31"),
            as_of=d("2025-04-30"),
            debtor="consumer",
            formal_notice=d("2025-03-15"),
        ),
        89,
        "2.34",
        "0.00",
    ),
    # 11-30 Jun at 3.71 %, 1-20 Jul at 2.76 %: 1000 × (3.71 × 20 + 2.76 × 20) / 36500 = 2.0329 + 1.5123
    (
        "consumer-crosses-july",
        dict(
            amount=D(1000),
            due=d("2025-05-31"),
            as_of=d("2025-08-01"),
            debtor="consumer",
            formal_notice=d("2025-06-10"),
            payments=pay(("2025-07-20", "1000")),
        ),
        50,
        "3.55",
        "0.00",
    ),
    # a notice sent before the due date: interest from the day after the due date, 1000 × 3.71 % × 10 / 365
    (
        "consumer-notice-before-due",
        dict(
            amount=D(1000),
            due=d("2025-01-31"),
            as_of=d("2025-02-10"),
            debtor="consumer",
            formal_notice=d("2025-01-15"),
        ),
        10,
        "1.02",
        "0.00",
    ),
    # 1000 × 15 % × 30 / 365 = 12.3288 (15 % is above the 8.28 % floor)
    (
        "contract-above-floor",
        dict(
            amount=D(1000),
            due=d("2025-07-31"),
            as_of=d("2025-09-30"),
            contractual_rate=D(15),
            payments=pay(("2025-08-30", "1000")),
        ),
        30,
        "12.33",
        "40.00",
    ),
    # 5 % is below 3 × 2.76 = 8.28 %: 1000 × 8.28 % × 30 / 365 = 6.8055
    (
        "contract-below-floor",
        dict(
            amount=D(1000),
            due=d("2025-07-31"),
            as_of=d("2025-09-30"),
            contractual_rate=D(5),
            payments=pay(("2025-08-30", "1000")),
        ),
        30,
        "6.81",
        "40.00",
    ),
    # 10 % is below 3 × 5.07 = 15.21 %: 2000 × 15.21 % × 30 / 365 = 25.0027
    (
        "contract-below-high-floor",
        dict(
            amount=D(2000),
            due=d("2024-03-31"),
            as_of=d("2024-05-31"),
            contractual_rate=D(10),
            payments=pay(("2024-04-30", "2000")),
        ),
        30,
        "25.00",
        "40.00",
    ),
    # the floor moves at 1 July: 15 days at 15.21 %, 15 days at 14.76 %: 6.2507 + 6.0658
    (
        "contract-floor-changes",
        dict(
            amount=D(1000),
            due=d("2024-06-15"),
            as_of=d("2024-08-01"),
            contractual_rate=D(10),
            payments=pay(("2024-07-15", "1000")),
        ),
        30,
        "12.32",
        "40.00",
    ),
    # the ECB hike of 27 July 2022 waits for 1 January: 1000 × 10.00 % × 30 / 365 = 8.2192
    (
        "hike-waits-half-year",
        dict(
            amount=D(1000), due=d("2022-08-31"), as_of=d("2022-10-31"), payments=pay(("2022-09-30", "1000"))
        ),
        30,
        "8.22",
        "40.00",
    ),
    # 22-31 Dec 2022 at 10.00 %, 1-10 Jan 2023 at 12.50 %: 2.7397 + 3.4247
    (
        "rate-jumps-at-new-year",
        dict(
            amount=D(1000), due=d("2022-12-21"), as_of=d("2023-02-01"), payments=pay(("2023-01-10", "1000"))
        ),
        20,
        "6.16",
        "40.00",
    ),
    # 184 days at 14.00 %, 182 (leap H1) at 14.50 %, 31 at 14.25 % on 10000: 705.7534 + 723.0137 + 121.0274
    (
        "unpaid-three-half-years",
        dict(amount=D(10000), due=d("2023-06-30"), as_of=d("2024-07-31")),
        397,
        "1549.79",
        "40.00",
    ),
    # 1000 for 1-10 Oct, 500 for 11-20 Oct at 12.15 %; the second payment overpays: 3.3288 + 1.6644
    (
        "overpaid-in-two",
        dict(
            amount=D(1000),
            due=d("2025-09-30"),
            as_of=d("2025-12-31"),
            payments=pay(("2025-10-10", "500"), ("2025-10-20", "600")),
        ),
        20,
        "4.99",
        "40.00",
    ),
    ("not-yet-due", dict(amount=D(1000), due=d("2025-12-31"), as_of=d("2025-12-01")), 0, "0.00", "0.00"),
]


@pytest.mark.parametrize(
    ("kwargs", "days", "interest", "indemnity"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_hand_checked_cases(kwargs: dict[str, Any], days: int, interest: str, indemnity: str) -> None:
    result = late_penalties(**kwargs)
    assert (result.days_late, result.interest, result.indemnity) == (days, D(interest), D(indemnity))
    assert result.total == D(interest) + D(indemnity)
    assert not result.provisional  # every case above uses confirmed rates only


def test_at_least_twenty_cases() -> None:
    assert len(CASES) >= 20


def test_floor_and_consumer_say_why() -> None:
    floored = late_penalties(
        amount=D(1000), due=d("2025-07-31"), as_of=d("2025-08-30"), contractual_rate=D(5)
    )
    assert any("floor" in note for note in floored.notes)
    assert floored.segments[0].basis.startswith("3 × legal interest rate 2.76")
    consumer = late_penalties(amount=D(1000), due=d("2025-07-31"), as_of=d("2025-08-30"), debtor="consumer")
    assert consumer.notes and "formal notice" in consumer.notes[0]


def test_secondary_source_rate_is_flagged() -> None:
    # 2026 H2: 2.40 + 10 from a secondary source only; 1000 × 12.40 % × 30 / 365 = 10.1918
    result = late_penalties(amount=D(1000), due=d("2026-06-30"), as_of=d("2026-07-30"))
    assert result.interest == D("10.19") and result.provisional
    assert any("secondary source" in note for note in result.notes)


def test_unknown_rate_is_an_error_not_a_guess() -> None:
    with pytest.raises(RateUnknown, match="not known"):
        late_penalties(amount=D(1000), due=d("2026-12-15"), as_of=d("2027-01-15"))
    with pytest.raises(RateUnknown):
        default_tables().legal_interest(d("2014-12-31"))


def test_segments_cover_every_late_day_once() -> None:
    result = late_penalties(
        amount=D(3000),
        due=d("2024-06-10"),
        as_of=d("2025-02-01"),
        payments=pay(("2024-06-25", "1000"), ("2024-12-31", "500")),
    )
    days = sum(s.days for s in result.segments)
    assert days == result.days_late == (d("2025-02-01") - d("2024-06-10")).days
    for left, right in zip(result.segments, result.segments[1:], strict=False):
        assert right.first == left.last + dt.timedelta(days=1)
    assert [s.base for s in result.segments] == [D(3000), D(2000), D(2000), D(1500)]
