"""Receivables alerts (ledger.alerts) on hand-built ledgers, SQLite and PostgreSQL, at their exact boundaries.

Every case is one day away from its boundary on the other side: a limit equal vs
exceeded by a cent, a delay equal vs one day more, a limitation period ending exactly N
months ahead vs one day after, a consumer's 2 years vs a business's 5, and nothing for
an invoice that is paid.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from ledger import alerts, receivables
from ledger.collections import CustomerTerms
from ledger.history import HInvoice, History, HPayment, load_history
from ledger.models import Party

AS_OF = dt.date(2026, 11, 20)
D = dt.timedelta


def _load(
    session: Session,
    customers: list[tuple[str, str, Decimal | None]],
    invoices: list[tuple[int, dt.date, dt.date, str]],
    payments: Sequence[tuple[int, dt.date, str]] = (),
    max_days_late: dict[int, int] | None = None,
) -> tuple[list[int], dict[int, int]]:
    """Load customers and invoices (customer, issue, due, amount): party ids, invoice ids by key."""
    history = History(
        customers=customers,
        invoices=[
            HInvoice(key=k, customer=c, number=f"F-{k}", issue=issue, due=due, amount=Decimal(amount))
            for k, (c, issue, due, amount) in enumerate(invoices)
        ],
        payments=[HPayment(invoice=k, on=on, amount=Decimal(a)) for k, on, a in payments],
    )
    ids = load_history(session, history)
    names = [name for name, _p, _l in customers]
    parties = dict(session.execute(select(Party.name, Party.id).where(Party.name.in_(names))).tuples().all())
    party_ids = [parties[n] for n in names]
    for c, days in (max_days_late or {}).items():
        pid = party_ids[c]
        if session.get(CustomerTerms, pid) is None:
            session.add(CustomerTerms(party_id=pid, max_days_late=days))
        else:
            session.execute(
                update(CustomerTerms).where(CustomerTerms.party_id == pid).values(max_days_late=days)
            )
    session.commit()
    return party_ids, ids


def _by(found: list[alerts.Alert], kind: str) -> list[alerts.Alert]:
    return [a for a in found if a.kind == kind]


def test_credit_limit_equal_is_not_exceeded(session: Session) -> None:
    parties, _ids = _load(
        session,
        [
            ("At limit", "sme", Decimal("1000.00")),
            ("Over", "sme", Decimal("1000.00")),
            ("No limit", "sme", None),
        ],
        [
            (0, AS_OF - D(10), AS_OF + D(20), "600.00"),
            (0, AS_OF - D(5), AS_OF + D(25), "400.00"),  # 1000.00 in all: equal to the limit
            (1, AS_OF - D(10), AS_OF + D(20), "1200.00"),
            (1, AS_OF - D(40), AS_OF - D(10), "500.00"),
            (2, AS_OF - D(10), AS_OF + D(20), "99999.00"),
        ],
        payments=[(2, AS_OF - D(1), "199.99"), (3, AS_OF - D(2), "500.00")],  # 1000.01 left for "Over"
    )
    found = alerts.credit_limit_exceeded(receivables.customer_lines(session, as_of=AS_OF))
    assert [(a.party_id, a.figures) for a in found] == [
        (parties[1], {"outstanding": "1000.01", "credit_limit": "1000.00", "over": "0.01"})
    ]
    assert (
        found[0].invoice_id is None and "1000.01" in found[0].message_fr and "plafond" in found[0].message_fr
    )
    # a payment received after the day does not count yet; on the day of the payment it does
    earlier = alerts.credit_limit_exceeded(receivables.customer_lines(session, as_of=AS_OF - D(2)))
    assert [(a.party_id, a.figures["outstanding"]) for a in earlier] == [(parties[1], "1200.00")]
    assert [
        a.figures["outstanding"] for a in _by(alerts.alerts(session, as_of=AS_OF), "credit_limit_exceeded")
    ] == ["1000.01"]


def test_max_delay_equal_is_not_exceeded_and_paid_is_silent(session: Session) -> None:
    parties, ids = _load(
        session,
        [("Slow", "sme", None), ("No terms", "sme", None)],
        [
            (0, AS_OF - D(60), AS_OF - D(30), "100.00"),  # 30 days late, max 30: fine
            (0, AS_OF - D(61), AS_OF - D(31), "200.00"),  # 31 days late: alert
            (0, AS_OF - D(200), AS_OF - D(150), "300.00"),  # paid in full
            (0, AS_OF - D(100), AS_OF - D(70), "400.00"),  # partly paid: alert for what is left
            (1, AS_OF - D(400), AS_OF - D(365), "500.00"),  # no maximum delay set
        ],
        payments=[(2, AS_OF - D(100), "300.00"), (3, AS_OF - D(10), "150.00")],
        max_days_late={0: 30},
    )
    found = alerts.max_delay_exceeded(session, as_of=AS_OF)
    assert [(a.party_id, a.invoice_id, a.figures) for a in found] == [
        (
            parties[0],
            ids[1],
            {"number": "F-1", "days_late": "31", "max_days_late": "30", "outstanding": "200.00"},
        ),
        (
            parties[0],
            ids[3],
            {"number": "F-3", "days_late": "70", "max_days_late": "30", "outstanding": "250.00"},
        ),
    ]
    assert "31 days late" in found[0].message_en and "31 jours" in found[0].message_fr
    # one day earlier, invoice 1 is exactly at the maximum
    assert [a.invoice_id for a in alerts.max_delay_exceeded(session, as_of=AS_OF - D(1))] == [ids[3]]


def test_limitation_boundaries_business_and_consumer(session: Session) -> None:
    horizon = dt.date(2027, 5, 20)  # AS_OF + 6 months
    parties, ids = _load(
        session,
        [("Business", "sme", None), ("Consumer", "consumer", None), ("Key", None, None)],  # type: ignore[list-item]
        [
            (0, dt.date(2021, 6, 1), dt.date(2022, 5, 20), "100.00"),  # 5 years end on the horizon: alert
            (0, dt.date(2021, 6, 1), dt.date(2022, 5, 21), "110.00"),  # a day later: none
            (1, dt.date(2025, 4, 20), dt.date(2025, 5, 20), "120.00"),  # 2 years end on the horizon: alert
            (1, dt.date(2025, 4, 20), dt.date(2025, 5, 21), "130.00"),  # a day later: none
            (1, dt.date(2022, 12, 1), dt.date(2023, 1, 1), "140.00"),  # consumer, 2 years over: critical
            (0, dt.date(2022, 12, 1), dt.date(2023, 1, 1), "150.00"),  # business, same day: 2028, none
            (0, dt.date(2019, 12, 1), dt.date(2020, 1, 1), "160.00"),  # paid: none though long lapsed
            (2, dt.date(2021, 1, 1), dt.date(2021, 1, 10), "170.00"),  # no profile: a business; lapsed
        ],
        payments=[(6, dt.date(2020, 3, 1), "160.00")],
    )
    found = alerts.limitation_approaching(session, as_of=AS_OF, months=6)
    got = {
        a.invoice_id: (a.party_id, a.severity, a.figures["limitation_ends"], a.figures["years"])
        for a in found
    }
    assert got == {
        ids[0]: (parties[0], "warning", horizon.isoformat(), "5"),
        ids[2]: (parties[1], "warning", horizon.isoformat(), "2"),
        ids[4]: (parties[1], "critical", "2025-01-01", "2"),
        ids[7]: (parties[2], "critical", "2026-01-10", "5"),
    }
    first = next(a for a in found if a.invoice_id == ids[0])
    assert first.figures["payable_on"] == "2022-05-20" and first.figures["outstanding"] == "100.00"
    assert first.figures["number"] == "F-0" and "facture F-0 exigible le 2022-05-20" in first.message_fr
    assert "2027-05-20" in first.message_fr and "time-barred after 2027-05-20" in first.message_en
    # the horizon moves with the months: at 0 months only the lapsed ones are left
    assert {a.invoice_id for a in alerts.limitation_approaching(session, as_of=AS_OF, months=0)} == {
        ids[4],
        ids[7],
    }


def test_limitation_of_a_leap_day(session: Session) -> None:
    _parties, ids = _load(
        session, [("Leap", "sme", None)], [(0, dt.date(2024, 2, 1), dt.date(2024, 2, 29), "10.00")]
    )
    # ends 2029-02-28: 6 months before that is 2028-08-28
    assert alerts.limitation_approaching(session, as_of=dt.date(2028, 8, 27), months=6) == []
    found = alerts.limitation_approaching(session, as_of=dt.date(2028, 8, 28), months=6)
    assert [(a.invoice_id, a.figures["limitation_ends"]) for a in found] == [(ids[0], "2029-02-28")]


def test_cash_in_below_threshold(session: Session) -> None:
    _load(
        session,
        [("Payer", "sme", None)],
        [
            (0, AS_OF - D(5), AS_OF + D(34), "100.00"),  # last day of the 5 weeks covering 30 days
            (0, AS_OF - D(5), AS_OF + D(35), "1000.00"),  # the 6th week
        ],
    )

    def run(days: int, threshold: str | None) -> list[alerts.Alert]:
        return _by(
            alerts.alerts(
                session,
                as_of=AS_OF,
                cash_in_days=days,
                cash_in_threshold=None if threshold is None else Decimal(threshold),
            ),
            "cash_in_below_threshold",
        )

    assert run(30, None) == []  # no threshold: off
    assert run(30, "100.00") == []  # equal is not below
    (alert,) = run(30, "100.01")
    assert alert.figures == {
        "expected": "100.00",
        "threshold": "100.01",
        "from": "2026-11-20",
        "until": "2026-12-24",
    }
    assert alert.party_id is None and "sous le seuil" in alert.message_fr
    (four_weeks,) = run(28, "0.01")
    assert four_weeks.figures["expected"] == "0.00" and four_weeks.figures["until"] == "2026-12-17"
    assert run(36, "1100.00") == []
    with pytest.raises(ValueError, match="1 to 84 days"):
        run(85, "1.00")


def test_cli_lists_the_alerts(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    import worker
    from cli import app
    from ledger import db
    from schemas.settings import get_settings

    with db.make_session_factory(engine)() as session:
        parties, ids = _load(
            session,
            [("Over [bold]", "sme", Decimal("50.00"))],
            [(0, dt.date(2021, 1, 1), dt.date(2021, 1, 10), "170.00")],
        )
    monkeypatch.setenv("ENCAISSE_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("ENCAISSE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("ENCAISSE_REDIS_URL", raising=False)
    monkeypatch.setenv("ENCAISSE_ALERT_CASH_IN_THRESHOLD", "500")
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        result = runner.invoke(app, ["receivables", "--json", "--as-of", AS_OF.isoformat()])
        assert result.exit_code == 0, result.output
        got: list[dict[str, Any]] = json.loads(result.stdout)["alerts"]
        assert sorted((a["kind"], a["party_id"], a["invoice_id"]) for a in got) == [
            ("cash_in_below_threshold", None, None),
            ("credit_limit_exceeded", parties[0], None),
            ("limitation_approaching", parties[0], ids[0]),
        ]
        table = runner.invoke(app, ["receivables", "--as-of", AS_OF.isoformat()])
        assert table.exit_code == 0, table.output
        assert "Alerts (3)" in table.output and "Over [bold]" in table.output
    finally:
        get_settings.cache_clear()
        worker.configure(None)
