"""Retention periods and legal holds, as pure functions.

French law keeps invoices (and accounting documents) 10 years from the end of
the financial year they belong to (Code de commerce L123-22, CGI art. 289 for
integrity until then); other document types get their own period. A document
under legal hold is never a purge candidate, whatever its age.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

DEFAULT_RETENTION_YEARS: Mapping[str, int] = {
    "invoice": 10,
    "credit_note": 10,
    "notice": 10,
    "payment": 10,
    "bank_statement": 10,
    "other": 10,
}


def _add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def fiscal_year_end_for(issue_date: dt.date, fiscal_year_end: tuple[int, int] = (12, 31)) -> dt.date:
    """The last day of the financial year that contains ``issue_date`` (year end given as month, day).

    >>> fiscal_year_end_for(dt.date(2026, 3, 15))
    datetime.date(2026, 12, 31)
    >>> fiscal_year_end_for(dt.date(2026, 7, 1), (6, 30))
    datetime.date(2027, 6, 30)
    """
    month, day = fiscal_year_end
    candidate = dt.date(issue_date.year, month, day)
    return candidate if issue_date <= candidate else dt.date(issue_date.year + 1, month, day)


def retention_until(
    document_type: str,
    issue_date: dt.date,
    fiscal_year_end: tuple[int, int] = (12, 31),
    *,
    years: Mapping[str, int] = DEFAULT_RETENTION_YEARS,
) -> dt.date:
    """The last day a document must be kept: ``years[type]`` after the end of its financial year.

    >>> retention_until("invoice", dt.date(2026, 3, 15))
    datetime.date(2036, 12, 31)
    >>> retention_until("invoice", dt.date(2026, 3, 15), (6, 30), years={"invoice": 6})
    datetime.date(2032, 6, 30)
    """
    if document_type not in years:
        raise KeyError(f"no retention period configured for document type {document_type!r}")
    return _add_years(fiscal_year_end_for(issue_date, fiscal_year_end), years[document_type])


@dataclass(frozen=True, slots=True)
class Retained:
    """What the purge job needs to know of one archived document."""

    document_sha256: str
    document_type: str
    issue_date: dt.date


def purge_candidates(
    documents: Iterable[Retained],
    *,
    today: dt.date,
    legal_holds: Iterable[str],
    fiscal_year_end: tuple[int, int] = (12, 31),
    years: Mapping[str, int] = DEFAULT_RETENTION_YEARS,
) -> list[Retained]:
    """Documents past their retention on ``today`` and not under legal hold.

    >>> docs = [Retained("a", "invoice", dt.date(2015, 5, 1)), Retained("b", "invoice", dt.date(2016, 1, 2)),
    ...         Retained("c", "invoice", dt.date(2014, 1, 1))]
    >>> [d.document_sha256 for d in purge_candidates(docs, today=dt.date(2026, 1, 1), legal_holds={"c"})]
    ['a']
    """
    held = set(legal_holds)
    return [
        d
        for d in documents
        if d.document_sha256 not in held
        and retention_until(d.document_type, d.issue_date, fiscal_year_end, years=years) < today
    ]


def legal_holds_from_events(events: Iterable[tuple[str, str]]) -> set[str]:
    """Subjects under hold after replaying ``(kind, subject)`` events in order (journal kinds).

    >>> sorted(legal_holds_from_events([("legal_hold_set", "a"), ("legal_hold_set", "b"),
    ...                                 ("legal_hold_released", "a")]))
    ['b']
    """
    held: set[str] = set()
    for kind, subject in events:
        if kind == "legal_hold_set":
            held.add(subject)
        elif kind == "legal_hold_released":
            held.discard(subject)
    return held
