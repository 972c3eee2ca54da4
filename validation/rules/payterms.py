"""Legal payment terms (Code de commerce L441-10): the latest due date for an issue date."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from enum import StrEnum


def month_end(day: date) -> date:
    """The last day of the month of ``day``.

    >>> month_end(date(2024, 2, 10)), month_end(date(2023, 2, 1))
    (datetime.date(2024, 2, 29), datetime.date(2023, 2, 28))
    """
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


class EomMethod(StrEnum):
    """The two readings of "45 jours fin de mois" that the French administration accepts."""

    DAYS_THEN_MONTH_END = "days_then_month_end"
    """Add 45 days to the issue date, then go to the end of that month."""
    MONTH_END_THEN_DAYS = "month_end_then_days"
    """Go to the end of the issue month, then add 45 days."""
    EITHER = "either"
    """Whichever of the two gives the later date."""


def latest_due_date(
    issue_date: date,
    *,
    end_of_month: bool = False,
    days: int = 60,
    eom_days: int = 45,
    eom_method: EomMethod = EomMethod.DAYS_THEN_MONTH_END,
) -> date:
    """The latest due date the law allows (Code de commerce L441-10) for an invoice issued on a day.

    >>> latest_due_date(date(2024, 1, 1))
    datetime.date(2024, 3, 1)
    >>> latest_due_date(date(2024, 1, 20), end_of_month=True)
    datetime.date(2024, 3, 31)
    >>> latest_due_date(date(2024, 1, 20), end_of_month=True, eom_method=EomMethod.MONTH_END_THEN_DAYS)
    datetime.date(2024, 3, 16)
    """
    if not end_of_month:
        return issue_date + timedelta(days=days)
    first = month_end(issue_date + timedelta(days=eom_days))
    second = month_end(issue_date) + timedelta(days=eom_days)
    if eom_method is EomMethod.DAYS_THEN_MONTH_END:
        return first
    if eom_method is EomMethod.MONTH_END_THEN_DAYS:
        return second
    return max(first, second)
