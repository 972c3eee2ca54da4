from __future__ import annotations

import datetime as dt

import pytest

from archive.retention import Retained, legal_holds_from_events, purge_candidates, retention_until


def test_invoices_ten_years_after_the_end_of_the_financial_year() -> None:
    assert retention_until("invoice", dt.date(2026, 1, 1)) == dt.date(2036, 12, 31)
    assert retention_until("invoice", dt.date(2026, 12, 31)) == dt.date(2036, 12, 31)
    # financial year ending 31 March: an invoice of April 2026 belongs to the year ending March 2027
    assert retention_until("invoice", dt.date(2026, 4, 1), (3, 31)) == dt.date(2037, 3, 31)
    assert retention_until("invoice", dt.date(2026, 3, 31), (3, 31)) == dt.date(2036, 3, 31)
    assert retention_until("invoice", dt.date(2024, 2, 29), (2, 28)) == dt.date(2035, 2, 28)


def test_configurable_per_type_and_unknown_types_refused() -> None:
    assert retention_until("notice", dt.date(2026, 5, 5), years={"notice": 3}) == dt.date(2029, 12, 31)
    with pytest.raises(KeyError):
        retention_until("receipt", dt.date(2026, 5, 5), years={"invoice": 10})


def test_purge_candidates_respect_retention_and_legal_holds() -> None:
    docs = [
        Retained("old", "invoice", dt.date(2014, 6, 1)),  # kept until 2024-12-31
        Retained("edge", "invoice", dt.date(2015, 6, 1)),  # kept until 2025-12-31 inclusive
        Retained("held", "invoice", dt.date(2010, 1, 1)),
        Retained("young", "invoice", dt.date(2020, 1, 1)),
    ]
    holds = legal_holds_from_events(
        [("legal_hold_set", "held"), ("legal_hold_set", "old"), ("legal_hold_released", "old")]
    )
    assert holds == {"held"}
    on_last_day = purge_candidates(docs, today=dt.date(2025, 12, 31), legal_holds=holds)
    assert [d.document_sha256 for d in on_last_day] == ["old"]
    next_day = purge_candidates(docs, today=dt.date(2026, 1, 1), legal_holds=holds)
    assert [d.document_sha256 for d in next_day] == ["old", "edge"]
