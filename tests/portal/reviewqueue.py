"""Bank lines waiting for review in the portal's world, queued as the matcher queues them.

Each line is imported into a bank account and handed to :func:`payments.posting.propose`
(the matcher's own way to queue a line) with ranked :class:`~payments.posting.Plan`
suggestions, and the proposal is journaled as a matching run journals it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

from sqlalchemy import select

from ledger.bank import BankAccount, BankImport
from ledger.bank import StatementLine as LineRow
from ledger.models import Invoice
from payments.posting import JournalItem, Plan, propose
from portal.routes.review import journal_decisions
from tests.portal.conftest import Portal

ACCOUNT = "FR7630006000011234567890189"


def queue_line(
    portal: Portal,
    *,
    ref: str,
    amount: str,
    payer: str,
    remittance: str,
    suggestions: list[tuple[list[tuple[str, str]], float, str]],
) -> int:
    """Queue one received line; ``suggestions`` are ([(invoice key, amount)], confidence, why).

    Returns the id of the proposed decision.
    """
    world = portal.world
    with portal.sessions() as session, session.begin():
        account = session.scalars(select(BankAccount).where(BankAccount.account_ref == ACCOUNT)).one_or_none()
        if account is None:
            account = BankAccount(account_ref=ACCOUNT, iban=ACCOUNT, currency="EUR", name="Main account")
            session.add(account)
            session.flush()
        imported = BankImport(
            account_id=account.id,
            filename=f"{ref}.xml",
            digest=hashlib.sha256(ref.encode()).hexdigest(),
            format="camt.053.001.08",
        )
        session.add(imported)
        session.flush()
        line = LineRow(
            account_id=account.id,
            import_id=imported.id,
            identity_key=hashlib.sha256(f"line:{ref}".encode()).hexdigest(),
            booking_date=dt.date.today(),
            value_date=dt.date.today(),
            amount=Decimal(amount),
            currency="EUR",
            counterparty_name=payer,
            counterparty_iban="DE89370400440532013000",
            remittance=remittance,
            entry_ref=ref,
        )
        session.add(line)
        session.flush()
        plans = []
        for parts, confidence, why in suggestions:
            allocations = []
            for key, applied in parts:
                inv = session.get(Invoice, world.invoices[key])
                assert inv is not None
                allocations.append((inv.id, inv.number, Decimal(applied)))
            credit = Decimal(amount) - sum((a for _, _, a in allocations), Decimal("0.00"))
            plans.append(Plan(tuple(allocations), confidence, why, credit=credit))
        journal: list[JournalItem] = []
        decision = propose(session, line=line, plans=plans, actor="system:matcher", journal=journal)
        assert decision is not None
        journal_decisions(session, journal, "system:matcher")
        return decision.id
