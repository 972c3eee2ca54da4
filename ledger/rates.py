"""The dated rate tables behind French late-payment penalties, kept as data in ``ledger/data/``.

Two tables, both read from CSV files that cite their sources (``../shared/data/rates.md``):

- ``ecb_mro.csv``: the ECB main refinancing operations rate by effective date. For
  penalties (Code de commerce L441-10) the rate in force on 1 January applies to the
  whole first half-year and the rate in force on 1 July to the whole second one.
- ``legal_interest.csv``: the French legal interest rate by half-year, one column when the
  creditor is a consumer, one for all other cases (the L441-10 floor is three times the
  latter).

A row marked ``unconfirmed`` comes from a secondary source: it is used, and every
result that relies on it says so. A row with no rate marks where knowledge stops (a
decision whose outcome is not known): asking for a rate from then on is an error, never
a guess. Add rows as rates are published; nothing else needs to change.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import functools
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources

from schemas.errors import EncaisseError, ErrorCode


class RateUnknown(EncaisseError):
    """No published rate covers the date asked for."""

    code = ErrorCode.RATE_UNKNOWN


@dataclass(frozen=True, slots=True)
class Rate:
    """A rate in percent a year, where it comes from, and whether its source is official."""

    percent: Decimal
    since: dt.date
    confirmed: bool
    source: str


def half_year_start(day: dt.date) -> dt.date:
    """1 January or 1 July of ``day``'s half-year.

    >>> half_year_start(dt.date(2024, 6, 30)), half_year_start(dt.date(2024, 7, 1))
    (datetime.date(2024, 1, 1), datetime.date(2024, 7, 1))
    """
    return dt.date(day.year, 1 if day.month <= 6 else 7, 1)


def next_half_year(day: dt.date) -> dt.date:
    """The first day of the half-year after ``day``'s.

    >>> next_half_year(dt.date(2024, 3, 1)), next_half_year(dt.date(2024, 12, 31))
    (datetime.date(2024, 7, 1), datetime.date(2025, 1, 1))
    """
    return dt.date(day.year, 7, 1) if day.month <= 6 else dt.date(day.year + 1, 1, 1)


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("ledger").joinpath("data", name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return list(csv.DictReader(lines))


@dataclass(frozen=True)
class RateTables:
    """The two tables, sorted by date; build one from other rows to test or to override."""

    #: (effective from, rate or None where knowledge stops, confirmed, source)
    ecb: tuple[tuple[dt.date, Decimal | None, bool, str], ...]
    #: (half-year start, consumer-creditor rate or None, other rate or None, confirmed, source)
    legal: tuple[tuple[dt.date, Decimal | None, Decimal | None, bool, str], ...]

    def mro_in_force(self, day: dt.date) -> Rate:
        """The ECB MRO rate in force on ``day``.

        >>> default_tables().mro_in_force(dt.date(2023, 7, 1)).percent
        Decimal('4.00')
        """
        index = bisect.bisect_right([row[0] for row in self.ecb], day) - 1
        if index < 0:
            raise RateUnknown(f"no ECB rate is recorded before {self.ecb[0][0]}", where=str(day))
        since, rate, confirmed, source = self.ecb[index]
        if rate is None:
            raise RateUnknown(
                f"the ECB rate in force on {day} is not known ({source}); add it to ledger/data/ecb_mro.csv",
                where=str(day),
            )
        return Rate(rate, since, confirmed, source)

    def reference_rate(self, day: dt.date) -> Rate:
        """The ECB rate that L441-10 uses on ``day``: the one in force on 1 January or 1 July.

        >>> default_tables().reference_rate(dt.date(2022, 12, 31)).percent  # the hike of 27 July waits
        Decimal('0.00')
        """
        return self.mro_in_force(half_year_start(day))

    def legal_interest(self, day: dt.date, *, consumer_creditor: bool = False) -> Rate:
        """The legal interest rate of ``day``'s half-year (the "other cases" column unless asked).

        >>> default_tables().legal_interest(dt.date(2024, 8, 15)).percent
        Decimal('4.92')
        """
        start = half_year_start(day)
        for since, consumer, other, confirmed, source in self.legal:
            if since == start:
                rate = consumer if consumer_creditor else other
                if rate is not None:
                    return Rate(rate, since, confirmed, source)
                break
        raise RateUnknown(
            f"the legal interest rate for the half-year starting {start} is not known; "
            "add it to ledger/data/legal_interest.csv",
            where=str(day),
        )


def _decimal(text: str) -> Decimal | None:
    return Decimal(text) if text.strip() else None


@functools.cache
def default_tables() -> RateTables:
    """The tables shipped in ``ledger/data/`` (read once per process)."""
    mro = tuple(
        sorted(
            (
                dt.date.fromisoformat(r["effective_from"]),
                _decimal(r["rate"]),
                r["status"] == "confirmed",
                r["source"],
            )
            for r in _rows("ecb_mro.csv")
        )
    )
    legal = tuple(
        sorted(
            (
                dt.date.fromisoformat(r["half_year_start"]),
                _decimal(r["consumer_creditor"]),
                _decimal(r["other"]),
                r["status"] == "confirmed",
                r["source"],
            )
            for r in _rows("legal_interest.csv")
        )
    )
    return RateTables(ecb=mro, legal=legal)
